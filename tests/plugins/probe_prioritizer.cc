// A small prioritizer for the loader and reload tests. Compile definitions turn it into the
// deliberately broken variants the host must refuse or contain:
//   PROBE_NAME / PROBE_VERSION   descriptor name and version
//   PROBE_API_MAJOR              a foreign API major
//   PROBE_API_MINOR              an API minor newer than the host's
//   PROBE_FOREIGN_ABI            an ABI tag built against other API headers
//   PROBE_BAD_MAGIC              a descriptor that was not made by BOXCAR_PLUGIN
//   PROBE_THROW_IN_FACTORY       a constructor that throws
//   PROBE_THROW_IN_PUSH          Push throws on every call
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>

#include "boxcar/prioritizer.h"

namespace {

constexpr char kSchema[] = R"({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_queue": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 100000,
                  "tunable": true, "description": "Tasks queued before Push refuses"},
    "label": {"type": "string", "default": "", "description": "Echoed in exported state"}
  }
})";

class Probe : public boxcar::Prioritizer {
 public:
  explicit Probe(const boxcar::CreateContext& ctx)
      : max_queue_(ctx.host->tunables().Bind("max_queue")) {
#ifdef PROBE_THROW_IN_FACTORY
    throw std::runtime_error("probe refuses to start");
#endif
  }

  boxcar::Status Push(boxcar::Task task) override {
#ifdef PROBE_THROW_IN_PUSH
    throw std::runtime_error("probe push failure");
#endif
    std::lock_guard lock(mu_);
    if (queue_.size() >= static_cast<size_t>(max_queue_->load())) {
      return boxcar::Status::Busy("probe queue full");
    }
    queue_.push_back(std::move(task));
    ++pushes_;
    return boxcar::Status::OK();
  }

  std::optional<boxcar::Task> Pop(int64_t) override {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return std::nullopt;
    boxcar::Task t = std::move(queue_.front());
    queue_.pop_front();
    return t;
  }

  void Complete(const boxcar::Task&, uint64_t) override {}

  size_t Size() override {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

  std::vector<boxcar::Task> Drain() override {
    std::lock_guard lock(mu_);
    std::vector<boxcar::Task> out(queue_.begin(), queue_.end());
    queue_.clear();
    return out;
  }

  // The learned state is the number of tasks ever pushed, carried across swaps.
  boxcar::Status ExportState(boxcar::PluginState* out) override {
    std::lock_guard lock(mu_);
    out->format = "probe/1";
    out->data = std::to_string(pushes_);
    return boxcar::Status::OK();
  }

  boxcar::Status ImportState(const boxcar::PluginState& state) override {
    if (state.format != "probe/1") return boxcar::Status::NotSupported(state.format);
    std::lock_guard lock(mu_);
    pushes_ += std::stoull(state.data);
    return boxcar::Status::OK();
  }

 private:
  const std::atomic<double>* max_queue_;
  std::mutex mu_;
  std::deque<boxcar::Task> queue_;
  uint64_t pushes_ = 0;
};

}  // namespace

#ifndef PROBE_NAME
#define PROBE_NAME "probe"
#endif
#ifndef PROBE_VERSION
#define PROBE_VERSION "1.0.0"
#endif
#ifndef PROBE_API_MAJOR
#define PROBE_API_MAJOR ::boxcar::kApiMajor
#endif
#ifndef PROBE_API_MINOR
#define PROBE_API_MINOR ::boxcar::kApiMinor
#endif
#ifdef PROBE_FOREIGN_ABI
#define PROBE_ABI_TAG                                                                       \
  "compiler=" BOXCAR_ABI_COMPILER ";stdlib=" BOXCAR_ABI_STDLIB ";ndebug=" BOXCAR_ABI_NDEBUG \
  ";asan=" BOXCAR_ABI_ASAN ";tsan=" BOXCAR_ABI_TSAN ";api=0000000000000000"
#else
#define PROBE_ABI_TAG BOXCAR_ABI_TAG
#endif
#ifdef PROBE_BAD_MAGIC
#define PROBE_MAGIC 0xdeadbeefu
#else
#define PROBE_MAGIC ::boxcar::kDescriptorMagic
#endif

// Spelled out instead of BOXCAR_PLUGIN so the variants can corrupt individual fields.
extern "C" __attribute__((visibility("default"), used))
const boxcar::PluginDescriptor boxcar_plugin_descriptor = {
    PROBE_MAGIC,
    sizeof(boxcar::PluginDescriptor),
    PROBE_API_MAJOR,
    PROBE_API_MINOR,
    Probe::kKind,
    PROBE_ABI_TAG,
    PROBE_NAME,
    PROBE_VERSION,
    "Test prioritizer for the loader and reload tests",
    kSchema,
    boxcar::kThreadSafe | boxcar::kStateExport,
    &boxcar::CreateGuarded<Probe>};
