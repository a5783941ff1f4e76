// CAR (content-addressed archive) files. CARv1 is a varint-framed dag-cbor header
// {roots: [CID...], version: 1} followed by sections <varint length><binary CID><block bytes>.
// CARv2 wraps a CARv1 payload: an 11-byte pragma (a CARv1 header {version: 2}), a 40-byte header
// (16 characteristic bytes, then data offset, data size and index offset as little-endian
// uint64), the payload at the data offset, then an optional index that boxcar does not need.
//
// Thread safety: a reader or writer belongs to one thread at a time, as does its stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"
#include "format/cid.h"
#include "format/multihash.h"

namespace boxcar::format {

struct CarHeader {
  // 1 or 2: the container version. For a CARv2, roots come from the inner CARv1 header.
  uint64_t version = 1;
  std::vector<Cid> roots;
};

struct CarReaderOptions {
  // Largest header (after its length varint) accepted.
  uint64_t max_header_bytes = 1 << 20;
  // Largest block body accepted; the section may be longer by its CID (at most kMaxCarCidBytes).
  uint64_t max_section_bytes = 8 << 20;
  // Check every body against its CID's multihash.
  bool verify = true;
};

// Longest binary CID accepted in a CAR section (bounds identity CIDs).
inline constexpr uint64_t kMaxCarCidBytes = 4096;

// Streaming CARv1/CARv2 reader. Reads through `in`'s stream buffer from its current position,
// never seeks, and holds at most one section's body in memory (none with ReadBodyChunk).
//
// Errors name the place: "CAR header at byte <n>: ..." or "CAR section <k> at byte <n>: ..."
// where sections count from 1 and <n> is the stream offset where the section (or header) starts.
// Malformed input is InvalidArgument (truncation, bad varints, oversized lengths, bad CIDs, bad
// header) and leaves the reader spent: every later call returns that error again. A body that
// does not match its CID is Corruption naming the CID and both digests; the section was read
// whole, so NextSection may continue with the next one.
class CarReader {
 public:
  explicit CarReader(std::istream& in, CarReaderOptions options = {});
  CarReader(const CarReader&) = delete;
  CarReader& operator=(const CarReader&) = delete;

  // Reads the header; call once, first. For a CARv2 it reads the pragma and v2 header, skips to
  // the data offset, reads the inner CARv1 header and limits the sections to the data size.
  Status ReadHeader(CarHeader* out);

  // Advances to the next section. OK with *end=false and the section's CID and body length, or
  // *end=true at a clean end of the payload (EOF, or the CARv2 data size) between sections. An
  // unread or partly read body of the previous section is skipped without verification.
  Status NextSection(Cid* cid, uint64_t* body_size, bool* end);

  // Reads the whole body of the current section into *out (verified when options.verify). Only
  // before any ReadBodyChunk for this section.
  Status ReadBody(std::string* out);

  // Reads up to n (> 0) bytes of the current body into buf; *got == 0 when the body is done.
  // With options.verify, the read that delivers the last byte (for an empty body, the first
  // call) returns Corruption on a mismatch, with *got set to the bytes delivered.
  Status ReadBodyChunk(char* buf, size_t n, size_t* got);

  // Bytes consumed from the stream since construction.
  uint64_t offset() const { return offset_; }
  // Sections started so far (NextSection calls that returned a section).
  uint64_t sections() const { return sections_; }

 private:
  enum class State { kStart, kBetween, kInBody, kEnd, kFailed };

  Status Fail(Status status);
  Status HeaderError(std::string_view what) const;
  Status SectionError(std::string_view what) const;
  Status ReadExact(char* buf, size_t n, size_t* got);
  Status ReadStreamUvarint(uint64_t* value, bool* clean_eof, std::string* raw);
  Status ReadV1Header(CarHeader* out, bool inner);
  Status ReadSectionCid(uint64_t section_length, Cid* cid);
  Status SkipBytes(uint64_t n);
  Status FinishBodyCheck();
  Status Mismatch(const Status& verify) const;

  std::streambuf* buf_;
  CarReaderOptions options_;
  State state_ = State::kStart;
  Status failure_;
  uint64_t offset_ = 0;
  uint64_t sections_ = 0;
  uint64_t section_start_ = 0;
  uint64_t header_start_ = 0;
  // Offset where the payload ends (CARv2 data size); UINT64_MAX for a CARv1.
  uint64_t payload_end_ = UINT64_MAX;
  Cid current_;
  uint64_t body_size_ = 0;
  uint64_t body_read_ = 0;
  bool chunked_ = false;
  Sha256Stream sha_;
  std::string identity_body_;
  std::string scratch_;
};

// Streaming CARv1 writer: WriteHeader once, then blocks whole (WriteBlock) or streamed
// (BeginBlock, then Append until exactly `size` bytes), then Finish. Errors: IOError when the
// stream fails, InvalidArgument for calls out of order or a streamed body of the wrong length.
class CarWriter {
 public:
  explicit CarWriter(std::ostream& out);
  CarWriter(const CarWriter&) = delete;
  CarWriter& operator=(const CarWriter&) = delete;

  Status WriteHeader(const std::vector<Cid>& roots);
  Status WriteBlock(const Cid& cid, std::string_view data);
  Status BeginBlock(const Cid& cid, uint64_t size);
  Status Append(std::string_view chunk);
  // Checks that the last streamed block is complete and flushes the stream.
  Status Finish();

  uint64_t bytes_written() const { return bytes_written_; }

 private:
  Status Write(std::string_view bytes);
  Status CheckBlockComplete() const;

  std::ostream& out_;
  bool header_written_ = false;
  uint64_t pending_ = 0;  // bytes still owed to the streamed block
  uint64_t bytes_written_ = 0;
  std::string scratch_;
};

// The encoded CARv1 header for `roots` (length varint included), as CarWriter writes it.
std::string EncodeCarV1Header(const std::vector<Cid>& roots);

}  // namespace boxcar::format
