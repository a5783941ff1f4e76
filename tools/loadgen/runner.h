// Runs one load: starts the workers, prints progress, waits for them and merges their figures.
//
// Thread safety: RunLoad blocks the calling thread and starts options.threads threads of its own.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "options.h"
#include "report.h"

namespace boxcar::loadgen {

// `cids` serve the raw, head and car kinds and `missing_cids` the missing kind; each list must
// be non-empty when a kind using it has a weight. With `show_progress` a line goes to stderr
// about once a second. When `stop` (may be null) becomes true, for instance from a signal
// handler, the run ends within about 100 ms and reports the window measured so far.
RunResult RunLoad(const Options& options, std::vector<std::string> cids,
                  std::vector<std::string> missing_cids, uint64_t seed, bool show_progress,
                  const std::atomic<bool>* stop);

}  // namespace boxcar::loadgen
