#include "format/car.h"

#include <algorithm>

#include "format/dagcbor.h"
#include "format/varint.h"

namespace boxcar::format {
namespace {

// The CARv2 pragma: varint 10, then the dag-cbor map {"version": 2}.
constexpr unsigned char kV2Pragma[] = {0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72,
                                       0x73, 0x69, 0x6f, 0x6e, 0x02};
constexpr size_t kV2HeaderBytes = 40;
constexpr size_t kSkipChunk = 64 * 1024;

uint64_t LittleEndian64(const unsigned char* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

void AppendCborHead(std::string* out, uint8_t major, uint64_t argument) {
  const auto type = static_cast<unsigned char>(major << 5);
  if (argument < 24) {
    out->push_back(static_cast<char>(type | argument));
    return;
  }
  int width = 8;
  unsigned char info = 27;
  if (argument <= 0xff) {
    width = 1;
    info = 24;
  } else if (argument <= 0xffff) {
    width = 2;
    info = 25;
  } else if (argument <= 0xffffffff) {
    width = 4;
    info = 26;
  }
  out->push_back(static_cast<char>(type | info));
  for (int i = width - 1; i >= 0; --i) out->push_back(static_cast<char>(argument >> (8 * i)));
}

void AppendCborText(std::string* out, std::string_view text) {
  AppendCborHead(out, CborReader::kText, text.size());
  out->append(text);
}

}  // namespace

std::string EncodeCarV1Header(const std::vector<Cid>& roots) {
  std::string body;
  AppendCborHead(&body, CborReader::kMap, 2);
  // dag-cbor sorts keys by length first: "roots" before "version".
  AppendCborText(&body, "roots");
  AppendCborHead(&body, CborReader::kArray, roots.size());
  for (const Cid& root : roots) {
    AppendCborHead(&body, CborReader::kTag, 42);
    AppendCborHead(&body, CborReader::kBytes, root.bytes().size() + 1);
    body.push_back('\0');
    body += root.bytes();
  }
  AppendCborText(&body, "version");
  AppendCborHead(&body, CborReader::kUnsigned, 1);
  std::string out;
  AppendUvarint(&out, body.size());
  out += body;
  return out;
}

// ---- CarReader ----

CarReader::CarReader(std::istream& in, CarReaderOptions options)
    : buf_(in.rdbuf()), options_(options) {}

Status CarReader::Fail(Status status) {
  state_ = State::kFailed;
  failure_ = status;
  return status;
}

Status CarReader::HeaderError(std::string_view what) const {
  return Status::InvalidArgument("CAR header at byte " + std::to_string(header_start_) + ": " +
                                 std::string(what));
}

Status CarReader::SectionError(std::string_view what) const {
  return Status::InvalidArgument("CAR section " + std::to_string(sections_) + " at byte " +
                                 std::to_string(section_start_) + ": " + std::string(what));
}

Status CarReader::ReadExact(char* buf, size_t n, size_t* got) {
  *got = 0;
  if (buf_ == nullptr) return Status::IOError("CAR stream has no buffer");
  while (*got < n) {
    const std::streamsize chunk = buf_->sgetn(buf + *got, static_cast<std::streamsize>(n - *got));
    if (chunk <= 0) break;
    *got += static_cast<size_t>(chunk);
  }
  offset_ += *got;
  return Status::OK();
}

Status CarReader::ReadStreamUvarint(uint64_t* value, bool* clean_eof, std::string* raw) {
  *clean_eof = false;
  if (buf_ == nullptr) return Status::IOError("CAR stream has no buffer");
  uint64_t result = 0;
  for (size_t i = 0; i < kMaxUvarintBytes; ++i) {
    const int c = buf_->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      *clean_eof = i == 0;
      return Status::InvalidArgument("truncated varint");
    }
    ++offset_;
    const auto byte = static_cast<unsigned char>(c);
    if (raw != nullptr) raw->push_back(static_cast<char>(byte));
    result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      if (byte == 0 && i > 0) return Status::InvalidArgument("non-minimal varint");
      *value = result;
      return Status::OK();
    }
  }
  return Status::InvalidArgument("varint longer than 9 bytes");
}

