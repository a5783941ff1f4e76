#include "format/car.h"

#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "format/varint.h"
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

std::string WriteCar(const CarContents& car) {
  std::ostringstream out;
  CarWriter writer(out);
  REQUIRE(writer.WriteHeader(car.header.roots).ok());
  for (const auto& block : car.blocks) REQUIRE(writer.WriteBlock(block.cid, block.data).ok());
  REQUIRE(writer.Finish().ok());
  CHECK(writer.bytes_written() == out.str().size());
  return out.str();
}

// Reads `bytes` to the end or the first error; returns that status.
Status ReadAll(const std::string& bytes, size_t* blocks = nullptr, CarReaderOptions options = {}) {
  std::istringstream in(bytes);
  CarReader reader(in, options);
  CarHeader header;
  Status status = reader.ReadHeader(&header);
  if (!status.ok()) return status;
  for (;;) {
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    status = reader.NextSection(&cid, &size, &end);
    if (!status.ok() || end) break;
    std::string body;
    status = reader.ReadBody(&body);
    if (!status.ok()) break;
    if (blocks != nullptr) ++*blocks;
  }
  return status;
}

// A CARv2 around `v1`: pragma, header, `padding` zero bytes, the payload, then `trailer`
// (where an index would be).
std::string WrapV2(const std::string& v1, size_t padding, const std::string& trailer) {
  std::string out = Unhex("0aa16776657273696f6e02");
  std::string header(40, '\0');
  const uint64_t data_offset = 11 + 40 + padding;
  const uint64_t fields[] = {data_offset, v1.size(), trailer.empty() ? 0 : data_offset + v1.size()};
  for (size_t f = 0; f < 3; ++f) {
    for (size_t i = 0; i < 8; ++i) header[16 + 8 * f + i] = static_cast<char>(fields[f] >> (8 * i));
  }
  return out + header + std::string(padding, '\0') + v1 + trailer;
}

TEST_CASE("car: every fixture matches the README table and every block verifies") {
  const auto table = FixtureTable();
  CHECK(table.size() == 8);
  for (const auto& row : table) {
    INFO("fixture ", row.file);
    const CarContents car = ReadCar(ReadFixture(row.file));  // verifies each block
    CHECK(car.header.version == 1);
    REQUIRE(car.header.roots.size() == 1);
    CHECK(car.header.roots[0].ToString() == row.root);
    CHECK(car.blocks.size() == row.blocks);
    CHECK(car.blocks.at(0).cid == car.header.roots[0]);
  }
}

TEST_CASE("car: writing a fixture back gives the identical bytes") {
  for (const auto& row : FixtureTable()) {
    INFO("fixture ", row.file);
    const std::string bytes = ReadFixture(row.file);
    CHECK(WriteCar(ReadCar(bytes)) == bytes);
  }
}

TEST_CASE("car: chunked reading gives the same bodies as whole reading") {
  const std::string bytes = ReadFixture("single-layer-hamt-with-multi-block-files.car");
  const CarContents whole = ReadCar(bytes);
  for (size_t chunk : {1u, 7u, 4096u}) {
    INFO("chunk ", chunk);
    std::istringstream in(bytes);
    CarReader reader(in);
    CarHeader header;
    REQUIRE(reader.ReadHeader(&header).ok());
    std::string buf(chunk, '\0');
    for (const auto& expected : whole.blocks) {
      Cid cid;
      uint64_t size = 0;
      bool end = true;
      REQUIRE(reader.NextSection(&cid, &size, &end).ok());
      REQUIRE(!end);
      CHECK(cid == expected.cid);
      std::string body;
      for (;;) {
        size_t got = 0;
        Status status = reader.ReadBodyChunk(buf.data(), buf.size(), &got);
        REQUIRE_MESSAGE(status.ok(), status.ToString());
        if (got == 0) break;
        body.append(buf.data(), got);
      }
      CHECK(body == expected.data);
    }
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    REQUIRE(reader.NextSection(&cid, &size, &end).ok());
    CHECK(end);
  }
}

