// Shared helpers for the format tests: fixture files and reading whole CARs.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "format/car.h"
#include "format/cid.h"

namespace boxcar::format::testing {

inline std::string FixtureDir() {
  return std::string(BOXCAR_SOURCE_DIR) + "/tests/fixtures/trustless-gateway";
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string ReadFixture(const std::string& name) {
  return ReadFile(FixtureDir() + "/" + name);
}

// One row of the README's fixture table.
struct FixtureRow {
  std::string file;
  std::string root;
  size_t blocks = 0;
};

// The table in tests/fixtures/trustless-gateway/README.md: | file | root | blocks | ... |
inline std::vector<FixtureRow> FixtureTable() {
  const std::string readme = ReadFixture("README.md");
  static const std::regex row(R"(\|\s*([\w.-]+\.car)\s*\|\s*(\w+)\s*\|\s*(\d+)\s*\|)");
  std::vector<FixtureRow> rows;
  for (auto it = std::sregex_iterator(readme.begin(), readme.end(), row);
       it != std::sregex_iterator(); ++it) {
    rows.push_back({(*it)[1].str(), (*it)[2].str(), std::stoul((*it)[3].str())});
  }
  return rows;
}

struct CarBlock {
  Cid cid;
  std::string data;
};

struct CarContents {
  CarHeader header;
  std::vector<CarBlock> blocks;
};

// Reads a whole CAR, requiring success.
inline CarContents ReadCar(const std::string& bytes, CarReaderOptions options = {}) {
  std::istringstream in(bytes);
  CarReader reader(in, options);
  CarContents contents;
  Status status = reader.ReadHeader(&contents.header);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  for (;;) {
    CarBlock block;
    uint64_t size = 0;
    bool end = false;
    status = reader.NextSection(&block.cid, &size, &end);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    if (end) break;
    status = reader.ReadBody(&block.data);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    CHECK(block.data.size() == size);
    contents.blocks.push_back(std::move(block));
  }
  CHECK(reader.offset() == bytes.size());
  CHECK(reader.sections() == contents.blocks.size());
  return contents;
}

inline Cid ParseCid(const std::string& text) {
  Cid cid;
  Status status = Cid::Parse(text, &cid);
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  return cid;
}

inline std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

}  // namespace boxcar::format::testing
