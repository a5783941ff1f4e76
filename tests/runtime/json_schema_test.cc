// The schema validator shared by the config and plugin params: messages, pointers, defaults,
// the checks on plugin schemas, and the conversion to Params.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/json_schema.h"

using boxcar::runtime::CheckParamsSchema;
using boxcar::runtime::ClosestMatch;
using boxcar::runtime::SchemaError;
using boxcar::runtime::ToParams;
using boxcar::runtime::TunablesOf;
using boxcar::runtime::UnsupportedSchemaParts;
using boxcar::runtime::ValidateAndFillDefaults;
using nlohmann::json;

namespace {

// Every error as "pointer: message", one per line, for exact comparisons and readable failures.
std::string Render(const std::vector<SchemaError>& errors) {
  std::string out;
  for (const SchemaError& e : errors) out += e.pointer + ": " + e.message + "\n";
  return out;
}

std::string Validate(const json& schema, json instance, const std::string& base = "") {
  return Render(ValidateAndFillDefaults(schema, instance, base));
}

const json kServerSchema = json::parse(R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["plugin"],
  "properties": {
    "plugin": {"type": "string", "minLength": 1},
    "format": {"type": "string", "enum": ["text", "json", "auto"], "default": "auto"},
    "limits": {
      "type": "object",
      "additionalProperties": false,
      "default": {},
      "properties": {
        "max_queue": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1000},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5}
      }
    },
    "tiers": {
      "type": "array",
      "minItems": 1,
      "maxItems": 2,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "name": {"type": "string"},
          "params": {"type": "object", "default": {}}
        }
      }
    },
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "64 lower-case hex"}
  }
})");

const json kParamsSchema = json::parse(R"({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_items": {"type": "integer", "default": 32, "minimum": 1, "maximum": 65536,
                  "tunable": true},
    "ratio": {"type": "number", "default": 1, "minimum": 0.5, "maximum": 4, "tunable": true},
    "greedy": {"type": "boolean", "default": false},
    "mode": {"type": "string", "enum": ["below", "above"], "default": "below"},
    "peers": {"type": "array", "items": {"type": "string"}, "default": []},
    "note": {"type": "string", "description": "not tunable"}
  }
})");

// A params schema with `property` as its only param.
json WithParam(const json& property) {
  return {{"type", "object"}, {"properties", {{"p", property}}}};
}

std::string SchemaProblem(const json& schema) {
  const boxcar::Status s = CheckParamsSchema(schema);
  return s.ok() ? "" : s.message();
}

}  // namespace

TEST_CASE("ClosestMatch suggests near typos and nothing for unrelated words") {
  const std::vector<std::string> slots = {"prioritizer", "batcher", "conn_manager", "tuner"};
  CHECK(ClosestMatch("prioritiser", slots) == "prioritizer");
  CHECK(ClosestMatch("batcehr", slots) == "batcher");  // one transposition
  CHECK(ClosestMatch("conn-manager", slots) == "conn_manager");
  CHECK(ClosestMatch("tunr", slots) == "tuner");
  CHECK(ClosestMatch("store", slots) == "");
  CHECK(ClosestMatch("lfu", {"lru", "fifo"}) == "lru");  // short words allow one edit
  CHECK(ClosestMatch("ab", {"xy"}) == "");
  CHECK(ClosestMatch("anything", {}) == "");
}

TEST_CASE("a valid instance has no errors and gets its defaults, recursively") {
  json instance = {{"plugin", "fair"}, {"tiers", {{{"name", "a"}}, json::object()}}};
  CHECK(Render(ValidateAndFillDefaults(kServerSchema, instance)) == "");
  CHECK(instance["format"] == "auto");
  CHECK(instance["limits"] == json({{"max_queue", 1000}, {"ratio", 0.5}}));
  CHECK(instance["tiers"][0]["params"] == json::object());
  CHECK(instance["tiers"][1]["params"] == json::object());
  CHECK_FALSE(instance.contains("labels"));  // no default: stays absent
}

