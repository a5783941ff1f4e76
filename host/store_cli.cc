#include "store_cli.h"

#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>

#include "format/car.h"
#include "format/walk.h"
#include "obs/metrics.h"
#include "runtime/host_services.h"
#include "runtime/runtime.h"
#include "store/dag_transfer.h"
#include "store/store_lock.h"

namespace boxcar::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

int Fail(const std::string& message) {
  std::cerr << "boxcar: " << message << "\n";
  return 1;
}

std::string Bytes(uint64_t n) {
  char buf[32];
  if (n < (1 << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  } else if (n < (uint64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(n) / (1 << 30));
  }
  return buf;
}

// The store a command works on: the config's tiers loaded through the same runtime a node uses,
// under the store's lock.
class OfflineStore {
 public:
  ~OfflineStore() {
    blocks_.reset();
    if (runtime_) runtime_->Shutdown();
  }

  Status Open(const StoreCommand& command) {
    runtime::LoadResult loaded =
        runtime::LoadConfig(command.config, command.overrides, command.exe_dir);
    if (!loaded.config) {
      std::string errors;
      for (const auto& e : loaded.errors) {
        errors += (errors.empty() ? "" : "\n") + runtime::FormatError(command.config, e);
      }
      return Status::InvalidArgument(errors);
    }
    config_ = std::move(*loaded.config);
    if (Status s = store::StoreLock::Acquire(config_.store_path, &lock_); !s.ok()) return s;
    runtime_ = std::make_unique<runtime::Runtime>(runtime::MakeHostContext(metrics_.registry()),
                                                  *metrics_.registry());
    blocks_ = std::make_unique<store::BlockStore>(*runtime_, *metrics_.registry());
    runtime::ReloadOutcome applied = runtime_->Apply(config_, "startup");
    if (!applied.status.ok()) return applied.status;
    if (Status s = blocks_->Refresh(); !s.ok()) return s;
    return store::PinStore::Open(config_.store_path / "pins", &pins_);
  }

  store::BlockStore& blocks() { return *blocks_; }
  store::PinStore& pins() { return *pins_; }

 private:
  runtime::Config config_;
  obs::MetricsRegistry metrics_;
  std::unique_ptr<store::StoreLock> lock_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<store::BlockStore> blocks_;
  std::unique_ptr<store::PinStore> pins_;
};

// Import progress on stderr: a redrawn bar on a terminal, a line every few seconds otherwise.
class ProgressReporter {
 public:
  ProgressReporter(std::string file, uint64_t file_bytes)
      : file_(std::move(file)), total_(file_bytes), tty_(isatty(STDERR_FILENO) == 1) {}

  void Update(const store::ImportProgress& p, bool final) {
    const auto now = Clock::now();
    const auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::seconds(5);
    if (!final && now - last_ < interval) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(p.input_offset) / seconds : 0;
    const double fraction =
        total_ > 0
            ? std::min(1.0, static_cast<double>(p.input_offset) / static_cast<double>(total_))
            : 0;
    const double eta = rate > 0 && total_ > p.input_offset
                           ? static_cast<double>(total_ - p.input_offset) / rate
                           : 0;
    char line[256];
    if (tty_) {
      constexpr int kWidth = 24;
      std::string bar(kWidth, ' ');
      for (int i = 0; i < static_cast<int>(fraction * kWidth); ++i) bar[i] = '#';
      std::snprintf(line, sizeof line, "\r[%s] %3.0f%% %" PRIu64 " blocks %s  %s/s  ETA %ds  ",
                    bar.c_str(), fraction * 100, p.blocks, Bytes(p.bytes).c_str(),
                    Bytes(static_cast<uint64_t>(rate)).c_str(), static_cast<int>(eta));
      std::fputs(line, stderr);
      if (final) std::fputc('\n', stderr);
    } else {
      std::snprintf(line, sizeof line, "import %s: %3.0f%% %" PRIu64 " blocks, %s, %s/s, ETA %ds\n",
                    file_.c_str(), fraction * 100, p.blocks, Bytes(p.bytes).c_str(),
                    Bytes(static_cast<uint64_t>(rate)).c_str(), static_cast<int>(eta));
      std::fputs(line, stderr);
    }
  }

 private:
  std::string file_;
  uint64_t total_;
  bool tty_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = Clock::now();
};

std::string KeyAsCid(const std::string& key) {
  format::Multihash mh;
  if (!format::Multihash::FromBytes(key, &mh).ok()) return "(unparsable key)";
  return format::Cid::V1(format::kRaw, mh).ToString();
}

}  // namespace

