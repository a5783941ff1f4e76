// The plugins found in the configured directories, and name resolution for config slots.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "runtime/plugin_file.h"

namespace boxcar::runtime {

struct CatalogEntry {
  PluginInfo info;  // as far as it could be read
  Status status;    // why the file is unusable, or OK
};

// Not thread safe: the reload thread owns it.
class PluginCatalog {
 public:
  // Lists every *.so in `dirs` (sorted, non-recursive). Descriptors of files unchanged since the
  // previous scan (same inode, size and mtime) are not read again.
  void Scan(const std::vector<std::filesystem::path>& dirs);

  const std::vector<CatalogEntry>& entries() const { return entries_; }

  // The file that provides `plugin` for a slot of `kind`. `plugin` is a name, or a path (it
  // contains '/') that must lie inside one of the scanned directories. Refuses unknown names
  // (with a suggestion), names provided by two files, and plugins of another kind.
  Status Resolve(const std::string& plugin, PluginKind kind, std::filesystem::path* file) const;

  // The entry for `file`, or null when the last scan did not list it.
  const CatalogEntry* Find(const std::filesystem::path& file) const;

  // For an entry: "" or why another entry makes it ambiguous.
  std::string DuplicateOf(const CatalogEntry& entry) const;

 private:
  struct FileStamp {
    uintmax_t size = 0;
    std::filesystem::file_time_type mtime;
    uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct Cached {
    FileStamp stamp;
    CatalogEntry entry;
  };

  Status ResolvePath(const std::string& plugin, PluginKind kind, std::filesystem::path* file) const;

  std::vector<std::filesystem::path> dirs_;
  std::vector<CatalogEntry> entries_;
  std::map<std::filesystem::path, Cached> cache_;
};

}  // namespace boxcar::runtime
