#include "gateway/car_producer.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "format/car.h"
#include "format/dagcbor.h"
#include "format/dagpb.h"
#include "format/links.h"
#include "format/unixfs.h"
#include "format/varint.h"
#include "gateway/hamt.h"

namespace boxcar::gateway {
namespace {

using format::Cid;
using format::PbNode;
using format::UnixfsData;
using format::UnixfsType;

// The UnixFS data of a dag-pb block; false when the block is not valid dag-pb with UnixFS data.
bool DecodeUnixfsNode(std::string_view block, PbNode* node, UnixfsData* unixfs) {
  return format::DecodePbNode(block, node).ok() && node->data &&
         format::DecodeUnixfs(*node->data, unixfs).ok();
}

bool IsFileType(UnixfsType type) { return type == UnixfsType::kFile || type == UnixfsType::kRaw; }

// The byte length of a UnixFS file whose root is `block` under `cid`; nullopt for non-files.
std::optional<uint64_t> FileSize(const Cid& cid, std::string_view block) {
  if (cid.codec() == format::kRaw) return block.size();
  if (cid.codec() != format::kDagPb) return std::nullopt;
  PbNode node;
  UnixfsData unixfs;
  if (!DecodeUnixfsNode(block, &node, &unixfs) || !IsFileType(unixfs.type)) return std::nullopt;
  if (unixfs.filesize) return *unixfs.filesize;
  uint64_t size = unixfs.data ? unixfs.data->size() : 0;
  for (uint64_t part : unixfs.blocksizes) size += part;
  return size;
}

// The number of hex digits in a HAMT bucket name: those of fanout - 1.
size_t HamtPrefixLength(uint64_t fanout) {
  size_t digits = 0;
  for (uint64_t max = fanout - 1; max != 0; max >>= 4) ++digits;
  return digits;
}

Status FetchVerifiedBlock(const format::BlockFetcher& fetch, const Cid& cid, std::string* data) {
  if (cid.IsIdentity()) {
    data->assign(cid.hash().digest());
    return Status::OK();
  }
  Status status = fetch(cid, data);
  if (status.IsNotFound()) return Status::NotFound("block " + cid.ToString() + " is missing");
  if (!status.ok()) return status;
  status = cid.Verify(*data);
  if (!status.ok()) return Status::Corruption("block " + cid.ToString() + ": " + status.message());
  return Status::OK();
}

Status MissingSegment(const std::string& segment, const std::string& where) {
  return Status::NotFound("no link named \"" + segment + "\" under " + where);
}

}  // namespace

CarProducer::CarProducer(GatewayRequest req, format::BlockFetcher fetch)
    : req_(std::move(req)), fetch_(std::move(fetch)) {}

Status FetchRawBlock(const GatewayRequest& req, const format::BlockFetcher& fetch,
                     std::string* data) {
  return FetchVerifiedBlock(fetch, req.root, data);
}

Status CarProducer::FetchVerified(const Cid& cid, std::string* data) {
  return FetchVerifiedBlock(fetch_, cid, data);
}

Status CarProducer::Begin() {
  if (begun_ || !path_cids_.empty())
    return Status::InvalidArgument("CarProducer::Begin called twice");
  Cid current = req_.root;
  std::string data;
  Status status = FetchVerified(current, &data);
  if (!status.ok()) return status;
  path_cids_.assign(1, current);
  std::string where = "/ipfs/" + req_.root_text;
  size_t cbor_offset = 0;  // where pathing stands inside a dag-cbor block
  for (const std::string& segment : req_.path) {
    const Cid before = current;
    if (current.codec() == format::kDagPb) {
      status = ResolveInDirectory(segment, where, &current, &data);
    } else if (current.codec() == format::kDagCbor) {
      status = ResolveInCbor(segment, where, &current, &data, &cbor_offset);
    } else if (current.codec() == format::kRaw) {
      status = Status::InvalidArgument("cannot resolve \"" + segment + "\": " + where +
                                       " is a raw block, which has no named children");
    } else {
      status = Status::NotSupported("cannot resolve \"" + segment + "\": pathing through " +
                                    format::CodecName(current.codec()) + " is not supported");
    }
    if (!status.ok()) return status;
    where += "/" + segment;
    if (!(current == before)) path_cids_.push_back(current);
  }
  if (cbor_offset != 0) {
    return Status::NotSupported(where +
                                " ends inside a dag-cbor block at a value that is not a link; "
                                "request the enclosing block instead");
  }
  for (const PathBlock& block : path_blocks_) {
    if (!req_.dups) seen_.insert(block.cid.bytes());
  }
  const Follow follow = TerminalFollow(current, data);
  terminal_data_ = std::move(data);
  Frame terminal{current.bytes(), 0, follow, {}, 0};
  if (follow == Follow::kFileRange) terminal.offsets.push_back(0);
  PushFrame(std::move(terminal));
  begun_ = true;
  return Status::OK();
}

Status CarProducer::ResolveInDirectory(const std::string& segment, const std::string& where,
                                       Cid* current, std::string* data) {
  PbNode node;
  Status status = format::DecodePbNode(*data, &node);
  if (!status.ok()) {
    return Status::InvalidArgument("cannot resolve \"" + segment + "\": block " +
                                   current->ToString() + ": " + status.message());
  }
  UnixfsData unixfs;
  const bool has_unixfs = node.data && format::DecodeUnixfs(*node.data, &unixfs).ok();
  const auto descend = [&](const Cid& next) {
    path_blocks_.push_back({*current, std::move(*data)});
    *current = next;
    return FetchVerified(next, data);
  };
  if (has_unixfs && unixfs.type == UnixfsType::kHamtShard) {
    if (unixfs.hash_type.value_or(0) != kMurmur3X64_64) {
      return Status::NotSupported("HAMT directory " + where + " uses hash type " +
                                  std::to_string(unixfs.hash_type.value_or(0)) +
                                  " (only murmur3-x64-64, 0x22, is supported)");
    }
    for (size_t depth = 0;; ++depth) {
      std::string prefix;
      status = HamtBucketPrefix(segment, unixfs.fanout.value_or(0), depth, &prefix);
      if (!status.ok()) return Status::InvalidArgument(where + ": " + status.message());
      const auto link = std::find_if(node.links.begin(), node.links.end(), [&](const auto& l) {
        return l.name && l.name->compare(0, prefix.size(), prefix) == 0;
      });
      if (link == node.links.end()) return MissingSegment(segment, where);
      if (*link->name == prefix + segment) return descend(link->cid);
      if (*link->name != prefix) return MissingSegment(segment, where);
      const Cid shard = link->cid;
      status = descend(shard);
      if (!status.ok()) return status;
      if (!DecodeUnixfsNode(*data, &node, &unixfs) || unixfs.type != UnixfsType::kHamtShard) {
        return Status::Corruption("block " + shard.ToString() + " under HAMT directory " + where +
                                  " is not a HAMT shard");
      }
    }
  }
  if (has_unixfs && unixfs.type != UnixfsType::kDirectory) {
    return Status::InvalidArgument("cannot resolve \"" + segment + "\": " + where +
                                   " is a UnixFS " + format::UnixfsTypeName(unixfs.type) +
                                   ", not a directory");
  }
  for (const format::PbLink& link : node.links) {
    if (link.name && *link.name == segment) return descend(link.cid);
  }
  return MissingSegment(segment, where);
}

Status CarProducer::ResolveInCbor(const std::string& segment, const std::string& where,
                                  Cid* current, std::string* data, size_t* offset) {
  const std::string_view block(*data);
  format::CborReader reader(block.substr(*offset));
  uint8_t major = 0;
  uint64_t count = 0;
  Status status = reader.ReadHead(&major, &count);
  const auto not_found = [&] { return MissingSegment(segment, where); };
  if (!status.ok()) return status.Annotate("block " + current->ToString());
  if (major == format::CborReader::kMap) {
    bool found = false;
    for (uint64_t i = 0; i < count && !found; ++i) {
      std::string_view key;
      status = reader.ReadText(&key);
      if (status.ok() && key == segment) {
        found = true;
      } else if (status.ok()) {
        status = reader.SkipItem(nullptr);
      }
      if (!status.ok()) return status.Annotate("block " + current->ToString());
    }
    if (!found) return not_found();
  } else if (major == format::CborReader::kArray) {
    uint64_t index = 0;
    const auto [end, ec] = std::from_chars(segment.data(), segment.data() + segment.size(), index);
    if (ec != std::errc() || end != segment.data() + segment.size() || index >= count) {
      return not_found();
    }
    for (uint64_t i = 0; i < index; ++i) {
      status = reader.SkipItem(nullptr);
      if (!status.ok()) return status.Annotate("block " + current->ToString());
    }
  } else {
    return Status::NotSupported("cannot resolve \"" + segment + "\": " + where +
                                " is a dag-cbor value without named children");
  }
  const size_t value = *offset + reader.offset();
  format::CborReader peek(block.substr(value));
  status = peek.ReadHead(&major, &count);
  if (!status.ok()) return status.Annotate("block " + current->ToString());
  if (major != format::CborReader::kTag || count != 42) {
    *offset = value;  // a nested map or list: keep pathing inside this block
    return Status::OK();
  }
  format::CborReader link_reader(block.substr(value));
  Cid next;
  status = link_reader.ReadLink(&next);
  if (!status.ok()) return status.Annotate("block " + current->ToString());
  path_blocks_.push_back({*current, std::move(*data)});
  *current = next;
  *offset = 0;
  return FetchVerified(next, data);
}

CarProducer::Follow CarProducer::TerminalFollow(const Cid& terminal, const std::string& data) {
  switch (req_.scope) {
    case format::DagScope::kBlock:
      return Follow::kNone;
    case format::DagScope::kAll:
      return Follow::kAll;
    case format::DagScope::kEntity:
      break;
  }
  const std::optional<uint64_t> size = FileSize(terminal, data);
  if (!req_.entity_bytes.set || !size) return Follow::kEntity;
  const int64_t length = static_cast<int64_t>(*size);
  int64_t from = req_.entity_bytes.from;
  if (from < 0) from = std::max<int64_t>(0, length + from);
  int64_t to = req_.entity_bytes.to.value_or(length - 1);
  if (to < 0) to += length;
  to = std::min(to, length - 1);
  if (length == 0 || to < 0 || from > to) return Follow::kNone;  // "equivalent to dag-scope=block"
  range_from_ = static_cast<uint64_t>(from);
  range_to_ = static_cast<uint64_t>(to);
  return Follow::kFileRange;
}

void CarProducer::AppendSection(const Cid& cid, std::string_view data, std::string* out) {
  if (cid.IsIdentity()) return;  // virtual blocks are never sent
  format::AppendUvarint(out, cid.bytes().size() + data.size());
  out->append(cid.bytes());
  out->append(data);
}

Status CarProducer::Next(size_t max_bytes, std::string* out, bool* done) {
  *done = false;
  if (!failure_.ok()) return failure_;
  if (!begun_) return Status::InvalidArgument("CarProducer::Next called before a successful Begin");
  const size_t start = out->size();
  if (!header_written_) {
    out->append(format::EncodeCarV1Header({req_.root}));
    header_written_ = true;
  }
  // Each call appends something (max_bytes may be 0) until the CAR is complete.
  while (out->size() == start || out->size() - start < max_bytes) {
    if (path_written_ < path_blocks_.size()) {
      PathBlock& block = path_blocks_[path_written_++];
      AppendSection(block.cid, block.data, out);
      std::string().swap(block.data);
      continue;
    }
    if (stack_.empty()) break;
    const Status status = Step(out);
    if (!status.ok()) {
      failure_ = status;
      return status;
    }
  }
  *done = path_written_ == path_blocks_.size() && stack_.empty();
  return Status::OK();
}

CarProducer::Pending CarProducer::PopPending() {
  Frame& frame = stack_.back();
  std::string_view rest(frame.cids);
  rest.remove_prefix(frame.next);
  Pending item;
  // Cannot fail: every CID in a frame was parsed when its block's links were decoded.
  (void)Cid::Read(&rest, &item.cid);
  item.follow = frame.follow;
  if (!frame.offsets.empty()) item.offset = frame.offsets[frame.index];
  ++frame.index;
  frame.next = frame.cids.size() - rest.size();
  if (rest.empty()) stack_.pop_back();
  return item;
}

void CarProducer::PushFrame(Frame frame) {
  if (!frame.cids.empty()) stack_.push_back(std::move(frame));
}

Status CarProducer::Step(std::string* out) {
  const Pending item = PopPending();
  if (!req_.dups && !item.cid.IsIdentity() && !seen_.insert(item.cid.bytes()).second) {
    return Status::OK();
  }
  if (terminal_data_) {
    fetched_ = std::move(*terminal_data_);
    terminal_data_.reset();
  } else {
    const Status status = FetchVerified(item.cid, &fetched_);
    if (!status.ok()) return status;
  }
  AppendSection(item.cid, fetched_, out);
  return PushChildren(item, fetched_);
}

Status CarProducer::PushChildren(const Pending& item, std::string_view data) {
  Frame children;
  switch (item.follow) {
    case Follow::kNone:
      return Status::OK();
    case Follow::kAll: {
      std::vector<Cid> links;
      const Status status = format::BlockLinks(item.cid, data, &links);
      if (!status.ok()) return status;
      children.follow = Follow::kAll;
      size_t bytes = 0;
      for (const Cid& link : links) bytes += link.bytes().size();
      children.cids.reserve(bytes);  // it stays allocated until its last link is written
      for (const Cid& link : links) children.cids.append(link.bytes());
      PushFrame(std::move(children));
      return Status::OK();
    }
    case Follow::kFileRange:
      return PushFileRange(item, data);
    case Follow::kEntity:
    case Follow::kShard:
      break;
  }
  PbNode node;
  UnixfsData unixfs;
  if (item.cid.codec() != format::kDagPb || !DecodeUnixfsNode(data, &node, &unixfs)) {
    return Status::OK();  // not UnixFS: the entity is this block
  }
  if (unixfs.type == UnixfsType::kHamtShard) {
    if (!unixfs.fanout || *unixfs.fanout < 2) return Status::OK();
    const size_t prefix = HamtPrefixLength(*unixfs.fanout);
    children.follow = Follow::kShard;
    for (const format::PbLink& link : node.links) {
      if (link.name && link.name->size() == prefix) children.cids.append(link.cid.bytes());
    }
  } else if (item.follow == Follow::kEntity && IsFileType(unixfs.type)) {
    children.follow = Follow::kAll;
    for (const format::PbLink& link : node.links) children.cids.append(link.cid.bytes());
  }
  PushFrame(std::move(children));
  return Status::OK();
}

Status CarProducer::PushFileRange(const Pending& item, std::string_view data) {
  PbNode node;
  UnixfsData unixfs;
  if (item.cid.codec() != format::kDagPb || !DecodeUnixfsNode(data, &node, &unixfs)) {
    return Status::OK();  // a raw leaf
  }
  if (node.links.empty()) return Status::OK();
  if (unixfs.blocksizes.size() != node.links.size()) {
    return Status::Corruption("block " + item.cid.ToString() + ": UnixFS file node has " +
                              std::to_string(node.links.size()) + " links but " +
                              std::to_string(unixfs.blocksizes.size()) + " blocksizes");
  }
  // A file node's own data comes before its children's bytes.
  Frame children;
  children.follow = Follow::kFileRange;
  uint64_t first = item.offset + (unixfs.data ? unixfs.data->size() : 0);
  for (size_t i = 0; i < node.links.size(); ++i) {
    const uint64_t size = unixfs.blocksizes[i];
    if (size != 0 && first <= range_to_ && first + size - 1 >= range_from_) {
      children.cids.append(node.links[i].cid.bytes());
      children.offsets.push_back(first);
    }
    first += size;
  }
  PushFrame(std::move(children));
  return Status::OK();
}

}  // namespace boxcar::gateway
