#include "block_streams.h"

#include <algorithm>
#include <cstring>
#include <shared_mutex>
#include <utility>

namespace leveldb_tier {

using boxcar::Status;

Status WholeReader::Read(uint64_t offset, size_t n, char* buf, size_t* got) {
  *got = 0;
  if (offset >= block_.size()) return Status::OK();
  *got = std::min<uint64_t>(n, block_.size() - offset);
  std::memcpy(buf, block_.data() + offset, *got);
  return Status::OK();
}

ChunkedReader::ChunkedReader(LevelDbStore* store, std::string_view key, const RecordHeader& header,
                             std::unique_ptr<PinnedSnapshot> pin)
    : store_(store), key_(key), size_(header.size), layout_(header.chunks), pin_(std::move(pin)) {}

ChunkedReader::~ChunkedReader() { store_->Unpin(pin_.get()); }

Status ChunkedReader::LoadChunk(uint32_t index) {
  std::shared_lock lock(store_->reopen_lock_);
  if (Status s = store_->CheckOpen(); !s.ok()) return s;
  has_chunk_ = false;
  if (Status s = store_->ReadChunk(key_, layout_, size_, index, pin_->snapshot, &chunk_); !s.ok()) {
    return s;
  }
  chunk_index_ = index;
  has_chunk_ = true;
  return Status::OK();
}

// Serves at most the rest of one chunk per call.
Status ChunkedReader::Read(uint64_t offset, size_t n, char* buf, size_t* got) {
  *got = 0;
  if (offset >= size_ || n == 0) return Status::OK();
  const auto index = static_cast<uint32_t>(offset / layout_.chunk_bytes);
  if (!has_chunk_ || chunk_index_ != index) {
    if (Status s = LoadChunk(index); !s.ok()) return s;
  }
  const uint64_t within = offset - static_cast<uint64_t>(index) * layout_.chunk_bytes;
  *got = std::min<uint64_t>(n, chunk_.size() - within);
  std::memcpy(buf, chunk_.data() + within, *got);
  return Status::OK();
}

StreamWriter::StreamWriter(LevelDbStore* store, std::string_view key, uint64_t size, bool durable,
                           const WritePolicy& policy, bool present)
    : store_(store), key_(key), size_(size), durable_(durable), policy_(policy), present_(present) {
  if (size > policy.large_block_bytes) {
    layout_ =
        ChunkLayout{store->NewWriteId(), ChunkCount(size, policy.chunk_bytes), policy.chunk_bytes};
  }
}

StreamWriter::~StreamWriter() {
  if (committed_ || chunks_written_ == 0) return;
  // On any failure the intent stays, and the next Open removes the chunks.
  try {
    leveldb::WriteBatch batch;
    for (uint32_t i = 0; i < chunks_written_; ++i) {
      batch.Delete(ChunkKey(key_, layout_.write_id, i));
    }
    batch.Delete(IntentKey(key_, layout_.write_id));
    store_->WriteUnordered(&batch, false);
  } catch (...) {
    // A destructor must not throw; the intent covers this case too.
  }
}

Status StreamWriter::Append(std::string_view piece) {
  if (committed_) return Status::InvalidArgument("append after commit");
  if (!failed_.ok()) return failed_;
  if (piece.size() > size_ - appended_) {
    return Status::InvalidArgument("appending " + std::to_string(piece.size()) +
                                   " bytes at offset " + std::to_string(appended_) +
                                   " exceeds the declared size " + std::to_string(size_) +
                                   " of block " + Hex(key_));
  }
  appended_ += piece.size();
  if (present_) return Status::OK();
  if (!chunked()) {
    buffer_.append(piece);
    return Status::OK();
  }
  while (!piece.empty()) {
    const size_t take = std::min<uint64_t>(piece.size(), layout_.chunk_bytes - buffer_.size());
    buffer_.append(piece.substr(0, take));
    piece.remove_prefix(take);
    // The last chunk stays buffered for the commit batch.
    if (buffer_.size() == layout_.chunk_bytes && chunks_written_ + 1 < layout_.count) {
      if (Status s = WriteFullChunk(); !s.ok()) {
        failed_ = s;
        return s;
      }
    }
  }
  return Status::OK();
}

Status StreamWriter::WriteFullChunk() {
  uint64_t saved = 0;
  const EncodedRecord record = store_->codec_.Encode(buffer_, policy_.compression, &saved);
  leveldb::WriteBatch batch;
  const bool first = chunks_written_ == 0;
  if (first) batch.Put(IntentKey(key_, layout_.write_id), leveldb::Slice());
  std::string joined;
  const std::string_view value = record.Join(&joined);
  batch.Put(ChunkKey(key_, layout_.write_id, chunks_written_),
            leveldb::Slice(value.data(), value.size()));
  // The intent must be durable before any chunk can be: it is what finds them after a crash.
  if (Status s = store_->WriteUnordered(&batch, first && durable_ && policy_.sync); !s.ok()) {
    return s;
  }
  store_->metrics_.bytes_written->Increment(static_cast<double>(record.size()));
  store_->metrics_.compression_saved->Increment(static_cast<double>(saved));
  ++chunks_written_;
  buffer_.clear();
  return Status::OK();
}

Status StreamWriter::Commit() {
  if (committed_) return Status::InvalidArgument("block " + Hex(key_) + " already committed");
  if (!failed_.ok()) return failed_;
  if (appended_ != size_) {
    return Status::InvalidArgument("block " + Hex(key_) + ": " + std::to_string(appended_) +
                                   " bytes appended, " + std::to_string(size_) + " declared");
  }
  Status s;
  if (present_) {
    s = store_->Write({}, durable_);  // syncs what may hold the present block, if need be
  } else if (chunked()) {
    s = CommitChunked();
  } else {
    const NewBlock block{key_, buffer_};
    s = store_->Write(std::span(&block, 1), durable_);
  }
  committed_ = s.ok();
  return s;
}

Status StreamWriter::CommitChunked() {
  LevelDbStore::EncodedBlock block;
  block.key = key_;
  block.header.format = RecordFormat::kChunked;
  block.header.size = size_;
  block.header.chunks = layout_;
  block.record = EncodedRecord{RecordFormat::kChunked, EncodeChunkedRecord(size_, layout_), {}};
  block.chunks.emplace_back(ChunkKey(key_, layout_.write_id, layout_.count - 1),
                            store_->codec_.Encode(buffer_, policy_.compression, &block.saved));
  if (chunks_written_ > 0) {
    block.streamed = LevelDbStore::StreamedChunks{layout_.write_id, chunks_written_};
  }
  LevelDbStore::WriteOp op;
  op.bytes = buffer_.size();
  op.entries = 1;
  op.sync = durable_ && policy_.sync;
  op.puts.push_back(std::move(block));
  return store_->Submit(&op);
}

}  // namespace leveldb_tier
