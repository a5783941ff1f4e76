#include "runtime/tunables.h"

#include <algorithm>
#include <cmath>

namespace boxcar::runtime {

double Tunable::Clamp(double v) const {
  if (std::isnan(v)) v = configured;
  v = std::clamp(v, min, max);
  return integer ? std::round(v) : v;
}

std::shared_ptr<Tunable> TunableRegistry::Prepare(const std::string& name, double min, double max,
                                                  bool integer, double configured) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    const Tunable& live = *it->second;
    if (live.min == min && live.max == max && live.integer == integer &&
        live.configured == configured) {
      return it->second;
    }
  }
  auto entry = std::make_shared<Tunable>();
  entry->name = name;
  entry->min = min;
  entry->max = max;
  entry->integer = integer;
  entry->configured = configured;
  entry->value.store(entry->Clamp(configured));
  return entry;
}

void TunableRegistry::Publish(std::vector<std::shared_ptr<Tunable>> entries) {
  std::map<std::string, std::shared_ptr<Tunable>> next;
  for (auto& e : entries) next[e->name] = std::move(e);
  std::lock_guard lock(mu_);
  entries_.swap(next);
}

TunableRegistry::SetResult TunableRegistry::Set(const std::string& name, double value,
                                                double* applied) {
  std::shared_ptr<Tunable> entry = Find(name);
  if (!entry) return SetResult::kUnknown;
  const double stored = entry->Clamp(value);
  entry->value.store(stored);
  if (applied != nullptr) *applied = stored;
  return stored == value ? SetResult::kApplied : SetResult::kClamped;
}

std::vector<TunableInfo> TunableRegistry::List() const {
  std::lock_guard lock(mu_);
  std::vector<TunableInfo> out;
  out.reserve(entries_.size());
  for (const auto& [name, e] : entries_) {
    out.push_back({name, e->value.load(), e->min, e->max, e->integer});
  }
  return out;
}

std::shared_ptr<Tunable> TunableRegistry::Find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second;
}

}  // namespace boxcar::runtime
