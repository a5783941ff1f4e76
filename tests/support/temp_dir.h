// A directory under the system temp dir, removed with everything in it when the object dies.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace boxcar::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "boxcar-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

  // Writes `content` to `name` inside the directory and returns the full path.
  std::filesystem::path Write(std::string_view name, std::string_view content) const {
    auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    return file;
  }

  // Copies `from` to `name` inside the directory, replacing what was there.
  std::filesystem::path Copy(const std::filesystem::path& from, std::string_view name) const {
    auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::filesystem::copy_file(from, file, std::filesystem::copy_options::overwrite_existing);
    return file;
  }

 private:
  std::filesystem::path path_;
};

// Paths of plugins built by this tree.
inline std::filesystem::path TestPlugin(std::string_view name) {
  return std::filesystem::path(BOXCAR_BINARY_DIR) / "test-plugins" / (std::string(name) + ".so");
}
inline std::filesystem::path BundledPlugin(std::string_view kind_dash_name) {
  return std::filesystem::path(BOXCAR_PLUGIN_DIR) / (std::string(kind_dash_name) + ".so");
}

}  // namespace boxcar::testing
