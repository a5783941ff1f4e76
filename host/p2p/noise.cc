#include "p2p/noise.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <array>
#include <cstring>
#include <limits>

#include "format/protobuf.h"
#include "p2p/proto_write.h"

namespace boxcar::p2p {
namespace {

constexpr size_t kKeySize = 32;    // X25519 keys, ChaChaPoly keys, SHA-256 digests
constexpr size_t kNonceSize = 12;  // 4 zero bytes || u64 LE counter
constexpr std::string_view kProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";
static_assert(kProtocolName.size() == kKeySize, "h starts as the name itself when it fits");
constexpr std::string_view kSignaturePrefix = "noise-libp2p-static-key:";

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, KdfCtxFree>;

// Algorithms fetched once per process: an implicit fetch on every use costs a lock and a lookup.
const EVP_CIPHER* ChaChaPoly() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  return cipher;
}
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
EVP_KDF* Hkdf() {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

const unsigned char* Bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}
unsigned char* MutableBytes(std::string* text, size_t offset) {
  return reinterpret_cast<unsigned char*>(text->data()) + offset;
}

std::array<unsigned char, kNonceSize> NonceBytes(uint64_t counter) {
  std::array<unsigned char, kNonceSize> nonce{};
  for (size_t i = 0; i < 8; ++i) nonce[4 + i] = static_cast<unsigned char>(counter >> (8 * i));
  return nonce;
}

// An X25519 key pair from a 32-byte private key (OpenSSL clamps it).
Status X25519FromPrivate(std::string_view private_key, PkeyPtr* key, std::string* public_key) {
  if (private_key.size() != kKeySize) {
    return Status::InvalidArgument("noise: an X25519 private key must be 32 bytes, got " +
                                   std::to_string(private_key.size()));
  }
  key->reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, Bytes(private_key),
                                          private_key.size()));
  public_key->resize(kKeySize);
  size_t size = kKeySize;
  if (!*key || EVP_PKEY_get_raw_public_key(key->get(), MutableBytes(public_key, 0), &size) != 1) {
    return Status::Internal("noise: OpenSSL could not load an X25519 key");
  }
  return Status::OK();
}

Status X25519Generate(PkeyPtr* key, std::string* public_key) {
  std::string private_key(kKeySize, '\0');
  if (RAND_priv_bytes(MutableBytes(&private_key, 0), kKeySize) != 1) {
    return Status::Internal("noise: OpenSSL's random generator failed");
  }
  Status status = X25519FromPrivate(private_key, key, public_key);
  OPENSSL_cleanse(private_key.data(), private_key.size());
  return status;
}

// DH(private, remote public). OpenSSL refuses low-order points (an all-zero shared secret).
Status X25519(EVP_PKEY* private_key, std::string_view remote_public, unsigned char* shared) {
  PkeyPtr remote(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, Bytes(remote_public),
                                             remote_public.size()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, private_key, nullptr));
  size_t size = kKeySize;
  if (!remote || !ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), remote.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), shared, &size) != 1 || size != kKeySize) {
    return Status::InvalidArgument("noise: X25519 with the remote key failed (a low-order point)");
  }
  return Status::OK();
}

// HKDF(chaining_key, ikm) of the Noise spec, section 4.3: RFC 5869 with salt = chaining key and
// empty info, 64 bytes out.
Status NoiseHkdf(const unsigned char* chaining_key, std::string_view ikm, unsigned char* out64) {
  KdfCtxPtr ctx(EVP_KDF_CTX_new(Hkdf()));
  static const unsigned char kEmpty = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                        const_cast<unsigned char*>(chaining_key), kKeySize),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(ikm.empty() ? &kEmpty : Bytes(ikm)),
          ikm.size()),
      OSSL_PARAM_construct_end()};
  if (!ctx || EVP_KDF_derive(ctx.get(), out64, 2 * kKeySize, params) != 1) {
    return Status::Internal("noise: OpenSSL HKDF failed");
  }
  return Status::OK();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// NoiseCipher

