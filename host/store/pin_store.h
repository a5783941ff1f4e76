// PinStore: the roots a store keeps. A recursive pin keeps a root and everything it links to; a
// direct pin keeps one block. Blocks kept only because a recursive pin reaches them are
// "indirect": derived by walking the DAG, never stored.
//
// Pins live in their own LevelDB under <store.path>/pins, written with sync, so an acknowledged
// pin survives a crash. Callers pin only after the blocks are durable (see CarImporter), so a
// pin never exists without its blocks.
//
// Thread-safe. GC holds Exclusive() through mark and sweep; an import that will pin holds
// Shared() from its first block to its pins, so GC never sweeps blocks an import is about to pin.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "boxcar/status.h"
#include "format/cid.h"

namespace leveldb {
class DB;
}

namespace boxcar::store {

enum class PinKind { kRecursive, kDirect };

struct Pin {
  format::Cid cid;
  PinKind kind = PinKind::kRecursive;
};

class PinStore {
 public:
  static Status Open(const std::filesystem::path& dir, std::unique_ptr<PinStore>* out);
  ~PinStore();

  // The caller holds Shared() (or Exclusive()).
  Status Add(const format::Cid& cid, PinKind kind);
  // NotFound when `cid` has no pin of `kind`. The caller holds Shared() (or Exclusive()).
  Status Remove(const format::Cid& cid, PinKind kind);
  Status List(std::vector<Pin>* out);
  bool Has(const format::Cid& cid, PinKind kind);

  std::unique_lock<std::shared_mutex> Exclusive() { return std::unique_lock(gc_mu_); }
  std::shared_lock<std::shared_mutex> Shared() { return std::shared_lock(gc_mu_); }

 private:
  explicit PinStore(std::unique_ptr<leveldb::DB> db);
  std::unique_ptr<leveldb::DB> db_;
  std::shared_mutex gc_mu_;
};

const char* PinKindName(PinKind kind);

}  // namespace boxcar::store
