#include "block_files.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "layout.h"

namespace flatfs_tier {
namespace {

using boxcar::Status;

// File bytes a zstd reader reads at once: any frame it accepts fits.
const size_t kReadAheadBytes = ZSTD_compressBound(kMaxFrameBytes);

std::string HexKey(std::string_view key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : key) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xf]);
  }
  return out;
}

}  // namespace

Status RawFileReader::Read(uint64_t offset, size_t n, char* buf, size_t* got) {
  *got = 0;
  if (offset >= size_) return Status::OK();
  const size_t want = std::min<uint64_t>(n, size_ - offset);
  if (Status s = ReadAt(fd_, kHeaderBytes + offset, want, buf, got, path_); !s.ok()) return s;
  if (*got != want) {
    *got = 0;
    corruption_->Increment();
    return Status::Corruption("block file " + path_ + ": the file shrank while it was read");
  }
  return Status::OK();
}

ZstdFileReader::ZstdFileReader(Fd fd, std::string path, uint64_t size, uint64_t file_size,
                               ZstdCodec* codec, boxcar::Counter* corruption)
    : fd_(std::move(fd)),
      path_(std::move(path)),
      size_(size),
      file_size_(file_size),
      codec_(codec),
      corruption_(corruption),
      frames_{FrameStart{kHeaderBytes, 0}} {}

Status ZstdFileReader::Damaged(std::string_view what) {
  corruption_->Increment();
  return Status::Corruption("block file " + path_ + ": " + std::string(what));
}

Status ZstdFileReader::Fill(uint64_t file_offset) {
  const uint64_t want = std::min<uint64_t>(kReadAheadBytes, file_size_ - file_offset);
  if (input_offset_ <= file_offset && file_offset + want <= input_offset_ + input_.size()) {
    return Status::OK();
  }
  input_.resize(want);
  input_offset_ = file_offset;
  size_t got = 0;
  if (Status s = ReadAt(fd_, file_offset, want, input_.data(), &got, path_); !s.ok()) {
    input_.clear();
    return s;
  }
  if (got != want) {
    input_.clear();
    return Damaged("the file shrank while it was read");
  }
  return Status::OK();
}

Status ZstdFileReader::LoadPiece(uint64_t offset) {
  has_piece_ = false;
  // Resume from the last frame known to start at or before `offset`.
  auto known =
      std::upper_bound(frames_.begin(), frames_.end(), offset,
                       [](uint64_t o, const FrameStart& frame) { return o < frame.block_offset; });
  FrameStart at = *(known - 1);
  while (true) {
    if (at.file_offset >= file_size_) {
      return Damaged("the zstd frames end at block byte " + std::to_string(at.block_offset) +
                     ", the header says " + std::to_string(size_));
    }
    if (Status s = Fill(at.file_offset); !s.ok()) return s;
    size_t frame_bytes = 0;
    const std::string_view input = std::string_view(input_).substr(at.file_offset - input_offset_);
    if (std::string error = codec_->DecompressFrame(input, kMaxFrameBytes, &piece_, &frame_bytes);
        !error.empty()) {
      return Damaged(error + " (at file byte " + std::to_string(at.file_offset) + ")");
    }
    if (piece_.empty()) return Damaged("an empty zstd frame");
    const FrameStart next{at.file_offset + frame_bytes, at.block_offset + piece_.size()};
    if (next.block_offset > size_) {
      return Damaged("the zstd frames hold more than the header's " + std::to_string(size_) +
                     " bytes");
    }
    if (next.block_offset == size_ && next.file_offset != file_size_) {
      return Damaged("bytes follow the last zstd frame");
    }
    if (next.block_offset < size_ && frames_.back().block_offset < next.block_offset) {
      frames_.push_back(next);
    }
    if (offset < next.block_offset) {
      piece_offset_ = at.block_offset;
      has_piece_ = true;
      return Status::OK();
    }
    at = next;
  }
}

Status ZstdFileReader::Read(uint64_t offset, size_t n, char* buf, size_t* got) {
  *got = 0;
  if (offset >= size_ || n == 0) return Status::OK();
  if (!has_piece_ || offset < piece_offset_ || offset >= piece_offset_ + piece_.size()) {
    if (Status s = LoadPiece(offset); !s.ok()) return s;
  }
  const uint64_t within = offset - piece_offset_;
  *got = std::min<uint64_t>(n, piece_.size() - within);
  std::memcpy(buf, piece_.data() + within, *got);
  return Status::OK();
}

