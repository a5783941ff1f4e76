// The store commands of the real binary: import, export, verify, gc, stat, the store lock,
// damaged bytes on disk and a kill -9 in the middle of an import.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "format/car.h"
#include "format/cid.h"
#include "format/multihash.h"
#include "format/varint.h"
#include "support/node_process.h"
#include "support/temp_dir.h"

extern char** environ;

namespace boxcar::testing {
namespace {

using format::Cid;
using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(BOXCAR_SOURCE_DIR) / "tests/fixtures/trustless-gateway";

// Persistent tiers: leveldb for blocks up to 1 MiB, flatfs for larger ones.
fs::path WriteConfig(const TempDir& dir, json tiers = nullptr, json extra = json::object()) {
  if (tiers.is_null()) {
    tiers = json::array({{{"plugin", "lru"}},
                         {{"plugin", "leveldb"}, {"max_block_bytes", 1 << 20}},
                         {{"plugin", "flatfs"}}});
  }
  json store = {{"path", (dir / "data").string()}, {"tiers", tiers}};
  store.update(extra);
  json config = {{"admin", {{"listen", "127.0.0.1:0"}}},
                 {"gateway", {{"listen", "127.0.0.1:0"}}},
                 {"plugins", {{"path", {BOXCAR_PLUGIN_DIR}}}},
                 {"strategies",
                  {{"prioritizer", {{"plugin", "fifo"}}},
                   {"batcher", {{"plugin", "fixed"}}},
                   {"conn_manager", {{"plugin", "watermark"}}},
                   {"tuner", {{"plugin", "static"}}}}},
                 {"store", store}};
  return dir.Write("boxcar.json", config.dump(2));
}

CommandResult Boxcar(const fs::path& config, std::vector<std::string> args,
                     std::chrono::seconds timeout = std::chrono::seconds(120)) {
  std::vector<std::string> argv{BoxcarBinary().string(), args[0], "--config", config.string()};
  argv.insert(argv.end(), args.begin() + 1, args.end());
  return RunCommand(argv, timeout);
}

// `boxcar export` with stdout to `out`.
CommandResult Export(const fs::path& config, const std::string& cid, const std::string& scope,
                     const fs::path& out) {
  const std::string cmd = "'" + BoxcarBinary().string() + "' export --config '" + config.string() +
                          "' --scope " + scope + " " + cid + " > '" + out.string() + "'";
  return RunCommand({"/bin/bash", "-c", cmd});
}

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> CarBlockCids(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  format::CarReader reader(in);
  format::CarHeader header;
  REQUIRE(reader.ReadHeader(&header).ok());
  std::vector<std::string> cids;
  for (;;) {
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    REQUIRE(reader.NextSection(&cid, &size, &end).ok());
    if (end) break;
    std::string body;
    REQUIRE(reader.ReadBody(&body).ok());
    cids.push_back(cid.ToString());
  }
  return cids;
}

// Flips one byte of the first file under `dir` that contains `needle`; false if none does.
bool FlipByteOf(const fs::path& dir, const std::string& needle) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::string bytes = ReadFile(entry.path());
    const size_t at = bytes.find(needle);
    if (at == std::string::npos) continue;
    std::fstream f(entry.path(), std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(at + needle.size() / 2));
    f.put(static_cast<char>(bytes[at + needle.size() / 2] ^ 0x5a));
    return true;
  }
  return false;
}

// ---- a big UnixFS file as a CAR, for the crash test ----

void AppendField(std::string* out, uint64_t field, uint64_t wire) {
  format::AppendUvarint(out, field << 3 | wire);
}
void AppendBytesField(std::string* out, uint64_t field, std::string_view bytes) {
  AppendField(out, field, 2);
  format::AppendUvarint(out, bytes.size());
  out->append(bytes);
}

