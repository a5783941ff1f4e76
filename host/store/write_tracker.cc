#include "store/write_tracker.h"

namespace boxcar::store {

void WriteTracker::Record(std::string_view key) {
  if (!tracking_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(mu_);
  written_.emplace(key);
}

void WriteTracker::Start() {
  std::unique_lock gate(gate_);
  std::lock_guard lock(mu_);
  written_.clear();
  tracking_.store(true, std::memory_order_release);
}

bool WriteTracker::Written(std::string_view key) {
  std::lock_guard lock(mu_);
  return written_.count(std::string(key)) != 0;
}

void WriteTracker::Stop() {
  std::lock_guard lock(mu_);
  tracking_.store(false, std::memory_order_release);
  written_.clear();
}

}  // namespace boxcar::store
