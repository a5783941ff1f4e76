#include "store/dag_transfer.h"

#include <unordered_set>

#include "format/car.h"

namespace boxcar::store {
namespace {

using format::Cid;

format::BlockFetcher FetchFrom(BlockStore& store) {
  return [&store](const Cid& cid, std::string* data) {
    BlockData block;
    Status s = store.Get(cid, &block);
    if (s.ok()) data->assign(*block);
    return s;
  };
}

// Commits blocks in groups, so one sync covers many blocks.
class GroupCommitter {
 public:
  GroupCommitter(BlockStore& store, const ImportOptions& options, ImportSummary* summary)
      : store_(store), options_(options), summary_(summary) {}

  Status Add(const Cid& cid, std::string body) {
    pending_bytes_ += body.size();
    pending_.emplace_back(cid, std::make_shared<const std::string>(std::move(body)));
    if (pending_bytes_ >= options_.group_bytes || pending_.size() >= options_.group_blocks) {
      return Flush();
    }
    return Status::OK();
  }

  Status Flush() {
    if (pending_.empty()) return Status::OK();
    if (Status s = store_.PutBatch(pending_); !s.ok()) return s;
    summary_->totals.blocks += pending_.size();
    summary_->totals.bytes += pending_bytes_;
    pending_.clear();
    pending_bytes_ = 0;
    Report();
    return Status::OK();
  }

  void AddStreamed(uint64_t bytes) {
    summary_->totals.blocks += 1;
    summary_->totals.bytes += bytes;
    Report();
  }

  void set_offset(uint64_t offset) { summary_->totals.input_offset = offset; }

 private:
  void Report() {
    if (options_.progress) options_.progress(summary_->totals);
  }

