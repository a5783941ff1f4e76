#include "format/dagpb.h"

#include <doctest/doctest.h>

#include <numeric>
#include <string>

#include "format/unixfs.h"
#include "format_test_util.h"

namespace {

using namespace std::string_literals;
using boxcar::Status;
using namespace boxcar::format;
using boxcar::format::testing::CarBlock;
using boxcar::format::testing::CarContents;
using boxcar::format::testing::FixtureTable;
using boxcar::format::testing::ParseCid;
using boxcar::format::testing::ReadCar;
using boxcar::format::testing::ReadFixture;
using boxcar::format::testing::Unhex;

const CarBlock* Find(const CarContents& car, const std::string& cid) {
  for (const auto& block : car.blocks) {
    if (block.cid.ToString() == cid) return &block;
  }
  return nullptr;
}

PbNode Decode(std::string_view block) {
  PbNode node;
  Status status = DecodePbNode(block, &node);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return node;
}

UnixfsData DecodeData(const PbNode& node) {
  REQUIRE(node.data.has_value());
  UnixfsData data;
  Status status = DecodeUnixfs(*node.data, &data);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return data;
}

TEST_CASE("dag-pb: every fixture block decodes, re-encodes identically and has UnixFS data") {
  size_t nodes = 0;
  for (const auto& row : FixtureTable()) {
    INFO("fixture ", row.file);
    const CarContents car = ReadCar(ReadFixture(row.file));
    for (const auto& block : car.blocks) {
      if (block.cid.codec() != kDagPb) continue;
      INFO("block ", block.cid.ToString());
      const PbNode node = Decode(block.data);
      CHECK(EncodePbNode(node) == block.data);
      DecodeData(node);
      std::vector<Cid> links;
      REQUIRE(DecodePbLinks(block.data, &links).ok());
      REQUIRE(links.size() == node.links.size());
      for (size_t i = 0; i < links.size(); ++i) CHECK(links[i] == node.links[i].cid);
      ++nodes;
    }
  }
  CHECK(nodes > 100);
}

TEST_CASE("dag-pb: a UnixFS directory") {
  const CarContents car = ReadCar(ReadFixture("dag-pb.car"));
  const PbNode root = Decode(car.blocks.at(0).data);
  REQUIRE(root.links.size() == 2);
  CHECK(root.links[0].cid.ToString() ==
        "bafybeidryarwh34ygbtyypbu7qjkl4euiwxby6cql6uvosonohkq2kwnkm");
  CHECK(root.links[0].name == "foo");
  CHECK(root.links[1].name == "foo.txt");
  CHECK(root.links[1].cid.codec() == kRaw);
  CHECK(root.links[1].tsize == 13);  // the raw block foo.txt is 13 bytes
  CHECK(DecodeData(root).type == UnixfsType::kDirectory);
}

TEST_CASE("dag-pb: a chunked UnixFS file") {
  const CarContents car = ReadCar(ReadFixture("subdir-with-mixed-block-files.car"));
  const CarBlock* file = Find(car, "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa");
  REQUIRE(file != nullptr);
  const PbNode node = Decode(file->data);
  const UnixfsData data = DecodeData(node);
  CHECK(data.type == UnixfsType::kFile);
  REQUIRE(data.filesize.has_value());
  CHECK(data.blocksizes.size() == node.links.size());
  CHECK(std::accumulate(data.blocksizes.begin(), data.blocksizes.end(), uint64_t{0}) ==
        *data.filesize);
  for (size_t i = 0; i < node.links.size(); ++i) {
    const CarBlock* leaf = Find(car, node.links[i].cid.ToString());
    REQUIRE(leaf != nullptr);
    CHECK(leaf->data.size() == data.blocksizes[i]);
  }
}

TEST_CASE("dag-pb: HAMT shard fields") {
  const CarContents car = ReadCar(ReadFixture("single-layer-hamt-with-multi-block-files.car"));
  const PbNode root = Decode(car.blocks.at(0).data);
  const UnixfsData data = DecodeData(root);
  CHECK(data.type == UnixfsType::kHamtShard);
  CHECK(data.fanout == 256);
  CHECK(data.hash_type == 0x22);   // murmur3-x64-64
  REQUIRE(data.data.has_value());  // the bitfield of occupied buckets
  CHECK(data.data->size() == 32);
  // Sub-shards are named by their two-hex-digit bucket alone, entries by bucket + name.
  size_t shards = 0;
  for (const PbLink& link : root.links) {
    REQUIRE(link.name.has_value());
    if (link.name->size() == 2) {
      ++shards;
      const PbNode child = Decode(Find(car, link.cid.ToString())->data);
      CHECK(DecodeData(child).type == UnixfsType::kHamtShard);
    }
  }
  CHECK(shards > 0);
}

TEST_CASE("dag-pb: both PBNode field orders decode to the same node (IPIP-550 vectors)") {
  const std::string links_first = Unhex(
      "12330a24015512205891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be0312096865"
      "6c6c6f2e74787418060a020801");
  const std::string data_first = Unhex(
      "0a02080112330a24015512205891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
      "120968656c6c6f2e7478741806");
  const PbNode a = Decode(links_first);
  const PbNode b = Decode(data_first);
  CHECK(a == b);
  REQUIRE(a.links.size() == 1);
  CHECK(a.links[0].name == "hello.txt");
  CHECK(a.links[0].tsize == 6);
  CHECK(EncodePbNode(b) == links_first);
}

TEST_CASE("dag-pb: the zero-length block is an empty node") {
  const PbNode node = Decode("");
  CHECK(node.links.empty());
  CHECK(!node.data.has_value());
}

TEST_CASE("dag-pb: strictness errors give the offset") {
  const std::string cid = ParseCid("bafkqaaa").bytes();  // 01 55 00 00
  const std::string hash_field = "\x0a\x04"s + cid;      // PBLink Hash
  const std::pair<std::string, std::string> cases[] = {
      {"\x0a\x01"s, "dag-pb: length 1 runs past the end (0 bytes left) at byte 1"},
      {"\x1a\x00"s, "dag-pb: unknown PBNode field 3 (only Links 2 and Data 1 exist) at byte 0"},
      {"\x08\x00"s,
       "dag-pb: wrong wire type 0 for PBNode field 1 (must be 2, length-delimited) at "
       "byte 0"},
      {"\x0a\x00\x0a\x00"s, "dag-pb: duplicate PBNode Data at byte 2"},
      {"\x12\x06"s + hash_field + "\x0a\x00\x12\x06"s + hash_field,
       "dag-pb: PBNode Links on both sides of Data at byte 10"},
      {"\x12\x02\x12\x00"s, "dag-pb: link 0: missing Hash at byte 2"},
      {"\x12\x08\x12\x00"s + hash_field,
       "dag-pb: link 0: PBLink field 1 after field 2 (fields must be in order Hash, Name, Tsize) "
       "at byte 4"},
      {"\x12\x0c"s + hash_field + hash_field, "dag-pb: link 0: duplicate PBLink field 1 at byte 8"},
      {"\x12\x08"s + hash_field + "\x18\x80"s, "dag-pb: truncated varint at byte 9"},
      {"\x12\x08"s + hash_field + "\x1a\x00"s,
       "dag-pb: link 0: wrong wire type 2 for PBLink field 3 at byte 8"},
      {"\x12\x08"s + hash_field + "\x22\x00"s, "dag-pb: link 0: unknown PBLink field 4 at byte 8"},
      {"\x12\x04\x0a\x02\x01\x55"s,
       "dag-pb: link 0: Hash is not a CID (CID multihash at byte 2: multihash code: truncated "
       "varint) at byte 4"},
      {"\x0b"s, "dag-pb: unsupported wire type 3 for field 1 at byte 0"},
      {"\x02\x00"s, "dag-pb: field number 0 at byte 0"},
      {"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"s,
       "dag-pb: varint overflows 64 bits at byte 1"},
  };
  for (const auto& entry : cases) {
    const auto& block = entry.first;
    const auto& message = entry.second;
    INFO("block ", HexEncode(block));
    PbNode node;
    Status status = DecodePbNode(block, &node);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    CHECK(status.message() == message);
    std::vector<Cid> links;
    CHECK(DecodePbLinks(block, &links).message() == message);
  }
}

TEST_CASE("unixfs: decoding and errors") {
  UnixfsData data;
  // Type file, Data "hi", filesize 2, blocksizes packed [1, 1], mode 0644, mtime {Seconds: 5}.
  REQUIRE(DecodeUnixfs(Unhex("08021202686918022202010138a4034202080a"), &data).ok());
  CHECK(data.type == UnixfsType::kFile);
  CHECK(data.data == "hi");
  CHECK(data.filesize == 2);
  CHECK(data.blocksizes == std::vector<uint64_t>{1, 1});
  CHECK(data.mode == 0644);
  // Unpacked blocksizes and an unknown field are fine.
  REQUIRE(DecodeUnixfs(Unhex("08022001200250ff01"), &data).ok());
  CHECK(data.blocksizes == std::vector<uint64_t>{1, 2});

  const std::pair<std::string, std::string> cases[] = {
      {"", "unixfs: missing required field Type at byte 0"},
      {"1202", "unixfs: length 2 runs past the end (0 bytes left) at byte 1"},
      {"0806", "unixfs: unknown Type 6 (0 raw to 5 hamt-shard) at byte 0"},
      {"0a00", "unixfs: wrong wire type 2 for field 1 at byte 0"},
      {"080238ffffffff1f", "unixfs: mode 8589934591 exceeds 32 bits at byte 2"},
      {"08024202100a", "unixfs: mtime: wrong wire type 0 for field 2 at byte 4"},
      {"0802420215000000", "unixfs: mtime: truncated fixed-width field at byte 5"},
      {"08024200", "unixfs: mtime: missing Seconds at byte 4"},
      {"08022502", "unixfs: wrong wire type 5 for field 4 at byte 2"},
  };
  for (const auto& entry : cases) {
    const auto& hex = entry.first;
    const auto& message = entry.second;
    INFO("data ", hex);
    Status status = DecodeUnixfs(Unhex(hex), &data);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    CHECK(status.message() == message);
  }
}

}  // namespace