TEST_CASE("car: sections can be skipped without reading their bodies") {
  const std::string bytes = ReadFixture("subdir-with-mixed-block-files.car");
  const CarContents whole = ReadCar(bytes);
  std::istringstream in(bytes);
  CarReader reader(in);
  CarHeader header;
  REQUIRE(reader.ReadHeader(&header).ok());
  size_t index = 0;
  for (;; ++index) {
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    REQUIRE(reader.NextSection(&cid, &size, &end).ok());
    if (end) break;
    CHECK(cid == whole.blocks[index].cid);
    if (index == 3) {  // read a part of one body, then move on
      char buf[5];
      size_t got = 0;
      REQUIRE(reader.ReadBodyChunk(buf, sizeof(buf), &got).ok());
      CHECK(got == std::min<size_t>(5, size));
    }
  }
  CHECK(index == whole.blocks.size());
  CHECK(reader.offset() == bytes.size());
}

TEST_CASE("car: a truncated file gives a clean error at every offset, never a crash") {
  for (const auto& row : FixtureTable()) {
    INFO("fixture ", row.file);
    const std::string bytes = ReadFixture(row.file);
    const CarContents whole = ReadCar(bytes);
    // Section boundaries: a cut there is a shorter, valid CAR.
    std::vector<size_t> boundaries;
    size_t pos = EncodeCarV1Header(whole.header.roots).size();
    boundaries.push_back(pos);
    for (const auto& block : whole.blocks) {
      pos += UvarintSize(block.cid.bytes().size() + block.data.size()) + block.cid.bytes().size() +
             block.data.size();
      boundaries.push_back(pos);
    }
    // The big HAMT fixture is sampled, the others cut at every byte.
    const size_t step = bytes.size() > 10000 ? 97 : 1;
    for (size_t cut = 0; cut < bytes.size(); cut += step) {
      size_t blocks = 0;
      Status status = ReadAll(bytes.substr(0, cut), &blocks);
      const auto boundary = std::find(boundaries.begin(), boundaries.end(), cut);
      if (boundary != boundaries.end()) {
        CHECK_MESSAGE(status.ok(), "cut at ", cut, ": ", status.ToString());
        CHECK(blocks == static_cast<size_t>(boundary - boundaries.begin()));
      } else {
        CHECK_MESSAGE(status.code() == Status::Code::kInvalidArgument, "cut at ", cut);
        CHECK_MESSAGE(status.message().rfind("CAR ", 0) == 0, status.message());
      }
    }
  }
}

TEST_CASE("car: a flipped byte in a block is Corruption naming the CID, and reading goes on") {
  std::string bytes = ReadFixture("subdir-with-two-single-block-files.car");
  const CarContents whole = ReadCar(bytes);
  const CarBlock& last = whole.blocks.back();
  bytes[bytes.size() - 1] ^= 0x01;  // last byte of the last block
  {
    std::istringstream in(bytes);
    CarReader reader(in);
    CarHeader header;
    REQUIRE(reader.ReadHeader(&header).ok());
    Status status;
    std::string body;
    for (size_t i = 0; i < whole.blocks.size(); ++i) {
      Cid cid;
      uint64_t size = 0;
      bool end = false;
      REQUIRE(reader.NextSection(&cid, &size, &end).ok());
      status = reader.ReadBody(&body);
    }
    CHECK(status.code() == Status::Code::kCorruption);
    const size_t section_length = last.cid.bytes().size() + last.data.size();
    const std::string start =
        std::to_string(bytes.size() - section_length - UvarintSize(section_length));
    CHECK(status.message().rfind("CAR section 4 at byte " + start + ": block " +
                                     last.cid.ToString() + ": sha2-256 digest mismatch: expected " +
                                     HexEncode(last.cid.hash().digest()) + ", got ",
                                 0) == 0);
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    CHECK(reader.NextSection(&cid, &size, &end).ok());
    CHECK(end);
  }
  {
    // Chunked reading reports it with the last byte.
    std::istringstream in(bytes);
    CarReader reader(in);
    CarHeader header;
    REQUIRE(reader.ReadHeader(&header).ok());
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    for (size_t i = 0; i < whole.blocks.size(); ++i)
      REQUIRE(reader.NextSection(&cid, &size, &end).ok());
    std::string buf(size, '\0');
    size_t got = 0;
    Status status = reader.ReadBodyChunk(buf.data(), size - 1, &got);
    CHECK(status.ok());
    status = reader.ReadBodyChunk(buf.data(), size, &got);
    CHECK(got == 1);
    CHECK(status.code() == Status::Code::kCorruption);
    CHECK(status.message().find(last.cid.ToString()) != std::string::npos);
  }
  // Without verification the same file reads.
  CarReaderOptions options;
  options.verify = false;
  CHECK(ReadAll(bytes, nullptr, options).ok());
}

