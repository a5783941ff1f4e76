// Content identifiers (CID spec, multiformats). A CIDv0 is a bare sha2-256 multihash, written in
// base58btc ("Qm..."); a CIDv1 is <version 1><codec varint><multihash>, written with a multibase
// prefix. A Cid is a value holding its binary form plus the parsed fields.
//
// Allocation: a Cid holds two strings (binary CID and multihash). Parsing into an existing Cid
// reuses their buffers, so a loop that parses into one object does not allocate once warm.
//
// Thread safety: value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "boxcar/status.h"
#include "format/multibase.h"
#include "format/multihash.h"

namespace boxcar::format {

inline constexpr uint64_t kRaw = 0x55, kDagPb = 0x70, kDagCbor = 0x71, kDagJson = 0x0129,
                          kLibp2pKey = 0x72;

// Longest CID text Cid::Parse accepts; it bounds the quadratic base58/base36 decoders. Real CIDs
// are under 100 characters and identity CIDs inline at most a few hundred bytes; a binary CID
// with an identity digest over about 2.5 KB prints to text longer than this, which Parse refuses.
inline constexpr size_t kMaxCidTextLength = 4096;

// "raw", "dag-pb", "dag-cbor", "dag-json", "libp2p-key", or "0x.." for other codecs.
std::string CodecName(uint64_t codec);
// True for the codecs above, the ones a Cid may carry when parsed.
bool IsKnownCodec(uint64_t codec);

class Cid {
 public:
  // An empty (invalid) CID; assign a parsed or constructed one before use.
  Cid() = default;

  // Text form: "Qm..." (CIDv0: 46 characters of base58btc), or a multibase CIDv1 ('b', 'B',
  // 'z', 'k', 'K'). InvalidArgument saying what is wrong and how to fix it; an unknown codec is
  // named ("unknown codec 0x.."). Text longer than kMaxCidTextLength is refused.
  static Status Parse(std::string_view text, Cid* out);
  // Binary form; the whole input must be one CID. A CIDv0 is the bare multihash 0x12 0x20 <32>.
  static Status FromBytes(std::string_view bytes, Cid* out);
  // One binary CID from the front of *in, advancing *in past it (CAR sections, dag-pb links).
  // *in is unchanged on error.
  static Status Read(std::string_view* in, Cid* out);
  // CIDv0 of a sha2-256 multihash; any other multihash is a bug (asserted in debug builds) and
  // yields a CIDv1 dag-pb.
  static Cid V0(const Multihash& mh);
  static Cid V1(uint64_t codec, const Multihash& mh);

  uint64_t version() const { return version_; }
  // A CIDv0 reports kDagPb.
  uint64_t codec() const { return codec_; }
  const Multihash& hash() const { return hash_; }
  // The binary form.
  const std::string& bytes() const { return bytes_; }
  bool empty() const { return bytes_.empty(); }

  // v0: base58btc ("Qm..."); v1: base32 ("b...").
  std::string ToString() const;
  // v1 in the given base; a CIDv0 always prints as base58btc without prefix.
  std::string ToString(Multibase base) const;
  // This CID as a CIDv1 (a CIDv1 is returned unchanged).
  Cid ToV1() const;

  bool IsIdentity() const { return hash_.code() == kIdentity; }
  Status Verify(std::string_view data) const { return hash().Verify(data); }

  bool operator==(const Cid&) const = default;

 private:
  static Status ParseBinary(std::string_view* in, bool whole, Cid* out);

  uint64_t version_ = 0;
  uint64_t codec_ = 0;
  Multihash hash_;
  std::string bytes_;
};

}  // namespace boxcar::format

// Hashes the binary form, so equal CIDs hash equally.
template <>
struct std::hash<boxcar::format::Cid> {
  size_t operator()(const boxcar::format::Cid& cid) const noexcept {
    return std::hash<std::string>{}(cid.bytes());
  }
};
