#include "p2p/keys.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <string>

#include "p2p/peer_id.h"
#include "p2p_test_util.h"
#include "support/temp_dir.h"

namespace {

using boxcar::p2p::Ed25519Key;
using boxcar::p2p::LoadOrCreateIdentity;
using boxcar::p2p::PeerId;
using boxcar::p2p::VerifySignature;
using p2p_test::Hex;
using p2p_test::Unhex;

// libp2p/specs peer-ids/peer-ids.md "Test vectors" (commit 7740c07): the Ed25519 private and
// public keys in their protobuf encodings.
constexpr const char* kSpecPrivateKey =
    "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be"
    "8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
constexpr const char* kSpecPublicKey =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

mode_t ModeOf(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

TEST_CASE("keys: the peer-ids spec Ed25519 vector decodes and re-encodes byte for byte") {
  Ed25519Key key;
  const boxcar::Status status = Ed25519Key::FromPrivateKeyProto(Unhex(kSpecPrivateKey), &key);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  CHECK(Hex(key.PublicKeyProto()) == kSpecPublicKey);
  CHECK(Hex(key.PrivateKeyProto()) == kSpecPrivateKey);
  CHECK(key.public_key().size() == 32);
}

TEST_CASE("keys: a signature verifies, and a changed message or signature does not") {
  Ed25519Key key;
  REQUIRE(Ed25519Key::FromPrivateKeyProto(Unhex(kSpecPrivateKey), &key).ok());
  const std::string signature = key.Sign("hello");
  REQUIRE(signature.size() == 64);
  CHECK(VerifySignature(key.PublicKeyProto(), "hello", signature).ok());
  CHECK(VerifySignature(key.PublicKeyProto(), "hellO", signature).code() ==
        boxcar::Status::Code::kCorruption);
  std::string flipped = signature;
  flipped[5] ^= 1;
  CHECK(VerifySignature(key.PublicKeyProto(), "hello", flipped).code() ==
        boxcar::Status::Code::kCorruption);
  CHECK(VerifySignature(key.PublicKeyProto(), "hello", signature.substr(1)).code() ==
        boxcar::Status::Code::kCorruption);
}

TEST_CASE("keys: RFC 8032 test 1 signs deterministically") {
  // RFC 8032 section 7.1, TEST 1: the empty message.
  Ed25519Key key;
  REQUIRE(Ed25519Key::FromSeed(
              Unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"), &key)
              .ok());
  CHECK(Hex(key.public_key()) ==
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  CHECK(Hex(key.Sign("")) ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701c"
        "f9b46bd25bf5f0595bbe24655141438e7a100b");
}

TEST_CASE("keys: the legacy 96-byte private key is accepted when its two public keys agree") {
  const std::string modern = Unhex(kSpecPrivateKey);
  const std::string data = modern.substr(4) + modern.substr(4 + 32, 32);
  std::string legacy = std::string("\x08\x01\x12\x60", 4) + data;
  Ed25519Key key;
  REQUIRE(Ed25519Key::FromPrivateKeyProto(legacy, &key).ok());
  CHECK(Hex(key.PublicKeyProto()) == kSpecPublicKey);
  legacy.back() ^= 1;
  const boxcar::Status status = Ed25519Key::FromPrivateKeyProto(legacy, &key);
  CHECK(!status.ok());
  CHECK(status.message().find("two different public keys") != std::string::npos);
}

TEST_CASE("keys: bad PrivateKey encodings are refused with the reason") {
  Ed25519Key key;
  auto message_of = [&](const std::string& bytes) {
    return Ed25519Key::FromPrivateKeyProto(bytes, &key).message();
  };
  CHECK(message_of("").find("missing field 1 (Type)") != std::string::npos);
  CHECK(message_of(std::string("\x08\x01", 2)).find("missing field 2 (Data)") != std::string::npos);
  CHECK(message_of(std::string("\x08\x00\x12\x01\x00", 5)).find("RSA") != std::string::npos);
  CHECK(message_of(std::string("\x08\x01\x12\x02\x00\x00", 6)).find("must be 64 bytes") !=
        std::string::npos);
  CHECK(message_of(std::string("\x08\x01\x12\x40", 4)).find("runs past the end") !=
        std::string::npos);
  // A public key that does not belong to the seed.
  std::string wrong = Unhex(kSpecPrivateKey);
  wrong.back() ^= 1;
  CHECK(message_of(wrong).find("does not belong") != std::string::npos);
  // Public keys: another type is NotSupported, a short one InvalidArgument.
  CHECK(VerifySignature(std::string("\x08\x02\x12\x01\x00", 5), "m", std::string(64, 'x'))
            .IsNotSupported());
  CHECK(VerifySignature(std::string("\x08\x01\x12\x01\x00", 5), "m", std::string(64, 'x')).code() ==
        boxcar::Status::Code::kInvalidArgument);
}

TEST_CASE("keys: the identity file is created with mode 0600 and loaded again") {
  boxcar::testing::TempDir dir;
  const auto path = dir / "store" / "identity.key";
  Ed25519Key first;
  bool created = false;
  boxcar::Status status = LoadOrCreateIdentity(path, &first, &created);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  CHECK(created);
  CHECK(ModeOf(path) == 0600);
  CHECK(std::filesystem::file_size(path) == 68);

  Ed25519Key second;
  status = LoadOrCreateIdentity(path, &second, &created);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  CHECK(!created);
  CHECK(second.PrivateKeyProto() == first.PrivateKeyProto());
  CHECK(PeerId::FromPublicKeyProto(second.PublicKeyProto()).ToString().rfind("12D3KooW", 0) == 0);
  // No temporary file is left behind.
  CHECK(std::distance(std::filesystem::directory_iterator(dir / "store"),
                      std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("keys: a key file open to group or others is refused with chmod advice") {
  boxcar::testing::TempDir dir;
  const auto path = dir.Write("identity.key", Unhex(kSpecPrivateKey));
  std::filesystem::permissions(path, std::filesystem::perms(0644));
  Ed25519Key key;
  bool created = true;
  const boxcar::Status status = LoadOrCreateIdentity(path, &key, &created);
  REQUIRE(!status.ok());
  CHECK(status.message().find(path.string()) != std::string::npos);
  CHECK(status.message().find("mode 0644") != std::string::npos);
  CHECK(status.message().find("chmod 600 " + path.string()) != std::string::npos);

  std::filesystem::permissions(path, std::filesystem::perms(0600));
  REQUIRE(LoadOrCreateIdentity(path, &key, &created).ok());
  CHECK(!created);
  CHECK(Hex(key.PublicKeyProto()) == kSpecPublicKey);
}

TEST_CASE("keys: a symlinked key file is refused, not followed") {
  boxcar::testing::TempDir dir;
  const auto real = dir.Write("real.key", Unhex(kSpecPrivateKey));
  std::filesystem::permissions(real, std::filesystem::perms(0600));
  const auto link = dir.path() / "identity.key";
  std::filesystem::create_symlink(real, link);
  Ed25519Key key;
  bool created = true;
  const boxcar::Status status = LoadOrCreateIdentity(link, &key, &created);
  REQUIRE(!status.ok());
  CHECK(status.message().find(link.string()) != std::string::npos);
  CHECK(status.message().find("symbolic link") != std::string::npos);
  // A dangling link is refused too, and nothing is created through it.
  std::filesystem::remove(real);
  CHECK(!LoadOrCreateIdentity(link, &key, &created).ok());
  CHECK(!std::filesystem::exists(real));
}

TEST_CASE("keys: a key file that does not decode is refused with the path and the reason") {
  boxcar::testing::TempDir dir;
  const auto path = dir.Write("identity.key", "not a key\n");
  std::filesystem::permissions(path, std::filesystem::perms(0600));
  Ed25519Key key;
  bool created = true;
  const boxcar::Status status = LoadOrCreateIdentity(path, &key, &created);
  REQUIRE(!status.ok());
  CHECK(status.message().find(path.string()) != std::string::npos);
  CHECK(status.message().find("not a libp2p PrivateKey protobuf") != std::string::npos);
  // The file is left as it was: an operator's key is never overwritten.
  CHECK(std::filesystem::file_size(path) == 10);
}

}  // namespace