Status CarReader::ReadV1Header(CarHeader* out, bool inner) {
  header_start_ = offset_;
  uint64_t length = 0;
  bool eof = false;
  Status status = ReadStreamUvarint(&length, &eof, nullptr);
  if (eof) return HeaderError("empty input: no CAR header");
  if (!status.ok()) return HeaderError("header length: " + status.message());
  if (length == 0) return HeaderError("zero-length header");
  if (length > options_.max_header_bytes) {
    return HeaderError("header length " + std::to_string(length) + " exceeds the limit of " +
                       std::to_string(options_.max_header_bytes) + " bytes");
  }
  scratch_.resize(static_cast<size_t>(length));
  size_t got = 0;
  status = ReadExact(scratch_.data(), scratch_.size(), &got);
  if (!status.ok()) return status;
  if (got < length) {
    return HeaderError("truncated header: " + std::to_string(length) + " bytes expected, " +
                       std::to_string(got) + " present");
  }

  CborReader reader(scratch_, "header map");
  uint64_t entries = 0;
  status = reader.ReadHeadOf(CborReader::kMap, "the header", &entries);
  if (!status.ok()) return HeaderError(status.message());
  bool have_version = false;
  bool have_roots = false;
  out->roots.clear();
  for (uint64_t i = 0; i < entries; ++i) {
    std::string_view key;
    status = reader.ReadText(&key);
    if (!status.ok()) return HeaderError(status.message());
    if (key == "version") {
      status = reader.ReadHeadOf(CborReader::kUnsigned, "version", &out->version);
      if (!status.ok()) return HeaderError(status.message());
      have_version = true;
    } else if (key == "roots") {
      uint64_t count = 0;
      status = reader.ReadHeadOf(CborReader::kArray, "roots", &count);
      if (!status.ok()) return HeaderError(status.message());
      for (uint64_t r = 0; r < count; ++r) {
        Cid root;
        status = reader.ReadLink(&root);
        if (!status.ok()) return HeaderError(status.message());
        out->roots.push_back(std::move(root));
      }
      have_roots = true;
    } else {
      // Unknown keys are tolerated for forward compatibility, but must be well-formed.
      status = reader.SkipItem(nullptr);
      if (!status.ok()) return HeaderError(status.message());
    }
  }
  if (!reader.done()) {
    return HeaderError(std::to_string(scratch_.size() - reader.offset()) +
                       " bytes after the header map");
  }
  if (!have_version) return HeaderError("missing \"version\"");
  if (out->version == 2 && !inner) return Status::OK();
  if (out->version != 1) {
    return HeaderError("unsupported CAR version " + std::to_string(out->version) +
                       (inner ? " in the CARv2 payload (must be 1)" : " (1 and 2 are supported)"));
  }
  if (!have_roots) return HeaderError("missing \"roots\"");
  return Status::OK();
}