FileWriter::FileWriter(FlatStore* store, std::string_view key, uint64_t size, bool sync,
                       const CompressionPolicy& compression, FlatStore::Placement where,
                       TempFile temp, bool present)
    : store_(store),
      key_(key),
      size_(size),
      sync_(sync),
      compression_(compression),
      where_(std::move(where)),
      temp_(std::move(temp)),
      present_(present) {}

Status FileWriter::Append(std::string_view piece) {
  if (committed_) return Status::InvalidArgument("append after commit");
  if (!failed_.ok()) return failed_;
  if (piece.size() > size_ - appended_) {
    return Status::InvalidArgument("appending " + std::to_string(piece.size()) +
                                   " bytes at offset " + std::to_string(appended_) +
                                   " exceeds the declared size " + std::to_string(size_) +
                                   " of block " + HexKey(key_));
  }
  appended_ += piece.size();
  if (present_) return Status::OK();
  while (!piece.empty()) {
    const size_t take = std::min(piece.size(), kFrameBytes - pending_.size());
    pending_.append(piece.substr(0, take));
    piece.remove_prefix(take);
    // A full piece is written once more bytes are known to follow; the last stays for Commit.
    const bool more_follow = appended_ - piece.size() < size_;
    if (pending_.size() == kFrameBytes && more_follow) {
      if (Status s = WritePending(false); !s.ok()) {
        failed_ = s;
        return s;
      }
    }
  }
  return Status::OK();
}

Status FileWriter::Written(std::string_view bytes) {
  file_bytes_ += bytes.size();
  return WriteAll(temp_.fd(), bytes, temp_.path());
}

Status FileWriter::WritePending(bool last) {
  if (!started_ && last) {
    // The whole block is pending: it is decided and written exactly as a Put writes it.
    started_ = true;
    Status s = store_->WriteBlockFile(temp_, pending_, compression_);
    pending_.clear();
    return s;
  }
  std::string frame;
  if (!started_) {
    started_ = true;
    streamed_ = true;
    zstd_ = compression_.Applies(size_) &&
            store_->codec_.CompressFrame(pending_, compression_.level, &frame) &&
            WorthKeeping(frame.size(), pending_.size());
    if (Status s = Written(EncodeHeader(zstd_ ? FileFormat::kZstd : FileFormat::kRaw, size_));
        !s.ok()) {
      return s;
    }
  } else if (zstd_ && !store_->codec_.CompressFrame(pending_, compression_.level, &frame)) {
    return Status::Internal("zstd cannot compress a piece of block " + HexKey(key_));
  }
  Status s = Written(zstd_ ? std::string_view(frame) : std::string_view(pending_));
  pending_.clear();
  return s;
}

Status FileWriter::Commit() {
  if (committed_) return Status::InvalidArgument("block " + HexKey(key_) + " already committed");
  if (!failed_.ok()) return failed_;
  if (appended_ != size_) {
    return Status::InvalidArgument("block " + HexKey(key_) + ": " + std::to_string(appended_) +
                                   " bytes appended, " + std::to_string(size_) + " declared");
  }
  Status s;
  if (present_) {
    if (sync_) s = store_->SyncPresent(where_.path);
    if (s.ok() && sync_) s = store_->SyncDirCounted(where_.shard_dir);
    committed_ = s.ok();
    return s;
  }
  if (!started_ || !pending_.empty()) s = WritePending(true);
  if (s.ok() && sync_) s = store_->SyncCounted(temp_.fd(), temp_.path());
  bool placed = false;
  if (s.ok()) s = store_->Publish(&temp_, where_, size_, &placed);
  if (s.ok() && placed && sync_) s = store_->SyncDirCounted(where_.shard_dir);
  if (!s.ok()) {
    failed_ = s;
    return s;
  }
  if (streamed_) {
    store_->metrics_.written_bytes->Increment(static_cast<double>(file_bytes_));
    const uint64_t payload = file_bytes_ - kHeaderBytes;
    if (zstd_ && payload < size_) {
      store_->metrics_.compression_saved->Increment(static_cast<double>(size_ - payload));
    }
  }
  committed_ = true;
  return Status::OK();
}

}  // namespace flatfs_tier
