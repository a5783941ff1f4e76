// The request engine in process, over a real block store and the bundled plugins: reads through
// the store, per-peer budgets and backlogs, shedding by class, and the two clocks of a task (its
// age for the prioritizer, and its wait for engine.max_queue_wait_ms).
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include <prometheus/registry.h>

#include "engine/request_engine.h"
#include "store/store_fixture.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;

// Records what the engine did with one task.
class RecordingWork final : public engine::Work {
 public:
  explicit RecordingWork(std::optional<format::Cid> cid = std::nullopt, bool continuation = false)
      : cid_(std::move(cid)), continuation_(continuation) {}

  const format::Cid* block() const override { return cid_ ? &*cid_ : nullptr; }
  bool continues_response() const override { return continuation_; }
  void Run(const Task& given, engine::ReadResult* read) override {
    ran = true;
    task = given;
    if (read != nullptr) {
      status = read->status;
      data = read->data;
    }
  }
  void Shed(const Task& given, int retry_after_s) override {
    shed = true;
    task = given;
    retry_after = retry_after_s;
  }

  bool ran = false;
  bool shed = false;
  int retry_after = 0;
  Task task;
  Status status;
  BlockData data;

 private:
  std::optional<format::Cid> cid_;
  bool continuation_;
};

const json kTiers = {{"tiers", {{{"plugin", "lru"}}, {{"plugin", "leveldb"}}}}};

// A store and an engine with the given engine section; one worker, so the test's Pump runs all.
class EngineFixture {
 public:
  explicit EngineFixture(json engine_section) : store_(Store(std::move(engine_section))) {
    engine_ = std::make_unique<engine::RequestEngine>(store_.runtime(), store_.store(), registry_);
  }
  ~EngineFixture() { engine_.reset(); }

  engine::RequestEngine& engine() { return *engine_; }
  StoreFixture& store() { return store_; }
  int64_t NowNs() { return store_.runtime().context().clock->NowNs(); }
  void RunAll() {
    while (engine_->Pump()) {
    }
  }

 private:
  static StoreFixture Store(json engine_section) {
    engine_section["workers"] = 1;
    return StoreFixture(kTiers, {{"engine", std::move(engine_section)}});
  }

  prometheus::Registry registry_;
  StoreFixture store_;
  std::unique_ptr<engine::RequestEngine> engine_;
};

const json kFixedBudget = {{"peer_budget_bytes", 300000},
                           {"peer_budget_min_bytes", 300000},
                           {"peer_budget_max_bytes", 300000}};

}  // namespace

TEST_CASE("engine: block reads go through the store; a missing block reads as NotFound") {
  EngineFixture f(json::object());
  const TestBlock stored = MakeBlock(4096, 1);
  const TestBlock missing = MakeBlock(4096, 2);
  REQUIRE(f.store().store().Put(stored.cid, stored.data).ok());
  auto hit = std::make_shared<RecordingWork>(stored.cid);
  auto miss = std::make_shared<RecordingWork>(missing.cid);
  CHECK(f.engine().Submit(TaskClass::kInteractive, "peer", 0, hit).refusal ==
        engine::Refusal::kNone);
  CHECK(f.engine().Submit(TaskClass::kInteractive, "peer", 0, miss).refusal ==
        engine::Refusal::kNone);
  CHECK(f.engine().queued() == 2);
  f.RunAll();
  CHECK(f.engine().queued() == 0);
  REQUIRE(hit->ran);
  CHECK(hit->status.ok());
  REQUIRE(hit->data != nullptr);
  CHECK(*hit->data == *stored.data);
  REQUIRE(miss->ran);
  CHECK(miss->status.IsNotFound());
  f.engine().Complete(hit->task, 4096);
  f.engine().Complete(miss->task, 0);
}

