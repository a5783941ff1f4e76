// The cache_tier contract (boxcar/testing/cache_tier_contract.h) for the bundled tiers' doctest
// tests: a memory tier from its params, a stored tier in a fresh directory, each failure reported
// as a doctest check.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "boxcar/testing/cache_tier_contract.h"
#include "boxcar_plugins/testing/stored_tier.h"
#include "plugin_harness.h"
#include "support/temp_dir.h"

namespace boxcar_plugins::testing {

inline void ExpectContractKept(const boxcar::testing::TierContract& contract) {
  for (const std::string& failure : boxcar::testing::RunTierContract(contract)) {
    FAIL_CHECK(failure);
  }
}

// A memory tier made from `params`, which must set capacity_bytes to `capacity_bytes`.
inline void CheckMemoryTierContract(const std::string& params, uint64_t capacity_bytes) {
  boxcar::testing::TierContract contract;
  contract.capacity_bytes = capacity_bytes;
  contract.make = [params] {
    auto owner = std::make_shared<boxcar::testing::PluginUnderTest<boxcar::CacheTier>>(params);
    return std::shared_ptr<boxcar::CacheTier>(owner, owner->get());
  };
  ExpectContractKept(contract);
}

// A persistent tier made from `params` in a new directory for each check; `reopen` opens the
// directory of the last one again.
inline void CheckStoredTierContract(const std::string& params) {
  boxcar::testing::TempDir root;
  int made = 0;
  std::filesystem::path last;
  auto open = [params](const std::filesystem::path& dir) {
    auto owner = std::make_shared<Tier>(dir, params);
    return std::shared_ptr<boxcar::CacheTier>(owner, &**owner);
  };
  boxcar::testing::TierContract contract;
  contract.make = [&] {
    last = root.path() / std::to_string(made++);
    std::filesystem::create_directories(last);
    return open(last);
  };
  contract.reopen = [&] { return open(last); };
  ExpectContractKept(contract);
}

}  // namespace boxcar_plugins::testing
