#include "bitswap/message.h"

#include "format/multihash.h"
#include "format/protobuf.h"
#include "format/varint.h"

namespace boxcar::bitswap {
namespace {

using format::ProtoReader;
using format::WireType;

// Protobuf keys: (field << 3) | wire type.
constexpr char kMessageWantlist = 0x0a, kMessageBlocks = 0x12, kMessagePayload = 0x1a,
               kMessagePresences = 0x22, kMessagePendingBytes = 0x28;
constexpr char kWantlistEntries = 0x0a, kWantlistFull = 0x10;
constexpr char kEntryBlock = 0x0a, kEntryPriority = 0x10, kEntryCancel = 0x18,
               kEntryWantType = 0x20, kEntrySendDontHave = 0x28;
constexpr char kBlockPrefix = 0x0a, kBlockData = 0x12;
constexpr char kPresenceCid = 0x0a, kPresenceType = 0x10;

// `key_offset` is the field key's offset in the whole message.
Status ExpectWire(size_t key_offset, WireType got, WireType want, const char* field) {
  if (got == want) return Status::OK();
  return Status::InvalidArgument("bitswap message: field " + std::string(field) + " at byte " +
                                 std::to_string(key_offset) + " has wire type " +
                                 std::to_string(static_cast<int>(got)) + ", not " +
                                 std::to_string(static_cast<int>(want)));
}

// An int32 as protobuf encodes it: negative values are sign-extended to 64 bits.
int32_t AsInt32(uint64_t value) { return static_cast<int32_t>(static_cast<int64_t>(value)); }

Status ReadCid(std::string_view bytes, size_t offset, const char* field, format::Cid* out) {
  if (Status s = format::Cid::FromBytes(bytes, out); !s.ok()) {
    return Status::InvalidArgument(std::string("bitswap message: ") + field + " at byte " +
                                   std::to_string(offset) + " is not a valid CID: " + s.message());
  }
  return Status::OK();
}

// Reads the fields of a submessage, calling on_field(field, wire, key_offset) for each. The
// callback reads or skips the field's value itself.
template <typename F>
Status ForEachField(ProtoReader& reader, F&& on_field) {
  while (!reader.done()) {
    uint64_t field = 0;
    WireType wire{};
    size_t key_offset = 0;
    if (Status s = reader.ReadKey(&field, &wire, &key_offset); !s.ok()) return s;
    if (Status s = on_field(field, wire, key_offset); !s.ok()) return s;
  }
  return Status::OK();
}

Status DecodeEntry(std::string_view bytes, size_t base, WantEntry* out) {
  ProtoReader reader(bytes, "bitswap wantlist entry", base);
  // An absent field has protobuf's default: proto3 encoders (Helia's) leave out priority 0.
  out->priority = 0;
  bool has_cid = false;
  Status status = ForEachField(reader, [&](uint64_t field, WireType wire, size_t key_offset) {
    uint64_t value = 0;
    switch (field) {
      case 1: {
        std::string_view cid;
        size_t offset = 0;
        if (Status s = ExpectWire(key_offset, wire, WireType::kLengthDelimited, "block"); !s.ok()) {
          return s;
        }
        if (Status s = reader.ReadBytes(&cid, &offset); !s.ok()) return s;
        has_cid = true;
        return ReadCid(cid, offset, "a wantlist entry's block", &out->cid);
      }
      case 2:
      case 3:
      case 4:
      case 5: {
        if (Status s = ExpectWire(key_offset, wire, WireType::kVarint, "of an entry"); !s.ok()) {
          return s;
        }
        if (Status s = reader.ReadVarint(&value); !s.ok()) return s;
        if (field == 2) out->priority = AsInt32(value);
        if (field == 3) out->cancel = value != 0;
        if (field == 4) out->type = value == 1 ? WantType::kHave : WantType::kBlock;
        if (field == 5) out->send_dont_have = value != 0;
        return Status::OK();
      }
      default:
        return reader.Skip(wire);
    }
  });
  if (!status.ok()) return status;
  if (!has_cid) return reader.Error("a wantlist entry has no block CID");
  return Status::OK();
}

Status DecodeWantlist(std::string_view bytes, size_t base, Message* out) {
  ProtoReader reader(bytes, "bitswap wantlist", base);
  out->has_wantlist = true;
  return ForEachField(reader, [&](uint64_t field, WireType wire, size_t key_offset) {
    if (field == 1) {
      std::string_view entry;
      size_t offset = 0;
      if (Status s = ExpectWire(key_offset, wire, WireType::kLengthDelimited, "entries"); !s.ok()) {
        return s;
      }
      if (Status s = reader.ReadBytes(&entry, &offset); !s.ok()) return s;
      WantEntry want;
      if (Status s = DecodeEntry(entry, offset, &want); !s.ok()) return s;
      out->wants.push_back(std::move(want));
      return Status::OK();
    }
    if (field == 2) {
      uint64_t full = 0;
      if (Status s = ExpectWire(key_offset, wire, WireType::kVarint, "full"); !s.ok()) {
        return s;
      }
      if (Status s = reader.ReadVarint(&full); !s.ok()) return s;
      out->full = full != 0;
      return Status::OK();
    }
    return reader.Skip(wire);
  });
}

// A payload Block: the CID is rebuilt from the prefix by hashing the data.
Status DecodePayload(std::string_view bytes, size_t base, Message* out) {
  ProtoReader reader(bytes, "bitswap payload block", base);
  std::string_view prefix, data;
  Status status = ForEachField(reader, [&](uint64_t field, WireType wire, size_t key_offset) {
    if (field != 1 && field != 2) return reader.Skip(wire);
    if (Status s = ExpectWire(key_offset, wire, WireType::kLengthDelimited,
                              field == 1 ? "prefix" : "data");
        !s.ok()) {
      return s;
    }
    size_t offset = 0;
    return reader.ReadBytes(field == 1 ? &prefix : &data, &offset);
  });
  if (!status.ok()) return status;
  ReceivedBlock block;
  Status rebuilt = CidFromPrefix(prefix, data, &block.cid);
  if (rebuilt.IsNotSupported()) {
    ++out->unverifiable_blocks;
    return Status::OK();
  }
  if (!rebuilt.ok()) {
    return Status::InvalidArgument("bitswap payload block at byte " + std::to_string(base) + ": " +
                                   rebuilt.message());
  }
  block.data.assign(data);
  out->blocks.push_back(std::move(block));
  return Status::OK();
}

Status DecodePresence(std::string_view bytes, size_t base, Message* out) {
  ProtoReader reader(bytes, "bitswap block presence", base);
  Presence presence;
  bool has_cid = false;
  Status status = ForEachField(reader, [&](uint64_t field, WireType wire, size_t key_offset) {
    if (field == 1) {
      std::string_view cid;
      size_t offset = 0;
      if (Status s = ExpectWire(key_offset, wire, WireType::kLengthDelimited, "cid"); !s.ok()) {
        return s;
      }
      if (Status s = reader.ReadBytes(&cid, &offset); !s.ok()) return s;
      has_cid = true;
      return ReadCid(cid, offset, "a block presence's cid", &presence.cid);
    }
    if (field == 2) {
      uint64_t type = 0;
      if (Status s = ExpectWire(key_offset, wire, WireType::kVarint, "type"); !s.ok()) {
        return s;
      }
      if (Status s = reader.ReadVarint(&type); !s.ok()) return s;
      presence.type = type == 1 ? PresenceType::kDontHave : PresenceType::kHave;
      return Status::OK();
    }
    return reader.Skip(wire);
  });
  if (!status.ok()) return status;
  if (!has_cid) return reader.Error("a block presence has no CID");
  out->presences.push_back(std::move(presence));
  return Status::OK();
}

void AppendKey(std::string* out, char key) { out->push_back(key); }

void AppendBytesField(std::string* out, char key, std::string_view bytes) {
  AppendKey(out, key);
  format::AppendUvarint(out, bytes.size());
  out->append(bytes);
}

void AppendVarintField(std::string* out, char key, uint64_t value) {
  AppendKey(out, key);
  format::AppendUvarint(out, value);
}

// Protobuf's int32: a negative value takes ten bytes, sign-extended.
uint64_t Int32Wire(int32_t value) { return static_cast<uint64_t>(static_cast<int64_t>(value)); }

size_t Int32WireSize(int32_t value) {
  return value < 0 ? 10 : format::UvarintSize(static_cast<uint64_t>(value));
}

// AppendUvarint refuses values past 2^63; a sign-extended int32 needs all ten bytes.
void AppendInt32Field(std::string* out, char key, int32_t value) {
  AppendKey(out, key);
  uint64_t v = Int32Wire(value);
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

}  // namespace

Version VersionOf(std::string_view protocol) {
  if (protocol == kProtocol120) return Version::k120;
  if (protocol == kProtocol110) return Version::k110;
  return Version::k100;
}

Status DecodeMessage(std::string_view bytes, Message* out) {
  *out = Message();
  ProtoReader reader(bytes, "bitswap message");
  return ForEachField(reader, [&](uint64_t field, WireType wire, size_t key_offset) {
    if (field < 1 || field > 5) return reader.Skip(wire);
    if (field == 5) {
      uint64_t pending = 0;
      if (Status s = ExpectWire(key_offset, wire, WireType::kVarint, "pendingBytes"); !s.ok()) {
        return s;
      }
      if (Status s = reader.ReadVarint(&pending); !s.ok()) return s;
      out->pending_bytes = AsInt32(pending);
      return Status::OK();
    }
    static constexpr const char* kNames[] = {"", "wantlist", "blocks", "payload", "blockPresences"};
    if (Status s = ExpectWire(key_offset, wire, WireType::kLengthDelimited, kNames[field]);
        !s.ok()) {
      return s;
    }
    std::string_view value;
    size_t offset = 0;
    if (Status s = reader.ReadBytes(&value, &offset); !s.ok()) return s;
    switch (field) {
      case 1:
        return DecodeWantlist(value, offset, out);
      case 2: {
        ReceivedBlock block;
        block.cid = format::Cid::V0(format::Multihash::Sum(format::kSha2_256, value));
        block.data.assign(value);
        out->blocks.push_back(std::move(block));
        return Status::OK();
      }
      case 3:
        return DecodePayload(value, offset, out);
      default:
        return DecodePresence(value, offset, out);
    }
  });
}

std::string CidPrefix(const format::Cid& cid) {
  std::string prefix;
  format::AppendUvarint(&prefix, cid.version());
  format::AppendUvarint(&prefix, cid.codec());
  format::AppendUvarint(&prefix, cid.hash().code());
  format::AppendUvarint(&prefix, cid.hash().digest().size());
  return prefix;
}

Status CidFromPrefix(std::string_view prefix, std::string_view data, format::Cid* out) {
  uint64_t version = 0, codec = 0, hash_code = 0, digest_size = 0;
  for (uint64_t* part : {&version, &codec, &hash_code, &digest_size}) {
    if (Status s = format::ReadUvarint(&prefix, part); !s.ok()) {
      return Status::InvalidArgument("the CID prefix is malformed: " + s.message());
    }
  }
  if (!prefix.empty()) return Status::InvalidArgument("the CID prefix has trailing bytes");
  if (version > 1) {
    return Status::InvalidArgument("the CID prefix has version " + std::to_string(version) +
                                   "; only 0 and 1 exist");
  }
  if (version == 0 && (codec != format::kDagPb || hash_code != format::kSha2_256)) {
    return Status::InvalidArgument("a CIDv0 prefix must be dag-pb with sha2-256");
  }
  if (hash_code != format::kSha2_256) {
    return Status::NotSupported("the CID prefix names multihash " +
                                format::MultihashName(hash_code) +
                                ", which this node cannot compute");
  }
  if (digest_size != 32) {
    return Status::InvalidArgument("the CID prefix gives a sha2-256 digest of " +
                                   std::to_string(digest_size) + " bytes, not 32");
  }
  if (!format::IsKnownCodec(codec)) {
    return Status::InvalidArgument("the CID prefix has an unknown codec " +
                                   format::CodecName(codec));
  }
  const format::Multihash hash = format::Multihash::Sum(format::kSha2_256, data);
  *out = version == 0 ? format::Cid::V0(hash) : format::Cid::V1(codec, hash);
  return Status::OK();
}

bool Encoder::AddWant(const WantEntry& want) {
  if (version_ != Version::k120 && want.type == WantType::kHave) return false;
  std::string entry;
  AppendBytesField(&entry, kEntryBlock, want.cid.bytes());
  AppendInt32Field(&entry, kEntryPriority, want.priority);
  if (want.cancel) AppendVarintField(&entry, kEntryCancel, 1);
  if (version_ == Version::k120) {
    if (want.type == WantType::kHave) AppendVarintField(&entry, kEntryWantType, 1);
    if (want.send_dont_have) AppendVarintField(&entry, kEntrySendDontHave, 1);
  }
  AppendBytesField(&wantlist_entries_, kWantlistEntries, entry);
  has_wantlist_ = true;
  return true;
}

void Encoder::SetFull(bool full) {
  full_ = full;
  has_wantlist_ = true;
}

bool Encoder::AddBlock(const format::Cid& cid, std::string_view data) {
  if (version_ == Version::k100) {
    if (cid.version() != 0) return false;
    AppendBytesField(&blocks_, kMessageBlocks, data);
    return true;
  }
  const std::string prefix = CidPrefix(cid);
  AppendKey(&blocks_, kMessagePayload);
  format::AppendUvarint(&blocks_, 2 + format::UvarintSize(prefix.size()) + prefix.size() +
                                      format::UvarintSize(data.size()) + data.size());
  AppendBytesField(&blocks_, kBlockPrefix, prefix);
  AppendBytesField(&blocks_, kBlockData, data);
  return true;
}

bool Encoder::AddPresence(const format::Cid& cid, PresenceType type) {
  if (version_ != Version::k120) return false;
  std::string presence;
  AppendBytesField(&presence, kPresenceCid, cid.bytes());
  if (type == PresenceType::kDontHave) AppendVarintField(&presence, kPresenceType, 1);
  AppendBytesField(&presences_, kMessagePresences, presence);
  return true;
}

size_t Encoder::WantlistBodySize() const { return wantlist_entries_.size() + (full_ ? 2 : 0); }

size_t Encoder::size() const {
  size_t total = blocks_.size() + presences_.size();
  if (has_wantlist_) {
    const size_t body = WantlistBodySize();
    total += 1 + format::UvarintSize(body) + body;
  }
  if (pending_bytes_ != 0) total += 1 + Int32WireSize(pending_bytes_);
  return total;
}

bool Encoder::empty() const { return size() == 0; }

void Encoder::Finish(std::string* out) {
  const size_t body = size();
  out->reserve(out->size() + format::UvarintSize(body) + body);
  format::AppendUvarint(out, body);
  if (has_wantlist_) {
    AppendKey(out, kMessageWantlist);
    format::AppendUvarint(out, WantlistBodySize());
    out->append(wantlist_entries_);
    if (full_) AppendVarintField(out, kWantlistFull, 1);
  }
  out->append(blocks_);
  out->append(presences_);
  if (pending_bytes_ != 0) AppendInt32Field(out, kMessagePendingBytes, pending_bytes_);
  *this = Encoder(version_);
}

// A length prefix that may still be arriving: fewer than ten bytes, each with its continuation
// bit set.
bool IncompleteVarint(std::string_view bytes) {
  if (bytes.size() >= 10) return false;
  for (const char c : bytes) {
    if ((static_cast<unsigned char>(c) & 0x80) == 0) return false;
  }
  return true;
}

Status FrameReader::Feed(std::string_view data,
                         const std::function<Status(std::string_view)>& on_message) {
  // Without a partial message buffered, whole messages are handed out straight from `data`.
  const bool buffered = !buffer_.empty();
  if (buffered) buffer_.append(data);
  const std::string_view whole = buffered ? std::string_view(buffer_) : data;
  size_t consumed = 0;
  Status status;
  while (consumed < whole.size() && status.ok()) {
    std::string_view rest = whole.substr(consumed);
    if (IncompleteVarint(rest)) break;
    uint64_t length = 0;
    if (Status s = format::ReadUvarint(&rest, &length); !s.ok()) {
      return Status::InvalidArgument("bitswap stream: bad message length: " + s.message());
    }
    if (length > max_bytes_) {
      return Status::InvalidArgument("bitswap stream: a message of " + std::to_string(length) +
                                     " bytes is over the " + std::to_string(max_bytes_ >> 20) +
                                     " MiB limit");
    }
    if (rest.size() < length) break;
    status = on_message(rest.substr(0, length));
    consumed = whole.size() - (rest.size() - length);
  }
  if (buffered) {
    buffer_.erase(0, consumed);
  } else {
    buffer_.assign(whole.substr(consumed));
  }
  return status;
}

}  // namespace boxcar::bitswap
