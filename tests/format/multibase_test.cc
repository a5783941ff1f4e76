#include "format/multibase.h"

#include <doctest/doctest.h>

#include <random>
#include <string>

#include "format/multihash.h"
#include "format_test_util.h"

namespace {

using boxcar::Status;
using namespace boxcar::format;
using boxcar::format::testing::Unhex;

struct Vector {
  std::string bytes;
  const char* base32;
  const char* base58btc;
  const char* base36;
};

// The multibase spec's test vectors ("yes mani !", leading zeros) and RFC 4648's base32 ones.
const Vector kVectors[] = {
    {"yes mani !", "bpfsxgidnmfxgsibb", "z7paNL19xttacUY", "k2lcpzo5yikidynfl"},
    {std::string("\0yes mani !", 11), "bab4wk4zanvqw42jaee", "z17paNL19xttacUY",
     "k02lcpzo5yikidynfl"},
    {std::string("\0\0yes mani !", 12), "baaahszltebwwc3tjeaqq", "z117paNL19xttacUY",
     "k002lcpzo5yikidynfl"},
    {"hello world", "bnbswy3dpeb3w64tmmq", "zStV1DL6CwTryKyV", "kfuvrsivvnfrbjwajo"},
    {"", "b", "z", "k"},
    {std::string(1, '\0'), "baa", "z1", "k0"},
    {"f", "bmy", "z2m", "k2u"},
    {"fo", "bmzxq", "z8o8", "kk8f"},
    {"foo", "bmzxw6", "zbQbp", "k3zvxr"},
    {"foob", "bmzxw6yq", "z3csAg9", "ksf742q"},
    {"fooba", "bmzxw6ytb", "zCZJRhmz", "k5m42kzfl"},
    {"foobar", "bmzxw6ytboi", "zt1Zv2yaZ", "k13x8yd7ywi"},
};

TEST_CASE("multibase: spec vectors encode and decode in every base") {
  for (const Vector& v : kVectors) {
    INFO("bytes ", v.bytes);
    CHECK(MultibaseEncode(Multibase::kBase32, v.bytes) == v.base32);
    CHECK(MultibaseEncode(Multibase::kBase58btc, v.bytes) == v.base58btc);
    CHECK(MultibaseEncode(Multibase::kBase36, v.bytes) == v.base36);
    for (const std::string text : {v.base32, v.base58btc, v.base36}) {
      std::string decoded;
      Multibase base;
      Status status = MultibaseDecode(text, &decoded, &base);
      REQUIRE_MESSAGE(status.ok(), status.ToString());
      CHECK(decoded == v.bytes);
      CHECK(static_cast<char>(base) == text[0]);
    }
  }
}

// The same bytes in base16 and base64url (RFC 4648 sections 8 and 5, unpadded, as multibase has
// them), which other gateways accept in CIDs.
const std::pair<std::string, std::pair<const char*, const char*>> kBase16And64Vectors[] = {
    {"yes mani !", {"f796573206d616e692021", "ueWVzIG1hbmkgIQ"}},
    {std::string("\0yes mani !", 11), {"f00796573206d616e692021", "uAHllcyBtYW5pICE"}},
    {std::string("\0\0yes mani !", 12), {"f0000796573206d616e692021", "uAAB5ZXMgbWFuaSAh"}},
    {"hello world", {"f68656c6c6f20776f726c64", "uaGVsbG8gd29ybGQ"}},
    {"", {"f", "u"}},
    {std::string(1, '\0'), {"f00", "uAA"}},
    {"f", {"f66", "uZg"}},
    {"fo", {"f666f", "uZm8"}},
    {"foo", {"f666f6f", "uZm9v"}},
    {"foob", {"f666f6f62", "uZm9vYg"}},
    {"fooba", {"f666f6f6261", "uZm9vYmE"}},
    {"foobar", {"f666f6f626172", "uZm9vYmFy"}},
};

TEST_CASE("multibase: base16 and base64url vectors encode and decode") {
  for (const auto& [bytes, texts] : kBase16And64Vectors) {
    INFO("bytes ", bytes);
    CHECK(MultibaseEncode(Multibase::kBase16, bytes) == texts.first);
    CHECK(MultibaseEncode(Multibase::kBase64url, bytes) == texts.second);
    for (const std::string text : {texts.first, texts.second}) {
      std::string decoded;
      Multibase base;
      Status status = MultibaseDecode(text, &decoded, &base);
      REQUIRE_MESSAGE(status.ok(), status.ToString());
      CHECK(decoded == bytes);
      CHECK(static_cast<char>(base) == text[0]);
    }
  }
  std::string decoded;
  Multibase base;
  REQUIRE(MultibaseDecode("F796573206D616E692021", &decoded, &base).ok());
  CHECK(decoded == "yes mani !");
  CHECK(base == Multibase::kBase16);
  CHECK(!MultibaseDecode("F796573206d616e692021", &decoded, &base).ok());
  CHECK(!MultibaseDecode("f796573206D616E692021", &decoded, &base).ok());
}

TEST_CASE("multibase: upper-case prefixes decode upper-case text") {
  std::string decoded;
  Multibase base;
  REQUIRE(MultibaseDecode("BPFSXGIDNMFXGSIBB", &decoded, &base).ok());
  CHECK(decoded == "yes mani !");
  CHECK(base == Multibase::kBase32);
  REQUIRE(MultibaseDecode("K2LCPZO5YIKIDYNFL", &decoded, &base).ok());
  CHECK(decoded == "yes mani !");
  CHECK(base == Multibase::kBase36);
  // Each prefix fixes the case.
  CHECK(!MultibaseDecode("bPFSXGIDNMFXGSIBB", &decoded, &base).ok());
  CHECK(!MultibaseDecode("Bpfsxgidnmfxgsibb", &decoded, &base).ok());
}

TEST_CASE("multibase: random bytes round-trip in every base") {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng() % 80, '\0');
    const size_t zeros = rng() % 4;
    for (size_t j = zeros; j < bytes.size(); ++j) bytes[j] = static_cast<char>(rng());
    for (Multibase base : {Multibase::kBase32, Multibase::kBase58btc, Multibase::kBase36,
                           Multibase::kBase16, Multibase::kBase64url}) {
      const std::string text = MultibaseEncode(base, bytes);
      std::string decoded;
      Multibase got;
      Status status = MultibaseDecode(text, &decoded, &got);
      REQUIRE_MESSAGE(status.ok(), status.ToString(), " for ", text);
      CHECK(decoded == bytes);
      CHECK(got == base);
    }
  }
}

