#include "store/blockstore.h"

#include <map>

#include "format/multihash.h"
#include "obs/logging.h"
#include "store/blockstore_internal.h"
#include "store/store_metrics.h"

namespace boxcar::store {
namespace {

using format::Cid;
using format::Multihash;

// A stored key as the CID an operator can look up.
std::string KeyName(std::string_view key) {
  Multihash mh;
  if (!Multihash::FromBytes(key, &mh).ok()) return "(a key that is not a multihash)";
  return Cid::V1(format::kRaw, mh).ToString();
}

}  // namespace

// ---- writes ----

size_t BlockStore::HomeTier(const Chain& chain, uint64_t size) const {
  for (size_t i = 0; i < chain.tiers.size(); ++i) {
    if (chain.tiers[i].persistent && chain.tiers[i].Accepts(size)) return i;
  }
  return chain.tiers.size() - 1;  // the last tier takes every size; Refresh checked it persists
}

// A tier skips a put of a key it already holds (leveldb and flatfs both do), so without this a
// damaged copy would survive every re-import of its block. Puts come from imports, never from the
// read path, which makes the check affordable: a key the key cache or bloom filter rules out costs
// nothing, a new key one index lookup, and only a key already stored is read back and compared
// with the incoming bytes, which the store has just verified (a compare, no second hash). Always
// rewriting instead would turn every re-import into a full rewrite with its fsyncs.
Status BlockStore::DropDamagedCopy(const Chain& chain, size_t home, std::string_view key,
                                   const BlockData& incoming) {
  if (index_->ProbablyAbsent(key)) return Status::OK();
  uint64_t size = 0;
  Status has = CallTier(chain, home, [&](CacheTier& t) { return t.Contains(key, &size); });
  if (has.IsNotFound()) return Status::OK();
  if (has.ok()) {
    BlockData stored;
    has = CallTier(chain, home, [&](CacheTier& t) { return t.Get(key, &stored); });
    if (has.ok() && *stored == *incoming) return Status::OK();
  }
  if (!has.ok() && has.code() != Status::Code::kCorruption) return has;
  obs::Logger("store")->warn("{} holds a damaged copy of block {}; rewriting it",
                             chain.tiers[home].label, KeyName(key));
  return CallTier(chain, home, [&](CacheTier& t) { return t.Delete(key); });
}

Status BlockStore::CommitGroup(const Chain& chain, size_t home,
                               const std::vector<std::pair<std::string, BlockData>>& entries) {
  for (const auto& [key, data] : entries) {
    if (Status s = DropDamagedCopy(chain, home, key, data); !s.ok()) {
      return s.Annotate("checking the stored copy in " + chain.tiers[home].label);
    }
  }
  // Tracked before the write, so a GC sweep that lists the key after the write also sees it here.
  WriteTracker::WriteGuard gate = tracker_.BeginWrite();
  for (const auto& [key, data] : entries) tracker_.Record(key);
  Status s = CallTier(chain, home, [&](CacheTier& t) {
    if (entries.size() == 1) return t.Put(entries[0].first, entries[0].second, PutReason::kWrite);
    return t.PutBatch(entries, PutReason::kWrite);
  });
  if (!s.ok()) {
    metrics_->writes.Add({{"result", "failed"}}).Increment(static_cast<double>(entries.size()));
    return s.Annotate("writing to " + chain.tiers[home].label);
  }
  for (const auto& [key, data] : entries) index_->NoteWritten(key, data->size());
  metrics_->writes.Add({{"result", "stored"}}).Increment(static_cast<double>(entries.size()));
  return s;
}

void BlockStore::Populate(const Chain& chain, size_t home,
                          const std::vector<std::pair<std::string, BlockData>>& entries) {
  if (!chain.settings.populate_on_write) return;
  for (size_t j = 0; j < home; ++j) {
    if (chain.tiers[j].persistent) continue;
    for (const auto& entry : entries) {
      if (!chain.Holds(j, entry.second->size())) continue;
      PutInMemory(chain, j, entry.first, entry.second, PutReason::kWrite);
    }
  }
}

namespace {

Status CheckBlock(const Cid& cid, const std::string& data, uint64_t max_bytes) {
  if (data.size() > max_bytes) {
    return Status::InvalidArgument(
        "block " + cid.ToString() + " has " + std::to_string(data.size()) +
        " bytes, more than store.max_block_bytes (" + std::to_string(max_bytes) + ")");
  }
  if (Status s = cid.Verify(data); !s.ok()) {
    return Status::InvalidArgument("block bytes do not match CID " + cid.ToString() + ": " +
                                   s.message());
  }
  return Status::OK();
}

}  // namespace

Status BlockStore::Put(const Cid& cid, BlockData data) {
  return PutBatch({{cid, std::move(data)}});
}

Status BlockStore::PutBatch(const std::vector<std::pair<Cid, BlockData>>& blocks) {
  Status status = OnChain([&](const std::shared_ptr<const Chain>& chain) {
    std::map<size_t, std::vector<std::pair<std::string, BlockData>>> by_home;
    for (const auto& [cid, data] : blocks) {
      if (Status s = CheckBlock(cid, *data, chain->settings.max_block_bytes); !s.ok()) {
        metrics_->writes.Add({{"result", "rejected"}}).Increment();
        return s;
      }
      if (cid.IsIdentity()) continue;
      by_home[HomeTier(*chain, data->size())].emplace_back(cid.hash().bytes(), data);
    }
    for (const auto& [home, entries] : by_home) {
      if (Status s = CommitGroup(*chain, home, entries); !s.ok()) return s;
      Populate(*chain, home, entries);
    }
    return Status::OK();
  });
  if (status.ok() && on_blocks_added_) {
    std::vector<std::pair<Cid, uint64_t>> added;
    added.reserve(blocks.size());
    for (const auto& [cid, data] : blocks) {
      if (!cid.IsIdentity()) added.emplace_back(cid, data->size());
    }
    on_blocks_added_(added);
  }
  return status;
}

Status BlockStore::PutStream(const Cid& cid, uint64_t size, const ChunkSource& source) {
  std::shared_ptr<const Chain> chain = CurrentChain();
  if (!chain) return Status::Unavailable("the block store is not open yet");
  if (size > chain->settings.max_block_bytes) {
    return Status::InvalidArgument("block " + cid.ToString() + " has " + std::to_string(size) +
                                   " bytes, more than store.max_block_bytes (" +
                                   std::to_string(chain->settings.max_block_bytes) + ")");
  }
  auto read_exactly = [&](std::string* out) -> Status {
    out->resize(size);
    uint64_t at = 0;
    while (at < size) {
      size_t got = 0;
      if (Status s = source(out->data() + at, size - at, &got); !s.ok()) return s;
      if (got == 0) break;
      at += got;
    }
    if (at != size) {
      return Status::InvalidArgument("block " + cid.ToString() + " ended after " +
                                     std::to_string(at) + " of " + std::to_string(size) + " bytes");
    }
    return Status::OK();
  };
  const bool small = size <= chain->settings.stream_block_bytes;
  if (small || cid.hash().code() != format::kSha2_256) {
    Reservation buffer;
    if (!small) {
      if (Status s = governor_.Reserve(size, "block " + cid.ToString(), &buffer); !s.ok()) return s;
    }
    auto data = std::make_shared<std::string>();
    if (Status s = read_exactly(data.get()); !s.ok()) return s;
    return Put(cid, std::move(data));
  }
  Reservation buffer;
  if (Status s = governor_.Reserve(kStreamChunkBytes, "streaming block " + cid.ToString(), &buffer);
      !s.ok()) {
    return s;
  }
  const size_t home = HomeTier(*chain, size);
  const std::string& key = cid.hash().bytes();
  if (Status r = DropDamagedStream(chain, home, cid); !r.ok()) return r;
  std::unique_ptr<BlockWriter> writer;
  Status s = CallTier(*chain, home, [&](CacheTier& t) {
    return t.OpenWriter(key, size, PutReason::kWrite, &writer);
  });
  if (s.IsNotSupported()) {
    auto data = std::make_shared<std::string>();
    if (Status r = governor_.Reserve(size, "block " + cid.ToString(), &buffer); !r.ok()) return r;
    if (Status r = read_exactly(data.get()); !r.ok()) return r;
    return Put(cid, std::move(data));
  }
  if (!s.ok()) return s;
  format::Sha256Stream hasher;
  std::string chunk(kStreamChunkBytes, '\0');
  uint64_t total = 0;
  while (total < size) {
    size_t got = 0;
    if (Status r = source(chunk.data(), std::min<uint64_t>(chunk.size(), size - total), &got);
        !r.ok()) {
      return r;
    }
    if (got == 0) break;
    const std::string_view piece(chunk.data(), got);
    hasher.Update(piece);
    if (Status r = writer->Append(piece); !r.ok()) return r;
    total += got;
  }
  if (total != size) {
    return Status::InvalidArgument("block " + cid.ToString() + " ended after " +
                                   std::to_string(total) + " of " + std::to_string(size) +
                                   " bytes");
  }
  unsigned char digest[format::kSha256Bytes];
  hasher.Final(digest);
  if (std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)) !=
      cid.hash().digest()) {
    metrics_->writes.Add({{"result", "rejected"}}).Increment();
    return Status::InvalidArgument("block bytes do not match CID " + cid.ToString() +
                                   ": sha2-256 digest mismatch; nothing was stored");
  }
  WriteTracker::WriteGuard gate = tracker_.BeginWrite();
  tracker_.Record(key);
  if (Status r = writer->Commit(); !r.ok()) return r;
  index_->NoteWritten(key, size);
  metrics_->writes.Add({{"result", "stored"}}).Increment();
  if (on_blocks_added_) on_blocks_added_({{cid, size}});
  return Status::OK();
}

