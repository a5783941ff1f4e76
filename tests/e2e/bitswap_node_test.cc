// The real binary's Bitswap server, driven by an in-process Bitswap peer (support/bitswap_peer.h)
// with exact wantlists, and by raw peers for what a well-behaved peer cannot send: Boxo's reply
// semantics, a want that waits for its block, cancels and `full` replacement, and hostile input
// (a malformed message, an oversized frame, a peer that never reads), each of which costs only
// its sender.
#include <doctest/doctest.h>

#include <sstream>
#include <thread>

#include <openssl/rand.h>

#include "format/car.h"
#include "format/varint.h"
#include "support/bitswap_peer.h"
#include "support/http_client.h"
#include "support/node_process.h"
#include "support/p2p_node.h"
#include "support/raw_peer.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using bitswap::PresenceType;
using bitswap::WantEntry;
using bitswap::WantType;
using nlohmann::json;
using std::chrono::milliseconds;

struct Block {
  format::Cid cid;
  std::string data;
};

Block RawBlock(size_t size) {
  Block block;
  block.data.resize(size);
  RAND_bytes(reinterpret_cast<unsigned char*>(block.data.data()), static_cast<int>(size));
  block.cid = format::Cid::V1(format::kRaw, format::Multihash::Sum(format::kSha2_256, block.data));
  return block;
}

void Import(const NodeProcess& node, const std::vector<Block>& blocks) {
  std::ostringstream car;
  format::CarWriter writer(car);
  REQUIRE(writer.WriteHeader({blocks.front().cid}).ok());
  for (const Block& b : blocks) REQUIRE(writer.WriteBlock(b.cid, b.data).ok());
  const HttpResult r = HttpRequest(node.admin(), "POST", "/admin/import", car.str());
  REQUIRE_MESSAGE(r.status == 200, r.body);
}

WantEntry Want(const format::Cid& cid, WantType type, bool send_dont_have = false) {
  WantEntry want;
  want.cid = cid;
  want.type = type;
  want.send_dont_have = send_dont_have;
  return want;
}

WantEntry Cancel(const format::Cid& cid) {
  WantEntry want;
  want.cid = cid;
  want.cancel = true;
  return want;
}

struct BitswapFixture {
  TempDir dir;
  std::unique_ptr<NodeProcess> node;
  P2pEndpoints endpoints;

  explicit BitswapFixture(json bitswap = json::object()) {
    json config = P2pNodeConfig(dir);
    config["p2p"]["bitswap"] = std::move(bitswap);
    node = std::make_unique<NodeProcess>(dir.Write("boxcar.json", config.dump(2)));
    REQUIRE(node->WaitReady());
    endpoints = ReadP2pEndpoints(*node);
    REQUIRE(!endpoints.addresses.empty());
  }
  double Metric(const std::string& name, const std::string& label = "") {
    return MetricSum(*node, name, label);
  }
  // Polls until the metric reaches `value` (messages are handled asynchronously).
  bool WaitMetric(const std::string& name, const std::string& label, double value) {
    for (int i = 0; i < 200; ++i) {
      if (Metric(name, label) >= value) return true;
      std::this_thread::sleep_for(milliseconds(25));
    }
    return false;
  }
};

TEST_CASE("bitswap server: want-block, want-have, inline blocks and DONT_HAVE, as Boxo answers") {
  BitswapFixture f;
  const Block small = RawBlock(1000), big = RawBlock(64 << 10), big_have = RawBlock(64 << 10);
  const Block absent = RawBlock(100), waits = RawBlock(2000);
  Import(*f.node, {small, big, big_have});

  BitswapTestPeer peer;
  peer.Connect(f.endpoints.addresses.front());
  REQUIRE(peer.SendWants({Want(big.cid, WantType::kBlock), Want(small.cid, WantType::kHave),
                          Want(big_have.cid, WantType::kHave),
                          Want(absent.cid, WantType::kHave, /*send_dont_have=*/true),
                          Want(waits.cid, WantType::kBlock)})
              .ok());
  REQUIRE(peer.WaitFor([&] {
    return peer.HasBlock(big.cid) && peer.HasBlock(small.cid) && peer.Presence(big_have.cid) &&
           peer.Presence(absent.cid);
  }));
  CHECK(peer.Block(big.cid) == big.data);
  CHECK(peer.Block(small.cid) == small.data);  // a want-have for <= 1 KiB gets the block
  CHECK(*peer.Presence(big_have.cid) == PresenceType::kHave);
  CHECK(*peer.Presence(absent.cid) == PresenceType::kDontHave);
  CHECK(!peer.HasBlock(big_have.cid));
  CHECK(!peer.HasBlock(waits.cid));

  // A want without sendDontHave waits in the ledger; the block goes out when it is stored.
  Import(*f.node, {waits});
  REQUIRE(peer.WaitFor([&] { return peer.HasBlock(waits.cid); }));
  CHECK(peer.Block(waits.cid) == waits.data);
  CHECK(f.Metric("boxcar_bitswap_wants_received_total", "type=\"have\"") == 3);
  CHECK(f.Metric("boxcar_bitswap_replies_total", "type=\"dont_have\"") == 1);
}

