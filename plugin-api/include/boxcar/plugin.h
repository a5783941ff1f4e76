// The plugin boundary: the descriptor every plugin exports, the base class of the five strategy
// interfaces, and the guard that keeps exceptions on the plugin's side.
//
// A plugin is a shared object that exports exactly one PluginDescriptor under the C symbol
// "boxcar_plugin_descriptor", declared with BOXCAR_PLUGIN (see the bottom of this file). The
// host reads and checks the descriptor (magic, size, API version, ABI tag, kind) before it calls
// anything else in the library.
//
// Exceptions: every virtual call the host makes lands first in a guard generated inside the
// plugin (detail::Guarded*), which catches everything, reports it through
// HostServices::ReportFault and returns a safe value. So plugin code may throw, and nothing
// unwinds into the host.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "boxcar/abi.h"
#include "boxcar/host.h"
#include "boxcar/params.h"
#include "boxcar/status.h"

namespace boxcar {

// Major changes break plugins; minor ones only add. The host refuses another major, and a minor
// newer than its own. 1.2 added ConnInfo's peer_id, direction, open_streams and peer_tag_sum.
inline constexpr uint16_t kApiMajor = 1;
inline constexpr uint16_t kApiMinor = 2;

inline constexpr uint32_t kDescriptorMagic = 0x52435842;  // "BXCR" in little-endian bytes
inline constexpr char kDescriptorSymbol[] = "boxcar_plugin_descriptor";

enum class PluginKind : uint32_t {
  kPrioritizer = 1,
  kBatcher = 2,
  kCacheTier = 3,
  kConnManager = 4,
  kTuner = 5,
};

// The spelling used in configs and on the command line.
inline std::string_view KindName(PluginKind kind) {
  switch (kind) {
    case PluginKind::kPrioritizer:
      return "prioritizer";
    case PluginKind::kBatcher:
      return "batcher";
    case PluginKind::kCacheTier:
      return "cache_tier";
    case PluginKind::kConnManager:
      return "conn_manager";
    case PluginKind::kTuner:
      return "tuner";
  }
  return "unknown";
}

// Capability flags, OR-ed into PluginDescriptor::capabilities.
enum Capability : uint32_t {
  // Every method may be called concurrently. Without it the host serializes calls to the
  // instance with a mutex.
  kThreadSafe = 1u << 0,
  // ExportState/ImportState are implemented, so learned state survives a swap.
  kStateExport = 1u << 1,
  // Reconfigure is implemented, so a params-only change needs no new instance.
  kReconfigure = 1u << 2,
  // cache_tier only: the tier keeps data across restarts (it may be the last tier).
  kPersistent = 1u << 3,
};

// Opaque learned state handed from an instance to its successor on a swap. `format` names the
// encoding (for example "tuner-aimd/1"); an importer that does not know the format returns
// NotSupported and starts fresh, which the host logs.
struct PluginState {
  std::string format;
  std::string data;
};

class EvictionSink;  // cache_tier.h

// Everything a factory receives. The pointers stay valid for the instance's whole lifetime.
struct CreateContext {
  HostServices* host = nullptr;
  const Params* params = nullptr;
  // The config slot the instance fills, e.g. "prioritizer" or "store.tiers[0]".
  std::string_view slot;
  // cache_tier only: where evicted entries go, so the host can demote them; may be null.
  EvictionSink* evictions = nullptr;
  // cache_tier with kPersistent only: the directory the tier owns, under the store's path. The
  // host creates it and holds the store's lock, so no other process opens it meanwhile. Valid
  // during the factory call only: copy it.
  std::string_view data_dir;
};

class Plugin {
 public:
  virtual ~Plugin() = default;

  // Apply new params (already validated against the schema) without a new instance. Called on
  // the reload thread while other threads keep calling the instance, so it must be safe against
  // concurrent calls. Only called when the descriptor declares kReconfigure.
  virtual Status Reconfigure(const Params& params) {
    (void)params;
    return Status::NotSupported("reconfigure");
  }

  // Export learned state for a successor; called once on the reload thread while the instance
  // may still be serving (the host serializes it against other calls unless kThreadSafe). Only
  // called when the descriptor declares kStateExport. Queued work is handed over separately,
  // after the instance stopped serving (Prioritizer::Drain).
  virtual Status ExportState(PluginState* out) {
    (void)out;
    return Status::NotSupported("state export");
  }

  // Import a predecessor's state; called once on the reload thread before the instance serves.
  virtual Status ImportState(const PluginState& state) {
    (void)state;
    return Status::NotSupported("state import");
  }

