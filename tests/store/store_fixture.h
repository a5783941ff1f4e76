// A block store in a temporary directory, built the way the node builds it: a config file
// loaded by LoadConfig, the bundled plugins loaded by the runtime, and a BlockStore over them.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "format/cid.h"
#include "format/multihash.h"
#include "obs/metrics.h"
#include "runtime/config.h"
#include "runtime/host_services.h"
#include "runtime/runtime.h"
#include "store/blockstore.h"
#include "support/temp_dir.h"

namespace boxcar::testing {

// The default strategies plus the given store section, with `overrides` merged in (RFC 7386).
inline nlohmann::json StoreConfig(nlohmann::json store,
                                  const nlohmann::json& overrides = nlohmann::json::object()) {
  nlohmann::json config = {{"plugins", {{"path", nlohmann::json::array({BOXCAR_PLUGIN_DIR})}}},
                           {"strategies",
                            {{"prioritizer", {{"plugin", "fifo"}}},
                             {"batcher", {{"plugin", "fixed"}}},
                             {"conn_manager", {{"plugin", "watermark"}}},
                             {"tuner", {{"plugin", "static"}}}}},
                           {"store", std::move(store)}};
  config.merge_patch(overrides);
  return config;
}

class StoreFixture {
 public:
  explicit StoreFixture(nlohmann::json store, nlohmann::json overrides = nlohmann::json::object())
      : overrides_(std::move(overrides)) {
    runtime_ = std::make_unique<runtime::Runtime>(runtime::MakeHostContext(metrics_.registry()),
                                                  *metrics_.registry());
    blocks_ = std::make_unique<store::BlockStore>(*runtime_, *metrics_.registry());
    const Status s = Apply(std::move(store));
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  ~StoreFixture() {
    blocks_.reset();
    runtime_->Shutdown();
  }

  // Writes the config and reloads it, as a node does on SIGHUP.
  Status Apply(nlohmann::json store) {
    const auto file = dir_.Write("boxcar.json", StoreConfig(std::move(store), overrides_).dump(2));
    runtime::LoadResult loaded = runtime::LoadConfig(file, {}, BOXCAR_BINARY_DIR);
    if (!loaded.config) {
      return Status::InvalidArgument(runtime::FormatError(file, loaded.errors.front()));
    }
    runtime::ReloadOutcome out = runtime_->Apply(*loaded.config, "test");
    if (!out.status.ok()) return out.status;
    return blocks_->Refresh();
  }

  store::BlockStore& store() { return *blocks_; }
  runtime::Runtime& runtime() { return *runtime_; }
  const TempDir& dir() const { return dir_; }
  std::string MetricsText() const { return metrics_.SerializeText(); }

  // Calls f(CacheTier&) on tier `index` (0 = the first tier).
  template <class F>
  Status OnTier(size_t index, F&& f) {
    return runtime_->Call(runtime::TierSlot(index), std::forward<F>(f));
  }
  bool TierHas(size_t index, const format::Cid& cid) {
    uint64_t size = 0;
    return OnTier(index, [&](CacheTier& t) { return t.Contains(cid.hash().bytes(), &size); }).ok();
  }
  TierStats Stats(size_t index) {
    TierStats stats;
    OnTier(index, [&](CacheTier& t) {
      stats = t.Stats();
      return Status::OK();
    });
    return stats;
  }

 private:
  const nlohmann::json overrides_;
  TempDir dir_;
  obs::MetricsRegistry metrics_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<store::BlockStore> blocks_;
};

// A raw block of `size` bytes that differ per `seed`, and its CIDv1.
struct TestBlock {
  format::Cid cid;
  BlockData data;
};
inline TestBlock MakeBlock(size_t size, uint64_t seed) {
  auto data = std::make_shared<std::string>(size, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (char& c : *data) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  const format::Multihash mh = format::Multihash::Sum(format::kSha2_256, *data);
  return {format::Cid::V1(format::kRaw, mh), data};
}

}  // namespace boxcar::testing
