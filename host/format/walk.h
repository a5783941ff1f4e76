// DAG traversal shared by CAR export and the trustless gateway.
//
// Order: depth-first, pre-order, links in block order, root first — the order the trustless
// gateway spec calls `dfs`.
//
// Scopes, as the trustless gateway spec defines dag-scope for the terminal element of a path:
//   kBlock:  the root block only.
//   kEntity: the blocks needed to read the entity the root is.
//            - UnixFS file (dag-pb with Type file or raw, or a raw-codec block): the root and every
//              block of the file, recursively.
//            - UnixFS directory: the directory node only (enumerating it needs only that block).
//            - UnixFS HAMT shard: the root shard and every sub-shard of that directory (links named
//              by the bucket prefix alone, two hex digits for fanout 256), not the entries.
//            - UnixFS symlink or metadata, dag-pb without valid UnixFS data, dag-cbor, dag-json,
//              and any other codec: the root block only (the spec: for non-UnixFS data entity
//              is equivalent to block).
//   kAll:    every block reachable from the root.
// These are the block lists the gateway-conformance suite expects for dag-scope
// (TestTrustlessCarDagScope{Block,Entity,All}); tests/format/walk_test.cc checks them on its
// fixtures. Blocks needed to resolve a path before the terminal element are the caller's concern.
// Identity CIDs are visited (their data is the digest) without calling the fetcher.
//
// dups: with true every occurrence of a block is visited (a block linked twice is emitted twice,
// the spec's dups=y); with false each distinct CID once (dups=n), tracked by CID bytes.
//
// Errors: the fetcher's NotFound becomes NotFound "block <cid> is missing" for the first missing
// CID in traversal order; other fetcher and visitor errors are returned unchanged and stop the
// walk. A fetched block that does not hash to its CID is Corruption naming the CID. A block
// whose links cannot be parsed is InvalidArgument naming the CID.
//
// Memory: an explicit stack (no recursion), so deep DAGs cannot overflow the call stack.
//
// Thread safety: Walk calls fetch and visit on the calling thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"
#include "format/cid.h"

namespace boxcar::format {

enum class DagScope { kBlock, kEntity, kAll };

// "block" | "entity" | "all"; anything else is InvalidArgument naming the value.
Status ParseDagScope(std::string_view text, DagScope* out);
const char* DagScopeName(DagScope scope);

// Fills *data with the block's bytes; NotFound when the block is missing.
using BlockFetcher = std::function<Status(const Cid& cid, std::string* data)>;
using BlockVisitor = std::function<Status(const Cid& cid, std::string_view data)>;

struct WalkOptions {
  DagScope scope = DagScope::kAll;
  bool dups = true;  // false: each block once
  // Verify each fetched block against its CID before visiting it.
  bool verify = true;
};

Status Walk(const Cid& root, const WalkOptions& options, const BlockFetcher& fetch,
            const BlockVisitor& visit);

// The scope's rule applied block by block, for walkers that fetch blocks out of order (the
// Bitswap client walks a DAG as blocks arrive): what to follow below one block.
enum class WalkFollow : unsigned char {
  kNone,        // the block only
  kAll,         // every link, recursively
  kEntityRoot,  // decided by the block: file, directory, HAMT shard, or the block only
  kShard,       // HAMT shard nodes only (links named by their bucket prefix alone)
};
WalkFollow RootFollow(DagScope scope);

struct WalkChild {
  Cid cid;
  WalkFollow follow;
};
// Replaces *out with the children of the block `cid` (bytes `data`) that `follow` selects, in
// block order, each with the rule for below it. InvalidArgument when links cannot be parsed
// under kAll; under the entity rules a block that is not valid UnixFS has no children.
Status ChildrenToFollow(const Cid& cid, std::string_view data, WalkFollow follow,
                        std::vector<WalkChild>* out);

}  // namespace boxcar::format
