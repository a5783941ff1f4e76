#include "format/walk.h"

#include <unordered_set>
#include <utility>
#include <vector>

#include "format/dagpb.h"
#include "format/links.h"
#include "format/unixfs.h"

namespace boxcar::format {
namespace {

struct Pending {
  Cid cid;
  WalkFollow follow;
};

// The number of hex digits in a HAMT bucket prefix: those of fanout - 1 ("FF" for 256).
size_t HamtPrefixLength(uint64_t fanout) {
  size_t digits = 0;
  for (uint64_t max = fanout - 1; max != 0; max >>= 4) ++digits;
  return digits;
}

// The sub-shard links of a HAMT shard node, in order.
void ShardChildren(const PbNode& node, uint64_t fanout, std::vector<WalkChild>* out) {
  const size_t prefix = HamtPrefixLength(fanout);
  for (const PbLink& link : node.links) {
    if (link.name && link.name->size() == prefix) out->push_back({link.cid, WalkFollow::kShard});
  }
}

// The children to follow from a dag-pb block under entity scope. Blocks that are not valid
// UnixFS are entities of one block.
void EntityChildren(std::string_view block, WalkFollow follow, std::vector<WalkChild>* out) {
  PbNode node;
  UnixfsData unixfs;
  if (!DecodePbNode(block, &node).ok() || !node.data || !DecodeUnixfs(*node.data, &unixfs).ok()) {
    return;
  }
  if (unixfs.type == UnixfsType::kHamtShard) {
    if (unixfs.fanout && *unixfs.fanout >= 2) ShardChildren(node, *unixfs.fanout, out);
    return;
  }
  const bool file = unixfs.type == UnixfsType::kFile || unixfs.type == UnixfsType::kRaw;
  if (follow != WalkFollow::kEntityRoot || !file) return;
  for (const PbLink& link : node.links) out->push_back({link.cid, WalkFollow::kAll});
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
  std::vector<Pending> stack;
  stack.push_back({root, RootFollow(options.scope)});
  std::unordered_set<std::string> seen;
  std::string fetched;
  std::vector<WalkChild> children;
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

    status = ChildrenToFollow(item.cid, data, item.follow, &children);
    if (!status.ok()) return status;
    for (auto it = children.rbegin(); it != children.rend(); ++it) {
      stack.push_back({std::move(it->cid), it->follow});
    }
  }
  return Status::OK();
}

WalkFollow RootFollow(DagScope scope) {
  switch (scope) {
    case DagScope::kBlock:
      return WalkFollow::kNone;
    case DagScope::kEntity:
      return WalkFollow::kEntityRoot;
    case DagScope::kAll:
      break;
  }
  return WalkFollow::kAll;
}

Status ChildrenToFollow(const Cid& cid, std::string_view data, WalkFollow follow,
                        std::vector<WalkChild>* out) {
  out->clear();
  switch (follow) {
    case WalkFollow::kNone:
      return Status::OK();
    case WalkFollow::kAll: {
      std::vector<Cid> links;
      Status status = BlockLinks(cid, data, &links);
      if (!status.ok()) return status;
      for (Cid& link : links) out->push_back({std::move(link), WalkFollow::kAll});
      return Status::OK();
    }
    case WalkFollow::kEntityRoot:
    case WalkFollow::kShard:
      if (cid.codec() == kDagPb) EntityChildren(data, follow, out);
      return Status::OK();
  }
  return Status::OK();
}

}  // namespace boxcar::format
