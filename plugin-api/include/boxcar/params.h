// Validated plugin parameters.
//
// The host validates a slot's "params" object against the plugin's JSON schema, fills in the
// schema defaults, and hands the result to the plugin as a flat map of typed values. A plugin
// therefore never parses JSON and never sees a value outside the bounds its schema declares.
//
// Thread safety: immutable after construction; safe to read from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace boxcar {

using ParamValue = std::variant<bool, int64_t, double, std::string, std::vector<std::string>>;

class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, ParamValue, std::less<>> values)
      : values_(std::move(values)) {}

  bool Has(std::string_view name) const { return values_.find(name) != values_.end(); }

  // Each getter returns `fallback` when the param is absent. Integers read as doubles widen;
  // any other type mismatch also yields `fallback`, which the schema makes impossible for a
  // param it declares.
  int64_t GetInt(std::string_view name, int64_t fallback = 0) const {
    auto* v = Find(name);
    if (v == nullptr) return fallback;
    if (auto* i = std::get_if<int64_t>(v)) return *i;
    return fallback;
  }
  double GetDouble(std::string_view name, double fallback = 0) const {
    auto* v = Find(name);
    if (v == nullptr) return fallback;
    if (auto* d = std::get_if<double>(v)) return *d;
    if (auto* i = std::get_if<int64_t>(v)) return static_cast<double>(*i);
    return fallback;
  }
  bool GetBool(std::string_view name, bool fallback = false) const {
    auto* v = Find(name);
    if (v == nullptr) return fallback;
    if (auto* b = std::get_if<bool>(v)) return *b;
    return fallback;
  }
  std::string GetString(std::string_view name, std::string_view fallback = {}) const {
    auto* v = Find(name);
    if (v == nullptr) return std::string(fallback);
    if (auto* s = std::get_if<std::string>(v)) return *s;
    return std::string(fallback);
  }
  std::vector<std::string> GetStrings(std::string_view name) const {
    auto* v = Find(name);
    if (v == nullptr) return {};
    if (auto* s = std::get_if<std::vector<std::string>>(v)) return *s;
    return {};
  }

  const std::map<std::string, ParamValue, std::less<>>& values() const { return values_; }

 private:
  const ParamValue* Find(std::string_view name) const {
    auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second;
  }

  std::map<std::string, ParamValue, std::less<>> values_;
};

}  // namespace boxcar