struct NoiseCipher::Impl {
  Impl() : ctx(EVP_CIPHER_CTX_new()) {}
  ~Impl() { EVP_CIPHER_CTX_free(ctx); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // The key stays in the context; each message only sets the nonce, which skips the key setup.
  Status SetKey(const unsigned char* key) {
    has_key = ctx != nullptr &&
              EVP_CipherInit_ex2(ctx, ChaChaPoly(), key, nullptr, /*enc=*/1, nullptr) == 1;
    return has_key ? Status::OK()
                   : Status::Internal("noise: OpenSSL ChaCha20-Poly1305 init failed");
  }

  // ENCRYPT(k, n, ad, plaintext): appends ciphertext || tag.
  Status Seal(uint64_t counter, std::string_view ad, std::string_view plaintext, std::string* out) {
    const auto nonce = NonceBytes(counter);
    const size_t start = out->size();
    out->resize(start + plaintext.size() + kNoiseTagSize);
    int length = 0;
    bool ok = EVP_CipherInit_ex2(ctx, nullptr, nullptr, nonce.data(), 1, nullptr) == 1;
    ok = ok && (ad.empty() || EVP_CipherUpdate(ctx, nullptr, &length, Bytes(ad),
                                               static_cast<int>(ad.size())) == 1);
    ok = ok && (plaintext.empty() ||
                EVP_CipherUpdate(ctx, MutableBytes(out, start), &length, Bytes(plaintext),
                                 static_cast<int>(plaintext.size())) == 1);
    ok = ok && EVP_CipherFinal_ex(ctx, MutableBytes(out, start + plaintext.size()), &length) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kNoiseTagSize,
                                   MutableBytes(out, start + plaintext.size())) == 1;
    if (!ok) {
      out->resize(start);
      return Status::Internal("noise: OpenSSL ChaCha20-Poly1305 encryption failed");
    }
    return Status::OK();
  }

  // DECRYPT(k, n, ad, ciphertext): appends the plaintext, or Corruption when the tag fails.
  Status Open(uint64_t counter, std::string_view ad, std::string_view message, std::string* out) {
    if (message.size() < kNoiseTagSize) {
      return Status::Corruption("noise: message of " + std::to_string(message.size()) +
                                " bytes is shorter than the 16-byte tag");
    }
    const auto nonce = NonceBytes(counter);
    const size_t text_size = message.size() - kNoiseTagSize;
    const size_t start = out->size();
    out->resize(start + text_size);
    unsigned char tag[kNoiseTagSize];
    std::memcpy(tag, message.data() + text_size, kNoiseTagSize);
    int length = 0;
    bool ok = EVP_CipherInit_ex2(ctx, nullptr, nullptr, nonce.data(), 0, nullptr) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kNoiseTagSize, tag) == 1;
    ok = ok && (ad.empty() || EVP_CipherUpdate(ctx, nullptr, &length, Bytes(ad),
                                               static_cast<int>(ad.size())) == 1);
    ok = ok &&
         (text_size == 0 || EVP_CipherUpdate(ctx, MutableBytes(out, start), &length, Bytes(message),
                                             static_cast<int>(text_size)) == 1);
    if (!ok) {
      out->resize(start);
      return Status::Internal("noise: OpenSSL ChaCha20-Poly1305 decryption failed");
    }
    if (EVP_CipherFinal_ex(ctx, MutableBytes(out, start + text_size), &length) != 1) {
      OPENSSL_cleanse(MutableBytes(out, start), text_size);
      out->resize(start);
      return Status::Corruption(
          "noise: decryption failed (tampered bytes, or a replayed or "
          "reordered message)");
    }
    return Status::OK();
  }

  EVP_CIPHER_CTX* ctx;
  bool has_key = false;
};

NoiseCipher::NoiseCipher() : impl_(std::make_unique<Impl>()) {}
NoiseCipher::~NoiseCipher() = default;
NoiseCipher::NoiseCipher(NoiseCipher&&) noexcept = default;
NoiseCipher& NoiseCipher::operator=(NoiseCipher&&) noexcept = default;

