// The Bitswap load of bench-bitswap: N simulated peers (BitswapPeer) on one or two io_context
// threads,
// each asking a server for blocks from a CID list and timing every want until its answer.
//
// Closed loop (rate 0): each peer keeps `wants` wants outstanding; every answer (block, HAVE,
// DONT_HAVE) or timeout is replaced at once, in one message per peer per received message.
// Open loop (rate R): R wants per second across the peers, issued every millisecond round-robin,
// each peer holding at most `wants` (wants past that are counted as `skipped_at_cap`, never
// queued: an open loop must not slow down with the server).
//
// A want is want-have with probability want_have_percent, else want-block; both carry
// sendDontHave when send_dont_have. Latency is from the message's hand-over to the peer's
// connection until the block (want-block) or the HAVE or block (want-have) arrives.
//
// Thread safety: Run from one thread; the load runs on an internal thread and is joined by Run.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "boxcar/status.h"
#include "format/cid.h"

namespace boxcar::bench {

struct LoadOptions {
  std::string target;  // host:port of the server's libp2p listener
  std::vector<format::Cid> cids;
  int peers = 64;
  int threads = 1;  // io_context threads the peers are split over (the probes have their own)
  int wants = 64;   // outstanding per peer (closed loop), the cap per peer (open loop)
  double rate = 0;
  int want_have_percent = 0;
  bool send_dont_have = true;
  double seconds = 10;  // measured, after the warmup
  double warmup = 1;
  uint64_t count = 0;  // stop issuing after this many wants (0: no bound but time)
  std::chrono::milliseconds timeout{10000};
  long pid = 0;  // the server's, for its CPU time and RSS
  // new-peer mode: probes, each a fresh peer connecting and wanting one block.
  int probes = 0;
  std::chrono::milliseconds probe_gap{100};
  // The peers hold `wants` wants each for blocks nobody has instead of loading the server.
  bool hold_missing = false;
};

// Runs the load (and, with probes > 0, the new-peer probes beside it on their own thread) and
// returns the report: blocks/s, MiB/s, latency p50/p99, failures. Errors only for setup.
Status RunLoad(const LoadOptions& options, nlohmann::json* report);

// Connects `peers` peers that each send `wants` wants for blocks nobody has (half want-block,
// half want-have with sendDontHave), then reports the server's RSS growth per peer.
Status RunIdle(const LoadOptions& options, nlohmann::json* report);

}  // namespace boxcar::bench
