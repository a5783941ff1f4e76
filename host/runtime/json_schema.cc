#include "runtime/json_schema.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <regex>
#include <string_view>

namespace boxcar::runtime {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 15> kKeywords = {
    "type",     "properties",  "required", "additionalProperties",
    "items",    "minimum",     "maximum",  "minItems",
    "maxItems", "minLength",   "pattern",  "enum",
    "default",  "description", "tunable"};

constexpr std::array<std::string_view, 6> kTypes = {"object",  "array",  "string",
                                                    "integer", "number", "boolean"};

// Values longer than this are cut in messages so one huge value does not drown the error.
constexpr size_t kMaxShownChars = 60;

std::string ChildPointer(const std::string& pointer, std::string_view token) {
  return pointer + "/" + EscapePointerToken(token);
}

std::string Quote(std::string_view text) { return json(std::string(text)).dump(); }

std::string QuotedList(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : ", ") + Quote(w);
  return out;
}

std::string TypeOf(const json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  if (value.is_boolean()) return "boolean";
  if (value.is_string()) return "string";
  if (value.is_array()) return "array";
  if (value.is_object()) return "object";
  return "null";
}

std::string Shown(const json& value) {
  std::string text = value.dump();
  if (text.size() > kMaxShownChars) text = text.substr(0, kMaxShownChars) + "...";
  return text;
}

// "string \"10\"", "number 2.5", "object": the type a value has, and the value when short.
std::string Found(const json& value) {
  if (value.is_structured() || value.is_null()) return TypeOf(value);
  return TypeOf(value) + " " + Shown(value);
}

bool HasType(const json& value, std::string_view type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  return false;
}

bool IsSupportedType(const json& type) {
  return type.is_string() &&
         std::find(kTypes.begin(), kTypes.end(), type.get<std::string>()) != kTypes.end();
}

