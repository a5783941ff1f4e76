// batcher "adaptive": sizes batches from observed latency with AIMD.
//
// Every completed batch updates an EWMA of batch latency. While the EWMA is below
// `target_latency_us` the batch limit grows by one item per full batch; above it, the limit
// halves. Bigger batches amortize per-batch overhead, so the limit settles where batches take
// about the target time. Two refinements keep the loop stable:
//  - Only batches that reached the limit let it grow. A batch flushed early by the delay says
//    nothing about whether a bigger one would meet the target, and growing on it would let the
//    limit drift to the maximum under light load, ready to overshoot on the next burst.
//  - After a halving, the next ceil(1/smoothing)-1 batches may not halve again. The EWMA needs
//    about that many samples to reflect the smaller size; reacting to the stale average would
//    collapse the limit to the minimum.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "boxcar/batcher.h"
#include "boxcar_plugins/tunables.h"

namespace {

constexpr char kParamsSchema[] = R"({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "target_latency_us": {
      "type": "integer",
      "description": "Batch latency in microseconds the limit steers towards",
      "default": 2000,
      "minimum": 10,
      "maximum": 10000000,
      "tunable": true
    },
    "min_items": {
      "type": "integer",
      "description": "Smallest batch limit",
      "default": 1,
      "minimum": 1,
      "maximum": 65536
    },
    "max_items": {
      "type": "integer",
      "description": "Largest batch limit",
      "default": 256,
      "minimum": 1,
      "maximum": 65536
    },
    "initial_items": {
      "type": "integer",
      "description": "Batch limit of a new instance that imported no state; between min_items and max_items",
      "default": 16,
      "minimum": 1,
      "maximum": 65536
    },
    "max_delay_us": {
      "type": "integer",
      "description": "Longest time in microseconds the first read of a group waits; 0 flushes every read at once",
      "default": 500,
      "minimum": 0,
      "maximum": 1000000
    },
    "smoothing": {
      "type": "number",
      "description": "EWMA weight of the newest batch latency; 1 follows only the last batch",
      "default": 0.2,
      "minimum": 0.01,
      "maximum": 1
    }
  }
})";

constexpr char kStateFormat[] = "batcher-adaptive/1";
constexpr double kDecreaseFactor = 0.5;

bool ParseDecimal(std::string_view text, uint64_t* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

// The params the schema cannot check on its own: they relate to each other.
struct Limits {
  size_t min_items;
  size_t max_items;
  size_t initial_items;
  int64_t max_delay_ns;
  double smoothing;

  static Limits Read(const boxcar::Params& params) {
    return Limits{static_cast<size_t>(params.GetInt("min_items")),
                  static_cast<size_t>(params.GetInt("max_items")),
                  static_cast<size_t>(params.GetInt("initial_items")),
                  params.GetInt("max_delay_us") * 1000, params.GetDouble("smoothing")};
  }

  // What is inconsistent, or "" when nothing is.
  std::string Problem() const {
    if (min_items > max_items) {
      return "min_items (" + std::to_string(min_items) + ") must not exceed max_items (" +
             std::to_string(max_items) + ")";
    }
    if (initial_items < min_items || initial_items > max_items) {
      return "initial_items (" + std::to_string(initial_items) +
             ") must lie between min_items and max_items";
    }
    return "";
  }

  static Limits Checked(const boxcar::Params& params) {
    Limits limits = Read(params);
    if (std::string problem = limits.Problem(); !problem.empty()) {
      throw std::invalid_argument(problem);
    }
    return limits;
  }

  size_t Clamp(size_t items) const { return std::clamp(items, min_items, max_items); }

  // Batches the EWMA needs before it mostly reflects a new batch size, minus the one that
  // triggered the change.
  uint64_t DecreaseHoldoff() const { return static_cast<uint64_t>(std::ceil(1.0 / smoothing)) - 1; }
};

// The average is kept to the nanosecond: finer precision means nothing for latency.
std::string FormatState(size_t current_items, double latency_ewma_ns, uint64_t samples) {
  return "current_items=" + std::to_string(current_items) +
         "\nlatency_ewma_ns=" + std::to_string(std::llround(latency_ewma_ns)) +
         "\nsamples=" + std::to_string(samples) + "\n";
}

struct LearnedState {
  uint64_t current_items = 0;
  uint64_t latency_ewma_ns = 0;
  uint64_t samples = 0;
};

// Reads FormatState's "key=value" lines; false when a field is missing or malformed. Unknown
// keys are skipped.
bool ParseState(std::string_view data, LearnedState* state) {
  struct Field {
    std::string_view key;
    uint64_t* value;
    bool seen = false;
  };
  Field fields[] = {{"current_items", &state->current_items},
                    {"latency_ewma_ns", &state->latency_ewma_ns},
                    {"samples", &state->samples}};
  while (!data.empty()) {
    const size_t eol = data.find('\n');
    const std::string_view line = data.substr(0, eol);
    data = eol == std::string_view::npos ? std::string_view() : data.substr(eol + 1);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) return false;
    for (Field& field : fields) {
      if (field.key != line.substr(0, eq)) continue;
      if (!ParseDecimal(line.substr(eq + 1), field.value)) return false;
      field.seen = true;
    }
  }
  return std::all_of(std::begin(fields), std::end(fields), [](const Field& f) { return f.seen; });
}

