#include "store/absent_key_index.h"

namespace boxcar::store {

AbsentKeyIndex::AbsentKeyIndex(uint64_t key_cache_entries) : keys_(key_cache_entries) {}

bool AbsentKeyIndex::ProbablyAbsent(std::string_view key) {
  uint64_t size = 0;
  switch (keys_.Lookup(key, &size)) {
    case KeyCache::Answer::kAbsent:
      return true;
    case KeyCache::Answer::kPresent:
      return false;
    case KeyCache::Answer::kUnknown:
      break;
  }
  if (!bloom_ready_.load(std::memory_order_acquire)) return false;
  return !bloom_->MayContain(key);
}

void AbsentKeyIndex::NoteWritten(std::string_view key, uint64_t size) {
  {
    std::lock_guard lock(bloom_mu_);
    if (bloom_) bloom_->Add(key);
    if (building_) building_->Add(key);
  }
  keys_.RecordPresent(key, size);
}

std::shared_ptr<BloomFilter> AbsentKeyIndex::BeginBuild(uint64_t expected_keys, int bits_per_key) {
  auto filter = std::make_shared<BloomFilter>(expected_keys, bits_per_key);
  std::lock_guard lock(bloom_mu_);
  building_ = filter;
  return filter;
}

void AbsentKeyIndex::FinishBuild(bool complete) {
  std::lock_guard lock(bloom_mu_);
  std::shared_ptr<BloomFilter> built = std::move(building_);
  if (!complete || bloom_) return;
  bloom_ = std::move(built);
  bloom_ready_.store(true, std::memory_order_release);
}

}  // namespace boxcar::store