// -1, 0 or 1. Exact for integers of either sign, so bounds near 2^63 do not round.
int CompareNumbers(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    const bool a_negative = a.is_number_unsigned() ? false : a.get<int64_t>() < 0;
    const bool b_negative = b.is_number_unsigned() ? false : b.get<int64_t>() < 0;
    if (a_negative != b_negative) return a_negative ? -1 : 1;
    if (a_negative) {
      const int64_t x = a.get<int64_t>();
      const int64_t y = b.get<int64_t>();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const uint64_t x = a.get<uint64_t>();
    const uint64_t y = b.get<uint64_t>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  const double x = a.get<double>();
  const double y = b.get<double>();
  return x < y ? -1 : (x > y ? 1 : 0);
}

// minItems and friends; JSON built in C++ holds small counts as signed integers.
std::optional<uint64_t> AsCount(const json* value) {
  if (value == nullptr || !value->is_number_integer()) return std::nullopt;
  if (!value->is_number_unsigned() && value->get<int64_t>() < 0) return std::nullopt;
  return value->get<uint64_t>();
}

size_t Utf8Length(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::optional<std::regex> CompilePattern(const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    return std::nullopt;
  }
}

const json* Keyword(const json& schema, std::string_view name) {
  auto it = schema.find(name);
  return it == schema.end() ? nullptr : &*it;
}

std::vector<std::string> KeysOf(const json* object) {
  std::vector<std::string> keys;
  if (object == nullptr || !object->is_object()) return keys;
  for (const auto& [key, value] : object->items()) keys.push_back(key);
  return keys;
}

// JSON Schema keywords (drafts 4 to 2020-12) this validator does not implement. A schema that uses
// one is refused by name rather than having the keyword silently ignored.
constexpr std::string_view kUnsupportedKeywords[] = {"$schema",
                                                     "$id",
                                                     "id",
                                                     "$ref",
                                                     "$defs",
                                                     "definitions",
                                                     "$anchor",
                                                     "$dynamicRef",
                                                     "$dynamicAnchor",
                                                     "$comment",
                                                     "$vocabulary",
                                                     "allOf",
                                                     "anyOf",
                                                     "oneOf",
                                                     "not",
                                                     "if",
                                                     "then",
                                                     "else",
                                                     "const",
                                                     "contains",
                                                     "minContains",
                                                     "maxContains",
                                                     "additionalItems",
                                                     "prefixItems",
                                                     "unevaluatedItems",
                                                     "unevaluatedProperties",
                                                     "uniqueItems",
                                                     "patternProperties",
                                                     "propertyNames",
                                                     "dependencies",
                                                     "dependentRequired",
                                                     "dependentSchemas",
                                                     "minProperties",
                                                     "maxProperties",
                                                     "maxLength",
                                                     "multipleOf",
                                                     "format",
                                                     "exclusiveMinimum",
                                                     "exclusiveMaximum"};

bool IsUnsupportedKeyword(std::string_view keyword) {
  return std::find(std::begin(kUnsupportedKeywords), std::end(kUnsupportedKeywords), keyword) !=
         std::end(kUnsupportedKeywords);
}

std::string NotSupported(std::string_view keyword, const std::string& pointer) {
  return "schema keyword '" + std::string(keyword) + "' at " + (pointer.empty() ? "/" : pointer) +
         " is not supported";
}

// Walks the schema nodes the validator visits (properties, items, additionalProperties).
void CollectUnsupported(const json& node, const std::string& pointer,
                        std::vector<std::string>* out) {
  if (!node.is_object()) {
    out->push_back("a " + TypeOf(node) + " schema at " + (pointer.empty() ? "/" : pointer) +
                   " is not supported; write a schema object");
    return;
  }
  for (const auto& [keyword, value] : node.items()) {
    if (IsUnsupportedKeyword(keyword)) out->push_back(NotSupported(keyword, pointer));
  }
  const json* type = Keyword(node, "type");
  if (type != nullptr && !IsSupportedType(*type)) {
    out->push_back("type " + type->dump() + " at " + (pointer.empty() ? "/" : pointer) +
                   " is not supported; use one of the types object, array, string, integer, "
                   "number, boolean");
  }
  const json* properties = Keyword(node, "properties");
  if (properties != nullptr && properties->is_object()) {
    for (const auto& [name, child] : properties->items()) {
      CollectUnsupported(child, ChildPointer(ChildPointer(pointer, "properties"), name), out);
    }
  }
  const json* items = Keyword(node, "items");
  if (items != nullptr && items->is_array()) {
    out->push_back("'items' as an array (tuple validation) at " + ChildPointer(pointer, "items") +
                   " is not supported; give items one schema");
  } else if (items != nullptr) {
    CollectUnsupported(*items, ChildPointer(pointer, "items"), out);
  }
  const json* additional = Keyword(node, "additionalProperties");
  if (additional != nullptr && !additional->is_boolean()) {
    CollectUnsupported(*additional, ChildPointer(pointer, "additionalProperties"), out);
  }
}

// Validates one value and fills in defaults below it; errors accumulate so a user sees every
// problem of a config at once.
class Validator {
 public:
  explicit Validator(std::vector<SchemaError>* errors) : errors_(errors) {}

  void Validate(const json& schema, json& instance, const std::string& pointer) {
    if (!schema.is_object()) return;
    if (!CheckType(schema, instance, pointer)) return;
    CheckEnum(schema, instance, pointer);
    if (instance.is_number()) CheckBounds(schema, instance, pointer);
    if (instance.is_string()) CheckString(schema, instance.get_ref<const std::string&>(), pointer);
    if (instance.is_array()) CheckArray(schema, instance, pointer);
    if (instance.is_object()) CheckObject(schema, instance, pointer);
  }

 private:
  void Error(const std::string& pointer, std::string message) {
    errors_->push_back({pointer, std::move(message)});
  }

  bool CheckType(const json& schema, const json& instance, const std::string& pointer) {
    const json* type = Keyword(schema, "type");
    if (type == nullptr || !type->is_string()) return true;
    const std::string& name = type->get_ref<const std::string&>();
    if (!HasType(instance, name)) {
      std::string hint;
      if (name == "integer" && instance.is_number()) hint = " (integers have no fractional part)";
      if (instance.is_string() &&
          HasType(json::parse(instance.get<std::string>(), nullptr, false), name)) {
        hint = " (write it without quotes)";
      }
      Error(pointer, "expected " + name + ", found " + Found(instance) + hint);
      return false;
    }
    if (name == "integer" && instance.is_number_unsigned() &&
        instance.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Error(pointer, "must be <= " + std::to_string(std::numeric_limits<int64_t>::max()) +
                         " (a 64-bit signed integer), found " + Shown(instance));
      return false;
    }
    return true;
  }

  void CheckEnum(const json& schema, const json& instance, const std::string& pointer) {
    const json* options = Keyword(schema, "enum");
    if (options == nullptr || !options->is_array()) return;
    if (std::find(options->begin(), options->end(), instance) != options->end()) return;
    std::string listed;
    std::vector<std::string> words;
    for (const json& option : *options) {
      listed += (listed.empty() ? "" : ", ") + option.dump();
      if (option.is_string()) words.push_back(option.get<std::string>());
    }
    std::string message = "must be one of " + listed + "; found " + Shown(instance);
    if (instance.is_string()) {
      const std::string close = ClosestMatch(instance.get<std::string>(), words);
      if (!close.empty()) message += "; did you mean " + Quote(close) + "?";
    }
    Error(pointer, message);
  }

  void CheckBounds(const json& schema, const json& instance, const std::string& pointer) {
    const json* minimum = Keyword(schema, "minimum");
    if (minimum != nullptr && minimum->is_number() && CompareNumbers(instance, *minimum) < 0) {
      Error(pointer, "must be >= " + minimum->dump() + ", found " + Shown(instance));
    }
    const json* maximum = Keyword(schema, "maximum");
    if (maximum != nullptr && maximum->is_number() && CompareNumbers(instance, *maximum) > 0) {
      Error(pointer, "must be <= " + maximum->dump() + ", found " + Shown(instance));
    }
  }

  void CheckString(const json& schema, const std::string& text, const std::string& pointer) {
    const std::optional<uint64_t> min_length = AsCount(Keyword(schema, "minLength"));
    if (min_length && Utf8Length(text) < *min_length) {
      Error(pointer, *min_length == 1 ? "must not be empty"
                                      : "must be at least " + std::to_string(*min_length) +
                                            " characters long, found " + Quote(text));
    }
    const json* pattern = Keyword(schema, "pattern");
    if (pattern == nullptr || !pattern->is_string()) return;
    const std::optional<std::regex> re = CompilePattern(pattern->get<std::string>());
    if (!re) {
      Error(pointer,
            "the schema's pattern " + pattern->dump() + " is not a valid regular expression");
      return;
    }
    if (std::regex_search(text, *re)) return;
    std::string message = "must match the pattern " + pattern->dump();
    const json* description = Keyword(schema, "description");
    if (description != nullptr && description->is_string()) {
      message += " (" + description->get<std::string>() + ")";
    }
    Error(pointer, message + "; found " + Quote(text));
  }

  void CheckArray(const json& schema, json& instance, const std::string& pointer) {
    const std::optional<uint64_t> min_items = AsCount(Keyword(schema, "minItems"));
    if (min_items && instance.size() < *min_items) {
      Error(pointer, "must have at least " + ItemCount(*min_items) + ", found " +
                         std::to_string(instance.size()));
    }
    const std::optional<uint64_t> max_items = AsCount(Keyword(schema, "maxItems"));
    if (max_items && instance.size() > *max_items) {
      Error(pointer, "must have at most " + ItemCount(*max_items) + ", found " +
                         std::to_string(instance.size()));
    }
    const json* items = Keyword(schema, "items");
    if (items == nullptr) return;
    for (size_t i = 0; i < instance.size(); ++i) {
      Validate(*items, instance[i], pointer + "/" + std::to_string(i));
    }
  }

  static std::string ItemCount(uint64_t n) {
    return std::to_string(n) + (n == 1 ? " item" : " items");
  }

  void CheckObject(const json& schema, json& instance, const std::string& pointer) {
    const json* properties = Keyword(schema, "properties");
    if (properties != nullptr && properties->is_object()) FillDefaults(*properties, instance);
    CheckRequired(schema, properties, instance, pointer);
    const json* additional = Keyword(schema, "additionalProperties");
    for (auto& [key, value] : instance.items()) {
      const std::string child = ChildPointer(pointer, key);
      if (properties != nullptr && properties->contains(key)) {
        Validate((*properties)[key], value, child);
      } else if (additional != nullptr && additional->is_object()) {
        Validate(*additional, value, child);
      } else if (additional != nullptr && *additional == false) {
        Error(child, UnknownKeyMessage(key, KeysOf(properties)));
      }
    }
  }

  // Objects get their defaults too (they are then filled in turn when validated), so a config
  // may leave out a whole section.
  static void FillDefaults(const json& properties, json& instance) {
    for (const auto& [key, property] : properties.items()) {
      if (instance.contains(key) || !property.is_object()) continue;
      const json* fallback = Keyword(property, "default");
      if (fallback != nullptr) instance[key] = *fallback;
    }
  }

  void CheckRequired(const json& schema, const json* properties, const json& instance,
                     const std::string& pointer) {
    const json* required = Keyword(schema, "required");
    if (required == nullptr || !required->is_array()) return;
    for (const json& key : *required) {
      if (!key.is_string() || instance.contains(key.get<std::string>())) continue;
      std::string message = "missing required key " + key.dump();
      const json* property = properties != nullptr && properties->is_object()
                                 ? Keyword(*properties, key.get<std::string>())
                                 : nullptr;
      const json* description = property != nullptr && property->is_object()
                                    ? Keyword(*property, "description")
                                    : nullptr;
      if (description != nullptr && description->is_string()) {
        message += " (" + description->get<std::string>() + ")";
      }
      Error(pointer, message);
    }
  }

  static std::string UnknownKeyMessage(const std::string& key,
                                       const std::vector<std::string>& allowed) {
    std::string message = "unknown key " + Quote(key);
    if (allowed.empty()) return message + "; this object takes no keys";
    const std::string close = ClosestMatch(key, allowed);
    if (!close.empty()) return message + "; did you mean " + Quote(close) + "?";
    return message + "; expected one of " + QuotedList(allowed);
  }

  std::vector<SchemaError>* errors_;
};

// Collects what makes a plugin's params schema unusable, each as "/schema/pointer: problem".
class SchemaChecker {
 public:
  std::vector<std::string> Check(const json& schema) {
    if (!schema.is_object()) {
      Problem("", "the params schema must be a JSON object, found " + Found(schema));
      return problems_;
    }
    const json* type = Keyword(schema, "type");
    if (type == nullptr || *type != "object") {
      Problem("", "the params schema must have \"type\": \"object\"");
    }
    CheckNode(schema, "");
    const json* properties = Keyword(schema, "properties");
    if (properties != nullptr && properties->is_object()) {
      for (const auto& [name, property] : properties->items()) {
        CheckParam(name, property, ChildPointer("/properties", name));
      }
    }
    return problems_;
  }

 private:
  void Problem(const std::string& pointer, const std::string& message) {
    problems_.push_back((pointer.empty() ? "/" : pointer) + ": " + message);
  }

  // A top-level property becomes a Params entry, so its type must map onto a ParamValue.
  void CheckParam(const std::string& name, const json& property, const std::string& pointer) {
    if (!property.is_object()) return;  // reported by CheckNode
    const json* type = Keyword(property, "type");
    const std::string what = "param " + Quote(name);
    if (type == nullptr) {
      Problem(pointer, what +
                           " has no \"type\"; give it one of integer, number, boolean, "
                           "string or array (of strings)");
      return;
    }
    if (*type == "object") {
      Problem(pointer, what +
                           " has type \"object\"; params support integer, number, boolean, "
                           "string and array of strings");
    }
    if (*type == "array") {
      const json* items = Keyword(property, "items");
      if (items == nullptr || !items->is_object() || Keyword(*items, "type") == nullptr ||
          *Keyword(*items, "type") != "string") {
        Problem(pointer, what +
                             " is an array, so it needs \"items\": {\"type\": \"string\"} "
                             "(params support arrays of strings only)");
      }
    }
  }

  void CheckNode(const json& node, const std::string& pointer) {
    if (!node.is_object()) {
      Problem(pointer, "a schema must be a JSON object, found " + Found(node));
      return;
    }
    for (const auto& [keyword, value] : node.items()) {
      if (IsUnsupportedKeyword(keyword)) {
        problems_.push_back(NotSupported(keyword, pointer) + "; supported keywords are " +
                            QuotedList({kKeywords.begin(), kKeywords.end()}));
      } else if (std::find(kKeywords.begin(), kKeywords.end(), keyword) == kKeywords.end()) {
        Problem(ChildPointer(pointer, keyword), UnknownKeywordMessage(keyword));
      }
    }
    const json* type = Keyword(node, "type");
    if (type != nullptr && !IsSupportedType(*type)) {
      Problem(ChildPointer(pointer, "type"),
              "unsupported type " + Shown(*type) +
                  "; use one of \"object\", \"array\", \"string\", \"integer\", \"number\", "
                  "\"boolean\"");
    }
    const std::string type_name =
        type != nullptr && IsSupportedType(*type) ? type->get<std::string>() : "";
    CheckObjectKeywords(node, pointer, type_name);
    CheckArrayKeywords(node, pointer, type_name);
    CheckStringKeywords(node, pointer, type_name);
    CheckNumberKeywords(node, pointer, type_name);
    CheckAnnotations(node, pointer);
    CheckDefault(node, pointer);
  }

  static std::string UnknownKeywordMessage(const std::string& keyword) {
    std::vector<std::string> known(kKeywords.begin(), kKeywords.end());
    std::string message = "unknown schema keyword " + Quote(keyword);
    const std::string close = ClosestMatch(keyword, known);
    if (!close.empty()) return message + "; did you mean " + Quote(close) + "?";
    return message + "; supported keywords are " + QuotedList(known);
  }

  // A keyword that cannot apply to the declared type is almost always a mistake in the schema.
  void RequireType(const json& node, const std::string& pointer, const std::string& type_name,
                   std::string_view keyword, std::initializer_list<std::string_view> types) {
    if (type_name.empty() || !node.contains(keyword)) return;
    if (std::find(types.begin(), types.end(), type_name) != types.end()) return;
    Problem(ChildPointer(pointer, keyword),
            Quote(keyword) + " does not apply to type " + Quote(type_name));
  }

  void CheckObjectKeywords(const json& node, const std::string& pointer,
                           const std::string& type_name) {
    for (std::string_view k : {"properties", "required", "additionalProperties"}) {
      RequireType(node, pointer, type_name, k, {"object"});
    }
    const json* properties = Keyword(node, "properties");
    if (properties != nullptr) {
      if (!properties->is_object()) {
        Problem(ChildPointer(pointer, "properties"), "must be an object of schemas");
      } else {
        for (const auto& [name, child] : properties->items()) {
          CheckNode(child, ChildPointer(ChildPointer(pointer, "properties"), name));
        }
      }
    }
    const json* additional = Keyword(node, "additionalProperties");
    if (additional != nullptr && !additional->is_boolean()) {
      CheckNode(*additional, ChildPointer(pointer, "additionalProperties"));
    }
    CheckRequiredList(node, pointer, properties, additional);
  }

  void CheckRequiredList(const json& node, const std::string& pointer, const json* properties,
                         const json* additional) {
    const json* required = Keyword(node, "required");
    if (required == nullptr) return;
    const std::string at = ChildPointer(pointer, "required");
    if (!required->is_array()) {
      Problem(at, "must be an array of key names");
      return;
    }
    const bool closed = additional != nullptr && *additional == false;
    for (const json& key : *required) {
      if (!key.is_string()) {
        Problem(at, "must list key names as strings, found " + Found(key));
      } else if (closed && (properties == nullptr || !properties->is_object() ||
                            !properties->contains(key.get<std::string>()))) {
        Problem(at, "required key " + key.dump() +
                        " is not among the properties, and additionalProperties is false");
      }
    }
  }

  void CheckArrayKeywords(const json& node, const std::string& pointer,
                          const std::string& type_name) {
    for (std::string_view k : {"items", "minItems", "maxItems"}) {
      RequireType(node, pointer, type_name, k, {"array"});
    }
    const json* items = Keyword(node, "items");
    if (items != nullptr) CheckNode(*items, ChildPointer(pointer, "items"));
    CheckCount(node, pointer, "minItems");
    CheckCount(node, pointer, "maxItems");
    CheckOrdered(node, pointer, "minItems", "maxItems");
  }

  void CheckStringKeywords(const json& node, const std::string& pointer,
                           const std::string& type_name) {
    for (std::string_view k : {"minLength", "pattern"}) {
      RequireType(node, pointer, type_name, k, {"string"});
    }
    CheckCount(node, pointer, "minLength");
    const json* pattern = Keyword(node, "pattern");
    if (pattern == nullptr) return;
    if (!pattern->is_string()) {
      Problem(ChildPointer(pointer, "pattern"), "must be a string, found " + Found(*pattern));
    } else if (!CompilePattern(pattern->get<std::string>())) {
      Problem(ChildPointer(pointer, "pattern"),
              Shown(*pattern) + " is not a valid ECMAScript regular expression");
    }
  }

  void CheckNumberKeywords(const json& node, const std::string& pointer,
                           const std::string& type_name) {
    for (std::string_view k : {"minimum", "maximum"}) {
      RequireType(node, pointer, type_name, k, {"integer", "number"});
    }
    for (std::string_view k : {"minimum", "maximum"}) {
      const json* bound = Keyword(node, k);
      if (bound != nullptr && !bound->is_number()) {
        Problem(ChildPointer(pointer, k), "must be a number, found " + Found(*bound));
      }
    }
    CheckOrdered(node, pointer, "minimum", "maximum");
    const json* tunable = Keyword(node, "tunable");
    if (tunable == nullptr) return;
    const std::string at = ChildPointer(pointer, "tunable");
    if (!tunable->is_boolean()) {
      Problem(at, "must be true or false, found " + Found(*tunable));
      return;
    }
    if (*tunable == false) return;
    if (!IsTopLevelProperty(pointer)) {
      Problem(at, "only top-level params can be tunable");
    }
    if (type_name != "integer" && type_name != "number") {
      Problem(at, "a tunable param must have type \"integer\" or \"number\"");
    }
    if (!node.contains("minimum") || !node.contains("maximum")) {
      Problem(at,
              "a tunable param needs both \"minimum\" and \"maximum\", the range a tuner may "
              "move it in");
    }
  }

  static bool IsTopLevelProperty(const std::string& pointer) {
    constexpr std::string_view kPrefix = "/properties/";
    return pointer.rfind(kPrefix, 0) == 0 && pointer.find('/', kPrefix.size()) == std::string::npos;
  }

  void CheckAnnotations(const json& node, const std::string& pointer) {
    const json* description = Keyword(node, "description");
    if (description != nullptr && !description->is_string()) {
      Problem(ChildPointer(pointer, "description"),
              "must be a string, found " + Found(*description));
    }
    const json* options = Keyword(node, "enum");
    if (options != nullptr && (!options->is_array() || options->empty())) {
      Problem(ChildPointer(pointer, "enum"), "must be a non-empty array of the allowed values");
    }
  }

  void CheckDefault(const json& node, const std::string& pointer) {
    const json* fallback = Keyword(node, "default");
    if (fallback == nullptr) return;
    json copy = *fallback;
    std::vector<SchemaError> errors;
    Validator(&errors).Validate(node, copy, "");
    for (const SchemaError& e : errors) {
      Problem(ChildPointer(pointer, "default"),
              "the default " + Shown(*fallback) +
                  " does not validate: " + (e.pointer.empty() ? "" : e.pointer + ": ") + e.message);
    }
  }

  void CheckCount(const json& node, const std::string& pointer, std::string_view keyword) {
    const json* count = Keyword(node, keyword);
    if (count != nullptr && !AsCount(count)) {
      Problem(ChildPointer(pointer, keyword),
              "must be a non-negative integer, found " + Found(*count));
    }
  }

  void CheckOrdered(const json& node, const std::string& pointer, std::string_view low,
                    std::string_view high) {
    const json* a = Keyword(node, low);
    const json* b = Keyword(node, high);
    if (a == nullptr || b == nullptr || !a->is_number() || !b->is_number()) return;
    if (CompareNumbers(*a, *b) > 0) {
      Problem(pointer, Quote(low) + " (" + a->dump() + ") is greater than " + Quote(high) + " (" +
                           b->dump() + ")");
    }
  }

  std::vector<std::string> problems_;
};

// Optimal string alignment distance: Levenshtein plus transposition of adjacent characters,
// the most common typo.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::vector<SchemaError> ValidateAndFillDefaults(const nlohmann::json& schema,
                                                 nlohmann::json& instance,
                                                 const std::string& base_pointer) {
  std::vector<SchemaError> errors;
  Validator(&errors).Validate(schema, instance, base_pointer);
  return errors;
}

