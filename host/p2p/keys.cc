#include "p2p/keys.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "format/protobuf.h"
#include "p2p/proto_write.h"

namespace boxcar::p2p {
namespace {

using format::WireType;

constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;
constexpr size_t kMaxKeyFileBytes = 4096;  // an Ed25519 PrivateKey is 68 bytes

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// The Type and Data fields of a libp2p PublicKey or PrivateKey protobuf.
struct KeyProto {
  uint64_t type = 0;
  std::string_view data;
  bool has_type = false;
  bool has_data = false;
};

Status DecodeKeyProto(std::string_view bytes, const char* context, KeyProto* out) {
  format::ProtoReader reader(bytes, context);
  while (!reader.done()) {
    uint64_t field = 0;
    WireType wire{};
    size_t key_offset = 0;
    Status status = reader.ReadKey(&field, &wire, &key_offset);
    if (!status.ok()) return status;
    if (field == 1 && wire == WireType::kVarint) {
      status = reader.ReadVarint(&out->type);
      out->has_type = true;
    } else if (field == 2 && wire == WireType::kLengthDelimited) {
      size_t data_offset = 0;
      status = reader.ReadBytes(&out->data, &data_offset);
      out->has_data = true;
    } else if (field == 1 || field == 2) {
      return reader.ErrorAt(key_offset, field == 1 ? "field 1 (Type) must be a varint"
                                                   : "field 2 (Data) must be length-delimited");
    } else {
      status = reader.Skip(wire);
    }
    if (!status.ok()) return status;
  }
  if (!out->has_type) return reader.Error("missing field 1 (Type)");
  if (!out->has_data) return reader.Error("missing field 2 (Data)");
  return Status::OK();
}

std::string KeyTypeName(uint64_t type) {
  switch (type) {
    case 0:
      return "RSA";
    case 1:
      return "Ed25519";
    case 2:
      return "Secp256k1";
    case 3:
      return "ECDSA";
  }
  return "unknown key type " + std::to_string(type);
}

std::string EncodeKeyProto(std::string_view data) {
  std::string out;
  AppendVarintField(1, static_cast<uint64_t>(KeyType::kEd25519), &out);
  AppendBytesField(2, data, &out);
  return out;
}

const unsigned char* Bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

std::string ErrnoText() { return std::strerror(errno); }

// Checks the opened key file (fstat on the descriptor, so nothing can swap the file between the
// check and the read) and reads it; closes `fd`.
Status ReadKeyFile(const std::filesystem::path& path, int fd, std::string* out) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const std::string reason = ErrnoText();
    ::close(fd);
    return Status::IOError("identity key " + path.string() + ": " + reason);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("identity key " + path.string() + " is not a regular file");
  }
  if ((info.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return Status::InvalidArgument("identity key " + path.string() + " has mode " + mode +
                                   " and is open to group or others; run: chmod 600 " +
                                   path.string());
  }
  out->resize(kMaxKeyFileBytes + 1);
  size_t filled = 0;
  while (filled < out->size()) {
    const ssize_t n = ::read(fd, out->data() + filled, out->size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string reason = ErrnoText();
      ::close(fd);
      return Status::IOError("identity key " + path.string() + ": " + reason);
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  ::close(fd);
  out->resize(filled);
  if (filled > kMaxKeyFileBytes) {
    return Status::InvalidArgument("identity key " + path.string() +
                                   ": not a libp2p PrivateKey protobuf: larger than " +
                                   std::to_string(kMaxKeyFileBytes) + " bytes");
  }
  return Status::OK();
}

// Writes `bytes` to a fresh temporary file next to `path` with mode 0600, then renames it into
// place, so a crash never leaves a half-written key.
Status WriteKeyFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return Status::IOError("identity key " + path.string() + ": cannot create directory " +
                           path.parent_path().string() + ": " + ec.message());
  }
  const std::string temp = path.string() + ".tmp." + std::to_string(::getpid());
  ::unlink(temp.c_str());  // a stale one from a crash; a link is removed, never followed
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("identity key " + temp + ": " + ErrnoText());
  size_t written = 0;
  bool ok = ::fchmod(fd, 0600) == 0;  // O_CREAT honours the umask only when creating
  while (ok && written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const std::string reason = ok ? "" : ErrnoText();
  ::close(fd);
  if (ok && ::rename(temp.c_str(), path.c_str()) == 0) return Status::OK();
  const std::string failure = ok ? ErrnoText() : reason;
  ::unlink(temp.c_str());
  return Status::IOError("identity key " + path.string() + ": cannot write: " + failure);
}

}  // namespace

Status Ed25519Key::Generate(Ed25519Key* out) {
  uint8_t seed[kEd25519KeyBytes];
  if (RAND_priv_bytes(seed, sizeof seed) != 1) {
    return Status::Internal("Ed25519: OpenSSL's random generator failed");
  }
  Status status = FromSeedBytes(seed, out);
  OPENSSL_cleanse(seed, sizeof seed);
  return status;
}

Status Ed25519Key::FromSeed(std::string_view seed32, Ed25519Key* out) {
  if (seed32.size() != kEd25519KeyBytes) {
    return Status::InvalidArgument("Ed25519 seed must be 32 bytes, got " +
                                   std::to_string(seed32.size()));
  }
  return FromSeedBytes(Bytes(seed32), out);
}

Status Ed25519Key::FromSeedBytes(const uint8_t* seed, Ed25519Key* out) {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed, kEd25519KeyBytes));
  if (!key) return Status::Internal("Ed25519: OpenSSL could not load the private key");
  size_t public_size = kEd25519KeyBytes;
  if (EVP_PKEY_get_raw_public_key(key.get(), out->public_.data(), &public_size) != 1 ||
      public_size != kEd25519KeyBytes) {
    return Status::Internal("Ed25519: OpenSSL could not derive the public key");
  }
  std::memcpy(out->seed_.data(), seed, kEd25519KeyBytes);
  out->pkey_ = std::shared_ptr<EVP_PKEY>(key.release(), PkeyFree());
  return Status::OK();
}