TEST_CASE("defaults never replace values that are present") {
  json instance = {{"plugin", "x"}, {"format", "json"}, {"limits", {{"max_queue", 7}}}};
  CHECK(Render(ValidateAndFillDefaults(kServerSchema, instance)) == "");
  CHECK(instance["format"] == "json");
  CHECK(instance["limits"]["max_queue"] == 7);
  CHECK(instance["limits"]["ratio"] == 0.5);
}

TEST_CASE("unknown keys are reported at every depth with a suggestion") {
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"formt", "json"}}) ==
        "/formt: unknown key \"formt\"; did you mean \"format\"?\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"max_qeue", 1}}}}) ==
        "/limits/max_qeue: unknown key \"max_qeue\"; did you mean \"max_queue\"?\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"tiers", {{{"parms", json::object()}}}}}) ==
        "/tiers/0/parms: unknown key \"parms\"; did you mean \"params\"?\n");
}

TEST_CASE("an unknown key without a close match lists the allowed keys") {
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"zzzzzz", 1}}}}) ==
        "/limits/zzzzzz: unknown key \"zzzzzz\"; expected one of \"max_queue\", \"ratio\"\n");
}

TEST_CASE("additionalProperties may be a schema") {
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"labels", {{"a", "b"}}}}) == "");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"labels", {{"a", 1}}}}) ==
        "/labels/a: expected string, found integer 1\n");
}

TEST_CASE("type errors name the expected type and show what was found") {
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"max_queue", "10"}}}}) ==
        "/limits/max_queue: expected integer, found string \"10\" (write it without quotes)\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"max_queue", 2.5}}}}) ==
        "/limits/max_queue: expected integer, found number 2.5 (integers have no fractional "
        "part)\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"max_queue", 5.0}}}}) ==
        "/limits/max_queue: expected integer, found number 5.0 (integers have no fractional "
        "part)\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", json::array()}}) ==
        "/limits: expected object, found array\n");
  CHECK(Validate(kServerSchema, {{"plugin", nullptr}}) == "/plugin: expected string, found null\n");
  CHECK(Validate(kServerSchema, json::array()) == ": expected object, found array\n");
}

TEST_CASE("numbers accept integers, and integers beyond int64 are refused") {
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"ratio", 1}}}}) == "");
  CHECK(Validate(WithParam({{"type", "integer"}}), {{"p", 18446744073709551615ull}}) ==
        "/p: must be <= 9223372036854775807 (a 64-bit signed integer), found "
        "18446744073709551615\n");
}

TEST_CASE("range errors state the bound and the value") {
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"max_queue", 250000}}}}) ==
        "/limits/max_queue: must be <= 100000, found 250000\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"max_queue", 0}}}}) ==
        "/limits/max_queue: must be >= 1, found 0\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"ratio", -0.25}}}}) ==
        "/limits/ratio: must be >= 0, found -0.25\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"limits", {{"max_queue", 100000}}}}) == "");
}

TEST_CASE("bounds near the ends of 64-bit integers compare exactly") {
  const json schema = WithParam({{"type", "integer"}, {"maximum", 9223372036854775807LL}});
  CHECK(Validate(schema, {{"p", 9223372036854775807LL}}) == "");
  const json small = WithParam({{"type", "integer"}, {"minimum", -5}});
  CHECK(Validate(small, {{"p", 3u}}) == "");
  CHECK(Validate(small, {{"p", -6}}) == "/p: must be >= -5, found -6\n");
}

TEST_CASE("enum errors list the choices") {
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"format", "yaml"}}) ==
        "/format: must be one of \"text\", \"json\", \"auto\"; found \"yaml\"\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"format", "jsno"}}) ==
        "/format: must be one of \"text\", \"json\", \"auto\"; found \"jsno\"; did you mean "
        "\"json\"?\n");
}

