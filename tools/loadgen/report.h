// The final summary (human text) and the JSON document of a run.
//
// Thread safety: free functions over values.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "options.h"
#include "stats.h"

namespace boxcar::loadgen {

struct RunResult {
  Stats stats;            // merged over all workers
  double duration_s = 0;  // the measured window actually covered
  double connect_s = 0;   // time to open the initial connections
  uint64_t cids = 0;      // CIDs read from --cids
};

nlohmann::json ReportJson(const Options& options, const RunResult& result);
std::string ReportText(const Options& options, const RunResult& result);

}  // namespace boxcar::loadgen
