// Helpers shared by the host/p2p unit tests.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "format/multibase.h"

namespace p2p_test {

// Test vectors are written in lower-case hex.
inline std::string Unhex(std::string_view hex) {
  std::string bytes;
  const boxcar::Status status = boxcar::format::DecodeBase16(hex, &bytes);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return bytes;
}

inline std::string Hex(std::string_view bytes) { return boxcar::format::EncodeBase16(bytes); }

}  // namespace p2p_test