TEST_CASE("a missing required key is reported at the object that lacks it") {
  CHECK(Validate(kServerSchema, json::object()) == ": missing required key \"plugin\"\n");
  CHECK(Validate(kServerSchema, json::object(), "/strategies/batcher") ==
        "/strategies/batcher: missing required key \"plugin\"\n");
}

TEST_CASE("strings: minLength and pattern, with the description as the hint") {
  CHECK(Validate(kServerSchema, {{"plugin", ""}}) == "/plugin: must not be empty\n");
  const std::string good(64, 'a');
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"sha256", good}}) == "");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"sha256", "ABC"}}) ==
        "/sha256: must match the pattern \"^[0-9a-f]{64}$\" (64 lower-case hex); found \"ABC\"\n");
  CHECK(Validate(WithParam({{"type", "string"}, {"minLength", 3}}), {{"p", "ab"}}) ==
        "/p: must be at least 3 characters long, found \"ab\"\n");
  // Characters, not bytes: three two-byte letters are long enough.
  CHECK(Validate(WithParam({{"type", "string"}, {"minLength", 3}}),
                 {{"p", "\xc3\xa9\xc3\xa9\xc3\xa9"}}) == "");
}

TEST_CASE("arrays: item counts and item schemas") {
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"tiers", json::array()}}) ==
        "/tiers: must have at least 1 item, found 0\n");
  CHECK(Validate(kServerSchema,
                 {{"plugin", "x"}, {"tiers", {json::object(), json::object(), json::object()}}}) ==
        "/tiers: must have at most 2 items, found 3\n");
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"tiers", {json::object(), 5}}}) ==
        "/tiers/1: expected object, found integer 5\n");
}

TEST_CASE("every error is reported, not just the first") {
  CHECK(Validate(kServerSchema, {{"format", "yaml"}, {"limits", {{"max_queue", 0}}}}) ==
        ": missing required key \"plugin\"\n"
        "/format: must be one of \"text\", \"json\", \"auto\"; found \"yaml\"\n"
        "/limits/max_queue: must be >= 1, found 0\n");
}

TEST_CASE("pointers escape '~' and '/' as RFC 6901 says, under the base pointer") {
  CHECK(Validate(kServerSchema, {{"plugin", "x"}, {"a/b~c", 1}}, "/base") ==
        "/base/a~1b~0c: unknown key \"a/b~c\"; expected one of \"format\", \"labels\", "
        "\"limits\", \"plugin\", \"sha256\", \"tiers\"\n");
}

TEST_CASE("EscapePointerToken escapes '~' before '/'") {
  CHECK(boxcar::runtime::EscapePointerToken("a/b~c") == "a~1b~0c");
  CHECK(boxcar::runtime::EscapePointerToken("~1") == "~01");
  CHECK(boxcar::runtime::EscapePointerToken("plain") == "plain");
}

TEST_CASE("an object that takes no keys says so") {
  const json schema = {{"type", "object"}, {"additionalProperties", false}};
  CHECK(Validate(schema, {{"x", 1}}) == "/x: unknown key \"x\"; this object takes no keys\n");
}

TEST_CASE("CheckParamsSchema accepts a well-formed params schema") {
  CHECK(SchemaProblem(kParamsSchema) == "");
  CHECK(SchemaProblem({{"type", "object"}}) == "");
}

TEST_CASE("CheckParamsSchema rejects a root that is not an object schema") {
  CHECK(SchemaProblem(json::array()) == "/: the params schema must be a JSON object, found array");
  CHECK(SchemaProblem({{"type", "array"}, {"items", {{"type", "string"}}}}) ==
        "/: the params schema must have \"type\": \"object\"");
}

