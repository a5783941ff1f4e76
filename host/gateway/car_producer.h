// Streams the CAR answer to a trustless gateway request in bounded memory, pull-based.
//
// Content: a CARv1 header whose roots are the requested CID, then the blocks traversed to
// resolve the path (each directory, HAMT shard node and dag-cbor node on the way, in order), then
// the blocks of the terminal element per dag-scope, in depth-first pre-order (walk.h describes
// the scopes), with duplicates per req.dups. Identity CIDs are never written (the spec: "A
// Gateway MUST NOT include virtual blocks identified by identity CIDs"), so a CAR for bafkqaaa is
// the header alone.
//
// entity-bytes on a UnixFS file (dag-pb file or raw block) writes the file root and only the
// blocks whose byte span meets the range, with the intermediate nodes above them. Negative ends
// count from the end, '*' is the last byte; a range reaching past either end is clamped to the
// file; a range that is empty or wholly outside the file gives the root block alone (the spec:
// "the response is equivalent to dag-scope=block"). On anything that is not a file the range is
// ignored and the scope is entity.
//
// Memory: the path blocks, the pending links of each node on the current branch (as binary
// CIDs, so no more than those nodes' own bytes) and, for dups=n, the set of CIDs already
// written — never the whole DAG's data.
//
// Thread safety: one thread at a time; the object keeps no thread identity, so consecutive calls
// may come from different threads. fetch is called only from Begin and Next.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "boxcar/status.h"
#include "format/cid.h"
#include "format/walk.h"
#include "gateway/request.h"

namespace boxcar::gateway {

// The body of a raw block response for req.root (ParseRequest already refused raw requests with
// a path: the spec serves blocks only at /ipfs/{cid}). An identity CID is its digest, never
// fetched, so bafkqaaa (the probe CID) is an empty body. NotFound "block <cid> is missing" (404);
// Corruption when the stored block does not hash to its CID.
Status FetchRawBlock(const GatewayRequest& req, const format::BlockFetcher& fetch,
                     std::string* data);

class CarProducer {
 public:
  // fetch returns NotFound when a block is missing.
  CarProducer(GatewayRequest req, format::BlockFetcher fetch);

  // Resolves the path (UnixFS directories, HAMT shards, dag-cbor maps and lists) and fetches
  // the terminal block, before any byte is sent. NotFound (answer 404): the root, a block on the
  // path, or a path segment is missing. InvalidArgument (400): the path goes through something
  // that has no named children (a file, a raw block). NotSupported (501): the path ends inside a
  // dag-cbor value that is not a link, or goes through a codec boxcar cannot path into.
  // Corruption: a block does not match its CID. Call once.
  Status Begin();

  // The root and the CID each path segment resolved to (X-Ipfs-Roots), after Begin.
  const std::vector<format::Cid>& path_cids() const { return path_cids_; }

  // Appends CAR bytes (header first) to *out until at least max_bytes were appended or the CAR
  // is complete (*done = true). Only after Begin succeeded. A missing or corrupt block returns
  // its error; what this call appended before it is whole sections, and later calls return the
  // same error.
  Status Next(size_t max_bytes, std::string* out, bool* done);

 private:
  // What to write below a block.
  enum class Follow {
    kNone,       // the block only
    kAll,        // every link, recursively
    kEntity,     // decide from the block (file, directory, HAMT, other)
    kShard,      // HAMT shard nodes only
    kFileRange,  // the file blocks meeting [range_from_, range_to_]
  };
  struct Pending {
    format::Cid cid;
    Follow follow;
    uint64_t offset = 0;  // kFileRange: the file offset where this node's bytes start
  };
  // The links of one block still to be written, in document order. They stay binary CIDs,
  // back to back, until their turn: as Cid objects, the pending links of a root with 20,000
  // links cost each stream about 5 MB more.
  struct Frame {
    std::string cids;
    size_t next = 0;                // where the next CID starts in cids
    Follow follow = Follow::kNone;  // what to write below each link
    std::vector<uint64_t> offsets;  // kFileRange: each link's first file byte
    size_t index = 0;               // the next link's position among the frame's links
  };
  struct PathBlock {
    format::Cid cid;
    std::string data;
  };

  Status FetchVerified(const format::Cid& cid, std::string* data);
  Status ResolveInDirectory(const std::string& segment, const std::string& where,
                            format::Cid* current, std::string* data);
  Status ResolveInCbor(const std::string& segment, const std::string& where, format::Cid* current,
                       std::string* data, size_t* offset);
  Follow TerminalFollow(const format::Cid& terminal, const std::string& data);
  void AppendSection(const format::Cid& cid, std::string_view data, std::string* out);
  Status Step(std::string* out);
  Pending PopPending();
  void PushFrame(Frame frame);
  Status PushChildren(const Pending& item, std::string_view data);
  Status PushFileRange(const Pending& item, std::string_view data);

  GatewayRequest req_;
  format::BlockFetcher fetch_;
  std::vector<format::Cid> path_cids_;
  std::vector<PathBlock> path_blocks_;  // written before the walk
  size_t path_written_ = 0;
  std::optional<std::string> terminal_data_;  // the walk root's block, fetched by Begin
  bool begun_ = false;
  bool header_written_ = false;
  std::vector<Frame> stack_;              // never holds an exhausted frame
  std::unordered_set<std::string> seen_;  // dups=n: CID bytes already written
  uint64_t range_from_ = 0, range_to_ = 0;
  Status failure_;
  std::string fetched_;
};

}  // namespace boxcar::gateway