TEST_CASE("car: CARv2 reads the inner payload and stops at the data size") {
  const std::string v1 = ReadFixture("dag-pb.car");
  const CarContents expected = ReadCar(v1);
  for (size_t padding : {0u, 13u}) {
    const std::string v2 = WrapV2(v1, padding, "index bytes that are not sections");
    const CarContents got = ReadCar(v2.substr(0, v2.size() - 33));
    CHECK(got.header.version == 2);
    CHECK(got.header.roots == expected.header.roots);
    REQUIRE(got.blocks.size() == expected.blocks.size());
    for (size_t i = 0; i < got.blocks.size(); ++i)
      CHECK(got.blocks[i].cid == expected.blocks[i].cid);
    size_t blocks = 0;
    CHECK(ReadAll(v2, &blocks).ok());
    CHECK(blocks == expected.blocks.size());
  }
  // A payload cut short of the data size is an error, not a clean end.
  const std::string v2 = WrapV2(v1, 0, "");
  Status status = ReadAll(v2.substr(0, v2.size() - 10));
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK(ReadAll(v2.substr(0, 51 + EncodeCarV1Header(expected.header.roots).size())).message() ==
        "CAR section 1 at byte " +
            std::to_string(51 + EncodeCarV1Header(expected.header.roots).size()) +
            ": input ends at byte " +
            std::to_string(51 + EncodeCarV1Header(expected.header.roots).size()) +
            " before the CARv2 data size says (byte " + std::to_string(v2.size()) + ")");
  // A data offset inside the header.
  std::string bad = v2;
  bad[11 + 16] = 10;
  CHECK(ReadAll(bad).message() ==
        "CAR header at byte 0: CARv2 data offset 10 points into the header (must be at least 51)");
}

TEST_CASE("car: bad headers and sections say what and where") {
  const Cid root = ParseCid("bafkqaaa");
  const std::string header = EncodeCarV1Header({root});
  std::string version_only = Unhex("a1") +
                             "\x67"
                             "version"s +
                             "\x01"s;
  std::string three = Unhex("a2") + "\x65roots\x80"s + "\x67version\x03"s;
  const std::pair<std::string, std::string> cases[] = {
      {"", "CAR header at byte 0: empty input: no CAR header"},
      {"\x01\x01"s,
       "CAR header at byte 0: header map: the header must be a map, found an unsigned integer at "
       "byte 0"},
      {"\x00"s, "CAR header at byte 0: zero-length header"},
      {"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"s,
       "CAR header at byte 0: header length: varint longer than 9 bytes"},
      {"\x81\x80\x40"s,
       "CAR header at byte 0: header length 1048577 exceeds the limit of 1048576 "
       "bytes"},
      {"\x05\xa1"s, "CAR header at byte 0: truncated header: 5 bytes expected, 1 present"},
      {std::string(1, static_cast<char>(version_only.size())) + version_only,
       "CAR header at byte 0: missing \"roots\""},
      {std::string(1, static_cast<char>(three.size())) + three,
       "CAR header at byte 0: unsupported CAR version 3 (1 and 2 are supported)"},
      {"\x03\xa1\x61r"s, "CAR header at byte 0: header map: unexpected end of data at byte 3"},
      {header + "\x00"s,
       "CAR section 1 at byte " + std::to_string(header.size()) + ": zero-length section"},
      {header + "\x85"s, "CAR section 1 at byte " + std::to_string(header.size()) +
                             ": section length: truncated varint"},
      {header + "\x81\x00"s, "CAR section 1 at byte " + std::to_string(header.size()) +
                                 ": section length: non-minimal varint"},
      {header + "\xff\xff\xff\x7f"s,
       "CAR section 1 at byte " + std::to_string(header.size()) +
           ": section length 268435455 exceeds the limit of 8392704 bytes"},
      {header + "\x05\x01\x55\x00\x09x"s,
       "CAR section 1 at byte " + std::to_string(header.size()) +
           ": CID digest length 9 runs past the section length 5"},
      {header + "\x05\x02\x55\x00\x00x"s, "CAR section 1 at byte " + std::to_string(header.size()) +
                                              ": unsupported CID version 2 (only 0 and 1 exist)"},
      {header + "\x05\x01\x99\x01\x00\x00"s,
       "CAR section 1 at byte " + std::to_string(header.size()) +
           ": unknown codec 0x99 (boxcar accepts raw 0x55, dag-pb 0x70, dag-cbor 0x71, dag-json "
           "0x0129, libp2p-key 0x72)"},
      {header + "\x06\x01\x55\x00\x01"s, "CAR section 1 at byte " + std::to_string(header.size()) +
                                             ": truncated file inside the CID"},
      {header + "\x06\x01\x55\x00\x01x"s, "CAR section 1 at byte " + std::to_string(header.size()) +
                                              ": truncated section: block of 1 bytes, 0 present"},
  };
  for (const auto& entry : cases) {
    const auto& bytes = entry.first;
    const auto& message = entry.second;
    INFO("input ", HexEncode(bytes));
    Status status = ReadAll(bytes);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    CHECK(status.message() == message);
  }
}

