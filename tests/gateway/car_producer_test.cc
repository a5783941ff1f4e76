#include "gateway/car_producer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "format/dagpb.h"
#include "format/format_test_util.h"
#include "format/unixfs.h"
#include "format/walk.h"
#include "gateway/hamt.h"
#include "gateway/request.h"

namespace {

using boxcar::Status;
using namespace boxcar::format;
using namespace boxcar::gateway;
using boxcar::format::testing::ParseCid;
using boxcar::format::testing::ReadCar;
using boxcar::format::testing::ReadFixture;

constexpr const char* kMixed = "bafybeidh6k2vzukelqtrjsmd4p52cpmltd2ufqrdtdg6yigi73in672fwu";
constexpr const char* kTwoFiles = "bafybeietjm63oynimmv5yyqay33nui4y4wx6u3peezwetxgiwvfmelutzu";
constexpr const char* kHamt = "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i";
constexpr const char* kDuplicates = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy";
constexpr const char* kMissingBlockFile = "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk";
constexpr const char* kCborDir = "bafybeia264q44a3kmfc2otctzu4egp2k235o3t7mslz2yjraymp4nv6asi";
// The leaves of multiblock.txt (1026 bytes: 4 x 256 + 2), as the conformance suite lists them.
const std::vector<std::string> kMultiblockLeaves = {
    "bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm",
    "bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq",
    "bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue",
    "bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe",
    "bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm",
};

// Every block of every fixture, by CID bytes.
class Store {
 public:
  Store() {
    for (const auto& row : boxcar::format::testing::FixtureTable()) {
      for (const auto& block : ReadCar(ReadFixture(row.file)).blocks) {
        blocks_[block.cid.bytes()] = block.data;
      }
    }
  }

  BlockFetcher Fetcher() {
    return [this](const Cid& cid, std::string* data) {
      ++fetches_;
      const auto it = blocks_.find(cid.bytes());
      if (it == blocks_.end()) return Status::NotFound("no such block");
      *data = it->second;
      return Status::OK();
    };
  }

  const std::string& Block(const Cid& cid) const { return blocks_.at(cid.bytes()); }
  std::map<std::string, std::string>& blocks() { return blocks_; }
  size_t fetches() const { return fetches_; }

