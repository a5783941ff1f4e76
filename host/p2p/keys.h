// libp2p keys: the node's Ed25519 identity, the PublicKey/PrivateKey protobuf encodings of the
// libp2p peer-ids spec, signature checks on remote keys, and the identity key file.
//
// Every primitive is OpenSSL 3's (EVP_PKEY_ED25519); nothing here implements cryptography.
//
// Thread safety: an Ed25519Key is immutable after construction and may be used from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "boxcar/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace boxcar::p2p {

// libp2p KeyType (peer-ids spec).
enum class KeyType : uint8_t { kRsa = 0, kEd25519 = 1, kSecp256k1 = 2, kEcdsa = 3 };

class Ed25519Key {
 public:
  // A fresh key from OpenSSL's CSPRNG.
  static Status Generate(Ed25519Key* out);
  // From the libp2p `PrivateKey` protobuf (Type=1, Data = 32-byte seed || 32-byte public key; the
  // legacy 96-byte Data form is accepted). Errors say which field is wrong.
  static Status FromPrivateKeyProto(std::string_view proto, Ed25519Key* out);
  // From a 32-byte seed (test vectors).
  static Status FromSeed(std::string_view seed32, Ed25519Key* out);

  std::string PrivateKeyProto() const;               // deterministic: 08 01 12 40 seed||pub
  std::string PublicKeyProto() const;                // deterministic: 08 01 12 20 pub (36 bytes)
  std::string_view public_key() const;               // the raw 32 bytes
  std::string Sign(std::string_view message) const;  // 64-byte RFC 8032 signature

 private:
  static Status FromSeedBytes(const uint8_t* seed, Ed25519Key* out);

  std::array<uint8_t, 32> seed_{};
  std::array<uint8_t, 32> public_{};
  // The OpenSSL key, built once so that Sign does not redo the scalar multiplication; shared
  // between copies (OpenSSL keys are safe to sign with from several threads).
  std::shared_ptr<evp_pkey_st> pkey_;
};

// Checks `signature` over `message` with a serialized libp2p PublicKey. Ed25519 is supported;
// other key types return NotSupported naming the type; a malformed key returns InvalidArgument;
// a signature that does not verify returns Corruption("bad signature").
Status VerifySignature(std::string_view public_key_proto, std::string_view message,
                       std::string_view signature);

// Reads the key file at `path`, or creates it (mode 0600, parent directories as needed, written
// to a temporary file and renamed) when it does not exist; `*created` says which. A file readable
// by group or others, or one that does not decode, is refused with the path and the reason
// ("chmod 600 PATH", "not a libp2p PrivateKey protobuf: ...").
Status LoadOrCreateIdentity(const std::filesystem::path& path, Ed25519Key* out, bool* created);

}  // namespace boxcar::p2p
