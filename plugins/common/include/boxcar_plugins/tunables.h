// Access to the live values of a plugin's tunable params.
#pragma once

#include <atomic>
#include <stdexcept>
#include <string>
#include <string_view>

#include "boxcar/host.h"

namespace boxcar_plugins {

// `param` is marked tunable in the plugin's own schema, so a missing binding is a host bug, not a
// configuration error.
inline const std::atomic<double>& BindTunable(boxcar::HostServices& host, std::string_view param) {
  const std::atomic<double>* bound = host.tunables().Bind(param);
  if (bound == nullptr) {
    throw std::logic_error("the host did not bind tunable param '" + std::string(param) + "'");
  }
  return *bound;
}

}  // namespace boxcar_plugins
