#include "format/cid.h"

#include <doctest/doctest.h>

#include <cctype>
#include <cstdlib>
#include <new>
#include <regex>
#include <set>
#include <string>
#include <unordered_set>

#include "format/varint.h"
#include "format_test_util.h"

namespace {

using boxcar::Status;
using namespace boxcar::format;
using boxcar::format::testing::ParseCid;
using boxcar::format::testing::ReadFixture;
using boxcar::format::testing::Unhex;

// The zero-length dag-pb block, as the dag-pb spec names it.
constexpr const char* kEmptyV0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n";
constexpr const char* kEmptyV1 = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

std::string Base32Cid(const std::string& bytes) {
  return MultibaseEncode(Multibase::kBase32, bytes);
}

TEST_CASE("cid: v0 and v1 of the empty dag-pb block") {
  const Cid v0 = ParseCid(kEmptyV0);
  CHECK(v0.version() == 0);
  CHECK(v0.codec() == kDagPb);
  CHECK(v0.hash() == Multihash::Sum(kSha2_256, ""));
  CHECK(v0.bytes() == v0.hash().bytes());
  CHECK(v0.ToString() == kEmptyV0);
  CHECK(v0 == Cid::V0(Multihash::Sum(kSha2_256, "")));
  CHECK(v0.Verify("").ok());

  const Cid v1 = v0.ToV1();
  CHECK(v1.version() == 1);
  CHECK(v1.ToString() == kEmptyV1);
  CHECK(v1 == ParseCid(kEmptyV1));
  CHECK(v1 == Cid::V1(kDagPb, v0.hash()));
  CHECK(v1.bytes() == Unhex("0170") + v0.bytes());
  CHECK(v1 != v0);
}

TEST_CASE("cid: v1 text round-trips through every base and binary") {
  const Cid cid = ParseCid(kEmptyV1);
  for (Multibase base : {Multibase::kBase32, Multibase::kBase58btc, Multibase::kBase36,
                         Multibase::kBase16, Multibase::kBase64url}) {
    const std::string text = cid.ToString(base);
    CHECK(text[0] == static_cast<char>(base));
    CHECK(ParseCid(text) == cid);
  }
  Cid from_bytes;
  REQUIRE(Cid::FromBytes(cid.bytes(), &from_bytes).ok());
  CHECK(from_bytes == cid);
  // Upper-case base32, as in case-insensitive contexts.
  std::string upper = cid.ToString();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(ParseCid(upper) == cid);
}

TEST_CASE("cid: base16 and base64url CIDs, as other gateways accept them, parse to the same CID") {
  const Cid cid = ParseCid("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  // The same CID as `ipfs cid format -b base16` and `-b base64url` print it.
  const Cid base16 =
      ParseCid("f01551220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const Cid upper16 =
      ParseCid("F01551220E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
  const Cid base64url = ParseCid("uAVUSIOOwxEKY_BwUmvv0yJlvuSQnrkHkZJuTTKSVmRt4UrhV");
  CHECK(base16 == cid);
  CHECK(upper16 == cid);
  CHECK(base64url == cid);
  CHECK(base16.ToString() == cid.ToString());  // printed in base32, the canonical form
}

TEST_CASE("cid: every CID in the fixture README parses and prints back identically") {
  const std::string readme = ReadFixture("README.md");
  static const std::regex cid_text(R"(\b(Qm[1-9A-HJ-NP-Za-km-z]{44}|baf[a-z2-7]{4,})\b)");
  std::set<std::string> seen;
  for (auto it = std::sregex_iterator(readme.begin(), readme.end(), cid_text);
       it != std::sregex_iterator(); ++it) {
    seen.insert((*it)[1].str());
  }
  CHECK(seen.size() >= 11);
  for (const std::string& text : seen) {
    INFO("cid ", text);
    Cid cid;
    Status status = Cid::Parse(text, &cid);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    CHECK(cid.ToString() == text);
    Cid again;
    REQUIRE(Cid::FromBytes(cid.bytes(), &again).ok());
    CHECK(again == cid);
  }
}

TEST_CASE("cid: identity CIDs inline their data") {
  const Cid empty = ParseCid("bafkqaaa");
  CHECK(empty.IsIdentity());
  CHECK(empty.codec() == kRaw);
  CHECK(empty.hash().digest().empty());
  CHECK(empty.Verify("").ok());

  const Cid hello = ParseCid("bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa");
  CHECK(hello.IsIdentity());
  CHECK(hello.hash().digest() == "hello i am inlined cid\n");
  CHECK(hello == Cid::V1(kRaw, Multihash::Sum(kIdentity, "hello i am inlined cid\n")));
  CHECK(hello.ToString() == "bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa");
}

TEST_CASE("cid: Read takes CIDs one after another from binary") {
  const Cid a = ParseCid(kEmptyV0);
  const Cid b = ParseCid("bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa");
  const Cid c = ParseCid(kEmptyV1);
  const std::string bytes = a.bytes() + b.bytes() + c.bytes() + "rest";
  std::string_view in = bytes;
  Cid got;
  for (const Cid* expected : {&a, &b, &c}) {
    REQUIRE(Cid::Read(&in, &got).ok());
    CHECK(got == *expected);
  }
  CHECK(in == "rest");
  // A failed read leaves the input where it was.
  std::string_view bad = "\x01\x55\x12";
  CHECK(!Cid::Read(&bad, &got).ok());
  CHECK(bad.size() == 3);
}

TEST_CASE("cid: codec names") {
  CHECK(CodecName(kRaw) == "raw");
  CHECK(CodecName(kDagPb) == "dag-pb");
  CHECK(CodecName(kDagCbor) == "dag-cbor");
  CHECK(CodecName(kDagJson) == "dag-json");
  CHECK(CodecName(kLibp2pKey) == "libp2p-key");
  CHECK(CodecName(0x0200) == "0x200");
}

TEST_CASE("cid: bad text says what is wrong") {
  const std::string sha_empty = Multihash::Sum(kSha2_256, "").bytes();
  std::string unknown_codec;
  AppendUvarint(&unknown_codec, 1);
  AppendUvarint(&unknown_codec, 0x99);
  unknown_codec += sha_empty;
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty CID"},
      {"Qm123", "invalid CID \"Qm123\": a CIDv0 (\"Qm...\") has 46 characters, this has 5"},
      {"QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR10",
       "invalid CID \"QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR10\": CIDv0: invalid base58btc "
       "character '0' at position 45"},
      {"xyz",
       "invalid CID \"xyz\": unsupported multibase prefix 'x' at position 0 (supported: 'b'/'B' "
       "base32, 'z' base58btc, 'k'/'K' base36, 'f'/'F' base16, 'u' base64url)"},
      {"bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk1",
       "invalid CID \"bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk1\": invalid "
       "base32 "
       "character '1' at position 58"},
      {Base32Cid(unknown_codec),
       "invalid CID \"" + Base32Cid(unknown_codec) +
           "\": unknown codec 0x99 (boxcar accepts raw 0x55, dag-pb 0x70, dag-cbor 0x71, dag-json "
           "0x0129, libp2p-key 0x72)"},
      {"z" + EncodeBase58btc(sha_empty),
       "invalid CID \"z" + EncodeBase58btc(sha_empty) +
           "\": a multibase CID must be CIDv1; write a CIDv0 as bare base58btc (\"Qm...\")"},
      {Base32Cid(Unhex("0255") + sha_empty),
       "invalid CID \"" + Base32Cid(Unhex("0255") + sha_empty) +
           "\": unsupported CID version 2 (only 0 and 1 exist)"},
      {Base32Cid(Unhex("0155") + Unhex("1320") + std::string(32, 'x')),
       "invalid CID \"" + Base32Cid(Unhex("0155") + Unhex("1320") + std::string(32, 'x')) +
           "\": CID multihash at byte 2: unsupported multihash code 0x13 (boxcar accepts "
           "sha2-256 0x12 and identity 0x00)"},
      {Base32Cid(Unhex("0155") + sha_empty + "x"),
       "invalid CID \"" + Base32Cid(Unhex("0155") + sha_empty + "x") +
           "\": 1 unexpected bytes after the CID at byte 36"},
      {"b", "invalid CID \"b\": no bytes after the multibase prefix"},
      {std::string(kMaxCidTextLength + 1, 'b'),
       "invalid CID \"" + std::string(100, 'b') +
           "...\": 4097 characters is longer than the 4096 "
           "a CID may have"},
  };
  for (const auto& entry : cases) {
    const auto& text = entry.first;
    const auto& message = entry.second;
    INFO("text ", text);
    Cid cid;
    Status status = Cid::Parse(text, &cid);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    CHECK(status.message() == message);
  }
}

TEST_CASE("cid: bad binary says what is wrong") {
  const std::string sha_empty = Multihash::Sum(kSha2_256, "").bytes();
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty binary CID"},
      {Unhex("00") + sha_empty,
       "CID version 0 must be a bare sha2-256 multihash (0x12 0x20 <32 bytes>)"},
      {Unhex("1210") + std::string(16, 'x'),
       "CID starts with 0x12 but is not a sha2-256 CIDv0 (0x12 0x20 <32 bytes>)"},
      {Unhex("01"), "CID codec at byte 1: truncated varint"},
      {Unhex("80"), "CID version: truncated varint"},
      {sha_empty.substr(0, 20),
       "CIDv0: multihash digest truncated: length says 32 bytes, 18 remain"},
  };
  for (const auto& entry : cases) {
    const auto& bytes = entry.first;
    const auto& message = entry.second;
    INFO("bytes ", HexEncode(bytes));
    Cid cid;
    Status status = Cid::FromBytes(bytes, &cid);
    CHECK(status.code() == Status::Code::kInvalidArgument);
    CHECK(status.message() == message);
  }
}

TEST_CASE("cid: std::hash and equality agree") {
  std::unordered_set<Cid> set;
  set.insert(ParseCid(kEmptyV0));
  set.insert(ParseCid(kEmptyV1));
  set.insert(ParseCid(kEmptyV0));
  CHECK(set.size() == 2);
  CHECK(set.count(Cid::V0(Multihash::Sum(kSha2_256, ""))) == 1);
  CHECK(std::hash<Cid>{}(ParseCid(kEmptyV1)) == std::hash<Cid>{}(ParseCid(kEmptyV0).ToV1()));
}

}  // namespace

// Counts operator new calls so the test below can check that parsing into a warm Cid does not
// allocate. Only this test binary replaces the global operator new.
namespace {
size_t g_allocations = 0;
}

// GCC sees the replaced operator new as a builtin and warns that its memory goes to free().
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

TEST_CASE("cid: parsing binary into a warm Cid does not allocate") {
  const Cid v1 = ParseCid(kEmptyV1);
  const Cid v0 = ParseCid(kEmptyV0);
  const std::string bytes = v1.bytes() + v0.bytes() + v1.bytes();
  Cid cid;
  std::string_view in = bytes;
  REQUIRE(Cid::Read(&in, &cid).ok());  // warms the buffers
  const size_t before = g_allocations;
  for (int i = 0; i < 1000; ++i) {
    in = bytes;
    for (int j = 0; j < 3; ++j) REQUIRE(Cid::Read(&in, &cid).ok());
  }
  CHECK(g_allocations == before);
  // Hashing allocates nothing on the C++ heap either.
  unsigned char digest[32];
  Sha256(bytes, digest);
  const size_t after_first_hash = g_allocations;
  for (int i = 0; i < 1000; ++i) Sha256(bytes, digest);
  CHECK(g_allocations == after_first_hash);
}

}  // namespace
