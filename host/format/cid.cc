#include "format/cid.h"

#include <cassert>
#include <cstdio>

#include "format/varint.h"

namespace boxcar::format {
namespace {

std::string HexCode(uint64_t code) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%02llx", static_cast<unsigned long long>(code));
  return buf;
}

// The text as it can appear in a message: at most 100 characters, non-printables as '?'.
std::string Quote(std::string_view text) {
  constexpr size_t kMaxShown = 100;
  std::string quoted = "\"";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    quoted.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (text.size() > kMaxShown) quoted += "...";
  quoted += "\"";
  return quoted;
}

Status TextError(std::string_view text, const std::string& what) {
  return Status::InvalidArgument("invalid CID " + Quote(text) + ": " + what);
}

bool IsV0Prefix(std::string_view bytes) {
  return bytes.size() >= 2 && bytes[0] == static_cast<char>(kSha2_256) &&
         bytes[1] == static_cast<char>(kSha256Bytes);
}

constexpr size_t kV0TextLength = 46;

}  // namespace

std::string CodecName(uint64_t codec) {
  switch (codec) {
    case kRaw:
      return "raw";
    case kDagPb:
      return "dag-pb";
    case kDagCbor:
      return "dag-cbor";
    case kDagJson:
      return "dag-json";
    case kLibp2pKey:
      return "libp2p-key";
  }
  return HexCode(codec);
}

bool IsKnownCodec(uint64_t codec) {
  return codec == kRaw || codec == kDagPb || codec == kDagCbor || codec == kDagJson ||
         codec == kLibp2pKey;
}

Status Cid::ParseBinary(std::string_view* in, bool whole, Cid* out) {
  const std::string_view start = *in;
  std::string_view rest = start;
  if (IsV0Prefix(rest)) {
    Status status = Multihash::Read(&rest, &out->hash_);
    if (!status.ok()) return Status::InvalidArgument("CIDv0: " + status.message());
    out->version_ = 0;
    out->codec_ = kDagPb;
  } else {
    uint64_t version = 0;
    Status status = ReadUvarint(&rest, &version);
    if (!status.ok()) return Status::InvalidArgument("CID version: " + status.message());
    if (version != 1) {
      if (version == 0) {
        return Status::InvalidArgument(
            "CID version 0 must be a bare sha2-256 multihash (0x12 0x20 <32 bytes>)");
      }
      if (version == kSha2_256) {
        return Status::InvalidArgument(
            "CID starts with 0x12 but is not a sha2-256 CIDv0 (0x12 0x20 <32 bytes>)");
      }
      return Status::InvalidArgument("unsupported CID version " + std::to_string(version) +
                                     " (only 0 and 1 exist)");
    }
    uint64_t codec = 0;
    status = ReadUvarint(&rest, &codec);
    if (!status.ok()) return Status::InvalidArgument("CID codec at byte 1: " + status.message());
    if (!IsKnownCodec(codec)) {
      return Status::InvalidArgument("unknown codec " + HexCode(codec) +
                                     " (boxcar accepts raw 0x55, dag-pb 0x70, dag-cbor 0x71, "
                                     "dag-json 0x0129, libp2p-key 0x72)");
    }
    const size_t mh_offset = start.size() - rest.size();
    status = Multihash::Read(&rest, &out->hash_);
    if (!status.ok()) {
      return Status::InvalidArgument("CID multihash at byte " + std::to_string(mh_offset) + ": " +
                                     status.message());
    }
    out->version_ = 1;
    out->codec_ = codec;
  }
  if (whole && !rest.empty()) {
    return Status::InvalidArgument(std::to_string(rest.size()) +
                                   " unexpected bytes after the CID at byte " +
                                   std::to_string(start.size() - rest.size()));
  }
  out->bytes_.assign(start.data(), start.size() - rest.size());
  *in = rest;
  return Status::OK();
}

Status Cid::FromBytes(std::string_view bytes, Cid* out) {
  if (bytes.empty()) return Status::InvalidArgument("empty binary CID");
  return ParseBinary(&bytes, /*whole=*/true, out);
}

Status Cid::Read(std::string_view* in, Cid* out) {
  if (in->empty()) return Status::InvalidArgument("CID truncated: no bytes left");
  return ParseBinary(in, /*whole=*/false, out);
}

Status Cid::Parse(std::string_view text, Cid* out) {
  if (text.empty()) return Status::InvalidArgument("empty CID");
  if (text.size() > kMaxCidTextLength) {
    return TextError(text, std::to_string(text.size()) + " characters is longer than the " +
                               std::to_string(kMaxCidTextLength) + " a CID may have");
  }
  std::string bytes;
  if (text.size() == kV0TextLength && text.substr(0, 2) == "Qm") {
    Status status = DecodeBase58btc(text, &bytes);
    if (!status.ok()) return TextError(text, "CIDv0: " + status.message());
  } else if (text.substr(0, 2) == "Qm") {
    return TextError(
        text, "a CIDv0 (\"Qm...\") has 46 characters, this has " + std::to_string(text.size()));
  } else {
    Multibase base;
    Status status = MultibaseDecode(text, &bytes, &base);
    if (!status.ok()) return TextError(text, status.message());
    if (!bytes.empty() && bytes[0] == static_cast<char>(kSha2_256)) {
      return TextError(
          text, "a multibase CID must be CIDv1; write a CIDv0 as bare base58btc (\"Qm...\")");
    }
    if (bytes.empty()) return TextError(text, "no bytes after the multibase prefix");
  }
  std::string_view view = bytes;
  Status status = ParseBinary(&view, /*whole=*/true, out);
  if (!status.ok()) return TextError(text, status.message());
  return Status::OK();
}

Cid Cid::V0(const Multihash& mh) {
  assert(mh.code() == kSha2_256);
  if (mh.code() != kSha2_256) return V1(kDagPb, mh);
  Cid cid;
  cid.version_ = 0;
  cid.codec_ = kDagPb;
  cid.hash_ = mh;
  cid.bytes_ = mh.bytes();
  return cid;
}

Cid Cid::V1(uint64_t codec, const Multihash& mh) {
  Cid cid;
  cid.version_ = 1;
  cid.codec_ = codec;
  cid.hash_ = mh;
  cid.bytes_.reserve(1 + UvarintSize(codec) + mh.bytes().size());
  AppendUvarint(&cid.bytes_, 1);
  AppendUvarint(&cid.bytes_, codec);
  cid.bytes_ += mh.bytes();
  return cid;
}

std::string Cid::ToString() const {
  return version_ == 0 ? EncodeBase58btc(bytes_) : MultibaseEncode(Multibase::kBase32, bytes_);
}

std::string Cid::ToString(Multibase base) const {
  return version_ == 0 ? EncodeBase58btc(bytes_) : MultibaseEncode(base, bytes_);
}

Cid Cid::ToV1() const { return version_ == 1 ? *this : V1(codec_, hash_); }

}  // namespace boxcar::format
