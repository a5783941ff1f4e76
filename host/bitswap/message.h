// The Bitswap message (ipfs/specs bitswap-protocol, boxo message.proto) for versions 1.0.0,
// 1.1.0 and 1.2.0, and the uvarint-length framing of a Bitswap stream.
//
//   Message   { Wantlist wantlist = 1; repeated bytes blocks = 2 (1.0.0);
//               repeated Block payload = 3; repeated BlockPresence blockPresences = 4;
//               int32 pendingBytes = 5 }
//   Wantlist  { repeated Entry entries = 1; bool full = 2 }
//   Entry     { bytes block = 1; int32 priority = 2; bool cancel = 3; WantType wantType = 4;
//               bool sendDontHave = 5 }
//   Block     { bytes prefix = 1; bytes data = 2 }
//   BlockPresence { bytes cid = 1; BlockPresenceType type = 2 }
//
// Decoding is strict about structure (a truncated field, a wrong wire type for a known field, a
// malformed CID is an error naming the field and its byte offset) and lenient about unknown
// fields (skipped, as protobuf requires). It never allocates more than the input's size.
//
// Thread safety: free functions over values; no shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"
#include "format/cid.h"

namespace boxcar::bitswap {

// The protocol ids, newest first: the order boxcar proposes them in.
inline constexpr std::string_view kProtocol120 = "/ipfs/bitswap/1.2.0";
inline constexpr std::string_view kProtocol110 = "/ipfs/bitswap/1.1.0";
inline constexpr std::string_view kProtocol100 = "/ipfs/bitswap/1.0.0";
inline constexpr std::string_view kProtocolLegacy = "/ipfs/bitswap";

// What a protocol version can carry. 1.0.0 and the legacy id send blocks as bare `blocks` (field
// 2, CIDv0 only) and know no want-have, presences or sendDontHave; 1.1.0 adds `payload` with CID
// prefixes; 1.2.0 adds want-have, HAVE/DONT_HAVE and pendingBytes.
enum class Version { k100, k110, k120 };
Version VersionOf(std::string_view protocol);

// The spec's cap on one message, in and out (go's network.MessageSizeMax; Helia's too).
inline constexpr size_t kMaxMessageBytes = 4 << 20;
// Boxo ignores CIDs longer than this (MaxCidSize: 40 bytes of varints and a 128-byte digest).
inline constexpr size_t kMaxCidBytes = 168;

enum class WantType : uint8_t { kBlock = 0, kHave = 1 };
enum class PresenceType : uint8_t { kHave = 0, kDontHave = 1 };

struct WantEntry {
  format::Cid cid;
  int32_t priority = 1;
  bool cancel = false;
  WantType type = WantType::kBlock;
  bool send_dont_have = false;
};

struct Presence {
  format::Cid cid;
  PresenceType type = PresenceType::kHave;
};

// A received block. Its CID is rebuilt from the block's prefix by hashing the data (or is the
// CIDv0 of the data for the 1.0.0 `blocks` field), so a block always matches its CID: a peer that
// answers a want with the wrong bytes shows up as a block with a CID nobody asked it for.
struct ReceivedBlock {
  format::Cid cid;
  std::string data;
};

struct Message {
  bool has_wantlist = false;
  bool full = false;  // the wantlist replaces the peer's whole list
  std::vector<WantEntry> wants;
  std::vector<ReceivedBlock> blocks;
  std::vector<Presence> presences;
  int32_t pending_bytes = 0;
  // Blocks whose prefix names a hash function this node cannot compute: they cannot be checked,
  // so they are left out of `blocks` and only counted.
  uint32_t unverifiable_blocks = 0;
};

// Decodes one message (without its length prefix). A CID that is malformed is an error for the
// whole message, as in Boxo (which resets the stream); CIDs that are valid but identity-hashed or
// longer than kMaxCidBytes are kept here and dropped by the ledger.
Status DecodeMessage(std::string_view bytes, Message* out);

// The CID prefix of Bitswap 1.1.0+: uvarint version, codec, multihash code and digest length.
std::string CidPrefix(const format::Cid& cid);
// Rebuilds the CID of `data` from a prefix by hashing it with the prefix's multihash function.
// NotSupported for a hash function the node cannot compute.
Status CidFromPrefix(std::string_view prefix, std::string_view data, format::Cid* out);

// Builds one outgoing message for a peer speaking `version`, appending the uvarint length
// prefix and the body to `out`. Entries a version cannot carry are left out (want-have and
// presences for 1.0.0/1.1.0; blocks without a CIDv0 for 1.0.0): Encoder::Add* returns false
// for them, and the caller answers them some other way or not at all.
class Encoder {
 public:
  explicit Encoder(Version version) : version_(version) {}

  bool AddWant(const WantEntry& want);
  // Marks the wantlist as the peer's whole list (it replaces what the peer had).
  void SetFull(bool full);
  bool AddBlock(const format::Cid& cid, std::string_view data);
  bool AddPresence(const format::Cid& cid, PresenceType type);
  void SetPendingBytes(int32_t bytes) { pending_bytes_ = bytes; }

  // The encoded size of the body so far (without the length prefix).
  size_t size() const;
  bool empty() const;
  // Appends the framed message to `out` and resets the encoder for the next message.
  void Finish(std::string* out);

 private:
  size_t WantlistBodySize() const;

  Version version_;
  bool has_wantlist_ = false;
  bool full_ = false;
  int32_t pending_bytes_ = 0;
  std::string wantlist_entries_;  // encoded Entry fields
  std::string blocks_;            // encoded payload (or blocks) fields
  std::string presences_;         // encoded blockPresences fields
};

// Splits a Bitswap stream into messages: uvarint length, then that many bytes, repeated.
// Feed bytes as they arrive; each complete message is handed to the callback. A length over
// `max_bytes` or a malformed varint is an error, after which the stream must be reset.
class FrameReader {
 public:
  explicit FrameReader(size_t max_bytes = kMaxMessageBytes) : max_bytes_(max_bytes) {}
  // Calls on_message for each complete message in `data` (plus what was buffered before).
  // Stops at the first non-OK status from on_message and returns it.
  Status Feed(std::string_view data, const std::function<Status(std::string_view)>& on_message);
  size_t buffered() const { return buffer_.size(); }

 private:
  size_t max_bytes_;
  std::string buffer_;
};

}  // namespace boxcar::bitswap
