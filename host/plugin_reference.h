// The operator's reference of plugins, made from their descriptors: `boxcar plugins --params NAME`
// and `boxcar plugins --markdown` (docs/plugins.md, which a test keeps equal to this output).
#pragma once

#include <string>
#include <vector>

#include "boxcar/status.h"
#include "runtime/plugin_file.h"

namespace boxcar::cli {

// One param as the reference shows it.
struct ParamReference {
  std::string name;
  std::string type;      // "integer", "array of string"
  std::string fallback;  // the default as JSON, "" when none
  std::string bounds;    // "1024..16777216", "one of \"a\", \"b\"", "" when none
  bool tunable = false;
  std::string description;
};

// The top-level params of a plugin's schema, sorted by name.
std::vector<ParamReference> ParamsOf(const runtime::PluginInfo& info);

// A plain-text table of `info`'s params for a terminal.
std::string ParamsText(const runtime::PluginInfo& info);

// The Markdown reference of `plugins` (sorted by kind, then name). Refuses (InvalidArgument,
// naming each) plugins or params without a description, so the reference is never blank.
Status PluginsMarkdown(const std::vector<runtime::PluginInfo>& plugins, std::string* out);

}  // namespace boxcar::cli