// A dag-pb UnixFS file node linking `leaves` of the given sizes.
std::string FileRoot(const std::vector<std::pair<Cid, uint64_t>>& leaves) {
  std::string unixfs;
  AppendField(&unixfs, 1, 0);
  format::AppendUvarint(&unixfs, 2);  // Type = File
  uint64_t total = 0;
  for (const auto& [cid, size] : leaves) total += size;
  AppendField(&unixfs, 3, 0);
  format::AppendUvarint(&unixfs, total);
  for (const auto& [cid, size] : leaves) {
    AppendField(&unixfs, 4, 0);
    format::AppendUvarint(&unixfs, size);
  }
  std::string node;
  for (const auto& [cid, size] : leaves) {  // PBLink: Hash, Name, Tsize
    std::string link;
    AppendBytesField(&link, 1, cid.bytes());
    AppendBytesField(&link, 2, "");
    AppendField(&link, 3, 0);
    format::AppendUvarint(&link, size);
    AppendBytesField(&node, 2, link);
  }
  AppendBytesField(&node, 1, unixfs);
  return node;
}

// Writes a CAR of one file made of `small` 256 KiB leaves and `large` 3 MiB leaves (streamed).
Cid WriteBigCar(const fs::path& file, int small, int large) {
  std::mt19937_64 random(42);
  std::vector<std::pair<Cid, std::string>> leaves;
  for (int i = 0; i < small + large; ++i) {
    std::string data(i < small ? 256 << 10 : 3 << 20, '\0');
    for (size_t j = 0; j + 8 <= data.size(); j += 8) {
      const uint64_t r = random();
      std::memcpy(data.data() + j, &r, 8);
    }
    leaves.emplace_back(Cid::V1(format::kRaw, format::Multihash::Sum(format::kSha2_256, data)),
                        std::move(data));
  }
  std::vector<std::pair<Cid, uint64_t>> links;
  for (const auto& [cid, data] : leaves) links.emplace_back(cid, data.size());
  const std::string root_bytes = FileRoot(links);
  const Cid root = Cid::V1(format::kDagPb, format::Multihash::Sum(format::kSha2_256, root_bytes));
  std::ofstream out(file, std::ios::binary);
  format::CarWriter writer(out);
  REQUIRE(writer.WriteHeader({root}).ok());
  REQUIRE(writer.WriteBlock(root, root_bytes).ok());
  for (const auto& [cid, data] : leaves) REQUIRE(writer.WriteBlock(cid, data).ok());
  return root;
}

pid_t Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

TEST_CASE("fixtures import with --pin, export with each scope, and verify") {
  TempDir dir;
  const fs::path config = WriteConfig(dir);
  const char* const fixtures[] = {"gateway-raw-block.car",
                                  "subdir-with-mixed-block-files.car",
                                  "single-layer-hamt-with-multi-block-files.car",
                                  "dir-with-duplicate-files.car",
                                  "dir-with-dag-cbor-with-links.car",
                                  "dag-pb.car",
                                  "subdir-with-two-single-block-files.car"};
  std::vector<std::string> args{"import", "--pin"};
  for (const char* f : fixtures) args.push_back((kFixtures / f).string());
  CommandResult imported = Boxcar(config, args);
  INFO(imported.out);
  REQUIRE(imported.exit_code == 0);
  CHECK(imported.out.find("pinned bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i") !=
        std::string::npos);
  CHECK(imported.out.find("root(s) pinned") != std::string::npos);

  for (const char* f : fixtures) {
    CAPTURE(f);
    const std::vector<std::string> original = CarBlockCids(kFixtures / f);
    const fs::path out = dir / "out.car";
    CommandResult all = Export(config, original[0], "all", out);
    INFO(all.out);
    REQUIRE(all.exit_code == 0);
    std::vector<std::string> exported = CarBlockCids(out);
    CHECK(std::set<std::string>(exported.begin(), exported.end()) ==
          std::set<std::string>(original.begin(), original.end()));
    REQUIRE(Export(config, original[0], "block", out).exit_code == 0);
    CHECK(CarBlockCids(out) == std::vector<std::string>{original[0]});
    REQUIRE(Export(config, original[0], "entity", out).exit_code == 0);
    CHECK(CarBlockCids(out).front() == original[0]);
  }
  CommandResult verified = Boxcar(config, {"verify"});
  INFO(verified.out);
  CHECK(verified.exit_code == 0);
  CHECK(verified.out.find("0 corrupt") != std::string::npos);

  CommandResult stat = Boxcar(config, {"stat", "--json"});
  REQUIRE(stat.exit_code == 0);
  const json status = json::parse(stat.out.substr(stat.out.find('{')));
  CHECK(status["pins"]["recursive"] == 7);
  CHECK(status["pins"]["indirect"].get<int>() > 200);
}

