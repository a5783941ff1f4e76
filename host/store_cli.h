// The offline store commands: import, export, verify, gc and stat. Each opens the store the
// config describes (taking its lock, so a store a node is serving is refused), does its work and
// exits with 0 on success, 1 on failure (reported on stderr).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/config.h"
#include "store/blockstore.h"
#include "store/pin_store.h"

namespace boxcar::cli {

struct StoreCommand {
  std::filesystem::path config;
  std::vector<runtime::Override> overrides;
  std::filesystem::path exe_dir;
  std::vector<std::string> operands;  // CAR files for import, the CID for export
  bool pin = false;
  bool json = false;
  std::string scope = "all";
  bool repair = false;  // verify: remove corrupt blocks and name the pinned DAGs to re-import
};

int Import(const StoreCommand& command);
int Export(const StoreCommand& command);
int Verify(const StoreCommand& command);
int CollectGarbage(const StoreCommand& command);
int Stat(const StoreCommand& command);

// What `stat --json` prints and GET /admin/store returns.
nlohmann::json StoreStatus(store::BlockStore& blocks, store::PinStore& pins);

}  // namespace boxcar::cli