Status Ed25519Key::FromPrivateKeyProto(std::string_view proto, Ed25519Key* out) {
  KeyProto fields;
  Status status = DecodeKeyProto(proto, "PrivateKey", &fields);
  if (!status.ok()) return status;
  if (fields.type != static_cast<uint64_t>(KeyType::kEd25519)) {
    return Status::NotSupported("PrivateKey: Type is " + KeyTypeName(fields.type) +
                                "; only Ed25519 (1) identities are supported");
  }
  const std::string_view data = fields.data;
  if (data.size() != 64 && data.size() != 96) {
    return Status::InvalidArgument(
        "PrivateKey: Ed25519 Data must be 64 bytes (seed||public), got " +
        std::to_string(data.size()));
  }
  // The legacy 96-byte form repeats the public key; the copies must agree.
  if (data.size() == 96 && data.substr(32, 32) != data.substr(64, 32)) {
    return Status::InvalidArgument(
        "PrivateKey: legacy 96-byte Ed25519 Data has two different "
        "public keys");
  }
  Ed25519Key key;
  status = FromSeed(data.substr(0, 32), &key);
  if (!status.ok()) return status;
  if (key.public_key() != data.substr(32, 32)) {
    return Status::InvalidArgument(
        "PrivateKey: the Ed25519 public key does not belong to the seed");
  }
  *out = std::move(key);
  return Status::OK();
}

std::string Ed25519Key::PrivateKeyProto() const {
  std::string data(reinterpret_cast<const char*>(seed_.data()), seed_.size());
  data.append(public_key());
  std::string out = EncodeKeyProto(data);
  OPENSSL_cleanse(data.data(), data.size());
  return out;
}

std::string Ed25519Key::PublicKeyProto() const { return EncodeKeyProto(public_key()); }

std::string_view Ed25519Key::public_key() const {
  return std::string_view(reinterpret_cast<const char*>(public_.data()), public_.size());
}

std::string Ed25519Key::Sign(std::string_view message) const {
  std::string signature(kEd25519SignatureBytes, '\0');
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t size = signature.size();
  // Ed25519 signing with a valid key cannot fail short of memory exhaustion; an empty result
  // makes the remote's check fail rather than sending a wrong signature.
  if (!pkey_ || !ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey_.get(), nullptr) !=
          1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     Bytes(message), message.size()) != 1) {
    return {};
  }
  return signature;
}

Status VerifySignature(std::string_view public_key_proto, std::string_view message,
                       std::string_view signature) {
  KeyProto fields;
  Status status = DecodeKeyProto(public_key_proto, "PublicKey", &fields);
  if (!status.ok()) return status;
  if (fields.type != static_cast<uint64_t>(KeyType::kEd25519)) {
    return Status::NotSupported("PublicKey: " + KeyTypeName(fields.type) +
                                " keys are not supported, only Ed25519");
  }
  if (fields.data.size() != kEd25519KeyBytes) {
    return Status::InvalidArgument("PublicKey: Ed25519 Data must be 32 bytes, got " +
                                   std::to_string(fields.data.size()));
  }
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(fields.data),
                                          fields.data.size()));
  if (!key) return Status::InvalidArgument("PublicKey: not a valid Ed25519 point");
  if (signature.size() != kEd25519SignatureBytes) return Status::Corruption("bad signature");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key.get(),
                                      nullptr) != 1) {
    return Status::Internal("Ed25519: OpenSSL could not start a verification");
  }
  if (EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(message),
                       message.size()) != 1) {
    return Status::Corruption("bad signature");
  }
  return Status::OK();
}

Status LoadOrCreateIdentity(const std::filesystem::path& path, Ed25519Key* out, bool* created) {
  // O_NOFOLLOW: a symlink planted in place of the key must not make us read (or trust) another
  // file; O_NONBLOCK: a FIFO there must not hang the start (fstat refuses it next).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ELOOP) {
    return Status::InvalidArgument("identity key " + path.string() +
                                   " is a symbolic link, which is not followed; put the key file "
                                   "itself there (or point p2p.identity_file at the real file)");
  }
  if (fd >= 0) {
    std::string bytes;
    Status status = ReadKeyFile(path, fd, &bytes);
    if (!status.ok()) return status;
    status = Ed25519Key::FromPrivateKeyProto(bytes, out);
    OPENSSL_cleanse(bytes.data(), bytes.size());
    if (!status.ok()) {
      return Status::InvalidArgument("identity key " + path.string() +
                                     ": not a libp2p PrivateKey protobuf: " + status.message() +
                                     " (move it away to create a new identity)");
    }
    *created = false;
    return Status::OK();
  }
  if (errno != ENOENT) return Status::IOError("identity key " + path.string() + ": " + ErrnoText());
  Ed25519Key key;
  Status status = Ed25519Key::Generate(&key);
  if (!status.ok()) return status;
  std::string bytes = key.PrivateKeyProto();
  status = WriteKeyFileAtomically(path, bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  if (!status.ok()) return status;
  *out = std::move(key);
  *created = true;
  return Status::OK();
}

}  // namespace boxcar::p2p