Status CarReader::ReadHeader(CarHeader* out) {
  if (state_ == State::kFailed) return failure_;
  if (state_ != State::kStart) return Status::InvalidArgument("CAR header already read");
  Status status = ReadV1Header(out, /*inner=*/false);
  if (!status.ok()) return Fail(status);
  if (out->version == 2) {
    // The pragma is fixed; anything else claiming version 2 is malformed.
    if (offset_ - header_start_ != sizeof(kV2Pragma)) {
      return Fail(HeaderError("CARv2 pragma must be exactly {\"version\": 2}"));
    }
    unsigned char header[kV2HeaderBytes];
    size_t got = 0;
    status = ReadExact(reinterpret_cast<char*>(header), sizeof(header), &got);
    if (!status.ok()) return Fail(status);
    if (got < sizeof(header)) {
      return Fail(HeaderError("truncated CARv2 header: 40 bytes expected, " + std::to_string(got) +
                              " present"));
    }
    const uint64_t data_offset = LittleEndian64(header + 16);
    const uint64_t data_size = LittleEndian64(header + 24);
    if (data_offset < offset_) {
      return Fail(HeaderError("CARv2 data offset " + std::to_string(data_offset) +
                              " points into the header (must be at least " +
                              std::to_string(offset_) + ")"));
    }
    if (data_size > UINT64_MAX - data_offset) {
      return Fail(HeaderError("CARv2 data offset plus size overflows"));
    }
    status = SkipBytes(data_offset - offset_);
    if (!status.ok()) return Fail(status);
    if (offset_ < data_offset) {
      return Fail(HeaderError("CARv2 data offset " + std::to_string(data_offset) +
                              " is past the end of the input"));
    }
    payload_end_ = data_offset + data_size;
    CarHeader inner;
    status = ReadV1Header(&inner, /*inner=*/true);
    if (!status.ok()) return Fail(status);
    if (offset_ > payload_end_) {
      return Fail(HeaderError("inner CARv1 header runs past the CARv2 data size"));
    }
    out->version = 2;
    out->roots = std::move(inner.roots);
  }
  state_ = State::kBetween;
  return Status::OK();
}

Status CarReader::SkipBytes(uint64_t n) {
  char chunk[kSkipChunk];
  while (n > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(n, sizeof(chunk)));
    size_t got = 0;
    Status status = ReadExact(chunk, want, &got);
    if (!status.ok()) return status;
    n -= got;
    if (got < want) break;  // EOF: callers compare offset() with what they expected
  }
  return Status::OK();
}

Status CarReader::ReadSectionCid(uint64_t section_length, Cid* cid) {
  scratch_.clear();
  const uint64_t start = offset_;
  auto consumed = [&] { return offset_ - start; };
  bool eof = false;
  // Reads one varint of the CID into scratch_, within the section.
  auto varint = [&](const char* what, uint64_t* value) -> Status {
    Status status = ReadStreamUvarint(value, &eof, &scratch_);
    if (!status.ok()) {
      return SectionError(std::string("CID ") + what + ": " +
                          (eof ? std::string("truncated file") : status.message()));
    }
    if (consumed() > section_length) return SectionError("CID runs past the section length");
    return Status::OK();
  };
  uint64_t first = 0;
  Status status = varint("version", &first);
  if (!status.ok()) return status;
  uint64_t digest_length = 0;
  uint64_t ignored = 0;
  if (first == kSha2_256) {
    // CIDv0: a bare multihash; the code was the first varint.
    status = varint("multihash length", &digest_length);
  } else if (first == 1) {
    status = varint("codec", &ignored);
    if (status.ok()) status = varint("multihash code", &ignored);
    if (status.ok()) status = varint("multihash length", &digest_length);
  } else {
    status = SectionError(Cid::FromBytes(scratch_, cid).message());
  }
  if (!status.ok()) return status;
  if (digest_length > section_length - consumed() ||
      digest_length > kMaxCarCidBytes - scratch_.size()) {
    return SectionError("CID digest length " + std::to_string(digest_length) +
                        " runs past the section length " + std::to_string(section_length));
  }
  const size_t prefix = scratch_.size();
  scratch_.resize(prefix + static_cast<size_t>(digest_length));
  size_t got = 0;
  status = ReadExact(scratch_.data() + prefix, static_cast<size_t>(digest_length), &got);
  if (!status.ok()) return status;
  if (got < digest_length) return SectionError("truncated file inside the CID");
  status = Cid::FromBytes(scratch_, cid);
  if (!status.ok()) return SectionError(status.message());
  return Status::OK();
}

