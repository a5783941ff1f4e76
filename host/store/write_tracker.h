// WriteTracker: the keys written while a GC runs, so its sweep spares blocks written after its
// mark phase began.
//
// A writer holds a WriteGuard from before it records its key until its write is durable. Start
// waits for every guard taken before it, so once Start returns no write that missed the tracking
// flag is still landing: each write either is recorded or was visible to the mark phase.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace boxcar::store {

class WriteTracker {
 public:
  using WriteGuard = std::shared_lock<std::shared_mutex>;

  // Held by a writer across Record and its write.
  WriteGuard BeginWrite() { return WriteGuard(gate_); }
  // Remembers `key` while tracking; nothing otherwise (one relaxed load on the write path).
  void Record(std::string_view key);

  // Forgets earlier keys and tracks from now on, once writes in flight have finished.
  void Start();
  bool Written(std::string_view key);
  void Stop();

 private:
  std::shared_mutex gate_;
  std::atomic<bool> tracking_{false};
  std::mutex mu_;
  std::unordered_set<std::string> written_;
};

}  // namespace boxcar::store