TEST_CASE("multibase: errors name the character and its position") {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty multibase text (expected a prefix)"},
      {"xabc",
       "unsupported multibase prefix 'x' at position 0 (supported: 'b'/'B' base32, 'z' "
       "base58btc, 'k'/'K' base36, 'f'/'F' base16, 'u' base64url)"},
      {"f796", "invalid base16 length 3 (two characters per byte, so it must be even)"},
      {"f79g5", "invalid base16 character 'g' at position 3"},
      {"ueWVz+G1hbmkgIQ", "invalid base64url character '+' at position 5"},
      {"ueWVzIG1hbmkgIQ==", "invalid base64url character '=' at position 15"},
      {"ueWVzI", "invalid base64url length 5 (a text of 4k+1 characters is truncated)"},
      {"uZh",
       "non-zero trailing bits in the last base64url character 'h' at position 2 (not a "
       "canonical encoding)"},
      {"bpfsxg1dnmfxgsibb", "invalid base32 character '1' at position 6"},
      {"bpfsxgidnmfxgsi=b", "invalid base32 character '=' at position 15"},
      {"bmy======", "invalid base32 character '=' at position 3"},
      {"bm", "invalid base32 length 1 (a text of 8k+1, 8k+3 or 8k+6 characters is truncated)"},
      {"bmz",
       "non-zero trailing bits in the last base32 character 'z' at position 2 (not a "
       "canonical encoding)"},
      {"z7paNL19xtt0cUY", "invalid base58btc character '0' at position 11"},
      {"z7paNL19xttIcUY", "invalid base58btc character 'I' at position 11"},
      {"k2lcpzo5yik-dynfl", "invalid base36 character '-' at position 11"},
      {"b\x01", "invalid base32 length 1 (a text of 8k+1, 8k+3 or 8k+6 characters is truncated)"},
      {"bpfsxgi\x01", "invalid base32 character 0x01 at position 7"},
  };
  for (const auto& entry : cases) {
    const auto& text = entry.first;
    const auto& message = entry.second;
    INFO("text ", text);
    std::string decoded;
    Multibase base;
    Status status = MultibaseDecode(text, &decoded, &base);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    CHECK(status.message() == message);
  }
}

