#include "format/walk.h"

#include <unordered_set>
#include <utility>
#include <vector>

#include "format/dagpb.h"
#include "format/links.h"
#include "format/unixfs.h"

namespace boxcar::format {
namespace {

// What to follow below a block.
enum class Follow {
  kNone,        // the block only
  kAll,         // every link, recursively
  kEntityRoot,  // decide from the block: file, directory, HAMT shard, or block only
  kShard,       // HAMT shard nodes only (links named by their bucket prefix alone)
};

struct Pending {
  Cid cid;
  Follow follow;
};

// The number of hex digits in a HAMT bucket prefix: those of fanout - 1 ("FF" for 256).
size_t HamtPrefixLength(uint64_t fanout) {
  size_t digits = 0;
  for (uint64_t max = fanout - 1; max != 0; max >>= 4) ++digits;
  return digits;
}

// Pushes the sub-shard links of a HAMT shard node, reversed so they pop in order.
void PushShardChildren(const PbNode& node, uint64_t fanout, std::vector<Pending>* stack) {
  const size_t prefix = HamtPrefixLength(fanout);
  for (auto it = node.links.rbegin(); it != node.links.rend(); ++it) {
    if (it->name && it->name->size() == prefix) stack->push_back({it->cid, Follow::kShard});
  }
}

// The children to follow from a dag-pb block under entity scope. Blocks that are not valid
// UnixFS are entities of one block.
void PushEntityChildren(std::string_view block, Follow follow, std::vector<Pending>* stack) {
  PbNode node;
  UnixfsData unixfs;
  if (!DecodePbNode(block, &node).ok() || !node.data || !DecodeUnixfs(*node.data, &unixfs).ok()) {
    return;
  }
  if (unixfs.type == UnixfsType::kHamtShard) {
    if (unixfs.fanout && *unixfs.fanout >= 2) PushShardChildren(node, *unixfs.fanout, stack);
    return;
  }
  const bool file = unixfs.type == UnixfsType::kFile || unixfs.type == UnixfsType::kRaw;
  if (follow != Follow::kEntityRoot || !file) return;
  for (auto it = node.links.rbegin(); it != node.links.rend(); ++it) {
    stack->push_back({it->cid, Follow::kAll});
  }
}

Status MissingBlock(const Cid& cid) {
  return Status::NotFound("block " + cid.ToString() + " is missing");
}

}  // namespace

Status ParseDagScope(std::string_view text, DagScope* out) {
  if (text == "block") {
    *out = DagScope::kBlock;
  } else if (text == "entity") {
    *out = DagScope::kEntity;
  } else if (text == "all") {
    *out = DagScope::kAll;
  } else {
    return Status::InvalidArgument("invalid dag-scope \"" + std::string(text.substr(0, 64)) +
                                   "\" (use block, entity or all)");
  }
  return Status::OK();
}

const char* DagScopeName(DagScope scope) {
  switch (scope) {
    case DagScope::kBlock:
      return "block";
    case DagScope::kEntity:
      return "entity";
    case DagScope::kAll:
      return "all";
  }
  return "unknown";
}

Status Walk(const Cid& root, const WalkOptions& options, const BlockFetcher& fetch,
            const BlockVisitor& visit) {
  Follow root_follow = Follow::kAll;
  if (options.scope == DagScope::kBlock) root_follow = Follow::kNone;
  if (options.scope == DagScope::kEntity) root_follow = Follow::kEntityRoot;

  std::vector<Pending> stack;
  stack.push_back({root, root_follow});
  std::unordered_set<std::string> seen;
  std::string fetched;
  std::vector<Cid> links;
  while (!stack.empty()) {
    Pending item = std::move(stack.back());
    stack.pop_back();
    if (!options.dups && !seen.insert(item.cid.bytes()).second) continue;

    std::string_view data;
    if (item.cid.IsIdentity()) {
      data = item.cid.hash().digest();
    } else {
      Status status = fetch(item.cid, &fetched);
      if (status.IsNotFound()) return MissingBlock(item.cid);
      if (!status.ok()) return status;
      data = fetched;
      if (options.verify) {
        status = item.cid.Verify(data);
        if (!status.ok()) {
          return Status::Corruption("block " + item.cid.ToString() + ": " + status.message());
        }
      }
    }
    Status status = visit(item.cid, data);
    if (!status.ok()) return status;

    switch (item.follow) {
      case Follow::kNone:
        break;
      case Follow::kAll:
        status = BlockLinks(item.cid, data, &links);
        if (!status.ok()) return status;
        for (auto it = links.rbegin(); it != links.rend(); ++it) {
          stack.push_back({std::move(*it), Follow::kAll});
        }
        break;
      case Follow::kEntityRoot:
      case Follow::kShard:
        if (item.cid.codec() == kDagPb) PushEntityChildren(data, item.follow, &stack);
        break;
    }
  }
  return Status::OK();
}

}  // namespace boxcar::format