Status NoiseCipher::Encrypt(std::string_view plaintext, std::string* out) {
  if (plaintext.size() > kNoiseMaxPlaintext) {
    return Status::InvalidArgument("noise: plaintext of " + std::to_string(plaintext.size()) +
                                   " bytes exceeds the " + std::to_string(kNoiseMaxPlaintext) +
                                   "-byte frame limit");
  }
  if (!impl_ || !impl_->has_key) return Status::InvalidArgument("noise: cipher has no key");
  if (nonce_ == std::numeric_limits<uint64_t>::max()) {
    return Status::InvalidArgument("noise: nonce space spent; the connection must end");
  }
  Status status = impl_->Seal(nonce_, {}, plaintext, out);
  if (status.ok()) ++nonce_;
  return status;
}

Status NoiseCipher::Decrypt(std::string_view message, std::string* out) {
  if (message.size() > kNoiseMaxMessage) {
    return Status::InvalidArgument("noise: message of " + std::to_string(message.size()) +
                                   " bytes exceeds the 65535-byte limit");
  }
  if (!impl_ || !impl_->has_key) return Status::InvalidArgument("noise: cipher has no key");
  if (nonce_ == std::numeric_limits<uint64_t>::max()) {
    return Status::InvalidArgument("noise: nonce space spent; the connection must end");
  }
  Status status = impl_->Open(nonce_, {}, message, out);
  if (status.ok()) ++nonce_;
  return status;
}

// ---------------------------------------------------------------------------------------------
// NoiseXX: the HandshakeState and SymmetricState of the Noise spec (sections 5.2, 5.3) for XX.

struct NoiseXX::Impl {
  bool initiator = false;
  int step = 0;  // messages done: 0, 1, 2 or 3
  bool failed = false;
  Status init_status;
  unsigned char ck[kKeySize];
  std::string h = std::string(kProtocolName);
  NoiseCipher::Impl cipher;  // k of the CipherState; n is `nonce`
  uint64_t nonce = 0;
  std::shared_ptr<EVP_PKEY> s;
  PkeyPtr e;
  std::string s_public, e_public, rs, re;
  std::string fixed_ephemeral;  // test vectors only
  EVP_MD_CTX* md = EVP_MD_CTX_new();

  ~Impl() { EVP_MD_CTX_free(md); }

  bool WritesStep(int which) const { return (which % 2 == 0) == initiator; }

