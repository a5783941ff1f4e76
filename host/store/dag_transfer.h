// Moving DAGs in and out of the store as CAR files, and collecting garbage.
//
// Import is transactional in the sense a crash cares about: blocks are committed in groups
// (each group atomic and durable), and a root is pinned only after every block it needs is
// durable and present. A crash at any point leaves blocks that match their hashes and pins whose
// DAGs are complete; blocks of an interrupted import stay unpinned until GC removes them or a
// re-import pins them.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "boxcar/status.h"
#include "format/cid.h"
#include "format/walk.h"
#include "store/blockstore.h"
#include "store/pin_store.h"

namespace boxcar::store {

struct ImportProgress {
  uint64_t blocks = 0;
  uint64_t bytes = 0;         // block bytes committed
  uint64_t input_offset = 0;  // bytes of the CAR read so far
};

struct ImportOptions {
  bool pin = false;  // pin every root recursively once its DAG is complete
  uint64_t group_bytes = 8 << 20;
  size_t group_blocks = 2048;
  std::function<void(const ImportProgress&)> progress;  // after every committed group
};

struct ImportSummary {
  std::vector<format::Cid> roots;
  std::vector<format::Cid> pinned;
  ImportProgress totals;
  uint64_t identity_blocks = 0;  // inlined in their CIDs, not stored
};

// Imports one CAR (v1 or v2). With options.pin, a root whose DAG is incomplete is not pinned
// and the result is NotFound naming the root and the first missing block (after everything
// present was imported).
Status ImportCar(BlockStore& store, PinStore* pins, std::istream& car, const ImportOptions& options,
                 ImportSummary* summary);

struct ExportSummary {
  uint64_t blocks = 0;
  uint64_t bytes = 0;
};

// Writes a CARv1 with `root` as its only root and the blocks `scope` selects in DFS order, each
// block once however often the DAG links it (as Kubo's `dag export` does). An incomplete DAG is
// NotFound naming the first missing CID; what was written before it is a valid prefix.
Status ExportCar(BlockStore& store, const format::Cid& root, format::DagScope scope,
                 std::ostream& out, ExportSummary* summary);

// Every block reachable from the recursive pins plus the directly pinned ones, as multihash keys.
// NotFound naming the block when a pinned DAG is incomplete.
Status MarkPinned(BlockStore& store, PinStore& pins, std::vector<std::string>* keys,
                  uint64_t* indirect);

// A recursive pin whose DAG lacks a block, e.g. after `verify --repair` removed a corrupt one.
struct IncompletePin {
  format::Cid root;
  std::string problem;  // names the first missing block
};

// Every recursive pin whose DAG is incomplete; the first error that is not a missing block.
Status FindIncompletePins(BlockStore& store, PinStore& pins, std::vector<IncompletePin>* out);

struct GcSummary {
  uint64_t kept = 0;
  uint64_t removed = 0;
  uint64_t removed_bytes = 0;
  uint64_t spared = 0;  // unpinned but written while GC ran
};

// Mark and sweep. Pin changes wait until it finishes; reads and writes go on, and a block
// written after the mark began is never removed. Refuses to sweep (NotFound) when a pinned DAG
// is incomplete, because the blocks below the missing one could not be marked.
Status CollectGarbage(BlockStore& store, PinStore& pins, GcSummary* summary);

}  // namespace boxcar::store
