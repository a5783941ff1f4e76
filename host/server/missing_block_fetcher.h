// MissingBlockFetcher: how the gateway's fetch_missing reaches the Bitswap client without the
// server depending on it.
#pragma once

#include <chrono>
#include <functional>

#include "boxcar/status.h"
#include "format/cid.h"
#include "format/walk.h"

namespace boxcar::server {

// Brings the blocks of `root` that `scope` selects into the store from peers; `done` runs once,
// on any thread: OK when they are all there, Unavailable when the timeout passed first (or the
// node is stopping), another error when the DAG cannot be completed. Must not block.
using MissingBlockFetcher =
    std::function<void(const format::Cid& root, format::DagScope scope,
                       std::chrono::milliseconds timeout, std::function<void(Status)> done)>;

}  // namespace boxcar::server
