#include "format/varint.h"

#include <doctest/doctest.h>

#include <random>
#include <string>

#include "format_test_util.h"

namespace {

using boxcar::Status;
using boxcar::format::AppendUvarint;
using boxcar::format::kMaxUvarint;
using boxcar::format::ReadUvarint;
using boxcar::format::UvarintSize;
using boxcar::format::testing::Unhex;

TEST_CASE("varint: spec vectors encode and decode") {
  const std::pair<uint64_t, const char*> vectors[] = {
      {0, "00"},     {1, "01"},     {127, "7f"},       {128, "8001"},
      {255, "ff01"}, {300, "ac02"}, {16384, "808001"}, {kMaxUvarint, "ffffffffffffffff7f"},
  };
  for (const auto& entry : vectors) {
    const auto& value = entry.first;
    const auto& hex = entry.second;
    INFO("value ", value);
    std::string encoded;
    AppendUvarint(&encoded, value);
    CHECK(encoded == Unhex(hex));
    CHECK(UvarintSize(value) == encoded.size());
    std::string_view in = encoded;
    uint64_t decoded = 1;
    REQUIRE(ReadUvarint(&in, &decoded).ok());
    CHECK(decoded == value);
    CHECK(in.empty());
  }
}

TEST_CASE("varint: reads one value from the front and advances") {
  std::string bytes;
  AppendUvarint(&bytes, 300);
  AppendUvarint(&bytes, 5);
  bytes += "tail";
  std::string_view in = bytes;
  uint64_t value = 0;
  REQUIRE(ReadUvarint(&in, &value).ok());
  CHECK(value == 300);
  REQUIRE(ReadUvarint(&in, &value).ok());
  CHECK(value == 5);
  CHECK(in == "tail");
}

TEST_CASE("varint: malformed input gives the named error and leaves the input alone") {
  const std::pair<const char*, const char*> cases[] = {
      {"", "truncated varint"},
      {"80", "truncated varint"},
      {"ff80", "truncated varint"},
      {"8000", "non-minimal varint"},
      {"ff00", "non-minimal varint"},
      {"808000", "non-minimal varint"},
      {"ffffffffffffffff80", "varint longer than 9 bytes"},
      {"ffffffffffffffffff01", "varint longer than 9 bytes"},
  };
  for (const auto& entry : cases) {
    const auto& hex = entry.first;
    const auto& message = entry.second;
    INFO("input ", hex);
    const std::string bytes = Unhex(hex);
    std::string_view in = bytes;
    uint64_t value = 0;
    Status status = ReadUvarint(&in, &value);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    CHECK(status.message() == message);
    CHECK(in.size() == bytes.size());
  }
}

TEST_CASE("varint: random values round-trip") {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 10000; ++i) {
    const uint64_t value = rng() >> (rng() % 63 + 1);  // spread over all lengths, below 2^63
    std::string bytes;
    AppendUvarint(&bytes, value);
    std::string_view in = bytes;
    uint64_t decoded = 0;
    REQUIRE(ReadUvarint(&in, &decoded).ok());
    CHECK(decoded == value);
  }
}

}  // namespace