Status CarReader::NextSection(Cid* cid, uint64_t* body_size, bool* end) {
  *end = false;
  switch (state_) {
    case State::kFailed:
      return failure_;
    case State::kStart:
      return Status::InvalidArgument("CAR reader: ReadHeader must come first");
    case State::kEnd:
      *end = true;
      return Status::OK();
    case State::kInBody: {
      const uint64_t expected_end = offset_ + (body_size_ - body_read_);
      Status status = SkipBytes(body_size_ - body_read_);
      if (!status.ok()) return Fail(status);
      if (offset_ < expected_end) {
        return Fail(SectionError("truncated section: body ends at byte " + std::to_string(offset_) +
                                 ", expected " + std::to_string(expected_end)));
      }
      break;
    }
    case State::kBetween:
      break;
  }
  state_ = State::kBetween;
  if (offset_ == payload_end_) {
    state_ = State::kEnd;
    *end = true;
    return Status::OK();
  }
  section_start_ = offset_;
  ++sections_;
  uint64_t length = 0;
  bool eof = false;
  Status status = ReadStreamUvarint(&length, &eof, nullptr);
  if (eof) {
    if (payload_end_ != UINT64_MAX) {
      return Fail(SectionError("input ends at byte " + std::to_string(offset_) +
                               " before the CARv2 data size says (byte " +
                               std::to_string(payload_end_) + ")"));
    }
    --sections_;  // no section started
    state_ = State::kEnd;
    *end = true;
    return Status::OK();
  }
  if (!status.ok()) return Fail(SectionError("section length: " + status.message()));
  if (length == 0) return Fail(SectionError("zero-length section"));
  const uint64_t limit = options_.max_section_bytes + kMaxCarCidBytes;
  if (length > limit) {
    return Fail(SectionError("section length " + std::to_string(length) + " exceeds the limit of " +
                             std::to_string(limit) + " bytes"));
  }
  if (payload_end_ != UINT64_MAX && (offset_ > payload_end_ || length > payload_end_ - offset_)) {
    return Fail(SectionError("section of " + std::to_string(length) +
                             " bytes runs past the CARv2 data size (ends at byte " +
                             std::to_string(payload_end_) + ")"));
  }
  const uint64_t cid_start = offset_;
  status = ReadSectionCid(length, &current_);
  if (!status.ok()) return Fail(status);
  body_size_ = length - (offset_ - cid_start);
  if (body_size_ > options_.max_section_bytes) {
    return Fail(SectionError("block of " + std::to_string(body_size_) +
                             " bytes exceeds the limit of " +
                             std::to_string(options_.max_section_bytes)));
  }
  body_read_ = 0;
  chunked_ = false;
  state_ = State::kInBody;
  *cid = current_;
  *body_size = body_size_;
  return Status::OK();
}

Status CarReader::Mismatch(const Status& verify) const {
  return Status::Corruption("CAR section " + std::to_string(sections_) + " at byte " +
                            std::to_string(section_start_) + ": block " + current_.ToString() +
                            ": " + verify.message());
}

Status CarReader::ReadBody(std::string* out) {
  if (state_ == State::kFailed) return failure_;
  if (state_ != State::kInBody || body_read_ != 0 || chunked_) {
    return Status::InvalidArgument("CAR reader: ReadBody needs a fresh section from NextSection");
  }
  out->resize(static_cast<size_t>(body_size_));
  size_t got = 0;
  Status status = ReadExact(out->data(), out->size(), &got);
  if (!status.ok()) return Fail(status);
  body_read_ = got;
  if (got < body_size_) {
    out->resize(got);
    return Fail(SectionError("truncated section: block of " + std::to_string(body_size_) +
                             " bytes, " + std::to_string(got) + " present"));
  }
  state_ = State::kBetween;
  if (options_.verify) {
    status = current_.Verify(*out);
    if (!status.ok()) return Mismatch(status);
  }
  return Status::OK();
}