  BlockStore& store_;
  const ImportOptions& options_;
  ImportSummary* summary_;
  std::vector<std::pair<Cid, BlockData>> pending_;
  uint64_t pending_bytes_ = 0;
};

Status CheckComplete(BlockStore& store, const Cid& root) {
  format::WalkOptions walk;
  walk.dups = false;
  walk.verify = false;  // the store verified the blocks on the way in
  return format::Walk(root, walk, FetchFrom(store),
                      [](const Cid&, std::string_view) { return Status::OK(); });
}

}  // namespace

Status ImportCar(BlockStore& store, PinStore* pins, std::istream& car, const ImportOptions& options,
                 ImportSummary* summary) {
  std::shared_lock<std::shared_mutex> gc_guard;
  if (options.pin && pins != nullptr) gc_guard = pins->Shared();
  format::CarReaderOptions reader_options;
  reader_options.verify = false;  // the store hashes every block it writes
  reader_options.max_section_bytes = 1ull << 30;
  format::CarReader reader(car, reader_options);
  format::CarHeader header;
  if (Status s = reader.ReadHeader(&header); !s.ok()) return s;
  summary->roots = header.roots;

  GroupCommitter committer(store, options, summary);
  // Streamed blocks bypass the group: they are written in chunks by the store itself.
  constexpr uint64_t kWholeBlockLimit = 1 << 20;
  for (;;) {
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    if (Status s = reader.NextSection(&cid, &size, &end); !s.ok()) return s;
    if (end) break;
    if (cid.IsIdentity()) {
      ++summary->identity_blocks;
      continue;
    }
    if (size > kWholeBlockLimit) {
      if (Status s = committer.Flush(); !s.ok()) return s;
      Status s = store.PutStream(cid, size, [&](char* buf, size_t n, size_t* got) {
        return reader.ReadBodyChunk(buf, n, got);
      });
      if (!s.ok()) return s;
      committer.set_offset(reader.offset());
      committer.AddStreamed(size);
      continue;
    }
    std::string body;
    if (Status s = reader.ReadBody(&body); !s.ok()) return s;
    committer.set_offset(reader.offset());
    if (Status s = committer.Add(cid, std::move(body)); !s.ok()) return s;
  }
  if (Status s = committer.Flush(); !s.ok()) return s;
  if (!options.pin || pins == nullptr) return Status::OK();
  for (const Cid& root : header.roots) {
    if (Status s = CheckComplete(store, root); !s.ok()) {
      return s.Annotate("root " + root.ToString() + " was not pinned");
    }
    if (Status s = pins->Add(root, PinKind::kRecursive); !s.ok()) return s;
    summary->pinned.push_back(root);
  }
  return Status::OK();
}

Status ExportCar(BlockStore& store, const Cid& root, format::DagScope scope, std::ostream& out,
                 ExportSummary* summary) {
  format::CarWriter writer(out);
  if (Status s = writer.WriteHeader({root}); !s.ok()) return s;
  format::WalkOptions walk;
  walk.scope = scope;
  walk.dups = false;
  walk.verify = false;  // the store verifies reads as store.verify_reads says
  return format::Walk(root, walk, FetchFrom(store), [&](const Cid& cid, std::string_view data) {
    ++summary->blocks;
    summary->bytes += data.size();
    Status s = writer.WriteBlock(cid, data);
    if (s.ok() && !out) return Status::IOError("writing the CAR failed (disk full or closed pipe)");
    return s;
  });
}

Status MarkPinned(BlockStore& store, PinStore& pins, std::vector<std::string>* keys,
                  uint64_t* indirect) {
  std::vector<Pin> list;
  if (Status s = pins.List(&list); !s.ok()) return s;
  std::unordered_set<std::string> marked;
  *indirect = 0;
  format::WalkOptions walk;
  walk.dups = false;
  walk.verify = false;
  const format::BlockFetcher fetch = FetchFrom(store);
  for (const Pin& pin : list) {
    if (pin.kind == PinKind::kDirect) {
      marked.insert(pin.cid.hash().bytes());
      continue;
    }
    Status s = format::Walk(pin.cid, walk, fetch, [&](const Cid& cid, std::string_view) {
      if (marked.insert(cid.hash().bytes()).second && !(cid == pin.cid)) ++*indirect;
      return Status::OK();
    });
    if (!s.ok()) {
      return s.Annotate("pinned DAG " + pin.cid.ToString() + " is incomplete");
    }
  }
  keys->assign(marked.begin(), marked.end());
  return Status::OK();
}

Status FindIncompletePins(BlockStore& store, PinStore& pins, std::vector<IncompletePin>* out) {
  std::vector<Pin> list;
  if (Status s = pins.List(&list); !s.ok()) return s;
  for (const Pin& pin : list) {
    if (pin.kind != PinKind::kRecursive) continue;
    Status s = CheckComplete(store, pin.cid);
    if (s.IsNotFound()) {
      out->push_back({pin.cid, s.message()});
    } else if (!s.ok()) {
      return s.Annotate("walking pinned DAG " + pin.cid.ToString());
    }
  }
  return Status::OK();
}

Status CollectGarbage(BlockStore& store, PinStore& pins, GcSummary* summary) {
  auto hold_pins = pins.Exclusive();
  store.StartTrackingWrites();
  struct StopTracking {
    BlockStore& store;
    ~StopTracking() { store.StopTrackingWrites(); }
  } stop{store};

  std::vector<std::string> marked_keys;
  uint64_t indirect = 0;
  if (Status s = MarkPinned(store, pins, &marked_keys, &indirect); !s.ok()) {
    return s.Annotate("GC did not sweep");
  }
  const std::unordered_set<std::string> marked(marked_keys.begin(), marked_keys.end());
  std::vector<std::pair<std::string, uint64_t>> garbage;
  Status scan = store.ScanStored([&](std::string_view key, uint64_t size) {
    if (marked.count(std::string(key)) != 0) {
      ++summary->kept;
    } else {
      garbage.emplace_back(key, size);
    }
    return true;
  });
  if (!scan.ok()) return scan;
  for (const auto& [key, size] : garbage) {
    if (store.WrittenWhileTracking(key)) {
      ++summary->spared;
      continue;
    }
    if (Status s = store.Delete(key); !s.ok()) return s;
    ++summary->removed;
    summary->removed_bytes += size;
  }
  return Status::OK();
}

}  // namespace boxcar::store