 private:
  std::map<std::string, std::string> blocks_;
  size_t fetches_ = 0;
};

GatewayRequest Parse(const std::string& target, const std::string& accept = "") {
  GatewayRequest req;
  HttpError error;
  const bool ok = ParseRequest("GET", target, {accept, "", ""}, &req, &error);
  REQUIRE_MESSAGE(ok, error.status, " ", error.message);
  return req;
}

struct Produced {
  Status begin;
  Status next;
  std::string bytes;
  std::vector<std::string> order;  // CIDs of the sections
  std::vector<Cid> path_cids;
};

Produced Produce(Store& store, const GatewayRequest& req, size_t chunk = 1 << 20) {
  Produced result;
  CarProducer producer(req, store.Fetcher());
  result.begin = producer.Begin();
  if (!result.begin.ok()) return result;
  result.path_cids = producer.path_cids();
  bool done = false;
  while (!done) {
    const size_t before = result.bytes.size();
    result.next = producer.Next(chunk, &result.bytes, &done);
    if (!result.next.ok()) break;
    CHECK((done || result.bytes.size() - before >= chunk));
  }
  boxcar::format::testing::CarContents car = ReadCar(result.bytes);
  REQUIRE(car.header.roots.size() == 1);
  CHECK(car.header.roots[0] == req.root);
  for (const auto& block : car.blocks) result.order.push_back(block.cid.ToString());
  return result;
}

std::vector<std::string> Order(Store& store, const std::string& target) {
  const Produced produced = Produce(store, Parse(target));
  REQUIRE_MESSAGE(produced.begin.ok(), produced.begin.ToString());
  REQUIRE_MESSAGE(produced.next.ok(), produced.next.ToString());
  return produced.order;
}

// The CID a plain (non-HAMT) directory links under `name`.
std::string Child(Store& store, const std::string& dir, const std::string& name) {
  PbNode node;
  REQUIRE(DecodePbNode(store.Block(ParseCid(dir)), &node).ok());
  for (const PbLink& link : node.links) {
    if (link.name && *link.name == name) return link.cid.ToString();
  }
  FAIL("no link ", name, " in ", dir);
  return "";
}

// The depth-first list of every block below `root` (itself excluded), with duplicates.
std::vector<std::string> Descendants(Store& store, const std::string& root) {
  std::vector<std::string> order;
  const Status status =
      Walk(ParseCid(root), {}, store.Fetcher(), [&](const Cid& cid, std::string_view) {
        order.push_back(cid.ToString());
        return Status::OK();
      });
  REQUIRE(status.ok());
  order.erase(order.begin());
  return order;
}

std::vector<std::string> Concat(std::vector<std::vector<std::string>> parts) {
  std::vector<std::string> all;
  for (auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

TEST_CASE("car: dag-scope on subdir-with-mixed-block-files, with pathing") {
  Store store;
  const std::string root = kMixed;
  const std::string subdir = Child(store, root, "subdir");
  const std::string multiblock = Child(store, subdir, "multiblock.txt");
  const std::string ascii = Child(store, subdir, "ascii.txt");
  REQUIRE(Descendants(store, multiblock) == kMultiblockLeaves);
  const std::string base = "/ipfs/" + root;

  CHECK(Order(store, base + "/subdir?format=car&dag-scope=all") ==
        Concat({{root, subdir}, Descendants(store, subdir)}));
  CHECK(Order(store, base + "/subdir?format=car&dag-scope=block") ==
        std::vector<std::string>{root, subdir});
  CHECK(Order(store, base + "/subdir?format=car&dag-scope=entity") ==
        std::vector<std::string>{root, subdir});
  for (const char* scope : {"all", "entity"}) {
    CAPTURE(scope);
    CHECK(Order(store, base + "/subdir/multiblock.txt?format=car&dag-scope=" + scope) ==
          Concat({{root, subdir, multiblock}, kMultiblockLeaves}));
  }
  CHECK(Order(store, base + "/subdir/multiblock.txt?format=car&dag-scope=block") ==
        std::vector<std::string>{root, subdir, multiblock});
  CHECK(Order(store, base + "/subdir/ascii.txt?format=car&dag-scope=entity") ==
        std::vector<std::string>{root, subdir, ascii});
  // The default scope is all; the whole DAG is the fixture in its own (depth-first) order.
  std::vector<std::string> fixture;
  for (const auto& block : ReadCar(ReadFixture("subdir-with-mixed-block-files.car")).blocks) {
    fixture.push_back(block.cid.ToString());
  }
  CHECK(Order(store, base + "?format=car") == fixture);

  const Produced produced = Produce(store, Parse(base + "/subdir/multiblock.txt?format=car"));
  CHECK(produced.path_cids ==
        std::vector<Cid>{ParseCid(root), ParseCid(subdir), ParseCid(multiblock)});
}

TEST_CASE("car: dups=y repeats the duplicated file, dups=n sends it once") {
  Store store;
  const std::string base = "/ipfs/" + std::string(kDuplicates);
  const std::string ascii = Child(store, kDuplicates, "ascii.txt");
  CHECK(Child(store, kDuplicates, "ascii-copy.txt") == ascii);
  const std::vector<std::string> with = Order(store, base + "?format=car&car-dups=y");
  const std::vector<std::string> without = Order(store, base + "?format=car&car-dups=n");
  CHECK(with == Concat({{kDuplicates}, Descendants(store, kDuplicates)}));
  CHECK(std::count(with.begin(), with.end(), ascii) == 2);
  CHECK(std::count(without.begin(), without.end(), ascii) == 1);
  CHECK(with.size() == without.size() + 1);
  // From the Accept header, as the conformance suite asks.
  const GatewayRequest req = Parse(base, "application/vnd.ipld.car; version=1; order=dfs; dups=y");
  CHECK(req.dups);
  CHECK(Produce(store, req).order == with);
}

// The shard nodes from `shard` down to the bucket holding `name`, and the entry's CID.
void HamtLookup(Store& store, const std::string& shard, const std::string& name,
                std::vector<std::string>* shards, std::string* entry) {
  shards->push_back(shard);
  PbNode node;
  REQUIRE(DecodePbNode(store.Block(ParseCid(shard)), &node).ok());
  for (const PbLink& link : node.links) {
    if (*link.name == name || link.name->substr(2) == name) {
      *entry = link.cid.ToString();
      return;
    }
  }
  for (const PbLink& link : node.links) {
    if (link.name->size() != 2) continue;
    std::vector<std::string> below;
    std::string found;
    HamtLookup(store, link.cid.ToString(), name, &below, &found);
    if (!found.empty()) {
      shards->insert(shards->end(), below.begin(), below.end());
      *entry = found;
      return;
    }
  }
  shards->pop_back();
}

// Every entry name of a HAMT directory, found by brute force.
void HamtNames(Store& store, const std::string& shard, std::vector<std::string>* names) {
  PbNode node;
  REQUIRE(DecodePbNode(store.Block(ParseCid(shard)), &node).ok());
  for (const PbLink& link : node.links) {
    if (link.name->size() == 2) {
      HamtNames(store, link.cid.ToString(), names);
    } else {
      names->push_back(link.name->substr(2));
    }
  }
}

TEST_CASE("car: pathing through a HAMT-sharded directory") {
  Store store;
  std::vector<std::string> shards;
  std::string file;
  HamtLookup(store, kHamt, "685.txt", &shards, &file);
  REQUIRE(!file.empty());
  CHECK(Order(store, "/ipfs/" + std::string(kHamt) + "/685.txt?format=car") ==
        Concat({shards, {file}, Descendants(store, file)}));
  CHECK(Order(store, "/ipfs/" + std::string(kHamt) + "/685.txt?format=car&dag-scope=block") ==
        Concat({shards, {file}}));

  // Every entry resolves through the hash to the same CID brute force finds.
  std::vector<std::string> names;
  HamtNames(store, kHamt, &names);
  CHECK(names.size() > 50);
  for (const std::string& name : names) {
    CAPTURE(name);
    CarProducer producer(Parse("/ipfs/" + std::string(kHamt) + "/" + name + "?format=car"),
                         store.Fetcher());
    REQUIRE(producer.Begin().ok());
    std::vector<std::string> expected_shards;
    std::string entry;
    HamtLookup(store, kHamt, name, &expected_shards, &entry);
    CHECK(producer.path_cids() == std::vector<Cid>{ParseCid(kHamt), ParseCid(entry)});
  }
  const Produced absent =
      Produce(store, Parse("/ipfs/" + std::string(kHamt) + "/no-such-file?format=car"));
  CHECK(absent.begin.code() == Status::Code::kNotFound);
  CHECK(absent.begin.message() ==
        "no link named \"no-such-file\" under /ipfs/" + std::string(kHamt));
}

TEST_CASE("car: entity-bytes selects the leaves meeting the range") {
  Store store;
  const std::string subdir = Child(store, kMixed, "subdir");
  const std::string file = Child(store, subdir, "multiblock.txt");
  const auto leaves = [&](size_t from, size_t to) {
    return Concat({{file},
                   std::vector<std::string>(kMultiblockLeaves.begin() + from,
                                            kMultiblockLeaves.begin() + to)});
  };
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"0:*", leaves(0, 5)},      {"512:*", leaves(2, 5)},       {"512:1023", leaves(2, 4)},
      {"512:-256", leaves(2, 4)}, {"-5:*", leaves(3, 5)},        {"-9999:*", leaves(0, 5)},
      {"-9999:-3", leaves(0, 4)}, {"0:0", leaves(0, 1)},         {"1025:99999", leaves(4, 5)},
      {"2000:*", leaves(0, 0)},   {"-9999:-2000", leaves(0, 0)}, {"256:511", leaves(1, 2)},
  };
  for (const auto& [range, expected] : cases) {
    CAPTURE(range);
    CHECK(Order(store, "/ipfs/" + file + "?format=car&entity-bytes=" + range) == expected);
  }
  // Path blocks come first; on a directory the range is ignored and the scope is entity.
  CHECK(Order(store, "/ipfs/" + std::string(kMixed) +
                         "/subdir/multiblock.txt?format=car&entity-bytes=0:0") ==
        Concat({{kMixed, subdir}, leaves(0, 1)}));
  std::vector<std::string> hamt_entity =
      Order(store, "/ipfs/" + std::string(kHamt) + "?format=car&dag-scope=entity");
  CHECK(Order(store, "/ipfs/" + std::string(kHamt) + "?format=car&entity-bytes=0:*") ==
        hamt_entity);
}

TEST_CASE("car: entity-bytes skips a missing block outside the range; dag-scope=all fails on it") {
  Store store;
  const std::string base = "/ipfs/" + std::string(kMissingBlockFile) + "?format=car";
  CHECK(Order(store, base + "&entity-bytes=0:1000") ==
        std::vector<std::string>{kMissingBlockFile,
                                 "QmPKt7ptM2ZYSGPUc8PmPT2VBkLDK3iqpG9TBJY7PCE9rF"});
  CHECK(Order(store, base + "&entity-bytes=2200:*") ==
        std::vector<std::string>{kMissingBlockFile,
                                 "QmWXY482zQdwecnfBsj78poUUuPXvyw2JAFAEMw4tzTavV"});

  // Mid-stream: the header and the blocks before the gap, then the error, which sticks.
  CarProducer producer(Parse(base), store.Fetcher());
  REQUIRE(producer.Begin().ok());
  std::string bytes;
  bool done = false;
  const Status status = producer.Next(1 << 20, &bytes, &done);
  CHECK(status.code() == Status::Code::kNotFound);
  CHECK(status.message().find(" is missing") != std::string::npos);
  CHECK(!done);
  CHECK(ReadCar(bytes).blocks.size() == 2);
  std::string more;
  CHECK(producer.Next(1 << 20, &more, &done).code() == Status::Code::kNotFound);
  CHECK(more.empty());
}

TEST_CASE("car: Begin errors come before any byte") {
  Store store;
  const Cid absent = Cid::V1(kRaw, Multihash::Sum(kSha2_256, "not stored"));
  Produced produced = Produce(store, Parse("/ipfs/" + absent.ToString() + "?format=car"));
  CHECK(produced.begin.code() == Status::Code::kNotFound);
  CHECK(produced.begin.message() == "block " + absent.ToString() + " is missing");

  produced = Produce(store, Parse("/ipfs/" + std::string(kTwoFiles) + "/subdir/nope?format=car"));
  CHECK(produced.begin.code() == Status::Code::kNotFound);
  CHECK(produced.begin.message() ==
        "no link named \"nope\" under /ipfs/" + std::string(kTwoFiles) + "/subdir");

  produced =
      Produce(store, Parse("/ipfs/" + std::string(kTwoFiles) + "/subdir/ascii.txt/x?format=car"));
  CHECK(produced.begin.code() == Status::Code::kInvalidArgument);

  // A corrupt block on the path.
  const std::string subdir = Child(store, kTwoFiles, "subdir");
  store.blocks()[ParseCid(subdir).bytes()] += "!";
  produced = Produce(store, Parse("/ipfs/" + std::string(kTwoFiles) + "/subdir?format=car"));
  CHECK(produced.begin.code() == Status::Code::kCorruption);
}

TEST_CASE("car: identity CIDs are never written; bafkqaaa is a header-only CAR") {
  Store store;
  const Produced probe = Produce(store, Parse("/ipfs/bafkqaaa?format=car"));
  REQUIRE(probe.begin.ok());
  CHECK(probe.order.empty());
  CHECK(probe.bytes == EncodeCarV1Header({ParseCid("bafkqaaa")}));
  const Produced inlined =
      Produce(store, Parse("/ipfs/bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa",
                           "application/vnd.ipld.car; dups=y"));
  REQUIRE(inlined.begin.ok());
  CHECK(inlined.order.empty());
  CHECK(store.fetches() == 0);
}

TEST_CASE("car: pathing through dag-cbor maps follows the link") {
  Store store;
  const std::string document = Child(store, kCborDir, "document");
  const Produced produced = Produce(store, Parse("/ipfs/" + document + "/files/single?format=car"));
  REQUIRE_MESSAGE(produced.begin.ok(), produced.begin.ToString());
  REQUIRE(produced.path_cids.size() == 2);
  const std::string single = produced.path_cids[1].ToString();
  CHECK(produced.order == Concat({{document, single}, Descendants(store, single)}));
  CHECK(Produce(store, Parse("/ipfs/" + document + "/files?format=car")).begin.code() ==
        Status::Code::kNotSupported);
  CHECK(Produce(store, Parse("/ipfs/" + document + "/nothing?format=car")).begin.code() ==
        Status::Code::kNotFound);
}

TEST_CASE("car: dag-scope=entity matches format::Walk; a dag-cbor entity is its own block") {
  Store store;
  for (const char* root : {kHamt, kMixed, kDuplicates, kCborDir}) {
    CAPTURE(root);
    std::vector<std::string> walked;
    WalkOptions options;
    options.scope = DagScope::kEntity;
    REQUIRE(Walk(ParseCid(root), options, store.Fetcher(), [&](const Cid& cid, std::string_view) {
              walked.push_back(cid.ToString());
              return Status::OK();
            }).ok());
    CHECK(Order(store, "/ipfs/" + std::string(root) + "?format=car&dag-scope=entity") == walked);
  }
  const std::string document = Child(store, kCborDir, "document");
  CHECK(Order(store, "/ipfs/" + std::string(kCborDir) + "/document?format=car&dag-scope=entity") ==
        std::vector<std::string>{kCborDir, document});
}

TEST_CASE("car: small Next calls produce the same bytes as one call, a bounded amount each") {
  Store store;
  for (const char* target :
       {"?format=car", "?format=car&car-dups=y", "?format=car&dag-scope=entity"}) {
    CAPTURE(target);
    const GatewayRequest req = Parse("/ipfs/" + std::string(kHamt) + target);
    const Produced whole = Produce(store, req);
    REQUIRE(whole.next.ok());
    CHECK(whole.order.size() > 200);
    for (size_t chunk : {size_t{0}, size_t{1}, size_t{100}, size_t{4096}}) {
      CAPTURE(chunk);
      CarProducer producer(req, store.Fetcher());
      REQUIRE(producer.Begin().ok());
      std::string bytes;
      bool done = false;
      size_t calls = 0;
      while (!done) {
        const size_t before = bytes.size();
        REQUIRE(producer.Next(chunk, &bytes, &done).ok());
        ++calls;
        // One call appends at most one section (or the header) past the limit.
        CHECK(bytes.size() - before < chunk + 2 * 1024 * 1024);
        REQUIRE(calls < 100000);
      }
      CHECK(bytes == whole.bytes);
      if (chunk <= 1) CHECK(calls >= whole.order.size());
    }
  }
}

TEST_CASE("hamt: murmur3 x64 64 and bucket prefixes") {
  // Reference values of MurmurHash3_x64_128 (seed 0), first 64 bits.
  CHECK(Murmur3X64_64("") == 0);
  // The 128-bit hash of "hello" begins with the bytes cb d8 a7 b3 41 bd 9b 02; go-unixfs reads
  // them as a big-endian h1. (The HAMT test above checks every name of the fixture as well.)
  CHECK(Murmur3X64_64("hello") == 0xcbd8a7b341bd9b02ull);
  std::string prefix;
  REQUIRE(HamtBucketPrefix("685.txt", 256, 0, &prefix).ok());
  CHECK(prefix.size() == 2);
  CHECK(HamtBucketPrefix("x", 255, 0, &prefix).code() == Status::Code::kInvalidArgument);
  CHECK(HamtBucketPrefix("x", 256, 8, &prefix).code() == Status::Code::kInvalidArgument);
  REQUIRE(HamtBucketPrefix("x", 16, 15, &prefix).ok());
  CHECK(prefix.size() == 1);
}

TEST_CASE("raw: a block is fetched and verified; bafkqaaa is an empty body without a fetch") {
  Store store;
  std::string data;
  const std::string raw = "bafkreihhpc5y2pqvl5rbe5uuyhqjouybfs3rvlmisccgzue2kkt5zq6upq";
  REQUIRE(FetchRawBlock(Parse("/ipfs/" + raw + "?format=raw"), store.Fetcher(), &data).ok());
  CHECK(data == store.Block(ParseCid(raw)));
  REQUIRE(FetchRawBlock(Parse("/ipfs/bafkqaaa?format=raw"), store.Fetcher(), &data).ok());
  CHECK(data.empty());
  CHECK(store.fetches() == 1);
  store.blocks()[ParseCid(raw).bytes()] += "!";
  CHECK(FetchRawBlock(Parse("/ipfs/" + raw + "?format=raw"), store.Fetcher(), &data).code() ==
        Status::Code::kCorruption);
  const Cid absent = Cid::V1(kRaw, Multihash::Sum(kSha2_256, "not stored"));
  const Status status =
      FetchRawBlock(Parse("/ipfs/" + absent.ToString() + "?format=raw"), store.Fetcher(), &data);
  CHECK(status.code() == Status::Code::kNotFound);
  CHECK(status.message() == "block " + absent.ToString() + " is missing");
}

}  // namespace
