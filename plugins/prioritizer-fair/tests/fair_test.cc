#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "boxcar/prioritizer.h"
#include "support/plugin_harness.h"

namespace {

using boxcar::Prioritizer;
using boxcar::Task;
using boxcar::TaskClass;
using boxcar::testing::PluginUnderTest;

constexpr int64_t kMs = 1'000'000;

// Pushes tasks stamped with the harness clock and pops at the harness clock.
class Fair {
 public:
  explicit Fair(std::string_view params = "{}") : p(params) {}

  Task Make(const std::string& peer, uint64_t cost,
            TaskClass task_class = TaskClass::kInteractive) {
    Task task;
    task.id = ++last_id_;
    task.peer = peer;
    task.cost_bytes = cost;
    task.task_class = task_class;
    task.enqueued_ns = p.clock().NowNs();
    return task;
  }

  // The id of the pushed task.
  uint64_t Push(const std::string& peer, uint64_t cost,
                TaskClass task_class = TaskClass::kInteractive) {
    Task task = Make(peer, cost, task_class);
    INFO("push to ", peer);
    REQUIRE(p->Push(task).ok());
    return task.id;
  }

  std::optional<Task> Pop() { return p->Pop(p.clock().NowNs()); }

  // Pops `count` tasks, completing each at once, and returns the peers served in order.
  std::vector<std::string> PopPeers(int count) {
    std::vector<std::string> peers;
    for (int i = 0; i < count; ++i) {
      auto task = Pop();
      if (!task) break;
      peers.push_back(task->peer);
      p->Complete(*task, task->cost_bytes);
    }
    return peers;
  }

