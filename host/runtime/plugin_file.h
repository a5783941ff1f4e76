// Reading, checking and loading plugin shared objects.
//
// Every load goes through a private copy of the file at a unique path, so a .so rebuilt in place
// is loaded as a new library instead of being answered from the dynamic linker's cache, and the
// file can be replaced while the old version is still mapped. The copy is unlinked as soon as it
// is mapped; /proc/self/maps shows it as "(deleted)" until the library unloads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "boxcar/plugin.h"

namespace boxcar::runtime {

// What a descriptor says, copied out of the library so it outlives it.
struct PluginInfo {
  std::filesystem::path file;
  PluginKind kind = PluginKind::kPrioritizer;
  std::string name;
  std::string version;
  std::string description;
  uint16_t api_major = 0;
  uint16_t api_minor = 0;
  std::string abi_tag;
  uint32_t capabilities = 0;
  nlohmann::json params_schema;  // parsed; an object
  std::string sha256;            // hex of the file's bytes

  bool Has(Capability c) const { return (capabilities & c) != 0; }
};

// A mapped plugin library. Instances created from it hold a shared_ptr to it, so the library
// stays mapped until the last object whose code lives in it is destroyed.
class PluginLibrary {
 public:
  // Copies `file` privately, checks the optional sha256 pin against the copy, maps it with
  // RTLD_NOW | RTLD_LOCAL and checks the descriptor (magic, size, API version, ABI tag, schema).
  // Errors name the file and say what was expected and what was found. `partial`, when given,
  // receives whatever the descriptor revealed, even when the plugin is refused.
  static Status Open(const std::filesystem::path& file, const std::optional<std::string>& sha256,
                     std::shared_ptr<PluginLibrary>* out, PluginInfo* partial = nullptr);

  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const PluginInfo& info() const { return info_; }
  const PluginDescriptor& descriptor() const { return *descriptor_; }
  // The unique path the library was mapped from (already unlinked).
  const std::filesystem::path& private_copy() const { return private_copy_; }

 private:
  struct Handle;
  PluginLibrary() = default;

  std::unique_ptr<Handle> handle_;
  const PluginDescriptor* descriptor_ = nullptr;
  std::filesystem::path private_copy_;
  PluginInfo info_;
};

// Reads a plugin's descriptor without creating an instance: maps a private copy, checks it,
// copies the descriptor out and unmaps. `boxcar plugins` and the plugin catalog use it. `info`
// is filled as far as the file could be read, also when the status is an error.
Status InspectPlugin(const std::filesystem::path& file, PluginInfo* info);

// Lower-case hex SHA-256 of a file's contents.
Status Sha256File(const std::filesystem::path& file, std::string* hex);

// Compares two ABI tags field by field; returns "" when they match, else e.g.
// "ndebug: host has 1, plugin has 0 (build the plugin with -DCMAKE_BUILD_TYPE=Release)".
std::string DescribeAbiMismatch(std::string_view host_tag, std::string_view plugin_tag);

}  // namespace boxcar::runtime
