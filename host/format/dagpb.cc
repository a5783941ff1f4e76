#include "format/dagpb.h"

#include "format/protobuf.h"
#include "format/varint.h"

namespace boxcar::format {
namespace {

constexpr uint64_t kNodeData = 1, kNodeLinks = 2;
constexpr uint64_t kLinkHash = 1, kLinkName = 2, kLinkTsize = 3;

std::string LinkWhat(size_t index, const std::string& what) {
  return "link " + std::to_string(index) + ": " + what;
}

// Decodes one PBLink at `base` (offset within the block). `name` and `tsize` may be null when
// the caller only wants the CID; the fields are still checked.
Status DecodeLink(std::string_view bytes, size_t base, size_t index, Cid* cid,
                  std::optional<std::string>* name, std::optional<uint64_t>* tsize) {
  ProtoReader reader(bytes, "dag-pb", base);
  uint64_t last_field = 0;
  bool have_hash = false;
  while (!reader.done()) {
    uint64_t field = 0;
    WireType wire;
    size_t key_offset = 0;
    Status status = reader.ReadKey(&field, &wire, &key_offset);
    if (!status.ok()) return status;
    const size_t at = key_offset - base;
    if (field < kLinkHash || field > kLinkTsize) {
      return reader.ErrorAt(at, LinkWhat(index, "unknown PBLink field " + std::to_string(field)));
    }
    if (field == last_field) {
      return reader.ErrorAt(at, LinkWhat(index, "duplicate PBLink field " + std::to_string(field)));
    }
    if (field < last_field) {
      return reader.ErrorAt(
          at, LinkWhat(index, "PBLink field " + std::to_string(field) + " after field " +
                                  std::to_string(last_field) +
                                  " (fields must be in order Hash, Name, Tsize)"));
    }
    last_field = field;
    const WireType expected = field == kLinkTsize ? WireType::kVarint : WireType::kLengthDelimited;
    if (wire != expected) {
      return reader.ErrorAt(
          at, LinkWhat(index, "wrong wire type " + std::to_string(static_cast<int>(wire)) +
                                  " for PBLink field " + std::to_string(field)));
    }
    if (field == kLinkTsize) {
      uint64_t value = 0;
      status = reader.ReadVarint(&value);
      if (!status.ok()) return status;
      if (tsize != nullptr) *tsize = value;
      continue;
    }
    std::string_view value;
    size_t value_offset = 0;
    status = reader.ReadBytes(&value, &value_offset);
    if (!status.ok()) return status;
    if (field == kLinkHash) {
      status = Cid::FromBytes(value, cid);
      if (!status.ok()) {
        return reader.ErrorAt(value_offset - base,
                              LinkWhat(index, "Hash is not a CID (" + status.message() + ")"));
      }
      have_hash = true;
    } else if (name != nullptr) {
      name->emplace(value);
    }
  }
  // Hash is optional in protobuf terms, but a link without a target is a bad block.
  if (!have_hash) return reader.ErrorAt(0, LinkWhat(index, "missing Hash"));
  return Status::OK();
}

// Walks a PBNode, calling on_link(bytes, offset, index) for each link and on_data(bytes) for
// Data, and enforcing the node-level rules.
template <typename OnLink, typename OnData>
Status WalkNode(std::string_view block, OnLink on_link, OnData on_data) {
  ProtoReader reader(block, "dag-pb");
  bool have_data = false;
  bool links_before_data = false;
  size_t link_index = 0;
  while (!reader.done()) {
    uint64_t field = 0;
    WireType wire;
    size_t key_offset = 0;
    Status status = reader.ReadKey(&field, &wire, &key_offset);
    if (!status.ok()) return status;
    if (field != kNodeData && field != kNodeLinks) {
      return reader.ErrorAt(key_offset, "unknown PBNode field " + std::to_string(field) +
                                            " (only Links 2 and Data 1 exist)");
    }
    if (wire != WireType::kLengthDelimited) {
      return reader.ErrorAt(key_offset, "wrong wire type " +
                                            std::to_string(static_cast<int>(wire)) +
                                            " for PBNode field " + std::to_string(field) +
                                            " (must be 2, length-delimited)");
    }
    std::string_view value;
    size_t value_offset = 0;
    status = reader.ReadBytes(&value, &value_offset);
    if (!status.ok()) return status;
    if (field == kNodeData) {
      if (have_data) return reader.ErrorAt(key_offset, "duplicate PBNode Data");
      have_data = true;
      on_data(value);
      continue;
    }
    if (have_data && links_before_data) {
      return reader.ErrorAt(key_offset, "PBNode Links on both sides of Data");
    }
    if (!have_data) links_before_data = true;
    status = on_link(value, value_offset, link_index++);
    if (!status.ok()) return status;
  }
  return Status::OK();
}

void AppendKey(std::string* out, uint64_t field, WireType wire) {
  AppendUvarint(out, (field << 3) | static_cast<uint64_t>(wire));
}

void AppendBytesField(std::string* out, uint64_t field, std::string_view bytes) {
  AppendKey(out, field, WireType::kLengthDelimited);
  AppendUvarint(out, bytes.size());
  out->append(bytes);
}

}  // namespace

Status DecodePbNode(std::string_view block, PbNode* out) {
  out->links.clear();
  out->data.reset();
  return WalkNode(
      block,
      [out](std::string_view bytes, size_t offset, size_t index) {
        PbLink& link = out->links.emplace_back();
        return DecodeLink(bytes, offset, index, &link.cid, &link.name, &link.tsize);
      },
      [out](std::string_view data) { out->data.emplace(data); });
}

Status DecodePbLinks(std::string_view block, std::vector<Cid>* out) {
  out->clear();
  return WalkNode(
      block,
      [out](std::string_view bytes, size_t offset, size_t index) {
        return DecodeLink(bytes, offset, index, &out->emplace_back(), nullptr, nullptr);
      },
      [](std::string_view) {});
}

std::string EncodePbNode(const PbNode& node) {
  std::string out;
  std::string link_bytes;
  for (const PbLink& link : node.links) {
    link_bytes.clear();
    AppendBytesField(&link_bytes, kLinkHash, link.cid.bytes());
    if (link.name) AppendBytesField(&link_bytes, kLinkName, *link.name);
    if (link.tsize) {
      AppendKey(&link_bytes, kLinkTsize, WireType::kVarint);
      AppendUvarint(&link_bytes, *link.tsize);
    }
    AppendBytesField(&out, kNodeLinks, link_bytes);
  }
  if (node.data) AppendBytesField(&out, kNodeData, *node.data);
  return out;
}

}  // namespace boxcar::format