Status CarReader::ReadBodyChunk(char* buf, size_t n, size_t* got) {
  *got = 0;
  if (state_ == State::kFailed) return failure_;
  if (state_ == State::kBetween && chunked_) return Status::OK();  // body done
  if (state_ != State::kInBody) {
    return Status::InvalidArgument("CAR reader: ReadBodyChunk needs a section from NextSection");
  }
  if (n == 0) return Status::InvalidArgument("CAR reader: ReadBodyChunk needs n > 0");
  if (!chunked_) {
    chunked_ = true;
    sha_.Reset();
    identity_body_.clear();
  }
  const size_t want = static_cast<size_t>(std::min<uint64_t>(n, body_size_ - body_read_));
  Status status = ReadExact(buf, want, got);
  if (!status.ok()) return Fail(status);
  body_read_ += *got;
  if (*got < want) {
    return Fail(SectionError("truncated section: block of " + std::to_string(body_size_) +
                             " bytes, " + std::to_string(body_read_) + " present"));
  }
  if (options_.verify) {
    const std::string_view chunk(buf, *got);
    if (current_.hash().code() == kSha2_256) {
      sha_.Update(chunk);
    } else {
      identity_body_.append(chunk);
    }
  }
  if (body_read_ < body_size_) return Status::OK();
  state_ = State::kBetween;
  if (!options_.verify) return Status::OK();
  return FinishBodyCheck();
}

Status CarReader::FinishBodyCheck() {
  Status status;
  if (current_.hash().code() == kSha2_256) {
    unsigned char digest[kSha256Bytes];
    sha_.Final(digest);
    const std::string_view got(reinterpret_cast<const char*>(digest), kSha256Bytes);
    if (got != current_.hash().digest()) {
      status = Status::Corruption("sha2-256 digest mismatch: expected " +
                                  HexEncode(current_.hash().digest()) + ", got " + HexEncode(got));
    }
  } else {
    status = current_.Verify(identity_body_);
  }
  if (!status.ok()) return Mismatch(status);
  return Status::OK();
}

// ---- CarWriter ----

CarWriter::CarWriter(std::ostream& out) : out_(out) {}

Status CarWriter::Write(std::string_view bytes) {
  out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out_) {
    return Status::IOError("CAR write of " + std::to_string(bytes.size()) +
                           " bytes failed at byte " + std::to_string(bytes_written_));
  }
  bytes_written_ += bytes.size();
  return Status::OK();
}

Status CarWriter::CheckBlockComplete() const {
  if (!header_written_) return Status::InvalidArgument("CAR writer: WriteHeader must come first");
  if (pending_ != 0) {
    return Status::InvalidArgument("CAR writer: the streamed block still needs " +
                                   std::to_string(pending_) + " bytes");
  }
  return Status::OK();
}

Status CarWriter::WriteHeader(const std::vector<Cid>& roots) {
  if (header_written_) return Status::InvalidArgument("CAR writer: header already written");
  Status status = Write(EncodeCarV1Header(roots));
  if (!status.ok()) return status;
  header_written_ = true;
  return Status::OK();
}

Status CarWriter::BeginBlock(const Cid& cid, uint64_t size) {
  Status status = CheckBlockComplete();
  if (!status.ok()) return status;
  if (cid.empty()) return Status::InvalidArgument("CAR writer: empty CID");
  scratch_.clear();
  AppendUvarint(&scratch_, cid.bytes().size() + size);
  scratch_ += cid.bytes();
  status = Write(scratch_);
  if (!status.ok()) return status;
  pending_ = size;
  return Status::OK();
}

Status CarWriter::Append(std::string_view chunk) {
  if (chunk.size() > pending_) {
    return Status::InvalidArgument("CAR writer: " + std::to_string(chunk.size()) +
                                   " bytes appended where the block has " +
                                   std::to_string(pending_) + " left");
  }
  Status status = Write(chunk);
  if (!status.ok()) return status;
  pending_ -= chunk.size();
  return Status::OK();
}

Status CarWriter::WriteBlock(const Cid& cid, std::string_view data) {
  Status status = BeginBlock(cid, data.size());
  if (!status.ok()) return status;
  return Append(data);
}

Status CarWriter::Finish() {
  Status status = CheckBlockComplete();
  if (!status.ok()) return status;
  out_.flush();
  if (!out_) return Status::IOError("CAR writer: flush failed");
  return Status::OK();
}

}  // namespace boxcar::format