  // The value of the first sample of `metric` whose line contains `label`.
  double Metric(std::string_view metric, std::string_view label = "") {
    std::istringstream text(p.harness().MetricsText());
    const std::string name = "boxcar_plugin_" + std::string(metric);
    for (std::string line; std::getline(text, line);) {
      if (line.rfind(name, 0) != 0 || line.find(label) == std::string::npos) continue;
      if (line[name.size()] != '{' && line[name.size()] != ' ') continue;
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
    FAIL("no sample of ", name, " with ", std::string(label));
    return -1;
  }

  PluginUnderTest<Prioritizer> p;

 private:
  uint64_t last_id_ = 0;
};

std::vector<std::string> Repeat(std::initializer_list<std::pair<const char*, int>> runs) {
  std::vector<std::string> out;
  for (const auto& [peer, count] : runs) out.insert(out.end(), count, peer);
  return out;
}

}  // namespace

TEST_CASE("fair: one peer's tasks of one class come out in arrival order") {
  Fair f;
  std::vector<uint64_t> pushed;
  for (int i = 0; i < 5; ++i) pushed.push_back(f.Push("a", 1000 * (i + 1)));
  std::vector<uint64_t> popped;
  while (auto task = f.Pop()) popped.push_back(task->id);
  CHECK(popped == pushed);
  CHECK(f.p->Size() == 0);
  CHECK(f.p.harness().faults() == 0);
}

TEST_CASE("fair: interactive runs before bulk before background, round robin within a class") {
  Fair f;
  const uint64_t a_background = f.Push("a", 1000, TaskClass::kBackground);
  const uint64_t a_bulk = f.Push("a", 1000, TaskClass::kBulk);
  const uint64_t a_interactive = f.Push("a", 1000, TaskClass::kInteractive);
  const uint64_t b_bulk = f.Push("b", 1000, TaskClass::kBulk);
  const uint64_t b_interactive = f.Push("b", 1000, TaskClass::kInteractive);
  std::vector<uint64_t> popped;
  while (auto task = f.Pop()) popped.push_back(task->id);
  CHECK(popped ==
        std::vector<uint64_t>{a_interactive, b_interactive, a_bulk, b_bulk, a_background});
}

TEST_CASE("fair: a peer fetching large blocks and one fetching small ones get equal bytes") {
  Fair f(R"({"quantum_bytes": 65536})");
  constexpr uint64_t kLarge = 65536, kSmall = 4096;
  // The heavy peer queues first, so arrival order alone would serve it exclusively.
  for (int i = 0; i < 40; ++i) f.Push("heavy", kLarge);
  for (int i = 0; i < 400; ++i) f.Push("light", kSmall);

  uint64_t heavy_bytes = 0, light_bytes = 0;
  for (int pop = 0; pop < 340; ++pop) {
    auto task = f.Pop();
    REQUIRE(task.has_value());
    (task->peer == "heavy" ? heavy_bytes : light_bytes) += task->cost_bytes;
    f.p->Complete(*task, task->cost_bytes);
    // One quantum is the most DRR lets one peer run ahead of another.
    const uint64_t gap =
        heavy_bytes > light_bytes ? heavy_bytes - light_bytes : light_bytes - heavy_bytes;
    CHECK(gap <= kLarge);
  }
  CHECK(heavy_bytes >= 19 * kLarge);
  CHECK(light_bytes >= 19 * kLarge);
}

TEST_CASE("fair: a tuned quantum changes the next turn") {
  Fair f(R"({"quantum_bytes": 2048})");
  for (int i = 0; i < 8; ++i) f.Push("a", 1024);
  for (int i = 0; i < 8; ++i) f.Push("b", 1024);
  CHECK(f.PopPeers(4) == Repeat({{"a", 2}, {"b", 2}}));

  f.p.harness().SetTunable("quantum_bytes", 4096);
  CHECK(f.PopPeers(8) == Repeat({{"a", 4}, {"b", 4}}));
  CHECK(f.PopPeers(8) == Repeat({{"a", 2}, {"b", 2}}));
}

TEST_CASE("fair: tasks much larger than the quantum are served without stalling") {
  Fair f(R"({"quantum_bytes": 1024})");
  f.Push("a", 5000);
  f.Push("b", 3000);
  f.Push("a", 1000);
  // b needs 3 quanta, a needs 5: b's first task is affordable first.
  CHECK(f.PopPeers(3) == std::vector<std::string>{"b", "a", "a"});
}

TEST_CASE("fair: Push returns Busy when the queue or the peer's queue is full") {
  Fair f(R"({"max_queue": 3, "max_queue_per_peer": 2})");
  f.Push("a", 1000);
  f.Push("a", 1000);
  CHECK(f.p->Push(f.Make("a", 1000)).IsBusy());
  f.Push("b", 1000);
  CHECK(f.p->Push(f.Make("c", 1000)).IsBusy());
  CHECK(f.p->Size() == 3);
  CHECK(f.Metric("fair_rejected_total", "reason=\"queue_full\"") == 1);
  CHECK(f.Metric("fair_rejected_total", "reason=\"peer_queue_full\"") == 1);

  SUBCASE("a tuned max_queue applies to the next Push") {
    f.p.harness().SetTunable("max_queue", 4);
    CHECK(f.p->Push(f.Make("c", 1000)).ok());
  }
  SUBCASE("a Pop makes room") {
    REQUIRE(f.Pop().has_value());
    CHECK(f.p->Push(f.Make("c", 1000)).ok());
  }
}

TEST_CASE("fair: a peer at its outstanding budget is skipped until Complete frees it") {
  Fair f(R"({"max_outstanding_bytes_per_peer": 10000})");
  for (int i = 0; i < 5; ++i) f.Push("a", 4000);
  f.Push("b", 4000);

  std::vector<Task> running;
  for (int i = 0; i < 3; ++i) {
    running.push_back(*f.Pop());
    CHECK(running.back().peer == "a");  // 0, 4000, then 8000 bytes outstanding: under the cap
  }
  auto next = f.Pop();  // a has 12000 outstanding
  REQUIRE(next.has_value());
  CHECK(next->peer == "b");
  CHECK_FALSE(f.Pop().has_value());
  CHECK(f.p->Size() == 2);

  f.p->Complete(running.front(), running.front().cost_bytes);
  next = f.Pop();
  REQUIRE(next.has_value());
  CHECK(next->peer == "a");
  CHECK_FALSE(f.Pop().has_value());
  CHECK(f.Metric("fair_budget_skips_total") >= 1);

  SUBCASE("a tuned budget applies to the next Pop") {
    f.p.harness().SetTunable("max_outstanding_bytes_per_peer", 100000);
    next = f.Pop();
    REQUIRE(next.has_value());
    CHECK(next->peer == "a");
  }
}

TEST_CASE("fair: a peer with nothing outstanding gets one task even if it exceeds the budget") {
  Fair f(R"({"max_outstanding_bytes_per_peer": 1000, "quantum_bytes": 1024})");
  f.Push("a", 5000);
  f.Push("a", 5000);
  auto first = f.Pop();
  REQUIRE(first.has_value());
  CHECK_FALSE(f.Pop().has_value());
  f.p->Complete(*first, first->cost_bytes);
  CHECK(f.Pop().has_value());
}

TEST_CASE("fair: Complete clamps at zero and ignores unknown peers") {
  Fair f(R"({"max_outstanding_bytes_per_peer": 5000})");
  f.Push("a", 4000);
  f.Push("a", 4000);
  f.Push("a", 4000);
  auto first = f.Pop();
  REQUIRE(first.has_value());
  // Completing twice, and a bigger task than was charged, must not wrap the budget around.
  f.p->Complete(*first, first->cost_bytes);
  f.p->Complete(*first, first->cost_bytes);
  f.p->Complete(f.Make("a", 1'000'000), 1'000'000);
  f.p->Complete(f.Make("stranger", 4000), 4000);
  CHECK(f.Pop().has_value());
  CHECK(f.Pop().has_value());  // 4000 outstanding, under the 5000 budget
  CHECK(f.p.harness().faults() == 0);
}

TEST_CASE("fair: peers are forgotten once they have nothing queued or outstanding") {
  Fair f;
  f.Push("a", 1000);
  f.Push("b", 1000);
  CHECK(f.Metric("fair_active_peers") == 2);
  auto task = f.Pop();
  REQUIRE(task.has_value());
  CHECK(f.Metric("fair_active_peers") == 2);  // still running its task
  f.p->Complete(*task, task->cost_bytes);
  CHECK(f.Metric("fair_active_peers") == 1);
}

TEST_CASE("fair: a task queued past the starvation timeout runs next (Boxo issue 1141)") {
  Fair f(R"({"starvation_timeout_ms": 100})");
  // A newly connected peer asks for one background block while a busy peer keeps the queue fed
  // with interactive requests, which strict class order would always serve first.
  const uint64_t newcomer = f.Push("newcomer", 1000, TaskClass::kBackground);
  int served_at_tick = 0;
  for (int tick = 1; tick <= 20 && served_at_tick == 0; ++tick) {
    f.p.clock().Advance(10 * kMs);
    f.Push("busy", 1000);
    auto task = f.Pop();
    REQUIRE(task.has_value());
    if (task->id == newcomer) served_at_tick = tick;
    f.p->Complete(*task, task->cost_bytes);
  }
  CHECK(served_at_tick == 11);  // the first Pop after it waited more than 100 ms
  CHECK(f.Metric("fair_starvation_rescues_total") == 1);
}

TEST_CASE("fair: a tuned starvation timeout applies to the next Pop") {
  Fair f(R"({"starvation_timeout_ms": 100})");
  f.p.harness().SetTunable("starvation_timeout_ms", 600000);
  const uint64_t newcomer = f.Push("newcomer", 1000, TaskClass::kBackground);
  for (int tick = 0; tick < 20; ++tick) {
    f.p.clock().Advance(10 * kMs);
    f.Push("busy", 1000);
    auto task = f.Pop();
    REQUIRE(task.has_value());
    CHECK(task->id != newcomer);
  }
  f.p.harness().SetTunable("starvation_timeout_ms", 150);
  f.Push("busy", 1000);
  auto task = f.Pop();
  REQUIRE(task.has_value());
  CHECK(task->id == newcomer);
}

TEST_CASE("fair: the starvation rescue still respects the outstanding budget") {
  Fair f(R"({"starvation_timeout_ms": 100, "max_outstanding_bytes_per_peer": 1000})");
  const uint64_t first = f.Push("a", 1000, TaskClass::kBackground);
  f.Push("a", 1000, TaskClass::kBackground);
  auto running = f.Pop();
  REQUIRE(running.has_value());
  CHECK(running->id == first);
  f.p.clock().Advance(200 * kMs);
  const uint64_t fresh = f.Push("b", 1000);
  auto task = f.Pop();
  REQUIRE(task.has_value());
  CHECK(task->id == fresh);
}

TEST_CASE("fair: Drain returns every task by class, then age, and leaves nothing queued") {
  Fair f(R"({"max_outstanding_bytes_per_peer": 1})");
  // Running tasks keep both peers over budget: Drain must ignore budgets.
  f.Push("a", 1000);
  f.Push("b", 1000);
  auto a_running = f.Pop(), b_running = f.Pop();
  REQUIRE(a_running.has_value());
  REQUIRE(b_running.has_value());

  std::vector<uint64_t> ids;
  ids.push_back(f.Push("a", 1000, TaskClass::kBulk));  // 0: bulk, oldest
  f.p.clock().Advance(kMs);
  ids.push_back(f.Push("b", 1000, TaskClass::kInteractive));  // 1
  f.p.clock().Advance(kMs);
  ids.push_back(f.Push("a", 1000, TaskClass::kInteractive));  // 2
  f.p.clock().Advance(kMs);
  ids.push_back(f.Push("c", 1000, TaskClass::kBackground));  // 3
  f.p.clock().Advance(kMs);
  ids.push_back(f.Push("b", 1000, TaskClass::kBulk));  // 4

  std::vector<uint64_t> drained;
  for (const Task& task : f.p->Drain()) drained.push_back(task.id);
  CHECK(drained == std::vector<uint64_t>{ids[1], ids[2], ids[0], ids[4], ids[3]});
  CHECK(f.p->Size() == 0);
  CHECK_FALSE(f.Pop().has_value());

  // Tasks popped before the drain can still complete, and the instance stays consistent.
  f.p->Complete(*a_running, a_running->cost_bytes);
  const uint64_t after = f.Push("a", 1000);
  auto task = f.Pop();
  REQUIRE(task.has_value());
  CHECK(task->id == after);
  CHECK(f.p.harness().faults() == 0);
}

TEST_CASE("fair: Reconfigure changes the per-peer queue limit in place") {
  Fair f;
  REQUIRE(f.p.harness().info().Has(boxcar::kReconfigure));
  REQUIRE(f.p->Reconfigure(f.p.harness().ParseParams(R"({"max_queue_per_peer": 1})")).ok());
  f.Push("a", 1000);
  CHECK(f.p->Push(f.Make("a", 1000)).IsBusy());
  CHECK(f.p->Push(f.Make("b", 1000)).ok());
}

TEST_CASE("fair: the schema rejects bad params") {
  Fair f;
  auto& harness = f.p.harness();
  const std::pair<const char*, const char*> bad_params[] = {
      {"quantum_bytes", R"({"quantum_bytes": 100})"},
      {"quantum_bytes", R"({"quantum_bytes": 4096.5})"},
      {"max_outstanding_bytes_per_peer", R"({"max_outstanding_bytes_per_peer": 0})"},
      {"starvation_timeout_ms", R"({"starvation_timeout_ms": 0})"},
      {"max_queue", R"({"max_queue": -1})"},
      {"max_queue_per_peer", R"({"max_queue_per_peer": "x"})"},
  };
  for (const auto& [param, params] : bad_params) {
    CAPTURE(params);
    CHECK(harness.CreateError(params).find(param) != std::string::npos);
  }
  CHECK(harness.CreateError(R"({"quantum": 4096})").find("quantum") != std::string::npos);
  CHECK(harness.CreateError(R"({"quantum_bytes": 4096, "max_queue": 10})").empty());
}

TEST_CASE("fair: concurrent Push, Pop and Complete neither lose nor duplicate a task") {
  Fair f(R"({"max_outstanding_bytes_per_peer": 4096})");
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 2000;
  std::vector<std::vector<uint64_t>> popped(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < kPerThread; ++i) {
        Task task;
        task.id = static_cast<uint64_t>(t) * kPerThread + i;
        task.peer = "peer-" + std::to_string(i % 3);  // peers shared between threads
        task.task_class = static_cast<TaskClass>(i % 3);
        task.cost_bytes = 1024 * (1 + i % 4);
        CHECK(f.p->Push(task).ok());
        if (i % 2 == 0) {
          if (auto served = f.p->Pop(0)) {
            popped[t].push_back(served->id);
            f.p->Complete(*served, served->cost_bytes);
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::vector<uint64_t> all;
  for (const auto& ids : popped) all.insert(all.end(), ids.begin(), ids.end());
  for (const Task& task : f.p->Drain()) all.push_back(task.id);
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> expected(kThreads * kPerThread);
  for (uint64_t id = 0; id < expected.size(); ++id) expected[id] = id;
  CHECK(all == expected);
  CHECK(f.Metric("fair_active_peers") == 0);
  CHECK(f.p.harness().faults() == 0);
}