// DropDamagedCopy for a block too large to hold: the stored copy is hashed as it streams.
Status BlockStore::DropDamagedStream(const std::shared_ptr<const Chain>& chain, size_t home,
                                     const Cid& cid) {
  const std::string& key = cid.hash().bytes();
  if (index_->ProbablyAbsent(key)) return Status::OK();
  std::unique_ptr<BlockReader> reader;
  Status s = CallTier(*chain, home, [&](CacheTier& t) { return t.OpenReader(key, &reader); });
  if (s.IsNotFound()) return Status::OK();
  if (s.ok()) {
    TierStream stream(chain, std::move(reader), cid, true, this, chain->tiers[home].label);
    std::string buf(kStreamChunkBytes, '\0');
    size_t got = 0;
    do {
      s = stream.Read(buf.data(), buf.size(), &got);
    } while (s.ok() && got > 0);
    if (s.ok()) return s;
  }
  if (s.code() != Status::Code::kCorruption) return s;
  obs::Logger("store")->warn("{} holds a damaged copy of block {}; rewriting it",
                             chain->tiers[home].label, cid.ToString());
  return CallTier(*chain, home, [&](CacheTier& t) { return t.Delete(key); });
}

Status BlockStore::Delete(std::string_view key) {
  return OnChain([&](const std::shared_ptr<const Chain>& chain) {
    for (size_t i = 0; i < chain->tiers.size(); ++i) {
      if (Status s = CallTier(*chain, i, [&](CacheTier& t) { return t.Delete(key); }); !s.ok()) {
        return s;
      }
    }
    index_->Forget(key);
    return Status::OK();
  });
}

