// Noise XX for libp2p (libp2p/specs noise/README.md): Noise_XX_25519_ChaChaPoly_SHA256, its
// transport ciphers, and the libp2p handshake payload that binds the Noise static key to the
// peer's Ed25519 identity.
//
// Every primitive comes from OpenSSL 3: X25519, ChaCha20-Poly1305, SHA-256, HKDF (RFC 5869 with
// salt = chaining key, empty info). Nothing here implements cryptography by hand.
//
// Framing: every handshake and transport message travels with a 2-byte big-endian length
// prefix, at most 65535 bytes; a transport message carries at most 65519 plaintext bytes plus
// the 16-byte tag. The functions here take and return messages WITHOUT the prefix, except
// Libp2pNoiseHandshake::WriteNext, which appends one ready to send.
//
// Thread safety: none; each object belongs to one connection.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"
#include "p2p/keys.h"
#include "p2p/peer_id.h"

namespace boxcar::p2p {

inline constexpr size_t kNoiseMaxMessage = 65535;
inline constexpr size_t kNoiseTagSize = 16;
inline constexpr size_t kNoiseMaxPlaintext = kNoiseMaxMessage - kNoiseTagSize;  // 65519

// One direction of a Noise transport: ChaCha20-Poly1305 with nonce = 4 zero bytes || u64 LE
// counter and empty associated data. Move-only.
class NoiseCipher {
 public:
  NoiseCipher();
  ~NoiseCipher();
  NoiseCipher(NoiseCipher&&) noexcept;
  NoiseCipher& operator=(NoiseCipher&&) noexcept;

  // Appends ciphertext||tag of `plaintext` (at most kNoiseMaxPlaintext bytes) to *out and
  // advances the nonce. InvalidArgument when the plaintext is too long or the nonce is spent.
  Status Encrypt(std::string_view plaintext, std::string* out);
  // Appends the plaintext of one message to *out and advances the nonce. Corruption when the
  // tag does not verify: tampered bytes, or a message encrypted under another nonce (a replayed
  // or reordered frame).
  Status Decrypt(std::string_view message, std::string* out);
  uint64_t nonce() const { return nonce_; }

 private:
  friend class NoiseXX;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t nonce_ = 0;
};

// The generic XX pattern (Noise spec revision 34, section 7.5), with injectable keys so the
// published test vectors can drive it.
class NoiseXX {
 public:
  // `static_private` and `ephemeral_private` are 32-byte X25519 private keys; an empty
  // ephemeral key means "generate one" (the only choice outside tests).
  NoiseXX(bool initiator, std::string_view prologue, std::string_view static_private,
          std::string_view ephemeral_private = {});
  ~NoiseXX();
  NoiseXX(NoiseXX&&) noexcept;

  // Status of construction (a bad key length, an OpenSSL failure).
  const Status& init_status() const;
  // Writes the next handshake message carrying `payload` (no length prefix).
  Status WriteMessage(std::string_view payload, std::string* message);
  // Reads the next handshake message and returns its payload. Errors: truncated message,
  // failed decryption (Corruption), message out of turn.
  Status ReadMessage(std::string_view message, std::string* payload);
  bool our_turn() const;
  bool finished() const;  // all three messages done
  std::string_view local_static_public() const;
  std::string_view remote_static_public() const;  // once received
  std::string_view handshake_hash() const;
  // Once finished: the cipher this side sends with, and the one it receives with (the
  // initiator sends with the first key of Split()).
  void Split(NoiseCipher* send, NoiseCipher* receive);

 private:
  friend class Libp2pNoiseHandshake;
  // With an X25519 static key already loaded (NoiseStaticKey), and an empty prologue.
  NoiseXX(std::shared_ptr<evp_pkey_st> static_key, std::string_view static_public, bool initiator);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The libp2p NoiseHandshakePayload (identity_key = 1, identity_sig = 2, extensions = 4 whose
// stream_muxers = 2). Unknown fields are skipped; malformed protobuf is an error naming the
// field.
struct NoiseHandshakePayload {
  std::string identity_key;  // serialized libp2p PublicKey
  std::string identity_sig;  // over "noise-libp2p-static-key:" || X25519 static public key
  std::vector<std::string> stream_muxers;
};
std::string EncodeNoisePayload(const NoiseHandshakePayload& payload);
Status DecodeNoisePayload(std::string_view bytes, NoiseHandshakePayload* out);

// A Noise static key shared by many handshakes, with the identity's signature over it made once.
// libp2p allows a long-lived static key (js-libp2p keeps one per node; go-libp2p makes one per
// handshake); sharing one saves an X25519 key generation and an Ed25519 signature per handshake.
// It is never stored. Immutable after Generate, so one may serve handshakes on many threads.
class NoiseStaticKey {
 public:
  static Status Generate(const Ed25519Key& identity, std::shared_ptr<const NoiseStaticKey>* out);
  std::string_view public_key() const { return public_key_; }

 private:
  friend class Libp2pNoiseHandshake;
  std::shared_ptr<evp_pkey_st> key_;
  std::string public_key_;
  std::string signature_;  // identity's, over "noise-libp2p-static-key:" || public_key_
};

// Why a handshake failed, for metrics and logs.
enum class HandshakeFailure { kNone, kProtocol, kDecrypt, kBadSignature, kPeerIdMismatch };

// The libp2p handshake over NoiseXX. A fresh X25519 static key is made per handshake (as
// go-libp2p does) unless a NoiseStaticKey is given. The initiator's first message has an empty
// payload; messages 2 and 3 carry the payload, with `stream_muxers` as the early-muxer extension
// (pass {} to send none).
class Libp2pNoiseHandshake {
 public:
  // `expected_remote`: the PeerID the dialer expects; a different authenticated key fails the
  // handshake with kPeerIdMismatch. The identity must outlive this object.
  Libp2pNoiseHandshake(bool initiator, const Ed25519Key& identity,
                       std::optional<PeerId> expected_remote,
                       std::vector<std::string> stream_muxers);
  // The same with a shared static key made for `identity` (NoiseStaticKey::Generate); null
  // means a fresh one.
  Libp2pNoiseHandshake(bool initiator, const Ed25519Key& identity,
                       std::optional<PeerId> expected_remote,
                       std::vector<std::string> stream_muxers,
                       std::shared_ptr<const NoiseStaticKey> static_key);
  ~Libp2pNoiseHandshake();

  bool our_turn() const;
  bool finished() const;
  // Appends the next message, WITH its 2-byte length prefix, to *out.
  Status WriteNext(std::string* out);
  // Consumes one received message (without the prefix). On error, failure() says why.
  Status ReadNext(std::string_view message);
  HandshakeFailure failure() const { return failure_; }

  // Valid once finished.
  const PeerId& remote_peer() const { return remote_peer_; }
  const std::string& remote_public_key() const { return remote_public_key_; }
  const std::vector<std::string>& remote_stream_muxers() const { return remote_muxers_; }
  void Split(NoiseCipher* send, NoiseCipher* receive);

 private:
  // Private members are the implementer's to choose.
  struct Impl;
  std::unique_ptr<Impl> impl_;
  HandshakeFailure failure_ = HandshakeFailure::kNone;
  PeerId remote_peer_;
  std::string remote_public_key_;
  std::vector<std::string> remote_muxers_;
};

}  // namespace boxcar::p2p
