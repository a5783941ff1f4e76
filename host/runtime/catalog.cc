#include "runtime/catalog.h"

#include <sys/stat.h>

#include <algorithm>

#include "runtime/json_schema.h"

namespace boxcar::runtime {
namespace fs = std::filesystem;
namespace {

std::string KindOf(PluginKind kind) { return std::string(KindName(kind)); }

std::string DirList(const std::vector<fs::path>& dirs) {
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ", ") + d.string();
  return "[" + out + "]";
}

bool Inside(const fs::path& file, const fs::path& dir) {
  auto rel = file.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != ".." && rel.is_relative();
}

}  // namespace

void PluginCatalog::Scan(const std::vector<fs::path>& dirs) {
  dirs_ = dirs;
  std::vector<fs::path> files;
  for (const fs::path& dir : dirs) {
    std::error_code ec;
    for (const auto& item : fs::directory_iterator(dir, ec)) {
      if (item.path().extension() == ".so" && item.is_regular_file(ec))
        files.push_back(item.path());
    }
  }
  std::sort(files.begin(), files.end());

  std::map<fs::path, Cached> next;
  entries_.clear();
  for (const fs::path& file : files) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) continue;
    std::error_code ec;
    FileStamp stamp{static_cast<uintmax_t>(st.st_size), fs::last_write_time(file, ec),
                    static_cast<uint64_t>(st.st_ino)};
    auto hit = cache_.find(file);
    Cached cached;
    if (hit != cache_.end() && hit->second.stamp == stamp) {
      cached = hit->second;
    } else {
      cached.stamp = stamp;
      cached.entry.status = InspectPlugin(file, &cached.entry.info);
      cached.entry.info.file = file;
    }
    entries_.push_back(cached.entry);
    next.emplace(file, std::move(cached));
  }
  cache_ = std::move(next);
}

const CatalogEntry* PluginCatalog::Find(const fs::path& file) const {
  for (const CatalogEntry& e : entries_) {
    if (e.info.file == file) return &e;
  }
  return nullptr;
}

std::string PluginCatalog::DuplicateOf(const CatalogEntry& entry) const {
  if (!entry.status.ok()) return "";
  for (const CatalogEntry& other : entries_) {
    if (other.status.ok() && other.info.file != entry.info.file &&
        other.info.kind == entry.info.kind && other.info.name == entry.info.name) {
      return "duplicate " + KindOf(entry.info.kind) + " name \"" + entry.info.name +
             "\", also provided by " + other.info.file.string();
    }
  }
  return "";
}

Status PluginCatalog::ResolvePath(const std::string& plugin, PluginKind kind,
                                  fs::path* file) const {
  const fs::path path = fs::path(plugin).lexically_normal();
  const bool allowed =
      std::any_of(dirs_.begin(), dirs_.end(), [&](const fs::path& d) { return Inside(path, d); });
  if (!allowed) {
    return Status::InvalidArgument("plugin file " + path.string() + " is outside plugins.path " +
                                   DirList(dirs_) + "; add its directory to plugins.path");
  }
  for (const CatalogEntry& e : entries_) {
    if (e.info.file != path) continue;
    if (!e.status.ok()) return e.status;
    if (e.info.kind != kind) {
      return Status::InvalidArgument(path.string() + " is a " + KindOf(e.info.kind) +
                                     " plugin, but this slot needs a " + KindOf(kind));
    }
    *file = path;
    return Status::OK();
  }
  return Status::NotFound("plugin file " + path.string() + " does not exist or is not a .so");
}

Status PluginCatalog::Resolve(const std::string& plugin, PluginKind kind, fs::path* file) const {
  if (plugin.find('/') != std::string::npos) return ResolvePath(plugin, kind, file);

  std::vector<const CatalogEntry*> matches;
  const CatalogEntry* other_kind = nullptr;
  const CatalogEntry* broken = nullptr;
  std::vector<std::string> names_of_kind;
  std::string unreadable;  // files whose descriptor could not be read: any may be the one meant
  for (const CatalogEntry& e : entries_) {
    if (e.status.ok() && e.info.kind == kind) names_of_kind.push_back(e.info.name);
    if (!e.status.ok() && e.info.name.empty()) {
      unreadable += (unreadable.empty() ? "" : "; ") + e.status.message();
    }
    if (e.info.name != plugin) continue;
    if (!e.status.ok()) {
      broken = &e;
    } else if (e.info.kind != kind) {
      other_kind = &e;
    } else {
      matches.push_back(&e);
    }
  }
  if (matches.size() > 1) {
    return Status::InvalidArgument("plugin name \"" + plugin + "\" (" + KindOf(kind) +
                                   ") is provided by both " + matches[0]->info.file.string() +
                                   " and " + matches[1]->info.file.string() +
                                   "; remove one, or name the file by its path");
  }
  if (matches.size() == 1) {
    *file = matches[0]->info.file;
    return Status::OK();
  }
  if (broken != nullptr) return broken->status;
  if (other_kind != nullptr) {
    return Status::InvalidArgument("plugin \"" + plugin + "\" (" + other_kind->info.file.string() +
                                   ") is a " + KindOf(other_kind->info.kind) +
                                   ", but this slot needs a " + KindOf(kind));
  }
  std::string hint;
  if (std::string close = ClosestMatch(plugin, names_of_kind); !close.empty()) {
    hint = "; did you mean \"" + close + "\"?";
  }
  if (!unreadable.empty()) hint += " (files that could not be read: " + unreadable + ")";
  return Status::NotFound("no " + KindOf(kind) + " plugin named \"" + plugin + "\" in " +
                          DirList(dirs_) + hint);
}

}  // namespace boxcar::runtime
