#include "format/multihash.h"

#include <openssl/evp.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "format/varint.h"

namespace boxcar::format {
namespace {

// Fetched once: passing EVP_sha256() to every init would make OpenSSL 3 look the provider
// implementation up again on each call.
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) std::abort();  // libcrypto without SHA-256 cannot run boxcar
    return fetched;
  }();
  return md;
}

EVP_MD_CTX* NewSha256Ctx() {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) != 1) std::abort();
  return ctx;
}

// Init, update and final cannot fail for SHA-256 with a valid context short of memory
// exhaustion inside OpenSSL, which boxcar treats like any other allocation failure.
void Check(int openssl_result) {
  if (openssl_result != 1) std::abort();
}

std::string HexCode(uint64_t code) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%02llx", static_cast<unsigned long long>(code));
  return buf;
}

}  // namespace

std::string MultihashName(uint64_t code) {
  switch (code) {
    case kIdentity:
      return "identity";
    case kSha2_256:
      return "sha2-256";
  }
  return HexCode(code);
}

void Sha256(std::string_view data, unsigned char out[32]) {
  // One context per thread, reset by each init: no allocation per call.
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Context context;
  if (context.ctx == nullptr) std::abort();
  Check(EVP_DigestInit_ex2(context.ctx, Sha256Md(), nullptr));
  Check(EVP_DigestUpdate(context.ctx, data.data(), data.size()));
  Check(EVP_DigestFinal_ex(context.ctx, out, nullptr));
}

Sha256Stream::Sha256Stream() : ctx_(NewSha256Ctx()) {}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(ctx_); }

Sha256Stream::Sha256Stream(Sha256Stream&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)) {}

Sha256Stream& Sha256Stream::operator=(Sha256Stream&& other) noexcept {
  std::swap(ctx_, other.ctx_);
  return *this;
}

void Sha256Stream::Update(std::string_view data) {
  if (ctx_ == nullptr) ctx_ = NewSha256Ctx();  // moved-from objects stay usable
  Check(EVP_DigestUpdate(ctx_, data.data(), data.size()));
}

void Sha256Stream::Final(unsigned char out[32]) {
  if (ctx_ == nullptr) ctx_ = NewSha256Ctx();
  Check(EVP_DigestFinal_ex(ctx_, out, nullptr));
  Check(EVP_DigestInit_ex2(ctx_, Sha256Md(), nullptr));
}

void Sha256Stream::Reset() {
  if (ctx_ == nullptr) ctx_ = NewSha256Ctx();
  Check(EVP_DigestInit_ex2(ctx_, Sha256Md(), nullptr));
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    hex[2 * i] = kDigits[byte >> 4];
    hex[2 * i + 1] = kDigits[byte & 0xf];
  }
  return hex;
}

Status Multihash::FromBytes(std::string_view bytes, Multihash* out) {
  std::string_view rest = bytes;
  Status status = Read(&rest, out);
  if (!status.ok()) return status;
  if (!rest.empty()) {
    return Status::InvalidArgument("multihash: " + std::to_string(rest.size()) +
                                   " unexpected bytes after the digest at byte " +
                                   std::to_string(bytes.size() - rest.size()));
  }
  return Status::OK();
}

Status Multihash::Read(std::string_view* in, Multihash* out) {
  std::string_view rest = *in;
  uint64_t code = 0;
  uint64_t length = 0;
  Status status = ReadUvarint(&rest, &code);
  if (!status.ok()) return Status::InvalidArgument("multihash code: " + status.message());
  if (code != kSha2_256 && code != kIdentity) {
    return Status::InvalidArgument("unsupported multihash code " + HexCode(code) +
                                   " (boxcar accepts sha2-256 0x12 and identity 0x00)");
  }
  const size_t length_offset = in->size() - rest.size();
  status = ReadUvarint(&rest, &length);
  if (!status.ok()) {
    return Status::InvalidArgument("multihash length at byte " + std::to_string(length_offset) +
                                   ": " + status.message());
  }
  if (code == kSha2_256 && length != kSha256Bytes) {
    return Status::InvalidArgument("sha2-256 multihash with a " + std::to_string(length) +
                                   "-byte digest (must be 32)");
  }
  if (length > rest.size()) {
    return Status::InvalidArgument("multihash digest truncated: length says " +
                                   std::to_string(length) + " bytes, " +
                                   std::to_string(rest.size()) + " remain");
  }
  const size_t header = in->size() - rest.size();
  const size_t total = header + static_cast<size_t>(length);
  out->code_ = code;
  out->digest_offset_ = static_cast<uint32_t>(header);
  out->bytes_.assign(in->data(), total);
  in->remove_prefix(total);
  return Status::OK();
}

Multihash Multihash::Sum(uint64_t code, std::string_view data) {
  assert(code == kSha2_256 || code == kIdentity);
  Multihash mh;
  if (code == kSha2_256) {
    unsigned char digest[kSha256Bytes];
    Sha256(data, digest);
    mh.bytes_.reserve(2 + kSha256Bytes);
    mh.bytes_.push_back(static_cast<char>(kSha2_256));
    mh.bytes_.push_back(static_cast<char>(kSha256Bytes));
    mh.bytes_.append(reinterpret_cast<const char*>(digest), kSha256Bytes);
    mh.code_ = kSha2_256;
    mh.digest_offset_ = 2;
    return mh;
  }
  mh.bytes_.reserve(1 + UvarintSize(data.size()) + data.size());
  mh.bytes_.push_back(static_cast<char>(kIdentity));
  AppendUvarint(&mh.bytes_, data.size());
  mh.digest_offset_ = static_cast<uint32_t>(mh.bytes_.size());
  mh.bytes_.append(data);
  mh.code_ = kIdentity;
  return mh;
}

Status Multihash::Verify(std::string_view data) const {
  const std::string_view expected = digest();
  if (code_ == kSha2_256) {
    unsigned char got[kSha256Bytes];
    Sha256(data, got);
    if (expected.size() == kSha256Bytes && std::memcmp(expected.data(), got, kSha256Bytes) == 0) {
      return Status::OK();
    }
    return Status::Corruption(
        "sha2-256 digest mismatch: expected " + HexEncode(expected) + ", got " +
        HexEncode(std::string_view(reinterpret_cast<const char*>(got), kSha256Bytes)));
  }
  if (code_ == kIdentity && !bytes_.empty()) {
    if (data == expected) return Status::OK();
    return Status::Corruption("identity digest mismatch: expected " + HexEncode(expected) +
                              ", got " + HexEncode(data));
  }
  return Status::InvalidArgument("cannot verify against an empty multihash");
}

}  // namespace boxcar::format
