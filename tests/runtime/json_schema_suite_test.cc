// host/runtime/json_schema against the official JSON-Schema-Test-Suite (Debian's
// json-schema-test-suite package, draft 7): every file of a keyword the validator supports runs;
// every other file is listed below with the reason it is skipped. Within a file that runs, a
// group whose schema also uses something the validator does not implement is skipped only
// because UnsupportedSchemaParts names it, which is also why a plugin using it is refused.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/json_schema.h"

using boxcar::runtime::SchemaError;
using boxcar::runtime::UnsupportedSchemaParts;
using boxcar::runtime::ValidateAndFillDefaults;
using nlohmann::json;

namespace {

const std::filesystem::path kSuite = BOXCAR_JSON_SCHEMA_SUITE_DIR;

// The keywords the validator implements, by suite file.
const std::set<std::string> kRun = {
    "additionalProperties",
    "enum",
    "items",
    "maxItems",
    "maximum",
    "minItems",
    "minLength",
    "minimum",
    "pattern",
    "properties",
    "required",
    "type",
};

const std::map<std::string, std::string> kSkipped = {
    {"additionalItems", "tuple validation (items as an array) is not supported"},
    {"allOf", "schema composition is not supported"},
    {"anyOf", "schema composition is not supported"},
    {"oneOf", "schema composition is not supported"},
    {"not", "schema composition is not supported"},
    {"if-then-else", "conditional schemas are not supported"},
    {"boolean_schema", "boolean schemas (true, false) are not supported"},
    {"const", "'const' is not supported (enum with one value says the same)"},
    {"contains", "'contains' is not supported"},
    {"definitions", "'definitions' and '$ref' are not supported"},
    {"ref", "'$ref' is not supported"},
    {"refRemote", "'$ref' is not supported"},
    {"dependencies", "'dependencies' is not supported"},
    {"exclusiveMaximum", "'exclusiveMaximum' is not supported"},
    {"exclusiveMinimum", "'exclusiveMinimum' is not supported"},
    {"maxLength", "'maxLength' is not supported"},
    {"maxProperties", "'maxProperties' is not supported"},
    {"minProperties", "'minProperties' is not supported"},
    {"multipleOf", "'multipleOf' is not supported"},
    {"patternProperties", "'patternProperties' is not supported"},
    {"propertyNames", "'propertyNames' is not supported"},
    {"uniqueItems", "'uniqueItems' is not supported"},
    {"default",
     "boxcar fills defaults into the instance and validates them, where JSON Schema ignores "
     "'default'; a params schema whose default does not validate is refused instead"},
};

json ReadJson(const std::filesystem::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

std::string Render(const std::vector<SchemaError>& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "; ") + e.pointer + ": " + e.message;
  return out;
}

}  // namespace

TEST_CASE("every draft 7 file of the suite either runs or is skipped with a reason") {
  REQUIRE_MESSAGE(std::filesystem::is_directory(kSuite),
                  kSuite.string() << " is missing: tools/install-deps.sh installs it "
                                     "(json-schema-test-suite)");
  for (const auto& entry : std::filesystem::directory_iterator(kSuite)) {
    if (entry.path().extension() != ".json") continue;  // optional/ is not required behaviour
    const std::string keyword = entry.path().stem();
    CHECK_MESSAGE((kRun.count(keyword) + kSkipped.count(keyword)) == 1, keyword);
  }
}

TEST_CASE("the validator passes the suite's tests for every keyword it supports") {
  size_t ran = 0;
  size_t skipped = 0;
  for (const std::string& keyword : kRun) {
    for (const json& group : ReadJson(kSuite / (keyword + ".json"))) {
      const std::string where = keyword + ".json: " + group["description"].get<std::string>();
      const std::vector<std::string> unsupported = UnsupportedSchemaParts(group["schema"]);
      if (!unsupported.empty()) {
        MESSAGE("skipped " << where << ": " << unsupported.front());
        ++skipped;
        continue;
      }
      for (const json& test : group["tests"]) {
        json instance = test["data"];
        const std::vector<SchemaError> errors = ValidateAndFillDefaults(group["schema"], instance);
        CHECK_MESSAGE(errors.empty() == test["valid"].get<bool>(),
                      where << " / " << test["description"].get<std::string>()
                            << ": errors: " << Render(errors));
        ++ran;
      }
    }
  }
  MESSAGE(ran << " tests ran, " << skipped << " groups skipped");
  CHECK(ran > 100);
}