 protected:
  // The services of the host; valid from the end of construction on. Constructors use
  // CreateContext::host instead.
  HostServices& host() const { return *host_; }
  // Null only while the constructor runs.
  HostServices* host_services() const noexcept { return host_; }

 private:
  template <class Impl>
  friend Status CreateGuarded(const CreateContext& ctx, Plugin** out) noexcept;
  HostServices* host_ = nullptr;
};

using CreateFn = Status (*)(const CreateContext& ctx, Plugin** out) noexcept;

// The one exported object of a plugin. The first three fields never move, so the host can check
// magic, size and version before it interprets anything else.
struct PluginDescriptor {
  uint32_t magic;        // kDescriptorMagic
  uint32_t struct_size;  // sizeof(PluginDescriptor) when the plugin was built
  uint16_t api_major;
  uint16_t api_minor;
  PluginKind kind;
  const char* abi_tag;        // BOXCAR_ABI_TAG when the plugin was built
  const char* name;           // unique in the plugin path; [a-z0-9_-]+
  const char* version;        // the plugin's own version, e.g. "1.2.0"
  const char* description;    // one line
  const char* params_schema;  // JSON Schema of the params object; see docs/plugin-authoring.md
  uint32_t capabilities;      // Capability flags
  CreateFn create;            // new instance, owned by the caller; never throws
};

namespace detail {

// Runs `call`, turning any exception into a fault report and `fallback`.
template <class R, class F>
R Contain(HostServices* host, const char* operation, R fallback, F&& call) noexcept {
  try {
    return call();
  } catch (const std::exception& e) {
    if (host != nullptr) host->ReportFault(operation, e.what());
  } catch (...) {
    if (host != nullptr) host->ReportFault(operation, "non-standard exception");
  }
  return fallback;
}

template <class F>
Status ContainStatus(HostServices* host, const char* operation, F&& call) noexcept {
  return Contain(host, operation, Status::Internal(std::string(operation) + " threw"),
                 std::forward<F>(call));
}

template <class F>
void ContainVoid(HostServices* host, const char* operation, F&& call) noexcept {
  Contain(host, operation, 0, [&] {
    call();
    return 0;
  });
}

// Guards the methods every plugin has; the kind headers derive their guards from it.
template <class Impl>
class GuardedPlugin : public Impl {
 public:
  using Impl::Impl;
  Status Reconfigure(const Params& p) override {
    return ContainStatus(hs(), "Reconfigure", [&] { return Impl::Reconfigure(p); });
  }
  Status ExportState(PluginState* out) override {
    return ContainStatus(hs(), "ExportState", [&] { return Impl::ExportState(out); });
  }
  Status ImportState(const PluginState& s) override {
    return ContainStatus(hs(), "ImportState", [&] { return Impl::ImportState(s); });
  }

 protected:
  HostServices* hs() const noexcept { return this->host_services(); }
};

}  // namespace detail

// The factory BOXCAR_PLUGIN exports: constructs Impl's guard from the context. Impl must be
// constructible from `const CreateContext&`; a constructor that throws becomes an error Status.
template <class Impl>
Status CreateGuarded(const CreateContext& ctx, Plugin** out) noexcept {
  *out = nullptr;
  try {
    Plugin* instance = new typename Impl::template Guard<Impl>(ctx);
    instance->host_ = ctx.host;
    *out = instance;
    return Status::OK();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(e.what());
  } catch (...) {
    return Status::Internal("factory threw a non-standard exception");
  }
}

}  // namespace boxcar

// Declares the plugin's descriptor. Use once per shared object, at namespace scope:
//
//   BOXCAR_PLUGIN(MyPrioritizer, "my-prio", "1.0.0", "Serves the oldest task first",
//                 kMySchema, boxcar::kThreadSafe);
//
// The kind comes from the interface Impl derives from.
#define BOXCAR_PLUGIN(Impl, name, version, description, params_schema, capabilities)               \
  extern "C" __attribute__((visibility("default"), used))                                          \
  const ::boxcar::PluginDescriptor boxcar_plugin_descriptor = {::boxcar::kDescriptorMagic,         \
                                                               sizeof(::boxcar::PluginDescriptor), \
                                                               ::boxcar::kApiMajor,                \
                                                               ::boxcar::kApiMinor,                \
                                                               Impl::kKind,                        \
                                                               BOXCAR_ABI_TAG,                     \
                                                               (name),                             \
                                                               (version),                          \
                                                               (description),                      \
                                                               (params_schema),                    \
                                                               (capabilities),                     \
                                                               &::boxcar::CreateGuarded<Impl>}
