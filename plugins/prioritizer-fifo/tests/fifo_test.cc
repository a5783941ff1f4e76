#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "boxcar/prioritizer.h"
#include "support/plugin_harness.h"

namespace {

using boxcar::Prioritizer;
using boxcar::Task;
using boxcar::testing::PluginUnderTest;

Task MakeTask(uint64_t id, std::string peer = "peer-a") {
  Task task;
  task.id = id;
  task.peer = std::move(peer);
  task.cost_bytes = 1024;
  task.enqueued_ns = static_cast<int64_t>(id);
  return task;
}

std::vector<uint64_t> PopAllIds(PluginUnderTest<Prioritizer>& p) {
  std::vector<uint64_t> ids;
  while (auto task = p->Pop(0)) ids.push_back(task->id);
  return ids;
}

}  // namespace

TEST_CASE("fifo: tasks come out in arrival order whatever their peer and class") {
  PluginUnderTest<Prioritizer> p;
  Task background = MakeTask(1, "peer-b");
  background.task_class = boxcar::TaskClass::kBackground;
  REQUIRE(p->Push(background).ok());
  REQUIRE(p->Push(MakeTask(2, "peer-a")).ok());
  REQUIRE(p->Push(MakeTask(3, "peer-b")).ok());
  CHECK(p->Size() == 3);
  CHECK(PopAllIds(p) == std::vector<uint64_t>{1, 2, 3});
  CHECK(p->Size() == 0);
  CHECK_FALSE(p->Pop(0).has_value());
  CHECK(p.harness().faults() == 0);
}

TEST_CASE("fifo: Push returns Busy when the queue is full, and accepts again after a Pop") {
  PluginUnderTest<Prioritizer> p(R"({"max_queue": 2})");
  REQUIRE(p->Push(MakeTask(1)).ok());
  REQUIRE(p->Push(MakeTask(2)).ok());
  CHECK(p->Push(MakeTask(3)).IsBusy());
  CHECK(p->Size() == 2);
  REQUIRE(p->Pop(0).has_value());
  CHECK(p->Push(MakeTask(4)).ok());
  CHECK(PopAllIds(p) == std::vector<uint64_t>{2, 4});
}

TEST_CASE("fifo: a tuned max_queue applies to the next Push") {
  PluginUnderTest<Prioritizer> p(R"({"max_queue": 2})");
  REQUIRE(p->Push(MakeTask(1)).ok());
  REQUIRE(p->Push(MakeTask(2)).ok());
  REQUIRE(p->Push(MakeTask(3)).IsBusy());

  p.harness().SetTunable("max_queue", 3);
  CHECK(p->Push(MakeTask(3)).ok());
  CHECK(p->Push(MakeTask(4)).IsBusy());

  // Lowering the limit below the queue's length sheds new work but keeps what is queued.
  p.harness().SetTunable("max_queue", 1);
  CHECK(p->Push(MakeTask(5)).IsBusy());
  CHECK(p->Size() == 3);
}

TEST_CASE("fifo: Drain returns every queued task in order and empties the queue") {
  PluginUnderTest<Prioritizer> p;
  for (uint64_t id = 1; id <= 5; ++id) REQUIRE(p->Push(MakeTask(id)).ok());
  REQUIRE(p->Pop(0)->id == 1);

  std::vector<uint64_t> drained;
  for (const Task& task : p->Drain()) drained.push_back(task.id);
  CHECK(drained == std::vector<uint64_t>{2, 3, 4, 5});
  CHECK(p->Size() == 0);
  CHECK_FALSE(p->Pop(0).has_value());
}

TEST_CASE("fifo: Complete of any task, even one never queued here, changes nothing") {
  PluginUnderTest<Prioritizer> p;
  REQUIRE(p->Push(MakeTask(1)).ok());
  p->Complete(MakeTask(99, "unknown-peer"), 4096);
  CHECK(p->Size() == 1);
  CHECK(p.harness().faults() == 0);
}

TEST_CASE("fifo: the schema rejects bad params") {
  PluginUnderTest<Prioritizer> p;
  for (const char* bad : {R"({"max_queue": 0})", R"({"max_queue": -1})", R"({"max_queue": "ten"})",
                          R"({"max_queue": 1.5})"}) {
    CAPTURE(bad);
    CHECK(p.harness().CreateError(bad).find("max_queue") != std::string::npos);
  }
  CHECK(p.harness().CreateError(R"({"max_queeu": 5})").find("max_queeu") != std::string::npos);
  CHECK(p.harness().CreateError(R"({"max_queue": 5})").empty());
}

TEST_CASE("fifo: concurrent Push and Pop neither lose nor duplicate a task") {
  PluginUnderTest<Prioritizer> p;
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 2000;
  std::vector<std::vector<uint64_t>> popped(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < kPerThread; ++i) {
        const uint64_t id = static_cast<uint64_t>(t) * kPerThread + i;
        CHECK(p->Push(MakeTask(id, "peer-" + std::to_string(t))).ok());
        if (i % 2 == 0) {
          if (auto task = p->Pop(0)) popped[t].push_back(task->id);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::vector<uint64_t> all;
  for (const auto& ids : popped) all.insert(all.end(), ids.begin(), ids.end());
  for (const Task& task : p->Drain()) all.push_back(task.id);
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> expected(kThreads * kPerThread);
  for (uint64_t id = 0; id < expected.size(); ++id) expected[id] = id;
  CHECK(all == expected);
  CHECK(p.harness().faults() == 0);
}