// ---- scans ----

Status BlockStore::ScanStored(const std::function<bool(std::string_view, uint64_t)>& visit) {
  return OnChain([&](const std::shared_ptr<const Chain>& chain) {
    bool go_on = true;
    for (size_t i = 0; i < chain->tiers.size() && go_on; ++i) {
      if (!chain->tiers[i].persistent) continue;
      Status s = CallTier(*chain, i, [&](CacheTier& t) {
        return t.Scan([&](std::string_view key, uint64_t size) {
          go_on = visit(key, size);
          return go_on;
        });
      });
      if (!s.ok()) return s;
    }
    return Status::OK();
  });
}

Status BlockStore::Scrub(std::vector<CorruptBlock>* corrupt, uint64_t* checked) {
  *checked = 0;
  std::shared_ptr<const Chain> chain = CurrentChain();
  if (!chain) return Status::Unavailable("the block store is not open yet");
  for (size_t i = 0; i < chain->tiers.size(); ++i) {
    const Tier& tier = chain->tiers[i];
    // Keys first: a tier's Scan may hold its locks while it visits.
    std::vector<std::string> keys;
    Status s = CallTier(*chain, i, [&](CacheTier& t) {
      return t.Scan([&](std::string_view key, uint64_t) {
        keys.emplace_back(key);
        return true;
      });
    });
    if (s.IsNotSupported()) continue;
    if (!s.ok()) return s;
    for (const std::string& key : keys) {
      ++*checked;
      Multihash mh;
      if (Status p = Multihash::FromBytes(key, &mh); !p.ok()) {
        corrupt->push_back({tier.label, key, "the key is not a multihash: " + p.message()});
        continue;
      }
      const Cid cid = Cid::V1(format::kRaw, mh);
      std::unique_ptr<BlockReader> reader;
      Status problem =
          CallTier(*chain, i, [&](CacheTier& t) { return t.OpenReader(key, &reader); });
      if (problem.IsNotSupported()) {
        BlockData data;
        problem = CallTier(*chain, i, [&](CacheTier& t) { return t.Get(key, &data); });
        if (problem.ok()) problem = mh.Verify(*data);
      } else if (problem.ok()) {
        TierStream stream(chain, std::move(reader), cid, true, this, tier.label);
        std::string buf(kStreamChunkBytes, '\0');
        size_t got = 0;
        do {
          problem = stream.Read(buf.data(), buf.size(), &got);
        } while (problem.ok() && got > 0);
        if (problem.ok() && mh.code() != format::kSha2_256) {
          BlockData data;
          problem = CallTier(*chain, i, [&](CacheTier& t) { return t.Get(key, &data); });
          if (problem.ok()) problem = mh.Verify(*data);
        }
      }
      if (problem.IsNotFound()) continue;  // deleted since the scan
      if (!problem.ok()) corrupt->push_back({tier.label, key, problem.message()});
    }
  }
  return Status::OK();
}

}  // namespace boxcar::store
