// Helia's trustless-gateway client (tests/interop/helia, from npm) fetches every fixture block
// from the real binary over 127.0.0.1 and verifies each one against its CID.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/car_fixture.h"
#include "support/gateway_node.h"
#include "support/node_process.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kHelia = fs::path(BOXCAR_SOURCE_DIR) / "tests/interop/helia";

}  // namespace

TEST_CASE("helia: the trustless-gateway client fetches and verifies every fixture block") {
  const bool installed = fs::exists(BOXCAR_NODEJS) && fs::exists(kHelia / "node_modules");
  REQUIRE_MESSAGE(
      installed,
      "run tools/install-deps.sh: it installs Node.js and the Helia client's npm packages");
  TempDir dir;
  const json config = GatewayNodeConfig(dir);
  NodeProcess node(dir.Write("boxcar.json", config.dump(2)));
  REQUIRE(node.WaitReady());

  std::string cid_list = "bafkqaaa\nbafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa\n";
  std::vector<std::string> roots;
  size_t count = 2;
  for (const char* name :
       {"gateway-raw-block.car", "subdir-with-mixed-block-files.car",
        "single-layer-hamt-with-multi-block-files.car", "dir-with-dag-cbor-with-links.car",
        "dag-pb.car", "file-3k-and-3-blocks-missing-block.car"}) {
    const HttpResult imported =
        HttpRequest(node.admin(), "POST", "/admin/import", ReadWholeFile(kFixtureDir / name));
    REQUIRE_MESSAGE(imported.status == 200, imported.body);
    const CarContents car = LoadFixture(name);
    for (const std::string& cid : car.CidStrings()) {
      cid_list += cid + "\n";
      ++count;
    }
    roots.push_back(car.root().ToString());
  }
  const fs::path list = dir.Write("cids.txt", cid_list);
  const std::string gateway = "http://" + node.gateway();
  const std::string script = (kHelia / "fetch-blocks.mjs").string();

  const CommandResult blocks =
      RunCommand({BOXCAR_NODEJS, script, "--gateway", gateway, "--cids-file", list.string()},
                 std::chrono::seconds(120));
  INFO(blocks.out);
  REQUIRE(blocks.exit_code == 0);
  CHECK(blocks.out.find("\"total\":" + std::to_string(count) + ",\"ok\":" + std::to_string(count) +
                        ",\"failed\":0") != std::string::npos);

  // A missing block is a failure Helia reports, not a silent success.
  const CommandResult missing =
      RunCommand({BOXCAR_NODEJS, script, "--gateway", gateway,
                  "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.out.find("404") != std::string::npos);

  const CommandResult car = RunCommand(
      {BOXCAR_NODEJS, script, "--gateway", gateway, "--car", roots[1]}, std::chrono::seconds(60));
  INFO(car.out);
  CHECK(car.exit_code == 0);
}

}  // namespace boxcar::testing
