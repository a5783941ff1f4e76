// The trustless-gateway fixtures (tests/fixtures/trustless-gateway) as tests use them: a CAR's
// root and blocks, and files read whole. Header-only; fails the calling test on a bad CAR.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "format/car.h"
#include "format/cid.h"

namespace boxcar::testing {

inline const std::filesystem::path kFixtureDir =
    std::filesystem::path(BOXCAR_SOURCE_DIR) / "tests/fixtures/trustless-gateway";

inline std::string ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct CarContents {
  std::vector<format::Cid> roots;
  std::vector<std::pair<format::Cid, std::string>> blocks;  // in file order, verified

  const format::Cid& root() const { return roots.at(0); }
  std::vector<std::string> CidStrings() const {
    std::vector<std::string> out;
    for (const auto& [cid, data] : blocks) out.push_back(cid.ToString());
    return out;
  }
};

inline CarContents ReadCar(std::istream& in) {
  format::CarReader reader(in);
  format::CarHeader header;
  CarContents out;
  const Status read = reader.ReadHeader(&header);
  REQUIRE_MESSAGE(read.ok(), read.ToString());
  out.roots = header.roots;
  for (;;) {
    format::Cid cid;
    uint64_t size = 0;
    bool end = false;
    const Status next = reader.NextSection(&cid, &size, &end);
    REQUIRE_MESSAGE(next.ok(), next.ToString());
    if (end) break;
    std::string body;
    const Status body_read = reader.ReadBody(&body);
    REQUIRE_MESSAGE(body_read.ok(), body_read.ToString());
    out.blocks.emplace_back(cid, std::move(body));
  }
  return out;
}

// A fixture by file name, e.g. "dag-pb.car".
inline CarContents LoadFixture(const std::string& name) {
  std::ifstream in(kFixtureDir / name, std::ios::binary);
  return ReadCar(in);
}

}  // namespace boxcar::testing
