#include "store/demotion_queue.h"

#include <utility>

namespace boxcar::store {

class DemotionQueue::Sink final : public EvictionSink {
 public:
  Sink(DemotionQueue* queue, size_t tier) : queue_(queue), tier_(tier) {}
  void OnEvict(std::string_view key, const BlockData& data) override {
    queue_->Push(tier_, key, data);
  }

 private:
  DemotionQueue* queue_;
  size_t tier_;
};

DemotionQueue::DemotionQueue(uint64_t max_bytes) : max_bytes_(max_bytes) {}

DemotionQueue::~DemotionQueue() = default;

EvictionSink* DemotionQueue::SinkFor(size_t tier) {
  std::lock_guard lock(mu_);
  while (sinks_.size() <= tier) sinks_.push_back(std::make_unique<Sink>(this, sinks_.size()));
  return sinks_[tier].get();
}

void DemotionQueue::Push(size_t tier, std::string_view key, const BlockData& data) {
  std::lock_guard lock(mu_);
  if (closed_ || bytes_ + data->size() > max_bytes_) {
    ++dropped_;
    return;
  }
  bytes_ += data->size();
  items_.push_back({tier, std::string(key), data});
  cv_.notify_one();
}

bool DemotionQueue::Pop(Item* out) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return closed_ || !items_.empty(); });
  if (items_.empty()) return false;
  *out = std::move(items_.front());
  items_.pop_front();
  bytes_ -= out->data->size();
  ++in_progress_;
  return true;
}

void DemotionQueue::Done() {
  std::lock_guard lock(mu_);
  --in_progress_;
  idle_cv_.notify_all();
}

void DemotionQueue::WaitIdle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return closed_ || (items_.empty() && in_progress_ == 0); });
}

void DemotionQueue::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  items_.clear();
  bytes_ = 0;
  cv_.notify_all();
  idle_cv_.notify_all();
}

uint64_t DemotionQueue::TakeDropped() {
  std::lock_guard lock(mu_);
  return std::exchange(dropped_, 0);
}

}  // namespace boxcar::store
