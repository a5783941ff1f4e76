#include "store/memory_governor.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>

namespace boxcar::store {
namespace {

constexpr double kHighWater = 0.90;  // start shrinking here
constexpr double kLowWater = 0.80;   // shrink down to here

// A cgroup v2 memory file: a number of bytes, or "max" (no limit).
std::optional<uint64_t> ReadCgroupBytes(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (...) {
    return std::nullopt;
  }
}

std::string Mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

uint64_t AutomaticBudget(const std::string& cgroup_dir) {
  const uint64_t physical =
      static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t budget = physical / 10 * 6;
  if (std::optional<uint64_t> limit = ReadCgroupBytes(cgroup_dir + "/memory.max")) {
    budget = std::min(budget, *limit / 100 * 85);
  }
  return budget;
}

Reservation::Reservation(Reservation&& other) noexcept
    : governor_(other.governor_), bytes_(other.bytes_) {
  other.governor_ = nullptr;
  other.bytes_ = 0;
}

Reservation& Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    if (governor_ != nullptr) governor_->Release(bytes_);
    governor_ = other.governor_;
    bytes_ = other.bytes_;
    other.governor_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

Reservation::~Reservation() {
  if (governor_ != nullptr) governor_->Release(bytes_);
}

MemoryGovernor::MemoryGovernor(uint64_t configured, ShrinkableMemory* memory,
                               std::string cgroup_dir)
    : memory_(memory), cgroup_dir_(std::move(cgroup_dir)) {
  SetBudget(configured);
}

void MemoryGovernor::SetBudget(uint64_t configured) {
  budget_.store(configured != 0 ? configured : AutomaticBudget(cgroup_dir_),
                std::memory_order_relaxed);
}

// Under admit_mu_, because the tiers' bytes are summed shard by shard: without the lock a read
// could count a shard before an admission's shrink and another shard after its put, and report
// more than the tiers ever held together. With it, everything that can change during the read
// only frees memory, so the sum never exceeds what was really held.
uint64_t MemoryGovernor::used() {
  std::lock_guard lock(admit_mu_);
  return memory_->CachedBytes() + reserved();
}

bool MemoryGovernor::CgroupNearLimit() const {
  const std::optional<uint64_t> limit = ReadCgroupBytes(cgroup_dir_ + "/memory.max");
  if (!limit) return false;
  const std::optional<uint64_t> current = ReadCgroupBytes(cgroup_dir_ + "/memory.current");
  return current && static_cast<double>(*current) > kHighWater * static_cast<double>(*limit);
}

uint64_t MemoryGovernor::Rebalance() {
  std::lock_guard lock(rebalance_mu_);
  const double budget = static_cast<double>(this->budget());
  const uint64_t cached = memory_->CachedBytes();
  const uint64_t total = cached + reserved();
  const bool over = static_cast<double>(total) > kHighWater * budget;
  if (!over && !CgroupNearLimit()) return 0;
  // Cached bytes are what can be given back; reservations are in use.
  const double allowed = std::max(0.0, kLowWater * budget - static_cast<double>(reserved()));
  const uint64_t target = over ? static_cast<uint64_t>(allowed) : cached / 10 * 8;
  if (target >= cached) return 0;
  const uint64_t now = memory_->ShrinkTo(target);
  shrinks_.fetch_add(1, std::memory_order_relaxed);
  // Freed cache entries go back to malloc; hand the free pages back to the kernel too, or the
  // process would stay as large as before.
  malloc_trim(0);
  return cached > now ? cached - now : 0;
}

Status MemoryGovernor::Admit(uint64_t bytes, const std::function<Status()>& put) {
  std::lock_guard lock(admit_mu_);
  const uint64_t budget = this->budget();
  const uint64_t held = reserved();
  if (held + bytes > budget) {
    return Status::Busy("the memory budget (" + Mib(budget) + ") has no room for " +
                        std::to_string(bytes) + " more bytes in a memory tier");
  }
  uint64_t cached = memory_->CachedBytes();
  if (cached + held + bytes > budget) {
    cached = memory_->ShrinkTo(budget - held - bytes);
    shrinks_.fetch_add(1, std::memory_order_relaxed);
  }
  if (cached + held + bytes > budget) {
    return Status::Busy("the memory tiers could not make room for " + std::to_string(bytes) +
                        " bytes within the memory budget (" + Mib(budget) + ")");
  }
  return put();
}

Status MemoryGovernor::Reserve(uint64_t bytes, std::string_view what, Reservation* out) {
  std::lock_guard lock(admit_mu_);
  const uint64_t budget = this->budget();
  uint64_t cached = memory_->CachedBytes();
  if (cached + reserved() + bytes > budget) {
    const uint64_t room = budget > reserved() + bytes ? budget - reserved() - bytes : 0;
    cached = memory_->ShrinkTo(std::min(cached, room / 10 * 9));
    shrinks_.fetch_add(1, std::memory_order_relaxed);
  }
  const uint64_t before = reserved_.fetch_add(bytes, std::memory_order_relaxed);
  if (cached + before + bytes > budget) {
    reserved_.fetch_sub(bytes, std::memory_order_relaxed);
    refusals_.fetch_add(1, std::memory_order_relaxed);
    return Status::Busy(std::string(what) + " needs " + Mib(bytes) + " but the memory budget (" +
                        Mib(budget) + ") has " +
                        Mib(budget > cached + before ? budget - cached - before : 0) +
                        " left after shrinking the caches; retry later, or raise "
                        "store.memory_budget_bytes");
  }
  *out = Reservation();
  out->governor_ = this;
  out->bytes_ = bytes;
  return Status::OK();
}

}  // namespace boxcar::store
