#include "p2p/peer_id.h"

#include "format/cid.h"
#include "format/multibase.h"
#include "format/multihash.h"
#include "format/varint.h"

namespace boxcar::p2p {
namespace {

// Keys that serialize to at most this many bytes are inlined (identity multihash).
constexpr size_t kMaxInlineKeyBytes = 42;
// Longer than any PeerID text (a CIDv1 of a sha2-256 PeerID is 62 characters); bounds the
// quadratic base58 decoder on untrusted input.
constexpr size_t kMaxPeerIdText = 256;

}  // namespace

PeerId PeerId::FromPublicKeyProto(std::string_view public_key_proto) {
  const uint64_t code =
      public_key_proto.size() <= kMaxInlineKeyBytes ? format::kIdentity : format::kSha2_256;
  PeerId id;
  id.multihash_ = format::Multihash::Sum(code, public_key_proto).bytes();
  return id;
}

Status PeerId::FromBytes(std::string_view multihash, PeerId* out) {
  format::Multihash parsed;
  Status status = format::Multihash::FromBytes(multihash, &parsed);
  if (!status.ok()) return status.Annotate("PeerID");
  if (parsed.code() == format::kIdentity &&
      (parsed.digest().empty() || parsed.digest().size() > kMaxInlineKeyBytes)) {
    return Status::InvalidArgument(
        "PeerID: an identity multihash must inline 1 to 42 bytes of "
        "public key, got " +
        std::to_string(parsed.digest().size()));
  }
  out->multihash_ = parsed.bytes();
  return Status::OK();
}

Status PeerId::Parse(std::string_view text, PeerId* out) {
  const std::string quoted = "PeerID '" + std::string(text.substr(0, 80)) + "'";
  if (text.empty()) return Status::InvalidArgument("PeerID: empty text");
  if (text.size() > kMaxPeerIdText) {
    return Status::InvalidArgument(quoted + "...: longer than " + std::to_string(kMaxPeerIdText) +
                                   " characters");
  }
  // The peer-ids spec: "1..." and "Qm..." are bare base58btc multihashes; anything else must be
  // a multibase CIDv1 with the libp2p-key codec.
  if (text[0] == '1' || text.substr(0, 2) == "Qm") {
    std::string bytes;
    Status status = format::DecodeBase58btc(text, &bytes);
    if (status.ok()) status = FromBytes(bytes, out);
    return status.Annotate(quoted);
  }
  format::Cid cid;
  Status status = format::Cid::Parse(text, &cid);
  if (!status.ok()) {
    return Status::InvalidArgument(
        quoted + ": neither base58btc (12D3KooW..., Qm...) nor a CID: " + status.message());
  }
  if (cid.version() != 1 || cid.codec() != format::kLibp2pKey) {
    return Status::InvalidArgument(quoted + ": a CID with codec " + format::CodecName(cid.codec()) +
                                   ", not libp2p-key (0x72), so not a PeerID");
  }
  status = FromBytes(cid.hash().bytes(), out);
  return status.Annotate(quoted);
}

std::string PeerId::ToString() const { return format::EncodeBase58btc(multihash_); }

std::string_view PeerId::InlinedPublicKey() const {
  std::string_view rest(multihash_);
  if (rest.empty() || rest[0] != static_cast<char>(format::kIdentity)) return {};
  rest.remove_prefix(1);
  uint64_t length = 0;
  if (!format::ReadUvarint(&rest, &length).ok() || length != rest.size()) return {};
  return rest;
}

}  // namespace boxcar::p2p
