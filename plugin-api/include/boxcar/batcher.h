// batcher: decides when a group of pending store reads is flushed as one batch.
//
// Who calls what: the request engine collects block reads into a pending group. After each
// added read it calls ShouldFlush; when the group's first read has waited MaxDelayNs it flushes
// regardless. After a flushed batch completes it reports the outcome with OnBatchComplete, which
// adaptive batchers learn from. All calls come from I/O and worker threads, once per read or
// batch, and must not block.
#pragma once

#include <cstddef>
#include <cstdint>

#include "boxcar/plugin.h"

namespace boxcar {

struct PendingBatch {
  size_t items = 0;       // reads in the group
  uint64_t bytes = 0;     // expected bytes (sizes known from the key cache, else 0)
  int64_t oldest_ns = 0;  // host clock when the first read joined
  int64_t now_ns = 0;
};

template <class Impl>
class BatcherGuard;

class Batcher : public Plugin {
 public:
  static constexpr PluginKind kKind = PluginKind::kBatcher;
  template <class Impl>
  using Guard = BatcherGuard<Impl>;

  // Flush the group now?
  virtual bool ShouldFlush(const PendingBatch& batch) = 0;

  // The longest a read may wait for its group to fill. 0 means never wait.
  virtual int64_t MaxDelayNs() = 0;

  // A flushed batch of `items` reads and `bytes` bytes took `latency_ns` from flush to result.
  virtual void OnBatchComplete(size_t items, uint64_t bytes, int64_t latency_ns) = 0;
};

template <class Impl>
class BatcherGuard final : public detail::GuardedPlugin<Impl> {
 public:
  using detail::GuardedPlugin<Impl>::GuardedPlugin;
  // A failing batcher flushes at once: no read waits on a broken policy.
  bool ShouldFlush(const PendingBatch& batch) override {
    return detail::Contain(this->hs(), "ShouldFlush", true,
                           [&] { return Impl::ShouldFlush(batch); });
  }
  int64_t MaxDelayNs() override {
    return detail::Contain(this->hs(), "MaxDelayNs", int64_t{0},
                           [&] { return Impl::MaxDelayNs(); });
  }
  void OnBatchComplete(size_t items, uint64_t bytes, int64_t latency_ns) override {
    detail::ContainVoid(this->hs(), "OnBatchComplete",
                        [&] { Impl::OnBatchComplete(items, bytes, latency_ns); });
  }
};

}  // namespace boxcar