TEST_CASE("car: identity blocks and the section limit") {
  const Cid inlined = ParseCid("bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa");
  std::ostringstream out;
  CarWriter writer(out);
  REQUIRE(writer.WriteHeader({inlined}).ok());
  REQUIRE(writer.WriteBlock(inlined, "hello i am inlined cid\n").ok());
  REQUIRE(writer.Finish().ok());
  const CarContents car = ReadCar(out.str());
  REQUIRE(car.blocks.size() == 1);
  CHECK(car.blocks[0].data == "hello i am inlined cid\n");

  std::ostringstream wrong;
  CarWriter wrong_writer(wrong);
  REQUIRE(wrong_writer.WriteHeader({inlined}).ok());
  REQUIRE(wrong_writer.WriteBlock(inlined, "something else").ok());
  CHECK(ReadAll(wrong.str()).code() == Status::Code::kCorruption);

  CarReaderOptions small;
  small.max_section_bytes = 10;
  Status status = ReadAll(out.str(), nullptr, small);
  CHECK(status.message() == "CAR section 1 at byte 50: block of 23 bytes exceeds the limit of 10");
}

TEST_CASE("car: writer checks streamed sizes and call order") {
  const Cid cid = Cid::V1(kRaw, Multihash::Sum(kSha2_256, "abcdef"));
  std::ostringstream out;
  CarWriter writer(out);
  CHECK(writer.WriteBlock(cid, "abcdef").message() == "CAR writer: WriteHeader must come first");
  REQUIRE(writer.WriteHeader({cid}).ok());
  CHECK(writer.WriteHeader({cid}).message() == "CAR writer: header already written");
  REQUIRE(writer.BeginBlock(cid, 6).ok());
  REQUIRE(writer.Append("abc").ok());
  CHECK(writer.WriteBlock(cid, "abcdef").message() ==
        "CAR writer: the streamed block still needs 3 bytes");
  CHECK(writer.Finish().message() == "CAR writer: the streamed block still needs 3 bytes");
  CHECK(writer.Append("defg").message() ==
        "CAR writer: 4 bytes appended where the block has 3 left");
  REQUIRE(writer.Append("def").ok());
  REQUIRE(writer.Finish().ok());
  const CarContents car = ReadCar(out.str());
  REQUIRE(car.blocks.size() == 1);
  CHECK(car.blocks[0].data == "abcdef");
}

TEST_CASE("car: reader call order") {
  std::istringstream in(ReadFixture("dag-pb.car"));
  CarReader reader(in);
  Cid cid;
  uint64_t size = 0;
  bool end = false;
  CHECK(reader.NextSection(&cid, &size, &end).message() ==
        "CAR reader: ReadHeader must come first");
  CarHeader header;
  REQUIRE(reader.ReadHeader(&header).ok());
  CHECK(reader.ReadHeader(&header).message() == "CAR header already read");
  std::string body;
  CHECK(reader.ReadBody(&body).message() ==
        "CAR reader: ReadBody needs a fresh section from NextSection");
  REQUIRE(reader.NextSection(&cid, &size, &end).ok());
  char buf[4];
  size_t got = 0;
  REQUIRE(reader.ReadBodyChunk(buf, sizeof(buf), &got).ok());
  CHECK(reader.ReadBody(&body).message() ==
        "CAR reader: ReadBody needs a fresh section from NextSection");
  CHECK(reader.ReadBodyChunk(buf, 0, &got).message() == "CAR reader: ReadBodyChunk needs n > 0");
}

}  // namespace
