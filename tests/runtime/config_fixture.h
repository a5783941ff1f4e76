// What the config tests share: a minimal valid document, a directory to load configs from, and
// error formatting.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/config.h"
#include "temp_dir.h"

namespace boxcar::testing {

inline nlohmann::json MinimalConfig() {
  return {{"strategies",
           {{"prioritizer", {{"plugin", "fair"}}},
            {"batcher", {{"plugin", "adaptive"}}},
            {"conn_manager", {{"plugin", "watermark"}}},
            {"tuner", {{"plugin", "static"}}}}},
          {"store", {{"tiers", nlohmann::json::array({{{"plugin", "lru"}}})}}}};
}

inline std::vector<runtime::Override> Sets(const std::vector<std::string>& texts) {
  std::vector<runtime::Override> out;
  for (const std::string& t : texts) {
    runtime::Override o;
    REQUIRE(runtime::ParseOverride(t, &o).ok());
    out.push_back(o);
  }
  return out;
}

// Writes configs into <tmp>/etc and pretends the executable lives in <tmp>/bin.
class ConfigDir {
 public:
  runtime::LoadResult LoadText(const std::string& text, const std::vector<std::string>& sets = {}) {
    return runtime::LoadConfig(dir_.Write("etc/node.json", text), Sets(sets), exe_dir());
  }
  runtime::LoadResult Load(const nlohmann::json& document,
                           const std::vector<std::string>& sets = {}) {
    return LoadText(document.dump(2), sets);
  }
  std::filesystem::path root() const { return dir_.path(); }
  std::filesystem::path exe_dir() const { return dir_ / "bin"; }

 private:
  TempDir dir_;
};

inline std::string Errors(const runtime::LoadResult& r) {
  std::string out;
  for (const runtime::SchemaError& e : r.errors) out += e.pointer + ": " + e.message + "\n";
  return out;
}

inline runtime::Config Loaded(const runtime::LoadResult& r) {
  INFO(Errors(r));
  REQUIRE(r.config.has_value());
  return *r.config;
}

}  // namespace boxcar::testing
