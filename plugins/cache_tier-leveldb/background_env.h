// A LevelDB Env whose background work (compactions) runs on a thread this object owns.
//
// LevelDB's default Env runs compactions on a detached thread that lives until the process
// exits, inside libleveldb's code. A plugin library, and the libleveldb it pulled in, is unmapped
// when the host swaps the plugin out, so that thread would be left executing unmapped code.
// Here the thread is joined when the Env is destroyed, which must happen after every DB using it
// was deleted (deleting a DB waits for its scheduled work). Everything else forwards to the
// default Env, including StartThread, which a DB never calls.
//
// Thread safety: Schedule may be called from any thread, as LevelDB does.
#pragma once

#include <leveldb/env.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace leveldb_tier {

class BackgroundEnv final : public leveldb::EnvWrapper {
 public:
  BackgroundEnv() : EnvWrapper(leveldb::Env::Default()), worker_([this] { Work(); }) {}
  BackgroundEnv(const BackgroundEnv&) = delete;
  BackgroundEnv& operator=(const BackgroundEnv&) = delete;

  ~BackgroundEnv() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    queued_.notify_one();
    worker_.join();
  }

  void Schedule(void (*function)(void*), void* arg) override {
    {
      std::lock_guard lock(mutex_);
      work_.emplace_back(function, arg);
    }
    queued_.notify_one();
  }

 private:
  void Work() {
    std::unique_lock lock(mutex_);
    while (true) {
      queued_.wait(lock, [&] { return stopping_ || !work_.empty(); });
      if (work_.empty()) return;  // stopping, and nothing is left to run
      auto [function, arg] = work_.front();
      work_.pop_front();
      lock.unlock();
      function(arg);
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable queued_;
  // Guarded by mutex_:
  std::deque<std::pair<void (*)(void*), void*>> work_;
  bool stopping_ = false;
  std::thread worker_;  // last: starts once the members it uses exist
};

}  // namespace leveldb_tier