json StoreStatus(store::BlockStore& blocks, store::PinStore& pins) {
  json tiers = json::array();
  for (const store::TierSummary& t : blocks.Tiers()) {
    tiers.push_back({{"slot", t.slot},
                     {"plugin", t.plugin},
                     {"persistent", t.persistent},
                     {"max_block_bytes", t.max_block_bytes},
                     {"entries", t.stats.entries},
                     {"bytes", t.stats.bytes},
                     {"capacity_bytes", t.stats.capacity_bytes},
                     {"hits", t.stats.hits},
                     {"misses", t.stats.misses},
                     {"evictions", t.stats.evictions}});
  }
  std::vector<store::Pin> list;
  json pin_counts = {{"recursive", 0}, {"direct", 0}};
  if (Status s = pins.List(&list); s.ok()) {
    for (const store::Pin& p : list) {
      pin_counts[store::PinKindName(p.kind)] =
          pin_counts[store::PinKindName(p.kind)].get<int>() + 1;
    }
  } else {
    pin_counts["error"] = s.message();
  }
  store::MemoryGovernor& memory = blocks.governor();
  return {{"tiers", tiers},
          {"pins", pin_counts},
          {"memory", {{"budget_bytes", memory.budget()}, {"used_bytes", memory.used()}}},
          {"corrupt_blocks_seen", blocks.corruption_count()}};
}

namespace {

struct ImportTotals {
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  uint64_t pinned = 0;
};

// Imports one file, printing its roots; the failure names the file.
Status ImportFile(store::BlockStore& blocks, store::PinStore& pins, const std::string& file,
                  bool pin, ImportTotals* totals) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::IOError("cannot open " + file + ": " + std::strerror(errno));
  std::error_code ec;
  ProgressReporter progress(file, fs::file_size(file, ec));
  store::ImportOptions options;
  options.pin = pin;
  options.progress = [&](const store::ImportProgress& p) { progress.Update(p, false); };
  store::ImportSummary summary;
  Status s = store::ImportCar(blocks, &pins, in, options, &summary);
  progress.Update(summary.totals, true);
  totals->blocks += summary.totals.blocks;
  totals->bytes += summary.totals.bytes;
  totals->pinned += summary.pinned.size();
  if (!s.ok()) return s.Annotate(file);
  for (const format::Cid& root : summary.roots) {
    std::cout << (pin ? "pinned " : "root ") << root.ToString() << "\n";
  }
  return Status::OK();
}

}  // namespace