TEST_CASE("CheckParamsSchema rejects unknown keywords, with a suggestion") {
  CHECK(SchemaProblem(WithParam({{"type", "integer"}, {"maximun", 3}})) ==
        "/properties/p/maximun: unknown schema keyword \"maximun\"; did you mean \"maximum\"?");
  CHECK(SchemaProblem({{"type", "object"}, {"$id", "x"}})
            .find("schema keyword '$id' at / is not supported; supported keywords are \"type\"") !=
        std::string::npos);
}

TEST_CASE("CheckParamsSchema refuses JSON Schema keywords the validator does not implement") {
  const json schema = {
      {"type", "object"},
      {"properties",
       {{"x", {{"type", "object"}, {"patternProperties", {{"^a", {{"type", "string"}}}}}}}}}};
  CHECK(SchemaProblem(schema).find("schema keyword 'patternProperties' at /properties/x is not "
                                   "supported") != std::string::npos);
  CHECK(UnsupportedSchemaParts(schema) ==
        std::vector<std::string>{"schema keyword 'patternProperties' at /properties/x is not "
                                 "supported"});
  CHECK(UnsupportedSchemaParts({{"items", true}}) ==
        std::vector<std::string>{
            "a boolean schema at /items is not supported; write a schema object"});
  CHECK(UnsupportedSchemaParts(kParamsSchema).empty());
}

TEST_CASE("CheckParamsSchema rejects types params cannot carry") {
  CHECK(SchemaProblem(WithParam({{"type", "float"}})) ==
        "/properties/p/type: unsupported type \"float\"; use one of \"object\", \"array\", "
        "\"string\", \"integer\", \"number\", \"boolean\"");
  CHECK(SchemaProblem(WithParam({{"type", "object"}})) ==
        "/properties/p: param \"p\" has type \"object\"; params support integer, number, "
        "boolean, string and array of strings");
  CHECK(SchemaProblem(WithParam({{"type", "array"}, {"items", {{"type", "integer"}}}})) ==
        "/properties/p: param \"p\" is an array, so it needs \"items\": {\"type\": \"string\"} "
        "(params support arrays of strings only)");
  CHECK(SchemaProblem(WithParam({{"description", "untyped"}})) ==
        "/properties/p: param \"p\" has no \"type\"; give it one of integer, number, boolean, "
        "string or array (of strings)");
}

TEST_CASE("CheckParamsSchema rejects misplaced or incomplete tunables") {
  CHECK(SchemaProblem(WithParam({{"type", "boolean"}, {"tunable", true}})) ==
        "/properties/p/tunable: a tunable param must have type \"integer\" or \"number\"; "
        "/properties/p/tunable: a tunable param needs both \"minimum\" and \"maximum\", the "
        "range a tuner may move it in");
  CHECK(SchemaProblem(WithParam({{"type", "integer"}, {"minimum", 1}, {"tunable", true}})) ==
        "/properties/p/tunable: a tunable param needs both \"minimum\" and \"maximum\", the range "
        "a tuner may move it in");
  const json nested = {{"type", "object"},
                       {"additionalProperties",
                        {{"type", "integer"}, {"minimum", 0}, {"maximum", 9}, {"tunable", true}}}};
  CHECK(SchemaProblem(nested) ==
        "/additionalProperties/tunable: only top-level params can be tunable");
  CHECK(SchemaProblem(WithParam({{"type", "integer"}, {"tunable", "yes"}})) ==
        "/properties/p/tunable: must be true or false, found string \"yes\"");
}

TEST_CASE("CheckParamsSchema rejects defaults that do not validate") {
  CHECK(SchemaProblem(WithParam({{"type", "integer"}, {"maximum", 10}, {"default", 11}})) ==
        "/properties/p/default: the default 11 does not validate: must be <= 10, found 11");
  CHECK(SchemaProblem(WithParam({{"type", "integer"}, {"default", 5.0}})) ==
        "/properties/p/default: the default 5.0 does not validate: expected integer, found "
        "number 5.0 (integers have no fractional part)");
  CHECK(SchemaProblem(WithParam({{"type", "string"}, {"enum", {"a", "b"}}, {"default", "zzz"}})) ==
        "/properties/p/default: the default \"zzz\" does not validate: must be one of \"a\", "
        "\"b\"; found \"zzz\"");
}