class AdaptiveBatcher : public boxcar::Batcher {
 public:
  explicit AdaptiveBatcher(const boxcar::CreateContext& ctx)
      : target_latency_us_(boxcar_plugins::BindTunable(*ctx.host, "target_latency_us")),
        limit_gauge_(ctx.host->metrics().GetGauge("adaptive_batch_limit_items",
                                                  "Items at which a batch is flushed now")),
        latency_gauge_(ctx.host->metrics().GetGauge("adaptive_latency_ewma_seconds",
                                                    "Smoothed latency of completed batches")),
        limits_(Limits::Checked(*ctx.params)),
        current_items_(limits_.initial_items),
        max_delay_ns_(limits_.max_delay_ns) {
    limit_gauge_->Set(static_cast<double>(limits_.initial_items));
  }

  bool ShouldFlush(const boxcar::PendingBatch& batch) override {
    if (batch.items == 0) return false;
    return batch.items >= current_items_.load(std::memory_order_relaxed) ||
           batch.now_ns - batch.oldest_ns >= MaxDelayNs();
  }

  int64_t MaxDelayNs() override { return max_delay_ns_.load(std::memory_order_relaxed); }

  void OnBatchComplete(size_t items, uint64_t /*bytes*/, int64_t latency_ns) override {
    std::lock_guard lock(mu_);
    const double latency = static_cast<double>(std::max<int64_t>(latency_ns, 0));
    latency_ewma_ns_ =
        samples_ == 0 ? latency
                      : limits_.smoothing * latency + (1 - limits_.smoothing) * latency_ewma_ns_;
    ++samples_;
    const bool may_decrease = decrease_holdoff_ == 0;
    if (!may_decrease) --decrease_holdoff_;

    const double target_ns = target_latency_us_.load(std::memory_order_relaxed) * 1000;
    const size_t current = current_items_.load(std::memory_order_relaxed);
    size_t next = current;
    if (latency_ewma_ns_ < target_ns && items >= current) {
      next = limits_.Clamp(current + 1);
    } else if (latency_ewma_ns_ > target_ns && may_decrease) {
      next = limits_.Clamp(static_cast<size_t>(static_cast<double>(current) * kDecreaseFactor));
      decrease_holdoff_ = limits_.DecreaseHoldoff();
    }
    current_items_.store(next, std::memory_order_relaxed);
    limit_gauge_->Set(static_cast<double>(next));
    latency_gauge_->Set(latency_ewma_ns_ / 1e9);
  }

  boxcar::Status Reconfigure(const boxcar::Params& params) override {
    const Limits limits = Limits::Read(params);
    if (std::string problem = limits.Problem(); !problem.empty()) {
      return boxcar::Status::InvalidArgument(problem);
    }
    std::lock_guard lock(mu_);
    limits_ = limits;
    max_delay_ns_.store(limits.max_delay_ns, std::memory_order_relaxed);
    SetCurrent(current_items_.load(std::memory_order_relaxed));
    decrease_holdoff_ = std::min(decrease_holdoff_, limits_.DecreaseHoldoff());
    return boxcar::Status::OK();
  }

  boxcar::Status ExportState(boxcar::PluginState* out) override {
    std::lock_guard lock(mu_);
    out->format = kStateFormat;
    out->data =
        FormatState(current_items_.load(std::memory_order_relaxed), latency_ewma_ns_, samples_);
    return boxcar::Status::OK();
  }

  // The imported limit is clamped to this instance's bounds, which may differ from the
  // predecessor's.
  boxcar::Status ImportState(const boxcar::PluginState& state) override {
    if (state.format != kStateFormat) {
      return boxcar::Status::NotSupported("unknown state format \"" + state.format +
                                          "\", expected " + kStateFormat);
    }
    LearnedState learned;
    if (!ParseState(state.data, &learned)) {
      return boxcar::Status::InvalidArgument("malformed " + std::string(kStateFormat) +
                                             " state: " + state.data);
    }
    std::lock_guard lock(mu_);
    SetCurrent(static_cast<size_t>(learned.current_items));
    latency_ewma_ns_ = static_cast<double>(learned.latency_ewma_ns);
    samples_ = learned.samples;
    decrease_holdoff_ = 0;
    latency_gauge_->Set(latency_ewma_ns_ / 1e9);
    return boxcar::Status::OK();
  }

 private:
  // Call with mu_ held.
  void SetCurrent(size_t items) {
    const size_t clamped = limits_.Clamp(items);
    current_items_.store(clamped, std::memory_order_relaxed);
    limit_gauge_->Set(static_cast<double>(clamped));
  }

  const std::atomic<double>& target_latency_us_;
  boxcar::Gauge* limit_gauge_;
  boxcar::Gauge* latency_gauge_;

  // Writers hold mu_; ShouldFlush and MaxDelayNs, called per read, only load the atomics.
  std::mutex mu_;
  Limits limits_;
  std::atomic<size_t> current_items_;
  std::atomic<int64_t> max_delay_ns_;
  double latency_ewma_ns_ = 0;
  uint64_t samples_ = 0;
  uint64_t decrease_holdoff_ = 0;
};

}  // namespace

BOXCAR_PLUGIN(AdaptiveBatcher, "adaptive", "1.0.0",
              "Sizes batches by AIMD on smoothed batch latency against a target", kParamsSchema,
              boxcar::kThreadSafe | boxcar::kStateExport | boxcar::kReconfigure);