// Every file is imported even when an earlier one failed: files are independent, and stopping
// would leave the operator to find out which of the rest were never tried.
int Import(const StoreCommand& command) {
  if (command.operands.empty()) return Fail("import needs at least one CAR file");
  OfflineStore store;
  if (Status s = store.Open(command); !s.ok()) return Fail(s.message());
  ImportTotals totals;
  size_t failed = 0;
  const auto start = Clock::now();
  for (const std::string& file : command.operands) {
    Status s = ImportFile(store.blocks(), store.pins(), file, command.pin, &totals);
    if (!s.ok()) {
      ++failed;
      std::cout.flush();
      std::cerr << "boxcar: import failed: " << s.message() << "\n";
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::fprintf(
      stderr,
      "imported %" PRIu64 " blocks (%s) from %zu file(s) in %.2f s, %s/s; %" PRIu64
      " root(s) pinned\n",
      totals.blocks, Bytes(totals.bytes).c_str(), command.operands.size(), seconds,
      Bytes(static_cast<uint64_t>(seconds > 0 ? static_cast<double>(totals.bytes) / seconds : 0))
          .c_str(),
      totals.pinned);
  if (failed == 0) return 0;
  std::fprintf(stderr, "boxcar: %zu of %zu file(s) failed; the others were imported\n", failed,
               command.operands.size());
  return 1;
}

int Export(const StoreCommand& command) {
  if (command.operands.size() != 1) return Fail("export needs exactly one CID");
  format::Cid root;
  if (Status s = format::Cid::Parse(command.operands[0], &root); !s.ok()) {
    return Fail("export: " + s.message());
  }
  format::DagScope scope;
  if (Status s = format::ParseDagScope(command.scope, &scope); !s.ok()) {
    return Fail("--scope: " + s.message());
  }
  if (isatty(STDOUT_FILENO) == 1) {
    return Fail("export writes a binary CAR to stdout: redirect it, e.g. `> out.car`");
  }
  OfflineStore store;
  if (Status s = store.Open(command); !s.ok()) return Fail(s.message());
  std::ios::sync_with_stdio(false);
  store::ExportSummary summary;
  Status s = store::ExportCar(store.blocks(), root, scope, std::cout, &summary);
  std::cout.flush();
  if (!s.ok()) return Fail("export of " + root.ToString() + " is incomplete: " + s.message());
  std::fprintf(stderr, "exported %" PRIu64 " blocks (%s)\n", summary.blocks,
               Bytes(summary.bytes).c_str());
  return 0;
}

namespace {

// Deletes every corrupt block, so a re-import or a fetch can store it again (a put never
// overwrites a good copy, and would find no copy now), then names the pinned DAGs it broke.
int Repair(OfflineStore& store, const std::vector<store::CorruptBlock>& corrupt) {
  std::set<std::string> keys;
  for (const store::CorruptBlock& c : corrupt) keys.insert(c.key);
  for (const std::string& key : keys) {
    if (Status s = store.blocks().Delete(key); !s.ok()) {
      return Fail("repair: removing " + KeyAsCid(key) + " failed: " + s.message());
    }
    std::cout << "removed " << KeyAsCid(key) << "\n";
  }
  std::vector<store::IncompletePin> broken;
  if (Status s = store::FindIncompletePins(store.blocks(), store.pins(), &broken); !s.ok()) {
    return Fail("repair: listing the pins failed: " + s.message());
  }
  for (const store::IncompletePin& pin : broken) {
    std::cout << "re-import a CAR of " << pin.root.ToString() << " (pinned; " << pin.problem
              << ")\n";
  }
  std::fprintf(stderr,
               "repair: removed %zu corrupt block(s); %zu pinned DAG(s) to re-import with "
               "`boxcar import --pin`\n",
               keys.size(), broken.size());
  return 1;
}

}  // namespace

int Verify(const StoreCommand& command) {
  OfflineStore store;
  if (Status s = store.Open(command); !s.ok()) return Fail(s.message());
  std::vector<store::CorruptBlock> corrupt;
  uint64_t checked = 0;
  if (Status s = store.blocks().Scrub(&corrupt, &checked); !s.ok()) return Fail(s.message());
  for (const store::CorruptBlock& c : corrupt) {
    std::cout << "corrupt " << KeyAsCid(c.key) << " in " << c.tier << ": " << c.problem << "\n";
  }
  std::fprintf(stderr, "verified %" PRIu64 " blocks: %zu corrupt\n", checked, corrupt.size());
  if (corrupt.empty()) return 0;
  if (command.repair) return Repair(store, corrupt);
  std::fprintf(stderr,
               "to repair: re-import the CARs that hold these blocks (a put rewrites a corrupt "
               "copy), or run `boxcar verify --repair` to remove them and list the pinned DAGs "
               "to re-import\n");
  return 1;
}

int CollectGarbage(const StoreCommand& command) {
  OfflineStore store;
  if (Status s = store.Open(command); !s.ok()) return Fail(s.message());
  store::GcSummary summary;
  if (Status s = store::CollectGarbage(store.blocks(), store.pins(), &summary); !s.ok()) {
    return Fail(s.message());
  }
  std::fprintf(stderr, "gc: kept %" PRIu64 " blocks, removed %" PRIu64 " (%s)\n", summary.kept,
               summary.removed, Bytes(summary.removed_bytes).c_str());
  return 0;
}

int Stat(const StoreCommand& command) {
  OfflineStore store;
  if (Status s = store.Open(command); !s.ok()) return Fail(s.message());
  json status = StoreStatus(store.blocks(), store.pins());
  std::vector<std::string> marked;
  uint64_t indirect = 0;
  if (Status s = store::MarkPinned(store.blocks(), store.pins(), &marked, &indirect); s.ok()) {
    status["pins"]["indirect"] = indirect;
  } else {
    status["pins"]["error"] = s.message();
  }
  if (command.json) {
    std::cout << status.dump(2) << "\n";
    return 0;
  }
  std::printf("%-16s %-10s %-10s %12s %12s\n", "TIER", "PLUGIN", "KIND", "BLOCKS", "BYTES");
  for (const json& t : status["tiers"]) {
    std::printf("%-16s %-10s %-10s %12" PRIu64 " %12s\n", t["slot"].get<std::string>().c_str(),
                t["plugin"].get<std::string>().c_str(),
                t["persistent"].get<bool>() ? "persistent" : "memory", t["entries"].get<uint64_t>(),
                Bytes(t["bytes"].get<uint64_t>()).c_str());
  }
  const json& pins = status["pins"];
  if (pins.contains("error")) {
    std::printf("\n%-16s error: %s\n", "PINS", pins["error"].get<std::string>().c_str());
  } else {
    std::printf("\n%-16s %12s %12s %12s\n", "PINS", "RECURSIVE", "DIRECT", "INDIRECT");
    std::printf("%-16s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n", "",
                pins["recursive"].get<uint64_t>(), pins["direct"].get<uint64_t>(),
                pins.value("indirect", uint64_t{0}));
  }
  std::printf("\n%-16s %12s %12s\n", "MEMORY", "USED", "BUDGET");
  std::printf("%-16s %12s %12s\n", "",
              Bytes(status["memory"]["used_bytes"].get<uint64_t>()).c_str(),
              Bytes(status["memory"]["budget_bytes"].get<uint64_t>()).c_str());
  return 0;
}

}  // namespace boxcar::cli
