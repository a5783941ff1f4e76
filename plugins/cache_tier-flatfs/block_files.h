// Streamed reads and writes of the flatfs tier (FlatStore::OpenReader and OpenWriter), in
// bounded memory whatever the block's size.
//
// Each object is used by one thread at a time and must not outlive its store. A reader keeps its
// file open, so a concurrent Delete does not cut it short.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/cache_tier.h"
#include "flat_store.h"
#include "posix_io.h"
#include "zstd_codec.h"

namespace flatfs_tier {

// A raw block file, read with pread at the caller's offsets.
class RawFileReader final : public boxcar::BlockReader {
 public:
  RawFileReader(Fd fd, std::string path, uint64_t size, boxcar::Counter* corruption)
      : fd_(std::move(fd)), path_(std::move(path)), size_(size), corruption_(corruption) {}
  uint64_t size() const override { return size_; }
  boxcar::Status Read(uint64_t offset, size_t n, char* buf, size_t* got) override;

 private:
  const Fd fd_;
  const std::string path_;
  const uint64_t size_;
  boxcar::Counter* const corruption_;
};

// A zstd block file, decoded one frame (one piece of the block) at a time; each frame's checksum
// is verified before any of its bytes are handed out, so damage is Corruption naming the file,
// never wrong bytes. The starts of the frames passed are remembered, so a read behind the current
// piece jumps straight to its frame. Memory: about 1 MiB of file bytes read ahead, one decoded
// piece, and 16 bytes per frame passed.
class ZstdFileReader final : public boxcar::BlockReader {
 public:
  ZstdFileReader(Fd fd, std::string path, uint64_t size, uint64_t file_size, ZstdCodec* codec,
                 boxcar::Counter* corruption);

  uint64_t size() const override { return size_; }
  boxcar::Status Read(uint64_t offset, size_t n, char* buf, size_t* got) override;

 private:
  struct FrameStart {
    uint64_t file_offset;
    uint64_t block_offset;
  };
  // Decodes the frame holding block byte `offset` into piece_.
  boxcar::Status LoadPiece(uint64_t offset);
  // Makes input_ hold the file bytes from `file_offset` on (up to a whole frame's worth).
  boxcar::Status Fill(uint64_t file_offset);
  boxcar::Status Damaged(std::string_view what);

  const Fd fd_;
  const std::string path_;
  const uint64_t size_;
  const uint64_t file_size_;
  ZstdCodec* const codec_;
  boxcar::Counter* const corruption_;
  std::vector<FrameStart> frames_;  // frames found so far, in file order; the first is known
  std::string input_;               // file bytes from input_offset_ on
  uint64_t input_offset_ = 0;
  std::string piece_;  // the decoded frame that starts at block byte piece_offset_
  uint64_t piece_offset_ = 0;
  bool has_piece_ = false;
};

// Writes a block appended in pieces straight into its temporary file, buffering one piece of
// kFrameBytes at most. A block that fits in one piece is decided and written exactly as a Put
// writes it. A larger one is decided on its first piece: when compression applies and that piece
// compresses by 1/8, every piece becomes a zstd frame, else the block is written raw. Commit
// syncs (per policy), renames into place and syncs the directory (per policy). A block present
// when the writer opened is not written again: its bytes are only counted.
class FileWriter final : public boxcar::BlockWriter {
 public:
  FileWriter(FlatStore* store, std::string_view key, uint64_t size, bool sync,
             const CompressionPolicy& compression, FlatStore::Placement where, TempFile temp,
             bool present);
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  boxcar::Status Append(std::string_view piece) override;
  boxcar::Status Commit() override;

 private:
  boxcar::Status WritePending(bool last);
  boxcar::Status Written(std::string_view bytes);

  FlatStore* const store_;
  const std::string key_;
  const uint64_t size_;
  const bool sync_;
  const CompressionPolicy compression_;
  const FlatStore::Placement where_;
  TempFile temp_;  // removed on destruction unless committed
  const bool present_;
  std::string pending_;  // appended bytes not written yet
  uint64_t appended_ = 0;
  bool started_ = false;     // the header is written
  bool streamed_ = false;    // written piece by piece rather than as one block
  bool zstd_ = false;        // the pieces are zstd frames
  uint64_t file_bytes_ = 0;  // written by the streamed path
  boxcar::Status failed_;
  bool committed_ = false;
};

}  // namespace flatfs_tier