TEST_CASE("the incomplete fixture exports with an error naming the missing block") {
  TempDir dir;
  const fs::path config = WriteConfig(dir);
  CommandResult imported =
      Boxcar(config, {"import", (kFixtures / "file-3k-and-3-blocks-missing-block.car").string()});
  REQUIRE(imported.exit_code == 0);
  CommandResult exported =
      Export(config, "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk", "all", dir / "out.car");
  CHECK(exported.exit_code == 1);
  CHECK(exported.out.find("is missing") != std::string::npos);
  CommandResult pinned = Boxcar(
      config, {"import", "--pin", (kFixtures / "file-3k-and-3-blocks-missing-block.car").string()});
  CHECK(pinned.exit_code == 1);
  CHECK(pinned.out.find("was not pinned") != std::string::npos);
}

TEST_CASE("a byte flipped on disk in either persistent tier is found by verify and never served") {
  for (const char* tier : {"leveldb", "flatfs"}) {
    CAPTURE(tier);
    TempDir dir;
    const fs::path config =
        WriteConfig(dir, json::array({{{"plugin", "lru"}}, {{"plugin", tier}}}));
    const fs::path car = kFixtures / "subdir-with-mixed-block-files.car";
    REQUIRE(Boxcar(config, {"import", car.string()}).exit_code == 0);
    // Opening the store again moves leveldb's log into a table, as a restart would.
    REQUIRE(Boxcar(config, {"stat"}).exit_code == 0);

    // A multi-block file's leaf: 1 KiB of known bytes in the fixture.
    std::ifstream in(car, std::ios::binary);
    format::CarReader reader(in);
    format::CarHeader header;
    REQUIRE(reader.ReadHeader(&header).ok());
    Cid victim;
    std::string body;
    for (;;) {
      uint64_t size = 0;
      bool end = false;
      REQUIRE(reader.NextSection(&victim, &size, &end).ok());
      REQUIRE_FALSE(end);
      REQUIRE(reader.ReadBody(&body).ok());
      if (victim.codec() == format::kRaw && body.size() >= 256) break;
    }
    REQUIRE(FlipByteOf(dir / "data" / tier, body.substr(body.size() / 2, 64)));

    CommandResult verified = Boxcar(config, {"verify"});
    INFO(verified.out);
    CHECK(verified.exit_code == 1);
    CHECK(verified.out.find("corrupt " + Cid::V1(format::kRaw, victim.hash()).ToString()) !=
          std::string::npos);
    CommandResult exported = Export(config, victim.ToString(), "block", dir / "out.car");
    CHECK(exported.exit_code == 1);
    CHECK(ReadFile(dir / "out.car").find(body.substr(0, 64)) == std::string::npos);
  }
}

// The fixture's raw leaf of at least 256 bytes, and its bytes (for FlipByteOf).
std::pair<Cid, std::string> RawLeafOf(const fs::path& car) {
  std::ifstream in(car, std::ios::binary);
  format::CarReader reader(in);
  format::CarHeader header;
  REQUIRE(reader.ReadHeader(&header).ok());
  for (;;) {
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    REQUIRE(reader.NextSection(&cid, &size, &end).ok());
    REQUIRE_FALSE(end);
    std::string body;
    REQUIRE(reader.ReadBody(&body).ok());
    if (cid.codec() == format::kRaw && body.size() >= 256) return {cid, body};
  }
}

