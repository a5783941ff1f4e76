// bench-gateway-data: the data set of the gateway benchmarks. Writes, into --out:
//   blocks.car  a CARv1 whose root is a dag-pb node linking every random raw block (so an import
//               pins it, and a CAR request for the root streams every block);
//   cids.txt    the raw blocks' CIDs, one per line (loadgen --cids, wrk scripts);
//   root.txt    the root CID;
//   www/ipfs/   one file per raw block named by its CID, for nginx to serve the same bytes.
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <filesystem>

#include "format/car.h"
#include "format/cid.h"
#include "format/dagpb.h"
#include "format/multihash.h"

namespace fs = std::filesystem;
using boxcar::format::Cid;

namespace {

int Usage(const std::string& problem) {
  std::cerr << "bench-gateway-data: " << problem
            << "\nusage: bench-gateway-data --blocks N --size BYTES --out DIR [--seed S]\n";
  return 2;
}

std::string RandomBytes(std::mt19937_64& rng, size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    const uint64_t word = rng();
    for (size_t j = 0; j < 8 && i + j < size; ++j) data[i + j] = static_cast<char>(word >> (8 * j));
  }
  return data;
}

}  // namespace

int main(int argc, char** argv) {
  size_t blocks = 0, size = 0;
  uint64_t seed = 1;
  fs::path out;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--blocks") {
      blocks = std::stoul(value);
    } else if (flag == "--size") {
      size = std::stoul(value);
    } else if (flag == "--out") {
      out = value;
    } else if (flag == "--seed") {
      seed = std::stoull(value);
    } else {
      return Usage("unknown flag " + flag);
    }
  }
  if (blocks == 0 || size == 0 || out.empty())
    return Usage("--blocks, --size and --out are required");
  fs::create_directories(out / "www" / "ipfs");
  std::mt19937_64 rng(seed);
  std::vector<std::pair<Cid, std::string>> leaves;
  boxcar::format::PbNode root_node;
  std::ofstream cids(out / "cids.txt");
  for (size_t i = 0; i < blocks; ++i) {
    std::string data = RandomBytes(rng, size);
    const Cid cid = Cid::V1(boxcar::format::kRaw,
                            boxcar::format::Multihash::Sum(boxcar::format::kSha2_256, data));
    const std::string text = cid.ToString();
    cids << text << "\n";
    std::ofstream(out / "www" / "ipfs" / text, std::ios::binary) << data;
    root_node.links.push_back({cid, std::nullopt, data.size()});
    leaves.emplace_back(cid, std::move(data));
  }
  const std::string root_block = boxcar::format::EncodePbNode(root_node);
  const Cid root = Cid::V1(boxcar::format::kDagPb,
                           boxcar::format::Multihash::Sum(boxcar::format::kSha2_256, root_block));
  std::ofstream(out / "root.txt") << root.ToString() << "\n";
  std::ofstream car_file(out / "blocks.car", std::ios::binary);
  boxcar::format::CarWriter car(car_file);
  boxcar::Status s = car.WriteHeader({root});
  if (s.ok()) s = car.WriteBlock(root, root_block);
  for (size_t i = 0; s.ok() && i < leaves.size(); ++i)
    s = car.WriteBlock(leaves[i].first, leaves[i].second);
  if (!s.ok()) {
    std::cerr << "bench-gateway-data: " << s.ToString() << "\n";
    return 1;
  }
  std::cout << root.ToString() << "\n";
  return 0;
}