TEST_CASE("engine: a peer over its budget waits in its backlog; a full backlog is refused") {
  json section = kFixedBudget;
  section["peer_backlog_limit"] = 1;
  EngineFixture f(section);
  auto first = std::make_shared<RecordingWork>();
  auto second = std::make_shared<RecordingWork>();
  auto third = std::make_shared<RecordingWork>();
  auto other = std::make_shared<RecordingWork>();
  constexpr uint64_t kChunk = 256 << 10;
  CHECK(f.engine().Submit(TaskClass::kBulk, "greedy", kChunk, first).refusal ==
        engine::Refusal::kNone);
  CHECK(f.engine().Submit(TaskClass::kBulk, "greedy", kChunk, second).refusal ==
        engine::Refusal::kNone);  // over budget: waits
  const engine::SubmitResult refused = f.engine().Submit(TaskClass::kBulk, "greedy", kChunk, third);
  CHECK(refused.refusal == engine::Refusal::kPeerBacklogFull);
  CHECK(refused.http_status() == 429);
  CHECK(refused.retry_after_s > 0);
  CHECK(f.engine().Submit(TaskClass::kBulk, "polite", kChunk, other).refusal ==
        engine::Refusal::kNone);

  f.RunAll();
  CHECK(first->ran);
  CHECK(other->ran);  // another peer is not held up
  CHECK_FALSE(second->ran);
  CHECK_FALSE(third->ran);
  f.engine().Complete(first->task, kChunk);  // releases the budget: the backlog moves on
  f.RunAll();
  CHECK(second->ran);
  f.engine().Complete(second->task, kChunk);
  f.engine().Complete(other->task, kChunk);
  CHECK(f.engine().queued() == 0);
}

TEST_CASE(
    "engine: background is shed at 50% of the queue limit, bulk at 75%, interactive at 100%") {
  EngineFixture f(json{{"queue_limit", 16}});
  std::vector<std::shared_ptr<RecordingWork>> works;
  auto submit = [&](TaskClass task_class, int n) {
    int refused = 0;
    for (int i = 0; i < n; ++i) {
      works.push_back(std::make_shared<RecordingWork>());
      const engine::SubmitResult r =
          f.engine().Submit(task_class, "peer-" + std::to_string(works.size()), 0, works.back());
      if (r.refusal != engine::Refusal::kNone) {
        CHECK(r.refusal == engine::Refusal::kOverloaded);
        CHECK(r.http_status() == 503);
        ++refused;
      }
    }
    return refused;
  };
  CHECK(submit(TaskClass::kBackground, 9) == 1);   // half of 16
  CHECK(submit(TaskClass::kBulk, 5) == 1);         // 12 of 16
  CHECK(submit(TaskClass::kInteractive, 5) == 1);  // 16 of 16
  CHECK(f.engine().queued() == 16);
  f.RunAll();
  CHECK(f.engine().queued() == 0);
  // Recovered: every class is accepted again.
  CHECK(submit(TaskClass::kBackground, 1) == 0);
  f.RunAll();
  for (const auto& w : works) {
    if (w->ran) f.engine().Complete(w->task, 0);
  }
}

TEST_CASE(
    "engine: a task's prioritizer age starts after its backlog wait; its client wait does not") {
  json section = kFixedBudget;
  section["max_queue_wait_ms"] = 500;  // far above the 30 ms wait below, even under a sanitizer
  EngineFixture f(section);
  constexpr uint64_t kChunk = 256 << 10;
  auto first = std::make_shared<RecordingWork>();
  auto second = std::make_shared<RecordingWork>();
  REQUIRE(f.engine().Submit(TaskClass::kBulk, "p", kChunk, first).refusal ==
          engine::Refusal::kNone);
  REQUIRE(f.engine().Submit(TaskClass::kBulk, "p", kChunk, second).refusal ==
          engine::Refusal::kNone);
  f.RunAll();
  REQUIRE(first->ran);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const int64_t released_ns = f.NowNs();
  f.engine().Complete(first->task, kChunk);
  f.RunAll();
  REQUIRE(second->ran);
  // The prioritizer saw the task when it left the backlog, not when it was submitted; an age
  // that counted the backlog would have the fair prioritizer rescue bulk ahead of interactive.
  CHECK(second->task.enqueued_ns >= released_ns);

  // A task that waited past max_queue_wait_ms in the backlog is answered 503, not served late.
  auto late = std::make_shared<RecordingWork>();
  REQUIRE(f.engine().Submit(TaskClass::kBulk, "p", kChunk, late).refusal == engine::Refusal::kNone);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  f.engine().Complete(second->task, kChunk);
  f.RunAll();
  CHECK(late->shed);
  CHECK_FALSE(late->ran);
  CHECK(late->retry_after > 0);

  // The next chunk of a stream the client is reading waits on that client, not on the node:
  // however long it waited, it runs, so the stream is not cut.
  auto next_chunk = std::make_shared<RecordingWork>(std::nullopt, true);
  REQUIRE(f.engine().Submit(TaskClass::kBulk, "p", kChunk, next_chunk).refusal ==
          engine::Refusal::kNone);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  f.engine().Complete(late->task, 0);
  f.RunAll();
  CHECK(next_chunk->ran);
  CHECK_FALSE(next_chunk->shed);
  f.engine().Complete(next_chunk->task, kChunk);
}

}  // namespace boxcar::testing
