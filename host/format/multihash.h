// Multihashes (multiformats): <code varint><digest length varint><digest>. boxcar understands
// sha2-256 (the only hash IPFS content uses in practice) and identity (the data inlined as the
// digest); every other code is refused when parsed so that nothing unverifiable gets stored.
//
// Thread safety: Multihash is a value type. Sha256Stream is not thread-safe; use one per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "boxcar/status.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace boxcar::format {

inline constexpr uint64_t kIdentity = 0x00, kSha2_256 = 0x12;
inline constexpr size_t kSha256Bytes = 32;

// Name of a multihash code ("sha2-256", "identity") or "0x.." (lower-case hex) for unknown ones.
std::string MultihashName(uint64_t code);

// One-shot SHA-256 through OpenSSL's EVP interface (SHA-NI where the CPU has it), on a
// per-thread context. The only allocation is the one OpenSSL 3.0's provider makes for its state
// on each init (no EVP path avoids it; ~45 ns, against ~650 ns to hash 1 KiB).
void Sha256(std::string_view data, unsigned char out[32]);

// Incremental SHA-256. Final writes the digest and resets the stream, so the same object then
// hashes a new message from the start. Not copyable; movable.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(Sha256Stream&& other) noexcept;
  Sha256Stream& operator=(Sha256Stream&& other) noexcept;
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Update(std::string_view data);
  void Final(unsigned char out[32]);
  // Drops any data hashed so far.
  void Reset();

 private:
  evp_md_ctx_st* ctx_;
};

// Lower-case hex of `bytes`, for messages.
std::string HexEncode(std::string_view bytes);

// A binary multihash (code varint, length varint, digest), held as its bytes.
class Multihash {
 public:
  // An empty (invalid) multihash; assign a parsed one before use.
  Multihash() = default;

  // Parses `bytes`, which must be exactly one multihash. Checks that the code is known, that the
  // digest length matches the code (32 for sha2-256) and the input. Errors are InvalidArgument
  // naming the problem and its byte offset; an unknown code is named in hex.
  static Status FromBytes(std::string_view bytes, Multihash* out);
  // Parses one multihash from the front of *in and advances *in past it. *in is unchanged on
  // error. Reuses out's buffer, so parsing into the same object again does not allocate.
  static Status Read(std::string_view* in, Multihash* out);
  // The multihash of `data` under `code` (kSha2_256 or kIdentity; any other code is a bug and
  // yields an identity multihash of `data`, so callers must pass one of the two).
  static Multihash Sum(uint64_t code, std::string_view data);

  uint64_t code() const { return code_; }
  std::string_view digest() const { return std::string_view(bytes_).substr(digest_offset_); }
  const std::string& bytes() const { return bytes_; }
  bool empty() const { return bytes_.empty(); }

  // OK when `data` hashes to this multihash. Otherwise Corruption
  // "sha2-256 digest mismatch: expected <hex>, got <hex>" (or "identity digest mismatch: ...").
  Status Verify(std::string_view data) const;

  bool operator==(const Multihash&) const = default;

 private:
  uint64_t code_ = 0;
  uint32_t digest_offset_ = 0;
  std::string bytes_;
};

}  // namespace boxcar::format