Status CheckParamsSchema(const nlohmann::json& schema) {
  const std::vector<std::string> problems = SchemaChecker().Check(schema);
  if (problems.empty()) return Status::OK();
  std::string message;
  for (const std::string& p : problems) message += (message.empty() ? "" : "; ") + p;
  return Status::InvalidArgument(message);
}

std::vector<std::string> UnsupportedSchemaParts(const nlohmann::json& schema) {
  std::vector<std::string> parts;
  CollectUnsupported(schema, "", &parts);
  return parts;
}

Params ToParams(const nlohmann::json& params, const nlohmann::json& schema) {
  std::map<std::string, ParamValue, std::less<>> values;
  if (!params.is_object()) return Params(std::move(values));
  const json* properties = schema.is_object() ? Keyword(schema, "properties") : nullptr;
  for (const auto& [name, value] : params.items()) {
    const json* property =
        properties != nullptr && properties->is_object() ? Keyword(*properties, name) : nullptr;
    const bool declared_number =
        property != nullptr && property->is_object() && property->value("type", json()) == "number";
    if (value.is_number() && declared_number) {
      values.emplace(name, value.get<double>());
    } else if (value.is_boolean()) {
      values.emplace(name, value.get<bool>());
    } else if (value.is_number_integer()) {
      values.emplace(name, value.get<int64_t>());
    } else if (value.is_number()) {
      values.emplace(name, value.get<double>());
    } else if (value.is_string()) {
      values.emplace(name, value.get<std::string>());
    } else if (value.is_array() && std::all_of(value.begin(), value.end(),
                                               [](const json& v) { return v.is_string(); })) {
      values.emplace(name, value.get<std::vector<std::string>>());
    }
  }
  return Params(std::move(values));
}

std::vector<TunableSpec> TunablesOf(const nlohmann::json& schema) {
  std::vector<TunableSpec> out;
  const json* properties = schema.is_object() ? Keyword(schema, "properties") : nullptr;
  if (properties == nullptr || !properties->is_object()) return out;
  for (const auto& [name, property] : properties->items()) {
    if (!property.is_object() || property.value("tunable", json()) != true) continue;
    const json* minimum = Keyword(property, "minimum");
    const json* maximum = Keyword(property, "maximum");
    if (minimum == nullptr || maximum == nullptr || !minimum->is_number() ||
        !maximum->is_number()) {
      continue;
    }
    out.push_back({name, minimum->get<double>(), maximum->get<double>(),
                   property.value("type", json()) == "integer"});
  }
  return out;
}

std::string EscapePointerToken(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  const size_t limit = std::max<size_t>(1, word.size() / 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const std::string& candidate : candidates) {
    const size_t distance = EditDistance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace boxcar::runtime
