// One live plugin object and what keeps it valid: its library, its host services, its params.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "boxcar/cache_tier.h"
#include "boxcar/plugin.h"
#include "runtime/host_services.h"
#include "runtime/plugin_file.h"

namespace boxcar::runtime {

// A plugin interface an instance can be called through: Plugin itself, or an interface that
// names its kind (Prioritizer, Batcher, ConnManager, Tuner, CacheTier).
template <class Iface>
concept PluginInterface = std::is_same_v<Iface, Plugin> ||
    (std::is_base_of_v<Plugin, Iface>&& requires { Iface::kKind; });

// A position in Config::slots and Generation::instances, typed by the interface of the plugins
// that serve it. Runtime::Call takes one, so calling a slot through another interface does not
// compile. The index is public for the code that walks a generation's instances.
template <PluginInterface Iface>
struct SlotHandle {
  using Interface = Iface;
  size_t index;
};

class Instance {
 public:
  ~Instance();

  // Marks a call in progress; false when the instance was retired, in which case the caller
  // must look up the current one. Pairs with Exit.
  bool Enter() {
    std::atomic<int64_t>& active = active_[ThreadStripe()].calls;
    active.fetch_add(1, std::memory_order_seq_cst);
    if (!retired_.load(std::memory_order_seq_cst)) return true;
    active.fetch_sub(1, std::memory_order_release);
    return false;
  }
  void Exit() { active_[ThreadStripe()].calls.fetch_sub(1, std::memory_order_release); }

  // Calls f(Iface&), under the instance mutex when the plugin is not thread safe. The caller
  // holds an Enter. The downcast is sound because a slot only ever holds plugins of its kind:
  // the catalog refuses a plugin of another kind, and typed SlotHandles pick the interface.
  template <PluginInterface Iface, class F>
  decltype(auto) Invoke(F&& f) {
    if constexpr (!std::is_same_v<Iface, Plugin>) assert(info().kind == Iface::kKind);
    auto& target = static_cast<Iface&>(*plugin_);
    if (!serialize_) return f(target);
    std::lock_guard lock(serial_);
    return f(target);
  }

  // Stops new calls and waits until the calls in flight returned. Enter's seq_cst increment and
  // this seq_cst store mean that either the caller sees the flag or this sees the caller.
  void RetireAndWait();

  const PluginInfo& info() const { return library_->info(); }
  const std::shared_ptr<PluginLibrary>& library() const { return library_; }
  InstanceServices& services() { return *services_; }
  Plugin& plugin() { return *plugin_; }
  const std::string& slot() const { return slot_; }
  const nlohmann::json& params_json() const { return params_json_; }
  const std::string& loaded_at() const { return loaded_at_; }
  bool Has(Capability c) const { return info().Has(c); }

  // Applies validated params in place; the caller checked kReconfigure. CreateContext::params
  // keeps pointing at the params the instance was created with.
  Status Reconfigure(const nlohmann::json& params_json);

 private:
  friend struct InstanceFactory;
  Instance() = default;

  // Order matters: members are destroyed bottom-up, and the plugin object's code lives in the
  // library, so the library goes last.
  std::shared_ptr<PluginLibrary> library_;
  std::shared_ptr<InstanceServices> services_;
  std::unique_ptr<Params> params_;
  std::unique_ptr<Plugin> plugin_;

  std::string slot_;
  nlohmann::json params_json_;
  std::string loaded_at_;
  bool serialize_ = false;
  std::mutex serial_;
  // Calls in flight, striped by thread: one shared counter would bounce its cache line between
  // cores on every call. A thread always uses the same stripe, so Enter and Exit pair up.
  static constexpr size_t kStripes = 16;
  struct alignas(64) Stripe {
    std::atomic<int64_t> calls{0};
  };
  static size_t ThreadStripe() {
    static std::atomic<size_t> next{0};
    thread_local const size_t stripe = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
    return stripe;
  }
  Stripe active_[kStripes];
  std::atomic<bool> retired_{false};
};

class TunableRegistry;

struct InstanceRequest {
  std::shared_ptr<PluginLibrary> library;
  std::string slot;            // "prioritizer", "store.tiers[0]"
  std::string params_pointer;  // where params sit in the config, for errors
  nlohmann::json params;       // as configured; validated and completed here
  std::shared_ptr<HostContext> context;
  TunableRegistry* tunables = nullptr;
  EvictionSink* evictions = nullptr;
  std::string data_dir = {};  // persistent cache_tier only: CreateContext::data_dir
};

// A plugin object with the services and params it was created with.
struct CreatedPlugin {
  std::shared_ptr<InstanceServices> services;
  std::unique_ptr<Params> params;
  nlohmann::json params_json;  // validated, defaults filled
  std::unique_ptr<Plugin> plugin;
};

// Validates params against the plugin's schema, prepares its tunables and calls its factory.
// Errors carry the JSON pointer of the offending param or the factory's message. The library
// must outlive `out->plugin`.
Status CreatePlugin(InstanceRequest request, CreatedPlugin* out);

struct InstanceFactory {
  // CreatePlugin, wrapped in an Instance that keeps the library mapped.
  static Status Create(InstanceRequest request, std::shared_ptr<Instance>* out);
};

// Validated params plus their typed form; shared by creation and in-place reconfigure.
Status ValidateParams(const PluginInfo& info, const std::string& pointer, nlohmann::json* params);

}  // namespace boxcar::runtime