TEST_CASE("multihash: sha2-256 and identity sums") {
  const Multihash empty = Multihash::Sum(kSha2_256, "");
  CHECK(empty.code() == kSha2_256);
  CHECK(HexEncode(empty.bytes()) ==
        "1220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(HexEncode(empty.digest()) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(empty.Verify("").ok());

  const Multihash inline_mh = Multihash::Sum(kIdentity, "abc");
  CHECK(inline_mh.bytes() == std::string("\x00\x03"
                                         "abc",
                                         5));
  CHECK(inline_mh.digest() == "abc");
  CHECK(inline_mh.Verify("abc").ok());

  Multihash parsed;
  REQUIRE(Multihash::FromBytes(empty.bytes(), &parsed).ok());
  CHECK(parsed == empty);
  CHECK(MultihashName(kSha2_256) == "sha2-256");
  CHECK(MultihashName(kIdentity) == "identity");
  CHECK(MultihashName(0xb220) == "0xb220");
}

TEST_CASE("multihash: verification failures say expected and got") {
  const Multihash mh = Multihash::Sum(kSha2_256, "hello");
  Status status = mh.Verify("hellO");
  CHECK(status.code() == Status::Code::kCorruption);
  unsigned char got[32];
  Sha256("hellO", got);
  CHECK(status.message() ==
        "sha2-256 digest mismatch: expected " + HexEncode(mh.digest()) + ", got " +
            HexEncode(std::string_view(reinterpret_cast<const char*>(got), 32)));
  status = Multihash::Sum(kIdentity, "a").Verify("b");
  CHECK(status.code() == Status::Code::kCorruption);
  CHECK(status.message() == "identity digest mismatch: expected 61, got 62");
}

TEST_CASE("multihash: malformed binary is refused with the reason") {
  const std::pair<std::string, const char*> cases[] = {
      {Unhex("1320") + std::string(32, 'x'),
       "unsupported multihash code 0x13 (boxcar accepts sha2-256 0x12 and identity 0x00)"},
      {Unhex("1210") + std::string(16, 'x'),
       "sha2-256 multihash with a 16-byte digest (must be 32)"},
      {Unhex("1220") + std::string(31, 'x'),
       "multihash digest truncated: length says 32 bytes, 31 remain"},
      {Unhex("1220") + std::string(33, 'x'),
       "multihash: 1 unexpected bytes after the digest at byte 34"},
      {Unhex("12"), "multihash length at byte 1: truncated varint"},
      {"", "multihash code: truncated varint"},
  };
  for (const auto& entry : cases) {
    const auto& bytes = entry.first;
    const auto& message = entry.second;
    INFO("bytes ", HexEncode(bytes));
    Multihash mh;
    Status status = Multihash::FromBytes(bytes, &mh);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    CHECK(status.message() == message);
  }
}

TEST_CASE("sha256: streaming equals one-shot, and a stream is reusable after Final") {
  std::string data(100000, '\0');
  std::mt19937 rng(3);
  for (char& c : data) c = static_cast<char>(rng());
  unsigned char expected[32];
  Sha256(data, expected);
  Sha256Stream stream;
  for (size_t chunk : {1u, 63u, 64u, 4096u}) {
    for (size_t pos = 0; pos < data.size(); pos += chunk) {
      stream.Update(std::string_view(data).substr(pos, chunk));
    }
    unsigned char got[32];
    stream.Final(got);
    CHECK(std::string_view(reinterpret_cast<char*>(got), 32) ==
          std::string_view(reinterpret_cast<char*>(expected), 32));
  }
  stream.Update("partial");
  stream.Reset();
  unsigned char empty[32];
  stream.Final(empty);
  CHECK(HexEncode(std::string_view(reinterpret_cast<char*>(empty), 32)) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