  Status MixHash(std::string_view data) {
    unsigned int size = 0;
    if (md == nullptr || EVP_DigestInit_ex2(md, Sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(md, h.data(), h.size()) != 1 ||
        EVP_DigestUpdate(md, data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(md, MutableBytes(&h, 0), &size) != 1) {
      return Status::Internal("noise: OpenSSL SHA-256 failed");
    }
    return Status::OK();
  }

  Status MixKey(std::string_view ikm) {
    unsigned char output[2 * kKeySize];
    Status status = NoiseHkdf(ck, ikm, output);
    if (status.ok()) {
      std::memcpy(ck, output, kKeySize);
      status = cipher.SetKey(output + kKeySize);
      nonce = 0;
    }
    OPENSSL_cleanse(output, sizeof output);
    return status;
  }

  Status MixDh(EVP_PKEY* local, std::string_view remote) {
    unsigned char shared[kKeySize];
    Status status = X25519(local, remote, shared);
    if (status.ok()) {
      status = MixKey(std::string_view(reinterpret_cast<const char*>(shared), kKeySize));
    }
    OPENSSL_cleanse(shared, sizeof shared);
    return status;
  }

  Status EncryptAndHash(std::string_view plaintext, std::string* out) {
    const size_t start = out->size();
    if (!cipher.has_key) {
      out->append(plaintext);
    } else {
      Status status = cipher.Seal(nonce, h, plaintext, out);
      if (!status.ok()) return status;
      ++nonce;
    }
    return MixHash(std::string_view(*out).substr(start));
  }

  Status DecryptAndHash(std::string_view ciphertext, std::string* out) {
    if (!cipher.has_key) {
      out->append(ciphertext);
    } else {
      Status status = cipher.Open(nonce, h, ciphertext, out);
      if (!status.ok()) return status;
      ++nonce;
    }
    return MixHash(ciphertext);
  }

  Status WriteEphemeral(std::string* message) {
    Status status = fixed_ephemeral.empty() ? X25519Generate(&e, &e_public)
                                            : X25519FromPrivate(fixed_ephemeral, &e, &e_public);
    if (!status.ok()) return status;
    message->append(e_public);
    return MixHash(e_public);
  }

  Status ReadEphemeral(std::string_view* message) {
    re.assign(message->substr(0, kKeySize));
    message->remove_prefix(kKeySize);
    return MixHash(re);
  }

  Status ReadStatic(std::string_view* message) {
    const size_t size = kKeySize + kNoiseTagSize;
    rs.clear();
    Status status = DecryptAndHash(message->substr(0, size), &rs);
    message->remove_prefix(size);
    return status;
  }

  // The tokens of XX: -> e; <- e, ee, s, es; -> s, se.
  Status WriteTokens(std::string* message) {
    Status status;
    if (step == 0) return WriteEphemeral(message);
    if (step == 1) {
      status = WriteEphemeral(message);
      if (status.ok()) status = MixDh(e.get(), re);                 // ee
      if (status.ok()) status = EncryptAndHash(s_public, message);  // s
      if (status.ok()) status = MixDh(s.get(), re);                 // es (responder: s with re)
      return status;
    }
    status = EncryptAndHash(s_public, message);    // s
    if (status.ok()) status = MixDh(s.get(), re);  // se (initiator: s with re)
    return status;
  }

  Status ReadTokens(std::string_view* message) {
    Status status;
    if (step == 0) return ReadEphemeral(message);
    if (step == 1) {
      status = ReadEphemeral(message);
      if (status.ok()) status = MixDh(e.get(), re);   // ee
      if (status.ok()) status = ReadStatic(message);  // s
      if (status.ok()) status = MixDh(e.get(), rs);   // es (initiator: e with rs)
      return status;
    }
    status = ReadStatic(message);                  // s
    if (status.ok()) status = MixDh(e.get(), rs);  // se (responder: e with rs)
    return status;
  }

  // Bytes of the tokens of message `which`, before the payload.
  static size_t TokenBytes(int which) {
    if (which == 0) return kKeySize;
    if (which == 1) return 2 * kKeySize + kNoiseTagSize;
    return kKeySize + kNoiseTagSize;
  }
};

NoiseXX::NoiseXX(bool initiator, std::string_view prologue, std::string_view static_private,
                 std::string_view ephemeral_private)
    : impl_(std::make_unique<Impl>()) {
  Impl& state = *impl_;
  state.initiator = initiator;
  std::memcpy(state.ck, state.h.data(), kKeySize);
  state.fixed_ephemeral.assign(ephemeral_private);
  PkeyPtr static_key;
  Status status = X25519FromPrivate(static_private, &static_key, &state.s_public);
  state.s = std::move(static_key);
  if (status.ok() && !ephemeral_private.empty() && ephemeral_private.size() != kKeySize) {
    status = Status::InvalidArgument("noise: an X25519 ephemeral key must be 32 bytes");
  }
  if (status.ok()) status = state.MixHash(prologue);
  state.init_status = status;
}

NoiseXX::NoiseXX(std::shared_ptr<EVP_PKEY> static_key, std::string_view static_public,
                 bool initiator)
    : impl_(std::make_unique<Impl>()) {
  Impl& state = *impl_;
  state.initiator = initiator;
  std::memcpy(state.ck, state.h.data(), kKeySize);
  state.s = std::move(static_key);
  state.s_public.assign(static_public);
  state.init_status = state.s ? state.MixHash({}) : Status::InvalidArgument("noise: no static key");
}

NoiseXX::~NoiseXX() = default;
NoiseXX::NoiseXX(NoiseXX&&) noexcept = default;

const Status& NoiseXX::init_status() const { return impl_->init_status; }
bool NoiseXX::our_turn() const { return !finished() && impl_->WritesStep(impl_->step); }
bool NoiseXX::finished() const { return impl_->step == 3; }
std::string_view NoiseXX::local_static_public() const { return impl_->s_public; }
std::string_view NoiseXX::remote_static_public() const { return impl_->rs; }
std::string_view NoiseXX::handshake_hash() const { return impl_->h; }

Status NoiseXX::WriteMessage(std::string_view payload, std::string* message) {
  Impl& state = *impl_;
  if (!state.init_status.ok()) return state.init_status;
  if (state.failed) return Status::InvalidArgument("noise: the handshake already failed");
  if (!our_turn()) return Status::InvalidArgument("noise: not our turn to write");
  const size_t overhead = Impl::TokenBytes(state.step) + (state.step == 0 ? 0 : kNoiseTagSize);
  if (payload.size() > kNoiseMaxMessage - overhead) {
    return Status::InvalidArgument("noise: handshake payload of " + std::to_string(payload.size()) +
                                   " bytes is too long");
  }
  message->clear();
  Status status = state.WriteTokens(message);
  if (status.ok()) status = state.EncryptAndHash(payload, message);
  if (!status.ok()) {
    state.failed = true;
    return status;
  }
  ++state.step;
  return Status::OK();
}

Status NoiseXX::ReadMessage(std::string_view message, std::string* payload) {
  Impl& state = *impl_;
  if (!state.init_status.ok()) return state.init_status;
  if (state.failed) return Status::InvalidArgument("noise: the handshake already failed");
  if (finished() || our_turn()) {
    return Status::InvalidArgument("noise: handshake message out of turn");
  }
  const size_t minimum = Impl::TokenBytes(state.step) + (state.step == 0 ? 0 : kNoiseTagSize);
  if (message.size() < minimum || message.size() > kNoiseMaxMessage) {
    state.failed = true;
    return Status::InvalidArgument("noise: handshake message " + std::to_string(state.step + 1) +
                                   " has " + std::to_string(message.size()) + " bytes; it needs " +
                                   std::to_string(minimum) + " to 65535");
  }
  payload->clear();
  Status status = state.ReadTokens(&message);
  if (status.ok()) status = state.DecryptAndHash(message, payload);
  if (!status.ok()) {
    state.failed = true;
    return status;
  }
  ++state.step;
  return Status::OK();
}

void NoiseXX::Split(NoiseCipher* send, NoiseCipher* receive) {
  unsigned char keys[2 * kKeySize];
  if (!finished() || !NoiseHkdf(impl_->ck, {}, keys).ok()) return;  // ciphers stay keyless
  const unsigned char* first = keys;
  const unsigned char* second = keys + kKeySize;
  (void)send->impl_->SetKey(impl_->initiator ? first : second);
  (void)receive->impl_->SetKey(impl_->initiator ? second : first);
  send->nonce_ = 0;
  receive->nonce_ = 0;
  OPENSSL_cleanse(keys, sizeof keys);
}

// ---------------------------------------------------------------------------------------------
// The libp2p handshake payload.

std::string EncodeNoisePayload(const NoiseHandshakePayload& payload) {
  std::string out;
  if (!payload.identity_key.empty()) AppendBytesField(1, payload.identity_key, &out);
  if (!payload.identity_sig.empty()) AppendBytesField(2, payload.identity_sig, &out);
  if (!payload.stream_muxers.empty()) {
    std::string extensions;
    for (const std::string& muxer : payload.stream_muxers) AppendBytesField(2, muxer, &extensions);
    AppendBytesField(4, extensions, &out);
  }
  return out;
}

namespace {

// Reads the bytes of a length-delimited field; `name` goes into the error of another wire type.
Status ReadBytesField(format::ProtoReader* reader, format::WireType wire, size_t key_offset,
                      const char* name, std::string_view* value, size_t* value_offset) {
  if (wire != format::WireType::kLengthDelimited) {
    return reader->ErrorAt(key_offset, std::string(name) + " must be length-delimited");
  }
  return reader->ReadBytes(value, value_offset);
}

Status DecodeNoiseExtensions(std::string_view bytes, size_t base, NoiseHandshakePayload* out) {
  format::ProtoReader reader(bytes, "noise payload extensions", base);
  while (!reader.done()) {
    uint64_t field = 0;
    format::WireType wire{};
    size_t key_offset = 0;
    Status status = reader.ReadKey(&field, &wire, &key_offset);
    if (!status.ok()) return status;
    if (field != 2) {
      status = reader.Skip(wire);  // webtransport_certhashes and future extensions
    } else {
      std::string_view muxer;
      size_t offset = 0;
      status = ReadBytesField(&reader, wire, key_offset - base, "field 2 (stream_muxers)", &muxer,
                              &offset);
      if (status.ok()) out->stream_muxers.emplace_back(muxer);
    }
    if (!status.ok()) return status;
  }
  return Status::OK();
}

}  // namespace

Status DecodeNoisePayload(std::string_view bytes, NoiseHandshakePayload* out) {
  NoiseHandshakePayload payload;
  format::ProtoReader reader(bytes, "noise payload");
  while (!reader.done()) {
    uint64_t field = 0;
    format::WireType wire{};
    size_t key_offset = 0;
    Status status = reader.ReadKey(&field, &wire, &key_offset);
    if (!status.ok()) return status;
    std::string_view value;
    size_t value_offset = 0;
    switch (field) {
      case 1:
        status = ReadBytesField(&reader, wire, key_offset, "field 1 (identity_key)", &value,
                                &value_offset);
        if (status.ok()) payload.identity_key.assign(value);
        break;
      case 2:
        status = ReadBytesField(&reader, wire, key_offset, "field 2 (identity_sig)", &value,
                                &value_offset);
        if (status.ok()) payload.identity_sig.assign(value);
        break;
      case 4:
        status = ReadBytesField(&reader, wire, key_offset, "field 4 (extensions)", &value,
                                &value_offset);
        if (status.ok()) status = DecodeNoiseExtensions(value, value_offset, &payload);
        break;
      default:
        status = reader.Skip(wire);
    }
    if (!status.ok()) return status;
  }
  *out = std::move(payload);
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// Libp2pNoiseHandshake

struct Libp2pNoiseHandshake::Impl {
  Impl(bool is_initiator, const Ed25519Key& local_identity, std::string_view static_private)
      : initiator(is_initiator), xx(is_initiator, {}, static_private), identity(local_identity) {}
  Impl(bool is_initiator, const Ed25519Key& local_identity,
       std::shared_ptr<const NoiseStaticKey> shared_key)
      : initiator(is_initiator),
        xx(shared_key->key_, shared_key->public_key_, is_initiator),
        identity(local_identity),
        static_key(std::move(shared_key)) {}

  bool initiator;
  NoiseXX xx;
  const Ed25519Key& identity;
  std::shared_ptr<const NoiseStaticKey> static_key;  // null: a fresh key per handshake
  std::optional<PeerId> expected_remote;
  std::vector<std::string> stream_muxers;
  int messages_read = 0;
};

Libp2pNoiseHandshake::Libp2pNoiseHandshake(bool initiator, const Ed25519Key& identity,
                                           std::optional<PeerId> expected_remote,
                                           std::vector<std::string> stream_muxers)
    : Libp2pNoiseHandshake(initiator, identity, std::move(expected_remote),
                           std::move(stream_muxers), nullptr) {}

Libp2pNoiseHandshake::Libp2pNoiseHandshake(bool initiator, const Ed25519Key& identity,
                                           std::optional<PeerId> expected_remote,
                                           std::vector<std::string> stream_muxers,
                                           std::shared_ptr<const NoiseStaticKey> static_key) {
  if (static_key) {
    impl_ = std::make_unique<Impl>(initiator, identity, std::move(static_key));
  } else {
    // A fresh static key per handshake, as go-libp2p makes; it is never stored.
    std::string static_private(kKeySize, '\0');
    if (RAND_priv_bytes(MutableBytes(&static_private, 0), kKeySize) != 1) static_private.clear();
    impl_ = std::make_unique<Impl>(initiator, identity, static_private);
    OPENSSL_cleanse(static_private.data(), static_private.size());
  }
  impl_->expected_remote = std::move(expected_remote);
  impl_->stream_muxers = std::move(stream_muxers);
}

Libp2pNoiseHandshake::~Libp2pNoiseHandshake() = default;

Status NoiseStaticKey::Generate(const Ed25519Key& identity,
                                std::shared_ptr<const NoiseStaticKey>* out) {
  auto made = std::make_shared<NoiseStaticKey>();
  PkeyPtr key;
  Status status = X25519Generate(&key, &made->public_key_);
  if (!status.ok()) return status;
  made->key_ = std::move(key);
  made->signature_ = identity.Sign(std::string(kSignaturePrefix) + made->public_key_);
  *out = std::move(made);
  return Status::OK();
}

bool Libp2pNoiseHandshake::our_turn() const {
  return failure_ == HandshakeFailure::kNone && impl_->xx.our_turn();
}
bool Libp2pNoiseHandshake::finished() const {
  return failure_ == HandshakeFailure::kNone && impl_->xx.finished();
}

Status Libp2pNoiseHandshake::WriteNext(std::string* out) {
  NoiseXX& xx = impl_->xx;
  std::string payload;
  // The initiator's first message carries no payload: nothing is encrypted yet.
  const bool first_message = impl_->initiator && impl_->messages_read == 0;
  if (!first_message) {
    NoiseHandshakePayload fields;
    fields.identity_key = impl_->identity.PublicKeyProto();
    if (impl_->static_key) {
      fields.identity_sig = impl_->static_key->signature_;
    } else {
      std::string signed_bytes(kSignaturePrefix);
      signed_bytes.append(xx.local_static_public());
      fields.identity_sig = impl_->identity.Sign(signed_bytes);
    }
    fields.stream_muxers = impl_->stream_muxers;
    payload = EncodeNoisePayload(fields);
  }
  std::string message;
  Status status = xx.WriteMessage(payload, &message);
  if (!status.ok()) {
    if (failure_ == HandshakeFailure::kNone) failure_ = HandshakeFailure::kProtocol;
    return status;
  }
  out->push_back(static_cast<char>(message.size() >> 8));
  out->push_back(static_cast<char>(message.size() & 0xff));
  out->append(message);
  return Status::OK();
}

Status Libp2pNoiseHandshake::ReadNext(std::string_view message) {
  NoiseXX& xx = impl_->xx;
  if (failure_ != HandshakeFailure::kNone) {
    return Status::InvalidArgument("noise: the handshake already failed");
  }
  std::string payload;
  Status status = xx.ReadMessage(message, &payload);
  if (!status.ok()) {
    failure_ = status.code() == Status::Code::kCorruption ? HandshakeFailure::kDecrypt
                                                          : HandshakeFailure::kProtocol;
    return status;
  }
  // The responder reads message 1 first: an ephemeral key only, and its payload is ignored.
  const bool first_message = !impl_->initiator && impl_->messages_read == 0;
  ++impl_->messages_read;
  if (first_message) return Status::OK();
  NoiseHandshakePayload fields;
  status = DecodeNoisePayload(payload, &fields);
  if (status.ok() && fields.identity_key.empty()) {
    status = Status::InvalidArgument("noise payload: no identity_key");
  }
  std::string signed_bytes(kSignaturePrefix);
  signed_bytes.append(xx.remote_static_public());
  if (status.ok()) status = VerifySignature(fields.identity_key, signed_bytes, fields.identity_sig);
  if (!status.ok()) {
    failure_ = status.code() == Status::Code::kCorruption ? HandshakeFailure::kBadSignature
                                                          : HandshakeFailure::kProtocol;
    return status.Annotate("noise: the remote's identity");
  }
  PeerId remote = PeerId::FromPublicKeyProto(fields.identity_key);
  if (impl_->expected_remote && remote != *impl_->expected_remote) {
    failure_ = HandshakeFailure::kPeerIdMismatch;
    return Status::InvalidArgument("noise: dialed " + impl_->expected_remote->ToString() +
                                   " but the peer authenticated as " + remote.ToString());
  }
  remote_peer_ = std::move(remote);
  remote_public_key_ = std::move(fields.identity_key);
  remote_muxers_ = std::move(fields.stream_muxers);
  return Status::OK();
}

void Libp2pNoiseHandshake::Split(NoiseCipher* send, NoiseCipher* receive) {
  impl_->xx.Split(send, receive);
}

}  // namespace boxcar::p2p
