// Streamed reads and writes of the leveldb tier (LevelDbStore::OpenReader and OpenWriter).
//
// Each object is used by one thread at a time and must not outlive its store.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "boxcar/cache_tier.h"
#include "leveldb_store.h"
#include "record_format.h"

namespace leveldb_tier {

// A block small enough to have been decoded whole when the reader opened.
class WholeReader final : public boxcar::BlockReader {
 public:
  explicit WholeReader(std::string block) : block_(std::move(block)) {}
  uint64_t size() const override { return block_.size(); }
  boxcar::Status Read(uint64_t offset, size_t n, char* buf, size_t* got) override;

 private:
  const std::string block_;
};

// A chunked block, read one chunk at a time from a snapshot taken when the reader opened, so a
// concurrent Delete does not cut it short; holds one decoded chunk at most.
class ChunkedReader final : public boxcar::BlockReader {
 public:
  ChunkedReader(LevelDbStore* store, std::string_view key, const RecordHeader& header,
                std::unique_ptr<PinnedSnapshot> pin);
  ~ChunkedReader() override;
  ChunkedReader(const ChunkedReader&) = delete;
  ChunkedReader& operator=(const ChunkedReader&) = delete;

  uint64_t size() const override { return size_; }
  boxcar::Status Read(uint64_t offset, size_t n, char* buf, size_t* got) override;

 private:
  boxcar::Status LoadChunk(uint32_t index);

  LevelDbStore* const store_;
  const std::string key_;
  const uint64_t size_;
  const ChunkLayout layout_;
  const std::unique_ptr<PinnedSnapshot> pin_;
  std::string chunk_;  // the decoded chunk chunk_index_, when has_chunk_
  uint32_t chunk_index_ = 0;
  bool has_chunk_ = false;
};

// Writes a block appended in pieces. A block of at most large_block_bytes is buffered and
// committed like a Put. A larger one is cut into chunks: each full chunk but the last is written
// at once in a batch of its own (the first one with the write's intent record, synced when the
// write is durable), so at most one chunk is buffered; Commit writes the last chunk and the block
// record in one group-committed batch that also deletes the intent. A block that was present when
// the writer opened is not written again: its bytes are only counted.
class StreamWriter final : public boxcar::BlockWriter {
 public:
  StreamWriter(LevelDbStore* store, std::string_view key, uint64_t size, bool durable,
               const WritePolicy& policy, bool present);
  // Without a successful Commit, deletes the chunks already written.
  ~StreamWriter() override;
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  boxcar::Status Append(std::string_view piece) override;
  boxcar::Status Commit() override;

 private:
  bool chunked() const { return layout_.count > 0; }
  boxcar::Status WriteFullChunk();
  boxcar::Status CommitChunked();

  LevelDbStore* const store_;
  const std::string key_;
  const uint64_t size_;
  const bool durable_;
  const WritePolicy policy_;
  const bool present_;
  ChunkLayout layout_;  // count 0 for a block written whole
  std::string buffer_;  // appended bytes not written yet
  uint64_t appended_ = 0;
  uint32_t chunks_written_ = 0;
  boxcar::Status failed_;  // a failed chunk write fails the writer
  bool committed_ = false;
};

}  // namespace leveldb_tier