TEST_CASE("bitswap server: a cancelled or replaced want gets nothing when its block arrives") {
  BitswapFixture f;
  const Block cancelled = RawBlock(3000), replaced = RawBlock(3000), kept = RawBlock(3000);
  BitswapTestPeer peer;
  peer.Connect(f.endpoints.addresses.front());
  REQUIRE(
      peer.SendWants({Want(cancelled.cid, WantType::kBlock), Want(replaced.cid, WantType::kBlock)})
          .ok());
  REQUIRE(peer.SendWants({Cancel(cancelled.cid)}).ok());
  // `full` replaces the list: `replaced` is no longer wanted.
  REQUIRE(peer.SendWants({Want(kept.cid, WantType::kBlock)}, /*full=*/true).ok());
  REQUIRE(f.WaitMetric("boxcar_bitswap_wants_received_total", "type=\"cancel\"", 1));
  Import(*f.node, {cancelled, replaced, kept});
  REQUIRE(peer.WaitFor([&] { return peer.HasBlock(kept.cid); }));
  // Whatever was queued behind `kept` would have gone out with it or right after.
  std::this_thread::sleep_for(milliseconds(300));
  CHECK(!peer.HasBlock(cancelled.cid));
  CHECK(!peer.HasBlock(replaced.cid));
  CHECK(peer.block_count() == 1);
}

TEST_CASE("bitswap server: a malformed message or an oversized frame disconnects only its sender") {
  BitswapFixture f;
  const Block block = RawBlock(5000);
  Import(*f.node, {block});
  BitswapTestPeer good, garbage, oversized;
  good.Connect(f.endpoints.addresses.front());
  garbage.Connect(f.endpoints.addresses.front());
  oversized.Connect(f.endpoints.addresses.front());

  // A frame whose body is not a Bitswap message (field 1 claims 100 bytes; 3 follow).
  std::string bad;
  format::AppendUvarint(&bad, 5);
  bad += std::string("\x0a\x64\x01\x02\x03", 5);
  REQUIRE(garbage.SendFramed(bad).ok());
  // A frame that announces 5 MiB, over the 4 MiB cap.
  std::string huge;
  format::AppendUvarint(&huge, 5 << 20);
  huge += "xx";
  REQUIRE(oversized.SendFramed(huge).ok());

  REQUIRE(garbage.WaitFor([&] { return !garbage.connected(); }));
  REQUIRE(oversized.WaitFor([&] { return !oversized.connected(); }));
  CHECK(f.WaitMetric("boxcar_bitswap_penalties_total", "reason=\"malformed\"", 1));
  CHECK(f.WaitMetric("boxcar_bitswap_penalties_total", "reason=\"oversized\"", 1));

  REQUIRE(good.SendWants({Want(block.cid, WantType::kBlock)}).ok());
  REQUIRE(good.WaitFor([&] { return good.HasBlock(block.cid); }));
  CHECK(good.connected());
}

TEST_CASE("bitswap server: a peer that never reads is cut off by the write timeout") {
  BitswapFixture f({{"write_timeout_ms", 1000}, {"max_queued_bytes_per_peer", 1 << 20}});
  std::vector<Block> blocks;
  for (int i = 0; i < 32; ++i) blocks.push_back(RawBlock(256 << 10));
  Import(*f.node, blocks);

  RawPeer reader;
  REQUIRE(reader.Upgrade(f.endpoints.tcp).ok());
  // It accepts the node's stream but never gives its window back: 256 KiB, then nothing.
  reader.AcceptStreams(std::string(bitswap::kProtocol120), /*grant_window=*/false);
  uint32_t stream = 0;
  REQUIRE(reader.OpenStream(std::string(bitswap::kProtocol120), &stream).ok());
  bitswap::Encoder encoder(bitswap::Version::k120);
  for (const Block& b : blocks) REQUIRE(encoder.AddWant(Want(b.cid, WantType::kBlock)));
  std::string framed;
  encoder.Finish(&framed);
  REQUIRE(reader
              .SendYamux(p2p::yamux::FrameType::kData, 0, stream,
                         static_cast<uint32_t>(framed.size()), framed)
              .ok());

  BitswapTestPeer good;
  good.Connect(f.endpoints.addresses.front());
  const auto start = std::chrono::steady_clock::now();
  Status pumped;
  while (pumped.ok() && std::chrono::steady_clock::now() - start < milliseconds(8000)) {
    pumped = reader.Pump();
    if (pumped.IsBusy()) pumped = Status::OK();  // a read timeout: nothing arrived for a while
  }
  CHECK(!pumped.ok());  // the node closed the connection
  CHECK(f.Metric("boxcar_bitswap_penalties_total", "reason=\"write_timeout\"") == 1);
  // The slow peer held its queue, not the server: another peer is served all along.
  REQUIRE(good.SendWants({Want(blocks[0].cid, WantType::kBlock)}).ok());
  REQUIRE(good.WaitFor([&] { return good.HasBlock(blocks[0].cid); }));
}

}  // namespace
}  // namespace boxcar::testing
