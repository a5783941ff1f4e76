// The Bitswap message codec against hand-made protobuf bytes (field tags as in
// /work/shared/research/libp2p-bitswap.md section 5, from boxo's message.proto).
#include "bitswap/message.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "format/varint.h"

namespace {

using namespace boxcar::bitswap;
using boxcar::Status;
using boxcar::format::Cid;
using boxcar::format::kDagPb;
using boxcar::format::kRaw;
using boxcar::format::kSha2_256;
using boxcar::format::Multihash;

Cid RawCid(const std::string& data) { return Cid::V1(kRaw, Multihash::Sum(kSha2_256, data)); }
Cid V0Cid(const std::string& data) { return Cid::V0(Multihash::Sum(kSha2_256, data)); }

std::string Uvarint(uint64_t value) {
  std::string out;
  boxcar::format::AppendUvarint(&out, value);
  return out;
}
// A length-delimited field: key byte, length, bytes.
std::string Field(char key, const std::string& bytes) {
  return std::string(1, key) + Uvarint(bytes.size()) + bytes;
}
std::string VarintField(char key, uint64_t value) { return std::string(1, key) + Uvarint(value); }
std::string Framed(const std::string& body) { return Uvarint(body.size()) + body; }

// Wantlist entry fields: block 0x0a, priority 0x10, cancel 0x18, wantType 0x20,
// sendDontHave 0x28.
std::string Entry(const Cid& cid, const std::string& rest) {
  return Field(0x0a, cid.bytes()) + rest;
}
// Message fields: wantlist 0x0a, blocks 0x12, payload 0x1a, blockPresences 0x22,
// pendingBytes 0x28; Wantlist: entries 0x0a, full 0x10.
std::string WantlistMessage(const std::vector<std::string>& entries, bool full) {
  std::string wantlist;
  for (const std::string& entry : entries) wantlist += Field(0x0a, entry);
  if (full) wantlist += VarintField(0x10, 1);
  return Field(0x0a, wantlist);
}

Message Decode(const std::string& bytes) {
  Message message;
  const Status status = DecodeMessage(bytes, &message);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return message;
}

std::string DecodeError(const std::string& bytes) {
  Message message;
  const Status status = DecodeMessage(bytes, &message);
  REQUIRE_FALSE(status.ok());
  return status.message();
}

// The body of the single framed message in `framed`.
std::string Unframe(const std::string& framed) {
  FrameReader reader;
  std::vector<std::string> bodies;
  REQUIRE(reader
              .Feed(framed,
                    [&](std::string_view body) {
                      bodies.emplace_back(body);
                      return Status::OK();
                    })
              .ok());
  REQUIRE(bodies.size() == 1);
  CHECK(reader.buffered() == 0);
  return bodies[0];
}

TEST_CASE("bitswap message: protocol ids map to versions") {
  CHECK(VersionOf(kProtocol120) == Version::k120);
  CHECK(VersionOf(kProtocol110) == Version::k110);
  CHECK(VersionOf(kProtocol100) == Version::k100);
  CHECK(VersionOf(kProtocolLegacy) == Version::k100);
}

TEST_CASE("bitswap message: a wantlist with every entry field decodes") {
  const Cid a = RawCid("a"), b = V0Cid("b");
  const std::string bytes = WantlistMessage(
      {Entry(a, VarintField(0x10, 7) + VarintField(0x20, 1) + VarintField(0x28, 1)),
       // priority -3 as protobuf's int32 writes it: ten bytes, sign-extended.
       Entry(b, VarintField(0x10, static_cast<uint64_t>(int64_t{-3})) + VarintField(0x18, 1))},
      true);
  const Message message = Decode(bytes);
  CHECK(message.has_wantlist);
  CHECK(message.full);
  REQUIRE(message.wants.size() == 2);
  CHECK(message.wants[0].cid == a);
  CHECK(message.wants[0].priority == 7);
  CHECK(message.wants[0].type == WantType::kHave);
  CHECK(message.wants[0].send_dont_have);
  CHECK_FALSE(message.wants[0].cancel);
  CHECK(message.wants[1].cid == b);
  CHECK(message.wants[1].priority == -3);
  CHECK(message.wants[1].cancel);
  CHECK(message.wants[1].type == WantType::kBlock);
  CHECK_FALSE(message.wants[1].send_dont_have);

  // An entry without a priority has protobuf's default, 0 (proto3 encoders such as Helia's
  // leave zero values out); WantEntry's default of 1 is for entries built in code.
  const Message bare = Decode(WantlistMessage({Entry(a, "")}, false));
  CHECK_FALSE(bare.full);
  REQUIRE(bare.wants.size() == 1);
  CHECK(bare.wants[0].priority == 0);
  CHECK(bare.wants[0].type == WantType::kBlock);

  // No wantlist field: has_wantlist stays false. An empty one is a wantlist.
  CHECK_FALSE(Decode("").has_wantlist);
  CHECK(Decode(Field(0x0a, "")).has_wantlist);
}

TEST_CASE("bitswap message: payload blocks, 1.0.0 blocks, presences and pendingBytes decode") {
  const std::string raw_data = "raw block", pb_data = "dag-pb block", old_data = "1.0.0 block";
  const std::string payload_raw =
      Field(0x1a, Field(0x0a, std::string("\x01\x55\x12\x20", 4)) + Field(0x12, raw_data));
  const std::string payload_v0 =
      Field(0x1a, Field(0x0a, std::string("\x00\x70\x12\x20", 4)) + Field(0x12, pb_data));
  const Cid have = RawCid("have"), dont = V0Cid("dont");
  const std::string presences = Field(0x22, Field(0x0a, have.bytes())) +
                                Field(0x22, Field(0x0a, dont.bytes()) + VarintField(0x10, 1));
  const Message message = Decode(payload_raw + payload_v0 + Field(0x12, old_data) + presences +
                                 VarintField(0x28, 123456));
  REQUIRE(message.blocks.size() == 3);
  CHECK(message.blocks[0].cid == RawCid(raw_data));
  CHECK(message.blocks[0].data == raw_data);
  CHECK(message.blocks[1].cid == V0Cid(pb_data));
  CHECK(message.blocks[2].cid == V0Cid(old_data));
  CHECK(message.blocks[2].data == old_data);
  REQUIRE(message.presences.size() == 2);
  CHECK(message.presences[0].cid == have);
  CHECK(message.presences[0].type == PresenceType::kHave);
  CHECK(message.presences[1].cid == dont);
  CHECK(message.presences[1].type == PresenceType::kDontHave);
  CHECK(message.pending_bytes == 123456);
  CHECK(message.unverifiable_blocks == 0);
}

TEST_CASE("bitswap message: a block with the wrong bytes has a CID nobody wanted") {
  const Cid wanted = RawCid("the block that was asked for");
  const std::string body = Field(0x1a, Field(0x0a, CidPrefix(wanted)) + Field(0x12, "other"));
  const Message message = Decode(body);
  REQUIRE(message.blocks.size() == 1);
  CHECK(message.blocks[0].cid != wanted);
  CHECK(message.blocks[0].cid == RawCid("other"));
  CHECK(message.blocks[0].cid.Verify(message.blocks[0].data).ok());
}

TEST_CASE("bitswap message: a block hashed with a function the node lacks is only counted") {
  // sha2-512 (0x13), 64-byte digest.
  const std::string body =
      Field(0x1a, Field(0x0a, std::string("\x01\x55\x13\x40", 4)) + Field(0x12, "data"));
  const Message message = Decode(body);
  CHECK(message.blocks.empty());
  CHECK(message.unverifiable_blocks == 1);
}

TEST_CASE("bitswap message: unknown fields are skipped at every level") {
  const Cid cid = RawCid("x");
  // Field 9 as varint (0x48), field 10 as bytes (0x52), field 11 fixed64 (0x59), 12 fixed32 (0x65).
  const std::string unknown = VarintField(0x48, 300) + Field(0x52, "skip me") +
                              std::string("\x59", 1) + std::string(8, '\x01') +
                              std::string("\x65", 1) + std::string(4, '\x02');
  std::string wantlist = Field(0x0a, Entry(cid, unknown + VarintField(0x10, 4))) + unknown;
  const std::string presence = Field(0x22, unknown + Field(0x0a, cid.bytes()));
  const Message message = Decode(unknown + Field(0x0a, wantlist) + presence + unknown);
  REQUIRE(message.wants.size() == 1);
  CHECK(message.wants[0].priority == 4);
  REQUIRE(message.presences.size() == 1);
  CHECK(message.presences[0].cid == cid);
}

TEST_CASE("bitswap message: malformed input is an error saying what and where") {
  const Cid cid = RawCid("x");
  // Truncated: the wantlist claims 50 bytes.
  CHECK(DecodeError("\x0a\x32\x0a").find("bitswap") != std::string::npos);
  // Wrong wire type: pendingBytes (field 5) as bytes, at byte 0.
  std::string error = DecodeError(Field(0x2a, "xx"));
  CHECK(error.find("pendingBytes") != std::string::npos);
  CHECK(error.find("byte 0") != std::string::npos);
  // A wantlist entry's CID that is not a CID, at a byte offset inside the message.
  error = DecodeError(WantlistMessage({Field(0x0a, "not a cid")}, false));
  CHECK(error.find("CID") != std::string::npos);
  CHECK(error.find("byte 6") != std::string::npos);
  // An entry without a CID; a presence without a CID.
  CHECK(DecodeError(WantlistMessage({VarintField(0x10, 1)}, false)).find("no block CID") !=
        std::string::npos);
  CHECK(DecodeError(Field(0x22, VarintField(0x10, 1))).find("no CID") != std::string::npos);
  // A payload whose prefix is malformed.
  CHECK(DecodeError(Field(0x1a, Field(0x0a, "\x01") + Field(0x12, "d"))).find("prefix") !=
        std::string::npos);
  // A valid field followed by a truncated key.
  CHECK(DecodeError(Field(0x0a, "") + "\xff").find("bitswap") != std::string::npos);
}

TEST_CASE("bitswap message: the 1.2.0 encoding is the protobuf the spec defines") {
  const Cid a = RawCid("a"), b = V0Cid("b"), p = RawCid("p");
  Encoder encoder(Version::k120);
  CHECK(encoder.empty());
  CHECK(encoder.AddWant({a, 7, false, WantType::kHave, true}));
  CHECK(encoder.AddWant({b, -1, true, WantType::kBlock, false}));
  encoder.SetFull(true);
  CHECK(encoder.AddBlock(RawCid("data"), "data"));
  CHECK(encoder.AddPresence(p, PresenceType::kDontHave));
  CHECK(encoder.AddPresence(b, PresenceType::kHave));
  encoder.SetPendingBytes(42);
  const size_t size = encoder.size();
  std::string out;
  encoder.Finish(&out);
  CHECK(encoder.empty());

  const std::string expected =
      WantlistMessage({Entry(a, VarintField(0x10, 7) + VarintField(0x20, 1) + VarintField(0x28, 1)),
                       Entry(b, VarintField(0x10, UINT64_MAX) + VarintField(0x18, 1))},
                      true) +
      Field(0x1a, Field(0x0a, std::string("\x01\x55\x12\x20", 4)) + Field(0x12, "data")) +
      Field(0x22, Field(0x0a, p.bytes()) + VarintField(0x10, 1)) +
      Field(0x22, Field(0x0a, b.bytes())) + VarintField(0x28, 42);
  CHECK(out == Framed(expected));
  CHECK(size == expected.size());
}

TEST_CASE("bitswap message: 1.1.0 carries no want-have, DONT_HAVE flag or presence") {
  const Cid a = RawCid("a");
  Encoder encoder(Version::k110);
  CHECK_FALSE(encoder.AddWant({a, 1, false, WantType::kHave, true}));
  CHECK(encoder.AddWant({a, 2, false, WantType::kBlock, true}));
  CHECK_FALSE(encoder.AddPresence(a, PresenceType::kHave));
  CHECK(encoder.AddBlock(RawCid("data"), "data"));
  std::string out;
  encoder.Finish(&out);
  const std::string body = Unframe(out);
  CHECK(body ==
        WantlistMessage({Entry(a, VarintField(0x10, 2))}, false) +
            Field(0x1a, Field(0x0a, std::string("\x01\x55\x12\x20", 4)) + Field(0x12, "data")));
  const Message message = Decode(body);
  REQUIRE(message.wants.size() == 1);
  CHECK_FALSE(message.wants[0].send_dont_have);
}

TEST_CASE("bitswap message: 1.0.0 sends CIDv0 blocks as bare bytes and nothing else") {
  Encoder encoder(Version::k100);
  CHECK_FALSE(encoder.AddBlock(RawCid("v1"), "v1"));
  CHECK(encoder.AddBlock(V0Cid("v0"), "v0"));
  CHECK_FALSE(encoder.AddPresence(V0Cid("v0"), PresenceType::kHave));
  CHECK_FALSE(encoder.AddWant({V0Cid("w"), 1, false, WantType::kHave, false}));
  std::string out;
  encoder.Finish(&out);
  CHECK(out == Framed(Field(0x12, "v0")));
  const Message message = Decode(Unframe(out));
  REQUIRE(message.blocks.size() == 1);
  CHECK(message.blocks[0].cid == V0Cid("v0"));
  CHECK_FALSE(message.has_wantlist);
}

TEST_CASE("bitswap message: CID prefixes of CIDv0, CIDv1 raw and CIDv1 dag-pb") {
  const Multihash hash = Multihash::Sum(kSha2_256, "block");
  const Cid v0 = Cid::V0(hash), raw = Cid::V1(kRaw, hash), pb = Cid::V1(kDagPb, hash);
  CHECK(CidPrefix(v0) == std::string("\x00\x70\x12\x20", 4));
  CHECK(CidPrefix(raw) == std::string("\x01\x55\x12\x20", 4));
  CHECK(CidPrefix(pb) == std::string("\x01\x70\x12\x20", 4));
  for (const Cid& cid : {v0, raw, pb}) {
    Cid rebuilt;
    REQUIRE(CidFromPrefix(CidPrefix(cid), "block", &rebuilt).ok());
    CHECK(rebuilt == cid);
    REQUIRE(CidFromPrefix(CidPrefix(cid), "another block", &rebuilt).ok());
    CHECK(rebuilt != cid);
  }
}

TEST_CASE("bitswap message: bad CID prefixes are refused, unknown hashes are NotSupported") {
  Cid out;
  const auto refused = [&](const std::string& prefix) {
    const Status status = CidFromPrefix(prefix, "x", &out);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    return status.message();
  };
  CHECK(refused(std::string("\x01\x55\x12\x20\x00", 5)).find("trailing") != std::string::npos);
  CHECK(refused(std::string("\x02\x55\x12\x20", 4)).find("version 2") != std::string::npos);
  CHECK(refused(std::string("\x00\x55\x12\x20", 4)).find("CIDv0") != std::string::npos);
  CHECK(refused(std::string("\x01\x55\x12\x14", 4)).find("20 bytes") != std::string::npos);
  CHECK(refused(std::string("\x01\x55", 2)).find("malformed") != std::string::npos);
  // An unknown codec, 0x99 0x01 (153).
  CHECK(refused(std::string("\x01\x99\x01\x12\x20", 5)).find("codec 0x99") != std::string::npos);
  // sha2-512 is 0x13: the message names it in hex.
  const Status unsupported = CidFromPrefix(std::string("\x01\x55\x13\x40", 4), "x", &out);
  CHECK(unsupported.IsNotSupported());
  CHECK(unsupported.message().find("0x13") != std::string::npos);
}

TEST_CASE("bitswap framing: several messages, byte-by-byte input and an empty message") {
  const std::string one = WantlistMessage({Entry(RawCid("1"), "")}, false);
  const std::string two = Field(0x12, "block");
  const std::string stream = Framed(one) + Framed("") + Framed(two);
  std::vector<std::string> bodies;
  const auto collect = [&](std::string_view body) {
    bodies.emplace_back(body);
    return Status::OK();
  };
  FrameReader whole;
  REQUIRE(whole.Feed(stream, collect).ok());
  CHECK(bodies == std::vector<std::string>{one, "", two});

  bodies.clear();
  FrameReader bytewise;
  for (const char c : stream) REQUIRE(bytewise.Feed(std::string_view(&c, 1), collect).ok());
  CHECK(bodies == std::vector<std::string>{one, "", two});
  CHECK(bytewise.buffered() == 0);

  // A callback's error stops the feed and is returned.
  FrameReader stopping;
  int calls = 0;
  const Status status = stopping.Feed(stream, [&](std::string_view) {
    ++calls;
    return Status::InvalidArgument("stop");
  });
  CHECK(status.message() == "stop");
  CHECK(calls == 1);
}

TEST_CASE("bitswap framing: 4 MiB is the cap; more, or a bad length, is an error") {
  const std::string body(kMaxMessageBytes, 'x');
  size_t got = 0;
  FrameReader reader;
  REQUIRE(reader
              .Feed(Framed(body),
                    [&](std::string_view message) {
                      got = message.size();
                      return Status::OK();
                    })
              .ok());
  CHECK(got == kMaxMessageBytes);

  const auto ignore = [](std::string_view) { return Status::OK(); };
  FrameReader over;
  const Status too_big = over.Feed(Uvarint(kMaxMessageBytes + 1), ignore);
  CHECK(too_big.code() == Status::Code::kInvalidArgument);
  CHECK(too_big.message().find("4 MiB") != std::string::npos);
  // Refused from the length alone: nothing of the body is buffered.
  CHECK(over.buffered() <= 4);

  FrameReader bad;
  CHECK_FALSE(bad.Feed(std::string(10, '\x80'), ignore).ok());
  // A length still arriving is buffered, not an error.
  FrameReader partial;
  CHECK(partial.Feed("\x80\x80", ignore).ok());
  CHECK(partial.buffered() == 2);
}

TEST_CASE("bitswap message: what the encoder writes decodes to the same message") {
  Encoder encoder(Version::k120);
  std::vector<WantEntry> wants;
  for (int i = 0; i < 50; ++i) {
    wants.push_back({RawCid(std::to_string(i)), i - 25, i % 7 == 0,
                     i % 2 == 0 ? WantType::kHave : WantType::kBlock, i % 3 == 0});
    REQUIRE(encoder.AddWant(wants.back()));
  }
  REQUIRE(encoder.AddBlock(V0Cid("v0 block"), "v0 block"));
  encoder.SetPendingBytes(-5);
  std::string out;
  encoder.Finish(&out);
  const Message message = Decode(Unframe(out));
  CHECK(message.pending_bytes == -5);
  CHECK_FALSE(message.full);
  REQUIRE(message.wants.size() == wants.size());
  for (size_t i = 0; i < wants.size(); ++i) {
    CHECK(message.wants[i].cid == wants[i].cid);
    CHECK(message.wants[i].priority == wants[i].priority);
    CHECK(message.wants[i].cancel == wants[i].cancel);
    CHECK(message.wants[i].type == wants[i].type);
    CHECK(message.wants[i].send_dont_have == wants[i].send_dont_have);
  }
  REQUIRE(message.blocks.size() == 1);
  CHECK(message.blocks[0].cid == V0Cid("v0 block"));
}

}  // namespace