TEST_CASE("CheckParamsSchema rejects malformed keyword values") {
  CHECK(SchemaProblem(WithParam({{"type", "integer"}, {"minimum", 5}, {"maximum", 1}})) ==
        "/properties/p: \"minimum\" (5) is greater than \"maximum\" (1)");
  CHECK(SchemaProblem(WithParam({{"type", "string"}, {"pattern", "("}})) ==
        "/properties/p/pattern: \"(\" is not a valid ECMAScript regular expression");
  CHECK(SchemaProblem(WithParam({{"type", "string"}, {"minimum", 1}})) ==
        "/properties/p/minimum: \"minimum\" does not apply to type \"string\"");
  CHECK(SchemaProblem(WithParam({{"type", "string"}, {"enum", json::array()}})) ==
        "/properties/p/enum: must be a non-empty array of the allowed values");
  CHECK(SchemaProblem(
            {{"type", "object"}, {"additionalProperties", false}, {"required", {"missing"}}}) ==
        "/required: required key \"missing\" is not among the properties, and "
        "additionalProperties is false");
}

TEST_CASE("CheckParamsSchema reports every problem") {
  const std::string problems =
      SchemaProblem({{"type", "object"},
                     {"properties", {{"a", {{"type", "float"}}}, {"b", {{"type", "object"}}}}}});
  CHECK(problems.find("/properties/a/type: unsupported type") != std::string::npos);
  CHECK(problems.find("/properties/b: param \"b\" has type \"object\"") != std::string::npos);
}

TEST_CASE("ToParams maps each schema type onto a ParamValue") {
  json params = {{"max_items", 64}, {"ratio", 2}, {"note", "hi"}, {"peers", {"a", "b"}}};
  REQUIRE(Render(ValidateAndFillDefaults(kParamsSchema, params)) == "");
  const boxcar::Params p = ToParams(params, kParamsSchema);
  CHECK(std::get<int64_t>(p.values().at("max_items")) == 64);
  // Declared "number": a double even when written as an integer.
  CHECK(std::get<double>(p.values().at("ratio")) == 2.0);
  CHECK(std::get<bool>(p.values().at("greedy")) == false);
  CHECK(std::get<std::string>(p.values().at("mode")) == "below");
  CHECK(std::get<std::string>(p.values().at("note")) == "hi");
  CHECK(std::get<std::vector<std::string>>(p.values().at("peers")) ==
        std::vector<std::string>{"a", "b"});
  CHECK(p.values().size() == 6);
}

TEST_CASE("ToParams maps undeclared params by their JSON type and skips objects") {
  const json open_schema = {{"type", "object"}};
  const boxcar::Params p =
      ToParams({{"i", -3}, {"d", 0.5}, {"o", {{"x", 1}}}, {"e", json::array()}}, open_schema);
  CHECK(p.GetInt("i") == -3);
  CHECK(p.GetDouble("d") == 0.5);
  CHECK_FALSE(p.Has("o"));
  CHECK(p.GetStrings("e").empty());
  CHECK(p.Has("e"));
}

TEST_CASE("TunablesOf lists tunable params with bounds and integer-ness") {
  const std::vector<boxcar::runtime::TunableSpec> tunables = TunablesOf(kParamsSchema);
  REQUIRE(tunables.size() == 2);
  CHECK(tunables[0].param == "max_items");
  CHECK(tunables[0].min == 1);
  CHECK(tunables[0].max == 65536);
  CHECK(tunables[0].integer);
  CHECK(tunables[1].param == "ratio");
  CHECK(tunables[1].min == 0.5);
  CHECK(tunables[1].max == 4);
  CHECK_FALSE(tunables[1].integer);
  CHECK(TunablesOf({{"type", "object"}}).empty());
}
