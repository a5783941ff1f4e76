// A JSON Schema subset validator for boxcar's config and for plugin params.
//
// Supported keywords: type (object, array, string, integer, number, boolean), properties,
// required, additionalProperties (false, or a schema), items, minimum, maximum, minItems,
// maxItems, minLength, pattern, enum, default, description, and boxcar's own "tunable": true on
// a numeric property. Validation fills in defaults so callers read complete objects. A params
// schema using any other JSON Schema keyword is refused by name (UnsupportedSchemaParts);
// tests/runtime/json_schema_suite_test.cc runs the official JSON-Schema-Test-Suite for the
// supported keywords.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "boxcar/params.h"
#include "boxcar/status.h"

namespace boxcar::runtime {

struct SchemaError {
  std::string pointer;  // JSON pointer into the validated document, e.g. "/strategies/batcher"
  std::string message;  // what was wrong and how to fix it, e.g. with "did you mean ...?"
};

// Checks `instance` against `schema`, inserting the defaults of absent properties into it.
// `base_pointer` is prefixed to every reported pointer (for params nested in a config).
std::vector<SchemaError> ValidateAndFillDefaults(const nlohmann::json& schema,
                                                 nlohmann::json& instance,
                                                 const std::string& base_pointer = "");

// Checks that a plugin's params schema itself is usable: a type-object schema whose properties
// have supported types, "tunable" only on numbers with both bounds, and valid defaults.
Status CheckParamsSchema(const nlohmann::json& schema);

// What of `schema` this validator does not implement, each as e.g. "schema keyword
// 'patternProperties' at /properties/x is not supported": JSON Schema keywords outside the
// supported set, schemas that are not objects (true, false), other types ("null", type lists),
// and tuple "items". Empty when the validator implements all of it.
std::vector<std::string> UnsupportedSchemaParts(const nlohmann::json& schema);

// Converts a validated params object into the typed map plugins read.
Params ToParams(const nlohmann::json& params, const nlohmann::json& schema);

// One tunable param declared by a schema.
struct TunableSpec {
  std::string param;
  double min = 0;
  double max = 0;
  bool integer = false;
};
std::vector<TunableSpec> TunablesOf(const nlohmann::json& schema);

// One reference token of a JSON pointer, escaped as RFC 6901 says ("~" -> "~0", "/" -> "~1").
std::string EscapePointerToken(std::string_view token);

// The closest candidate by edit distance, or "" when none is close enough to suggest.
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace boxcar::runtime