// A store on `tier` with `car` imported and pinned, and one byte of its RawLeafOf flipped on disk.
fs::path ImportAndDamageALeaf(const TempDir& dir, const std::string& tier, const fs::path& car) {
  const fs::path config = WriteConfig(dir, json::array({{{"plugin", "lru"}}, {{"plugin", tier}}}));
  REQUIRE(Boxcar(config, {"import", "--pin", car.string()}).exit_code == 0);
  REQUIRE(Boxcar(config, {"stat"}).exit_code == 0);  // leveldb: the log becomes a table
  const std::string body = RawLeafOf(car).second;
  REQUIRE(FlipByteOf(dir / "data" / tier, body.substr(body.size() / 2, 64)));
  return config;
}

TEST_CASE("a corrupt stored block is rewritten by a re-import of its CAR") {
  for (const char* tier : {"leveldb", "flatfs"}) {
    CAPTURE(tier);
    TempDir dir;
    const fs::path car = kFixtures / "subdir-with-mixed-block-files.car";
    const fs::path config = ImportAndDamageALeaf(dir, tier, car);
    const auto [victim, body] = RawLeafOf(car);
    REQUIRE(Boxcar(config, {"verify"}).exit_code == 1);

    CommandResult again = Boxcar(config, {"import", "--pin", car.string()});
    INFO(again.out);
    REQUIRE(again.exit_code == 0);
    CommandResult verified = Boxcar(config, {"verify"});
    INFO(verified.out);
    CHECK(verified.exit_code == 0);
    CHECK(verified.out.find("0 corrupt") != std::string::npos);
    REQUIRE(Export(config, victim.ToString(), "block", dir / "out.car").exit_code == 0);
    CHECK(ReadFile(dir / "out.car").find(body) != std::string::npos);
  }
}

TEST_CASE("verify --repair removes corrupt blocks and names the pinned DAGs to re-import") {
  for (const char* tier : {"leveldb", "flatfs"}) {
    CAPTURE(tier);
    TempDir dir;
    const fs::path car = kFixtures / "subdir-with-mixed-block-files.car";
    const fs::path config = ImportAndDamageALeaf(dir, tier, car);
    const auto [victim, body] = RawLeafOf(car);

    CommandResult repaired = Boxcar(config, {"verify", "--repair"});
    INFO(repaired.out);
    CHECK(repaired.exit_code == 1);  // the store was damaged; it is consistent again
    const std::string raw_cid = Cid::V1(format::kRaw, victim.hash()).ToString();
    CHECK(repaired.out.find("removed " + raw_cid) != std::string::npos);
    const std::string root = CarBlockCids(car)[0];
    CHECK(repaired.out.find("re-import") != std::string::npos);
    CHECK(repaired.out.find(root) != std::string::npos);

    CHECK(Boxcar(config, {"verify"}).exit_code == 0);
    CHECK(Export(config, root, "all", dir / "out.car").exit_code == 1);  // the block is gone
    REQUIRE(Boxcar(config, {"import", "--pin", car.string()}).exit_code == 0);
    REQUIRE(Export(config, root, "all", dir / "out.car").exit_code == 0);
    CHECK(ReadFile(dir / "out.car").find(body) != std::string::npos);
  }
}

TEST_CASE("import of several CARs imports every one and fails if any failed") {
  TempDir dir;
  const fs::path config = WriteConfig(dir);
  const fs::path garbage = dir.Write("garbage.car", "this is not a CAR file");
  const fs::path first = kFixtures / "dag-pb.car";
  const fs::path last = kFixtures / "subdir-with-two-single-block-files.car";
  CommandResult imported =
      Boxcar(config, {"import", "--pin", first.string(), (dir / "missing.car").string(),
                      garbage.string(), last.string()});
  INFO(imported.out);
  CHECK(imported.exit_code == 1);
  CHECK(imported.out.find("pinned " + CarBlockCids(first)[0]) != std::string::npos);
  CHECK(imported.out.find("pinned " + CarBlockCids(last)[0]) != std::string::npos);
  CHECK(imported.out.find("missing.car") != std::string::npos);
  CHECK(imported.out.find("garbage.car") != std::string::npos);
  CHECK(imported.out.find("2 of 4 file(s) failed") != std::string::npos);
  // The files after the failures were imported: their DAG exports.
  CHECK(Export(config, CarBlockCids(last)[0], "all", dir / "out.car").exit_code == 0);
}

