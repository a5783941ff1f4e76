#include "format/dagcbor.h"

#include <doctest/doctest.h>

#include <string>

#include "format/links.h"
#include "format_test_util.h"

namespace {

using boxcar::Status;
using namespace boxcar::format;
using boxcar::format::testing::CarBlock;
using boxcar::format::testing::CarContents;
using boxcar::format::testing::ParseCid;
using boxcar::format::testing::ReadCar;
using boxcar::format::testing::ReadFixture;
using boxcar::format::testing::Unhex;

constexpr const char* kRawHello = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
constexpr const char* kMultiblock = "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa";
constexpr const char* kDocument = "bafyreidy4q6mmetut5jzc54ambsfnatbyoujmwbfzyyolqw24majazwgha";

std::string Text(const std::string& s) {
  return std::string(1, static_cast<char>(0x60 + s.size())) + s;
}

std::string Link(const Cid& cid) {
  // tag 42, byte string of 0x00 + CID (short CIDs only: length < 24)
  return Unhex("d82a") + std::string(1, static_cast<char>(0x40 + cid.bytes().size() + 1)) +
         std::string(1, '\0') + cid.bytes();
}

std::vector<Cid> Links(std::string_view block) {
  std::vector<Cid> links;
  Status status = ExtractCborLinks(block, &links);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return links;
}

TEST_CASE("dag-cbor: the fixture document's links, in document order") {
  const CarContents car = ReadCar(ReadFixture("dir-with-dag-cbor-with-links.car"));
  const CarBlock* document = nullptr;
  for (const auto& block : car.blocks) {
    if (block.cid.ToString() == kDocument) document = &block;
  }
  REQUIRE(document != nullptr);
  const std::vector<Cid> links = Links(document->data);
  REQUIRE(links.size() == 2);
  CHECK(links[0].ToString() == kRawHello);
  CHECK(links[1].ToString() == kMultiblock);
  std::vector<Cid> by_codec;
  REQUIRE(BlockLinks(document->cid, document->data, &by_codec).ok());
  CHECK(by_codec == links);
}

TEST_CASE("dag-cbor: links anywhere in nested maps and arrays") {
  const Cid a = ParseCid("bafkqaaa");
  const Cid b = ParseCid("bafkqablimvwgy3y");  // identity "hello"
  // {"a": link a, "b": [1, link b, [link a]], "c": {"d": -1, "e": 1.5 (f16), "f": null,
  //  "g": true, "h": h'00', "i": 1.0 (f64), "j": "x"}}
  const std::string doc = Unhex("a3") + Text("a") + Link(a) + Text("b") + Unhex("8301") + Link(b) +
                          Unhex("81") + Link(a) + Text("c") + Unhex("a7") + Text("d") +
                          Unhex("20") + Text("e") + Unhex("f93e00") + Text("f") + Unhex("f6") +
                          Text("g") + Unhex("f5") + Text("h") + Unhex("4100") + Text("i") +
                          Unhex("fb3ff0000000000000") + Text("j") + Text("x");
  const std::vector<Cid> links = Links(doc);
  REQUIRE(links.size() == 3);
  CHECK(links[0] == a);
  CHECK(links[1] == b);
  CHECK(links[2] == a);
  CHECK(Links(Unhex("80")).empty());
  CHECK(Links(Unhex("a0")).empty());
}

TEST_CASE("dag-cbor: nesting up to the limit is fine, beyond it is refused") {
  const std::string ok = std::string(kMaxCborDepth, '\x81') + '\0';
  CHECK(Links(ok).empty());
  const std::string deep = std::string(kMaxCborDepth + 1, '\x81') + '\0';
  std::vector<Cid> links;
  Status status = ExtractCborLinks(deep, &links);
  CHECK(status.message() == "dag-cbor: nesting deeper than 256 at byte 256");
}

TEST_CASE("dag-cbor: malformed input gives the problem and the offset") {
  const std::pair<std::string, std::string> cases[] = {
      {"", "dag-cbor: unexpected end of data at byte 0"},
      {"9f", "dag-cbor: indefinite length (dag-cbor forbids it) for an array at byte 0"},
      {"5f", "dag-cbor: indefinite length (dag-cbor forbids it) for a byte string at byte 0"},
      {"c100", "dag-cbor: tag 1 (dag-cbor allows only 42) at byte 0"},
      {"a10102", "dag-cbor: map key must be a text string, found an unsigned integer at byte 1"},
      {"0102", "dag-cbor: 1 bytes after the top-level item at byte 1"},
      {"f7", "dag-cbor: simple value 23 (dag-cbor allows false, true, null and floats) at byte 0"},
      {"f820",
       "dag-cbor: simple value 32 (dag-cbor allows false, true, null and floats) at byte 0"},
      {"ff", "dag-cbor: unexpected break (0xff) at byte 0"},
      {"1c", "dag-cbor: reserved additional information 28 at byte 0"},
      {"1901", "dag-cbor: truncated item head at byte 0"},
      {"9bffffffffffffffff",
       "dag-cbor: array of 18446744073709551615 entries runs past the end (0 bytes left) at byte "
       "0"},
      {"a2616100", "dag-cbor: map of 2 entries runs past the end (3 bytes left) at byte 0"},
      {"8201", "dag-cbor: array of 2 entries runs past the end (1 bytes left) at byte 0"},
      {"821901", "dag-cbor: truncated item head at byte 1"},
      {"a16161", "dag-cbor: unexpected end of data at byte 3"},
      {"5a0000001000", "dag-cbor: length 16 runs past the end (1 bytes left) at byte 0"},
      {"d82a4101", "dag-cbor: tag 42 bytes must start with 0x00 at byte 0"},
      {"d82a01",
       "dag-cbor: tag 42 content must be a byte string, found an unsigned integer at byte 2"},
      {"d82a420001",
       "dag-cbor: tag 42 is not a CID (CID codec at byte 1: truncated varint) at byte 0"},
      {"81d82a40", "dag-cbor: tag 42 bytes must start with 0x00 at byte 1"},
  };
  for (const auto& entry : cases) {
    const auto& hex = entry.first;
    const auto& message = entry.second;
    INFO("cbor ", hex);
    std::vector<Cid> links;
    Status status = ExtractCborLinks(Unhex(hex), &links);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    CHECK(status.message() == message);
  }
}

TEST_CASE("dag-json: links are {\"/\": \"<cid>\"} objects, in document order") {
  const std::string doc = R"({"a": {"/": "bafkqaaa"}, "b": [1, {"/": ")" + std::string(kRawHello) +
                          R"("}], "bytes": {"/": {"bytes": "aGk"}}, "not": {"/": "x", "y": 1},
                              "v0": {"/": "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"}})";
  const Cid cid = Cid::V1(kDagJson, Multihash::Sum(kSha2_256, doc));
  std::vector<Cid> links;
  Status status = BlockLinks(cid, doc, &links);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  REQUIRE(links.size() == 3);
  CHECK(links[0] == ParseCid("bafkqaaa"));
  CHECK(links[1] == ParseCid(kRawHello));
  CHECK(links[2].version() == 0);

  status = BlockLinks(cid, R"({"a": {"/": "nope"}})", &links);
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK(status.message() ==
        "block " + cid.ToString() +
            ": dag-json: link {\"/\": ...}: invalid CID \"nope\": unsupported multibase prefix 'n' "
            "at position 0 (supported: 'b'/'B' base32, 'z' base58btc, 'k'/'K' base36, 'f'/'F' "
            "base16, 'u' base64url)");
  status = BlockLinks(cid, R"({"a": )", &links);
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK(status.message().find("dag-json: ") != std::string::npos);
  CHECK(!BlockLinks(cid, std::string(300, '[') + std::string(300, ']'), &links).ok());
}

TEST_CASE("links: by codec") {
  std::vector<Cid> links{ParseCid("bafkqaaa")};
  const Cid raw = Cid::V1(kRaw, Multihash::Sum(kSha2_256, "x"));
  REQUIRE(BlockLinks(raw, "x", &links).ok());
  CHECK(links.empty());
  const Cid key = Cid::V1(kLibp2pKey, Multihash::Sum(kIdentity, "key"));
  REQUIRE(BlockLinks(key, "key", &links).ok());
  CHECK(links.empty());

  const Cid json = Cid::V1(0x0200, Multihash::Sum(kSha2_256, "{}"));
  Status status = BlockLinks(json, "{}", &links);
  CHECK(status.code() == Status::Code::kNotSupported);
  CHECK(status.message() ==
        "block " + json.ToString() + ": links of codec 0x200 are not understood");

  const Cid pb = Cid::V1(kDagPb, Multihash::Sum(kSha2_256, "\x0b"));
  status = BlockLinks(pb, "\x0b", &links);
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK(status.message() ==
        "block " + pb.ToString() + ": dag-pb: unsupported wire type 3 for field 1 at byte 0");
}

}  // namespace
