#include "p2p/peer_id.h"

#include <doctest/doctest.h>

#include <string>
#include <unordered_set>

#include "format/cid.h"
#include "p2p/keys.h"
#include "p2p_test_util.h"

namespace {

using boxcar::p2p::Ed25519Key;
using boxcar::p2p::PeerId;
using p2p_test::Hex;
using p2p_test::Unhex;

// libp2p/specs peer-ids/peer-ids.md (commit 7740c07): the Ed25519 public key test vector, and
// the example PeerID "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N" with its CID form.
constexpr const char* kSpecPublicKey =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

PeerId MustParse(std::string_view text) {
  PeerId id;
  const boxcar::Status status = PeerId::Parse(text, &id);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return id;
}

TEST_CASE("peer id: an Ed25519 key gives the identity multihash, printed as 12D3KooW...") {
  const PeerId id = PeerId::FromPublicKeyProto(Unhex(kSpecPublicKey));
  CHECK(Hex(id.bytes()) == std::string("0024") + kSpecPublicKey);
  // base58btc of 00 24 || key, computed independently of boxcar's encoder.
  CHECK(id.ToString() == "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
  CHECK(Hex(id.InlinedPublicKey()) == kSpecPublicKey);
  CHECK(MustParse(id.ToString()) == id);
}

TEST_CASE("peer id: keys longer than 42 bytes are hashed with sha2-256") {
  const std::string long_key(43, 'k');
  const PeerId id = PeerId::FromPublicKeyProto(long_key);
  CHECK(Hex(id.bytes().substr(0, 2)) == "1220");
  CHECK(id.bytes().size() == 34);
  CHECK(id.ToString().rfind("Qm", 0) == 0);
  CHECK(id.InlinedPublicKey().empty());
  CHECK(PeerId::FromPublicKeyProto(std::string(42, 'k')).bytes().size() == 44);
}

TEST_CASE("peer id: the spec's CID form and base58btc form are the same PeerID") {
  const PeerId legacy = MustParse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
  const PeerId cid = MustParse("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe");
  CHECK(cid == legacy);
  CHECK(cid.ToString() == "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
}

TEST_CASE("peer id: go-multiaddr's PeerIDs in base58btc, base32 and base36 CID forms agree") {
  // multiformats/go-multiaddr multiaddr_test.go (commit 7fae00a), the valid /p2p/ values.
  const PeerId base58 = MustParse("12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV");
  CHECK(MustParse("bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u") == base58);
  CHECK(MustParse("k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs") == base58);
  CHECK(MustParse("k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl7") ==
        MustParse("QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"));
}

TEST_CASE("peer id: bad text is refused with the text and the reason") {
  PeerId id;
  CHECK(!PeerId::Parse("", &id).ok());
  // A CID with another codec (raw) is not a PeerID.
  namespace format = boxcar::format;
  const std::string raw_cid =
      format::Cid::V1(format::kRaw, format::Multihash::Sum(format::kSha2_256, "x")).ToString();
  const boxcar::Status raw = PeerId::Parse(raw_cid, &id);
  REQUIRE(!raw.ok());
  CHECK(raw.message().find("not libp2p-key") != std::string::npos);
  const boxcar::Status typo = PeerId::Parse("12D3KooW0000", &id);
  REQUIRE(!typo.ok());
  CHECK(typo.message().find("12D3KooW0000") != std::string::npos);
  CHECK(!PeerId::Parse("hello", &id).ok());
  CHECK(!PeerId::Parse(std::string(300, '1'), &id).ok());
  // go-multiaddr's invalid case: a sha2-256 multihash whose digest is longer than 32 bytes.
  CHECK(!PeerId::Parse("QmxoHT6iViN5xAjoz1VZ553cL31U9F94ht3QvWR1FrEbZY", &id).ok());
}

TEST_CASE("peer id: FromBytes takes identity and sha2-256 multihashes only") {
  PeerId id;
  CHECK(PeerId::FromBytes(Unhex(std::string("0024") + kSpecPublicKey), &id).ok());
  CHECK(!PeerId::FromBytes(Unhex("1114" + std::string(40, '0')), &id).ok());  // sha1
  CHECK(!PeerId::FromBytes(Unhex("0000"), &id).ok());                         // empty identity
  CHECK(!PeerId::FromBytes("", &id).ok());
}

TEST_CASE("peer id: a generated key's PeerID round-trips and hashes") {
  Ed25519Key key;
  REQUIRE(Ed25519Key::Generate(&key).ok());
  const PeerId id = PeerId::FromPublicKeyProto(key.PublicKeyProto());
  CHECK(id.ToString().rfind("12D3KooW", 0) == 0);
  std::unordered_set<PeerId> set{id, MustParse(id.ToString())};
  CHECK(set.size() == 1);
}

}  // namespace