TEST_CASE("export writes a block the DAG links twice only once") {
  TempDir dir;
  const fs::path config = WriteConfig(dir);
  const fs::path car = kFixtures / "dir-with-duplicate-files.car";
  REQUIRE(Boxcar(config, {"import", car.string()}).exit_code == 0);
  const std::string root = CarBlockCids(car)[0];
  for (const char* scope : {"all", "entity"}) {
    CAPTURE(scope);
    REQUIRE(Export(config, root, scope, dir / "out.car").exit_code == 0);
    const std::vector<std::string> exported = CarBlockCids(dir / "out.car");
    CHECK(std::set<std::string>(exported.begin(), exported.end()).size() == exported.size());
  }
  REQUIRE(Export(config, root, "all", dir / "out.car").exit_code == 0);
  const std::vector<std::string> original = CarBlockCids(car);
  CHECK(std::set<std::string>(original.begin(), original.end()).size() ==
        CarBlockCids(dir / "out.car").size());
}

TEST_CASE("stat prints a table, with no JSON in it") {
  TempDir dir;
  const fs::path config = WriteConfig(dir);
  REQUIRE(Boxcar(config, {"import", "--pin", (kFixtures / "dag-pb.car").string()}).exit_code == 0);
  CommandResult stat = Boxcar(config, {"stat"});
  INFO(stat.out);
  REQUIRE(stat.exit_code == 0);
  CHECK(stat.out.find('{') == std::string::npos);
  CHECK(stat.out.find('"') == std::string::npos);
  CHECK(stat.out.find("PINS") != std::string::npos);
  CHECK(stat.out.find("RECURSIVE") != std::string::npos);
}

TEST_CASE("a store a node is serving is refused by the store commands") {
  TempDir dir;
  const fs::path config = WriteConfig(dir);
  NodeProcess node(config);
  REQUIRE(node.WaitReady());
  CommandResult refused = Boxcar(config, {"import", (kFixtures / "dag-pb.car").string()});
  CHECK(refused.exit_code == 1);
  CHECK(refused.out.find("locked by PID " + std::to_string(node.pid())) != std::string::npos);
  node.Signal(SIGTERM);
  CHECK(node.WaitExit() == 0);
  CHECK(Boxcar(config, {"import", (kFixtures / "dag-pb.car").string()}).exit_code == 0);
}

TEST_CASE("kill -9 during a large import leaves a consistent store that a re-import completes") {
  TempDir dir;
  const fs::path config = WriteConfig(dir);
  const fs::path car = dir / "big.car";
  const Cid root = WriteBigCar(car, 240, 4);  // 60 MiB in leveldb, 12 MiB streamed to flatfs
  for (int delay_ms : {150, 400, 900}) {
    CAPTURE(delay_ms);
    const pid_t pid = Spawn(
        {BoxcarBinary().string(), "import", "--config", config.string(), "--pin", car.string()});
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);

    CommandResult verified = Boxcar(config, {"verify"});
    INFO(verified.out);
    CHECK(verified.exit_code == 0);
    CommandResult stat = Boxcar(config, {"stat", "--json"});
    REQUIRE(stat.exit_code == 0);
    const json status_json = json::parse(stat.out.substr(stat.out.find('{')));
    // A pin exists only with its whole DAG: stat's walk of the pins found nothing missing.
    CHECK_FALSE(status_json["pins"].contains("error"));
    CHECK(Boxcar(config, {"gc"}).exit_code == 0);
  }
  CommandResult again = Boxcar(config, {"import", "--pin", car.string()});
  INFO(again.out);
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("pinned " + root.ToString()) != std::string::npos);
  REQUIRE(Export(config, root.ToString(), "all", dir / "out.car").exit_code == 0);
  CHECK(CarBlockCids(dir / "out.car").size() == 245);
  CHECK(Boxcar(config, {"verify"}).exit_code == 0);
}

}  // namespace
}  // namespace boxcar::testing
