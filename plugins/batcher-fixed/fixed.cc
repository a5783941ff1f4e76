// batcher "fixed": flushes a group of reads at a fixed item count, byte size or wait time,
// whichever comes first. It learns nothing from completed batches; its limits move only when the
// tuner moves the tunable ones.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "boxcar/batcher.h"
#include "boxcar_plugins/tunables.h"

namespace {

constexpr char kParamsSchema[] = R"({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_items": {
      "type": "integer",
      "description": "Reads in a group that flush it",
      "default": 32,
      "minimum": 1,
      "maximum": 65536,
      "tunable": true
    },
    "max_bytes": {
      "type": "integer",
      "description": "Expected bytes in a group that flush it",
      "default": 4194304,
      "minimum": 1,
      "maximum": 1073741824
    },
    "max_delay_us": {
      "type": "integer",
      "description": "Longest time in microseconds the first read of a group waits; 0 flushes every read at once",
      "default": 200,
      "minimum": 0,
      "maximum": 1000000,
      "tunable": true
    }
  }
})";

class FixedBatcher : public boxcar::Batcher {
 public:
  explicit FixedBatcher(const boxcar::CreateContext& ctx)
      : max_items_(boxcar_plugins::BindTunable(*ctx.host, "max_items")),
        max_delay_us_(boxcar_plugins::BindTunable(*ctx.host, "max_delay_us")),
        max_bytes_(static_cast<uint64_t>(ctx.params->GetInt("max_bytes"))) {}

  bool ShouldFlush(const boxcar::PendingBatch& batch) override {
    if (batch.items == 0) return false;
    return batch.items >= static_cast<size_t>(max_items_.load(std::memory_order_relaxed)) ||
           batch.bytes >= max_bytes_ || batch.now_ns - batch.oldest_ns >= MaxDelayNs();
  }

  int64_t MaxDelayNs() override {
    return static_cast<int64_t>(max_delay_us_.load(std::memory_order_relaxed)) * 1000;
  }

  // A fixed policy has nothing to learn from outcomes.
  void OnBatchComplete(size_t /*items*/, uint64_t /*bytes*/, int64_t /*latency_ns*/) override {}

 private:
  const std::atomic<double>& max_items_;
  const std::atomic<double>& max_delay_us_;
  const uint64_t max_bytes_;
};

}  // namespace

BOXCAR_PLUGIN(FixedBatcher, "fixed", "1.0.0",
              "Flushes at a fixed item count, byte size or wait time", kParamsSchema,
              boxcar::kThreadSafe);
