#include "store/pin_store.h"

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

namespace boxcar::store {
namespace {

// Keys: one byte for the kind, then the binary CID. Values are empty.
std::string PinKey(const format::Cid& cid, PinKind kind) {
  return (kind == PinKind::kRecursive ? "r" : "d") + cid.bytes();
}

Status FromLevelDb(const leveldb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsNotFound()) return Status::NotFound(what);
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

}  // namespace

const char* PinKindName(PinKind kind) {
  return kind == PinKind::kRecursive ? "recursive" : "direct";
}

PinStore::PinStore(std::unique_ptr<leveldb::DB> db) : db_(std::move(db)) {}
PinStore::~PinStore() = default;

Status PinStore::Open(const std::filesystem::path& dir, std::unique_ptr<PinStore>* out) {
  leveldb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir.string(), &raw);
  if (!s.ok()) return FromLevelDb(s, "cannot open the pin store at " + dir.string());
  out->reset(new PinStore(std::unique_ptr<leveldb::DB>(raw)));
  return Status::OK();
}

Status PinStore::Add(const format::Cid& cid, PinKind kind) {
  leveldb::WriteOptions sync;
  sync.sync = true;
  return FromLevelDb(db_->Put(sync, PinKey(cid, kind), ""),
                     std::string("pinning ") + cid.ToString());
}

Status PinStore::Remove(const format::Cid& cid, PinKind kind) {
  if (!Has(cid, kind)) {
    return Status::NotFound(cid.ToString() + " is not pinned " + PinKindName(kind));
  }
  leveldb::WriteOptions sync;
  sync.sync = true;
  return FromLevelDb(db_->Delete(sync, PinKey(cid, kind)),
                     std::string("unpinning ") + cid.ToString());
}

bool PinStore::Has(const format::Cid& cid, PinKind kind) {
  std::string value;
  return db_->Get(leveldb::ReadOptions(), PinKey(cid, kind), &value).ok();
}

Status PinStore::List(std::vector<Pin>* out) {
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const leveldb::Slice key = it->key();
    Pin pin;
    if (key.size() < 2 || (key[0] != 'r' && key[0] != 'd') ||
        !format::Cid::FromBytes(std::string_view(key.data() + 1, key.size() - 1), &pin.cid).ok()) {
      return Status::Corruption(
          "the pin store holds a key that is not a pin; it was not "
          "written by boxcar");
    }
    pin.kind = key[0] == 'r' ? PinKind::kRecursive : PinKind::kDirect;
    out->push_back(std::move(pin));
  }
  return FromLevelDb(it->status(), "listing pins");
}

}  // namespace boxcar::store
