// Synchronization pieces of the leveldb tier: the lock that lets Reconfigure reopen the database
// under running calls, and the queue that merges concurrent writes into group commits.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "boxcar/status.h"

namespace leveldb_tier {

// A shared/exclusive lock that prefers the exclusive side: once a reopen waits, new shared
// holders wait behind it, so a steady stream of reads cannot starve a reopen. Meets the
// SharedLockable requirements, for std::shared_lock and std::unique_lock. Not recursive: a
// thread holding it shared must not take it again.
class ReopenLock {
 public:
  void lock_shared() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !exclusive_ && waiting_exclusive_ == 0; });
    ++shared_;
  }
  void unlock_shared() {
    std::lock_guard lock(mutex_);
    if (--shared_ == 0 && waiting_exclusive_ > 0) changed_.notify_all();
  }
  void lock() {
    std::unique_lock lock(mutex_);
    ++waiting_exclusive_;
    changed_.wait(lock, [&] { return !exclusive_ && shared_ == 0; });
    --waiting_exclusive_;
    exclusive_ = true;
  }
  void unlock() {
    std::lock_guard lock(mutex_);
    exclusive_ = false;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  // Guarded by mutex_:
  size_t shared_ = 0;
  size_t waiting_exclusive_ = 0;
  bool exclusive_ = false;
};

// The fields WriteQueue needs in an operation; an operation type derives from it.
struct QueuedWrite {
  uint64_t bytes = 0;  // payload bytes, for bounding a group
  size_t entries = 0;  // blocks written or deleted
  // Set by the leader that wrote the operation's group:
  boxcar::Status status;
  bool done = false;
  std::condition_variable woken;
};

// Group commit. Each writer queues its operation; the writer at the front becomes the leader,
// takes a group of queued operations (up to the bounds, and at least its own), writes them with
// one call, and hands every member the result. Operations are written in queue order; while a
// leader writes, later writers queue up behind it and form the next group.
class WriteQueue {
 public:
  WriteQueue(uint64_t max_group_bytes, size_t max_group_entries)
      : max_group_bytes_(max_group_bytes), max_group_entries_(max_group_entries) {}

  // Blocks until `op` was written, by this thread or by another leader, and returns the status
  // of its group. `write_group(const std::vector<QueuedWrite*>&)` runs outside the queue's lock,
  // for one group at a time.
  template <class WriteGroup>
  boxcar::Status Submit(QueuedWrite* op, WriteGroup&& write_group) {
    std::unique_lock lock(mutex_);
    queue_.push_back(op);
    op->woken.wait(lock, [&] { return op->done || queue_.front() == op; });
    if (op->done) return op->status;
    const std::vector<QueuedWrite*> group = FrontGroup();
    lock.unlock();
    boxcar::Status status;
    try {
      status = write_group(group);
    } catch (...) {
      // The group must leave the queue whatever happens, or every later writer waits forever.
      lock.lock();
      Finish(group, op, boxcar::Status::Internal("the write group's leader failed"));
      throw;
    }
    lock.lock();
    Finish(group, op, status);
    return status;
  }

 private:
  // Requires mutex_. Hands the group's members their status and wakes the next leader.
  void Finish(const std::vector<QueuedWrite*>& group, QueuedWrite* leader,
              const boxcar::Status& status) {
    for (QueuedWrite* member : group) {
      queue_.pop_front();
      member->status = status;
      member->done = true;
      if (member != leader) member->woken.notify_one();
    }
    if (!queue_.empty()) queue_.front()->woken.notify_one();
  }

  // Requires mutex_. The leading operations that fit the bounds; the first always does.
  std::vector<QueuedWrite*> FrontGroup() const {
    std::vector<QueuedWrite*> group;
    uint64_t bytes = 0;
    size_t entries = 0;
    for (QueuedWrite* op : queue_) {
      if (!group.empty() &&
          (bytes + op->bytes > max_group_bytes_ || entries + op->entries > max_group_entries_)) {
        break;
      }
      group.push_back(op);
      bytes += op->bytes;
      entries += op->entries;
    }
    return group;
  }

  const uint64_t max_group_bytes_;
  const size_t max_group_entries_;
  std::mutex mutex_;
  std::deque<QueuedWrite*> queue_;  // guarded by mutex_; the front is the leader
};

}  // namespace leveldb_tier
