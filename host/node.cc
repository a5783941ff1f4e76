#include "node.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "obs/logging.h"
#include "rpc/rpc_commands.h"
#include "runtime/config_diff.h"
#include "store/dag_transfer.h"
#include "store_cli.h"

namespace boxcar {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

admin::HttpResponse JsonResponse(int status, const json& body) {
  admin::HttpResponse r;
  r.status = status;
  r.body = body.dump(2) + "\n";
  return r;
}

json CapabilityNames(const runtime::PluginInfo& info) {
  json names = json::array();
  if (info.Has(kThreadSafe)) names.push_back("thread_safe");
  if (info.Has(kStateExport)) names.push_back("state_export");
  if (info.Has(kReconfigure)) names.push_back("reconfigure");
  if (info.Has(kPersistent)) names.push_back("persistent");
  return names;
}

std::string JoinErrors(const fs::path& file, const std::vector<runtime::SchemaError>& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "\n") + runtime::FormatError(file, e);
  return out;
}

// The swarm's options from the p2p section; errors name the config key.
Status SwarmOptionsFrom(const runtime::P2pConfig& p2p_config, p2p::SwarmOptions* options) {
  for (size_t i = 0; i < p2p_config.listen.size(); ++i) {
    p2p::Multiaddr addr;
    if (Status s = p2p::Multiaddr::Parse(p2p_config.listen[i], &addr); !s.ok()) {
      return s.Annotate("p2p.listen[" + std::to_string(i) + "]");
    }
    options->listen.push_back(std::move(addr));
  }
  for (size_t i = 0; i < p2p_config.peers.size(); ++i) {
    p2p::Multiaddr addr;
    if (Status s = p2p::Multiaddr::Parse(p2p_config.peers[i], &addr); !s.ok()) {
      return s.Annotate("p2p.peers[" + std::to_string(i) + "]");
    }
    if (!addr.Peer()) {
      return Status::InvalidArgument("p2p.peers[" + std::to_string(i) +
                                     "]: " + p2p_config.peers[i] + " has no /p2p/ID");
    }
    options->static_peers.push_back(std::move(addr));
  }
  options->io_threads = p2p_config.io_threads;
  options->agent_version = std::string("boxcar/") + BOXCAR_VERSION;
  options->max_conns_per_peer = p2p_config.max_conns_per_peer;
  options->max_inbound_streams_per_peer = p2p_config.max_inbound_streams_per_peer;
  options->max_pending_handshakes = p2p_config.max_pending_handshakes;
  options->max_pending_handshakes_per_ip = p2p_config.max_pending_handshakes_per_ip;
  options->max_conn_buffer_bytes = p2p_config.max_conn_buffer_bytes;
  options->handshake_timeout = std::chrono::milliseconds(p2p_config.handshake_timeout_ms);
  return Status::OK();
}

exchange::NetworkOptions BitswapNetworkOptions(const runtime::BitswapConfig& bitswap) {
  exchange::NetworkOptions options;
  options.max_queued_bytes = bitswap.max_queued_bytes_per_peer;
  options.write_timeout = std::chrono::milliseconds(bitswap.write_timeout_ms);
  return options;
}

exchange::ServerOptions BitswapServerOptions(const runtime::BitswapConfig& bitswap) {
  exchange::ServerOptions options;
  options.ledger.max_wants_per_peer = bitswap.max_wants_per_peer;
  options.target_message_bytes = bitswap.target_message_bytes;
  options.max_inflight_bytes = bitswap.max_queued_bytes_per_peer;
  return options;
}

// The Bitswap server's side of bitswap/stat, bitswap/wantlist?peer= and bitswap/ledger.
rpc::BitswapServerHooks BitswapServerHooksFor(exchange::BitswapServer& server,
                                              exchange::BitswapNetwork& network) {
  rpc::BitswapServerHooks hooks;
  hooks.stats = [&server] {
    const exchange::ServerStats stats = server.stats();
    rpc::BitswapServerStats out;
    out.messages_received = stats.messages_received;
    out.blocks_sent = stats.blocks_sent;
    out.data_sent = stats.data_sent;
    return out;
  };
  hooks.peer_wantlist = [&server](const std::string& peer, std::vector<format::Cid>* wants) {
    p2p::PeerId id;
    if (Status s = p2p::PeerId::Parse(peer, &id); !s.ok()) return s;
    for (const auto& [cid, state] : server.PeerWantlist(id)) wants->push_back(cid);
    return Status::OK();
  };
  hooks.ledger = [&server](const std::string& peer, rpc::BitswapLedgerEntry* entry) {
    p2p::PeerId id;
    if (Status s = p2p::PeerId::Parse(peer, &id); !s.ok()) return s;
    const exchange::PeerLedger ledger = server.Ledger(id);
    entry->sent = ledger.bytes_sent;
    entry->recv = ledger.bytes_received;
    entry->exchanged = ledger.blocks_sent + ledger.blocks_received;
    // Kubo's debt ratio.
    entry->value =
        static_cast<double>(ledger.bytes_sent) / static_cast<double>(ledger.bytes_received + 1);
    return Status::OK();
  };
  hooks.peers = [&network] {
    std::vector<std::string> peers;
    for (const p2p::PeerId& peer : network.ConnectedPeers()) peers.push_back(peer.ToString());
    return peers;
  };
  return hooks;
}

}  // namespace

Node::Node(NodeOptions options)
    : options_(std::move(options)),
      context_(runtime::MakeHostContext(metrics_.registry())),
      reloads_(prometheus::BuildCounter()
                   .Name("boxcar_reloads_total")
                   .Help("Plugin generation reloads by trigger and result")
                   .Register(*metrics_.registry())) {
  runtime_ = std::make_unique<runtime::Runtime>(context_, *metrics_.registry());
  store_ = std::make_unique<store::BlockStore>(*runtime_, *metrics_.registry());
  store_->SetOnBlocksAdded([this](const std::vector<std::pair<format::Cid, uint64_t>>& blocks) {
    if (exchange::BitswapServer* server = blocks_observer_.load()) server->BlocksAdded(blocks);
  });
}

Node::~Node() = default;

void Node::BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

runtime::ReloadOutcome Node::Reload(const std::string& trigger) {
  auto log = obs::Logger("boxcar");
  runtime::LoadResult loaded =
      runtime::LoadConfig(options_.config_file, options_.overrides, options_.exe_dir);
  const std::shared_ptr<const runtime::Generation> running = runtime_->Current();
  std::vector<runtime::ConfigChange> changes;
  runtime::ReloadOutcome outcome;
  bool reached_runtime = false;
  if (!loaded.config) {
    outcome.status = Status::InvalidArgument(JoinErrors(options_.config_file, loaded.errors));
  } else {
    if (running) changes = runtime::DiffConfigs(running->config->document, loaded.config->document);
    if (std::string restart = runtime::DescribeRestartNeeded(changes); !restart.empty()) {
      outcome.status = Status::InvalidArgument(restart);
    } else {
      outcome = ApplyConfig(*loaded.config, trigger);
      reached_runtime = true;
    }
  }
  if (!outcome.status.ok()) {
    // The runtime counts the failures it sees; these never reached it.
    if (!reached_runtime) {
      outcome.generation = running ? running->number : 0;
      reloads_.Add({{"trigger", trigger}, {"result", "failure"}}).Increment();
    }
    // A failed startup has no generation to keep; Run reports it once.
    if (running) {
      log->error("reload ({}) failed; generation {} stays active: {}", trigger, outcome.generation,
                 outcome.status.message());
    }
    return outcome;
  }
  for (const runtime::ConfigChange& change : changes) outcome.changes.push_back(change.Describe());
  log->info("reload ({}): generation {} active in {:.1f} ms", trigger, outcome.generation,
            outcome.duration_ms);
  for (const auto& change : outcome.changes) log->info("  {}", change);
  return outcome;
}

// Hands a validated config to every part that applies it live: the plugin runtime first (it
// refuses what cannot be applied), then the store, the engine, the admin token, the
// gateway's limits, the swarm's limits and static peers, and the RPC's authorizations.
runtime::ReloadOutcome Node::ApplyConfig(const runtime::Config& config,
                                         const std::string& trigger) {
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  runtime::ReloadOutcome outcome = runtime_->Apply(config, trigger);
  if (!outcome.status.ok()) return outcome;
  outcome.status = store_->Refresh();
  if (engine_) engine_->Refresh();
  if (admin_) admin_->SetToken(config.admin_token);
  if (gateway_) gateway_->ApplyLimits(config.gateway);
  if (swarm_) {
    p2p::SwarmOptions options;
    if (Status s = SwarmOptionsFrom(config.p2p, &options); s.ok()) {
      swarm_->Reconfigure(options);  // limits and static peers; the rest needs a restart
    } else {
      outcome.status = s;
    }
  }
  if (bitswap_server_) {
    bitswap_network_->SetOptions(BitswapNetworkOptions(config.p2p.bitswap));
    bitswap_server_->Reconfigure(BitswapServerOptions(config.p2p.bitswap));
  }
  if (rpc_) rpc_->SetAuthorizations(config.rpc.authorizations);
  return outcome;
}

admin::HttpResponse Node::ReloadResponse(const runtime::ReloadOutcome& outcome) {
  json body = {{"ok", outcome.status.ok()}, {"generation", outcome.generation}};
  if (outcome.status.ok()) {
    body["changes"] = outcome.changes;
    body["duration_ms"] = outcome.duration_ms;
    return JsonResponse(200, body);
  }
  body["error"] = outcome.status.message();
  return JsonResponse(422, body);
}

admin::HttpResponse Node::StoreJson() {
  return JsonResponse(200, cli::StoreStatus(*store_, *pins_));
}

// POST /admin/import: the body is a CAR. Blocks are verified and committed in groups; each root
// is pinned once its whole DAG is in the store (a root whose DAG is incomplete is imported but
// not pinned, and the answer says so).
admin::HttpResponse Node::ImportCar(const admin::HttpRequest& request) {
  std::istringstream car(request.body);
  store::ImportOptions options;
  options.pin = true;
  store::ImportSummary summary;
  const Status status = store::ImportCar(*store_, pins_.get(), car, options, &summary);
  // NotFound comes from the completeness check after every block was committed: the import
  // succeeded, the pin did not.
  const bool incomplete = status.code() == Status::Code::kNotFound;
  if (!status.ok() && !incomplete) {
    const bool bad_car = status.code() == Status::Code::kInvalidArgument ||
                         status.code() == Status::Code::kCorruption;
    return JsonResponse(bad_car ? 400 : 500, json{{"error", status.message()},
                                                  {"blocks_committed", summary.totals.blocks},
                                                  {"bytes_read", summary.totals.input_offset}});
  }
  json roots = json::array(), pinned = json::array();
  for (const auto& cid : summary.roots) roots.push_back(cid.ToString());
  for (const auto& cid : summary.pinned) pinned.push_back(cid.ToString());
  json body = {{"roots", roots},
               {"pinned", pinned},
               {"blocks", summary.totals.blocks},
               {"bytes", summary.totals.bytes},
               {"identity_blocks", summary.identity_blocks}};
  if (incomplete) body["not_pinned"] = status.message();
  return JsonResponse(200, body);
}

admin::HttpResponse Node::PluginsJson() {
  auto gen = runtime_->Current();
  json slots = json::array();
  for (const auto& inst : gen->instances) {
    const runtime::PluginInfo& info = inst->info();
    slots.push_back({{"slot", inst->slot()},
                     {"kind", KindName(info.kind)},
                     {"plugin", info.name},
                     {"version", info.version},
                     {"file", info.file.string()},
                     {"sha256", info.sha256},
                     {"api", std::to_string(info.api_major) + "." + std::to_string(info.api_minor)},
                     {"capabilities", CapabilityNames(info)},
                     {"params", inst->params_json()},
                     {"faults", inst->services().faults()},
                     {"loaded_at", inst->loaded_at()}});
  }
  return JsonResponse(200, {{"generation", gen->number}, {"slots", slots}});
}

void Node::RegisterRoutes() {
  admin_->Handle(
      "GET", "/healthz",
      [this](const admin::HttpRequest&) {
        auto gen = runtime_->Current();
        return JsonResponse(200, {{"status", "ok"}, {"generation", gen ? gen->number : 0}});
      },
      false);
  admin_->Handle(
      "GET", "/metrics",
      [this](const admin::HttpRequest&) {
        admin::HttpResponse r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = metrics_.SerializeText();
        return r;
      },
      false);
  admin_->Handle(
      "GET", "/admin/plugins", [this](const admin::HttpRequest&) { return PluginsJson(); }, true);
  admin_->Handle(
      "GET", "/admin/store", [this](const admin::HttpRequest&) { return StoreJson(); }, true);
  admin_->Handle(
      "GET", "/admin/tunables",
      [this](const admin::HttpRequest&) {
        json list = json::array();
        for (const TunableInfo& t : runtime_->tunables().List()) {
          list.push_back({{"name", t.name},
                          {"value", t.value},
                          {"min", t.min},
                          {"max", t.max},
                          {"integer", t.integer}});
        }
        return JsonResponse(200, {{"tunables", list}});
      },
      true);
  admin_->Handle(
      "POST", "/admin/import",
      [this](const admin::HttpRequest& request) { return ImportCar(request); }, true);
  admin_->Handle(
      "POST", "/admin/reload",
      [this](const admin::HttpRequest&) { return ReloadResponse(Reload("admin")); }, true);
}

Status Node::WriteReadyFile() {
  if (options_.ready_file.empty()) return Status::OK();
  const fs::path tmp = options_.ready_file.string() + ".tmp";
  {
    std::ofstream out(tmp);
    json ready = {{"pid", ::getpid()},
                  {"admin", admin_->bound_address()},
                  {"gateway", gateway_->bound_address()}};
    if (swarm_) {
      json addrs = json::array();
      for (const p2p::Multiaddr& addr : swarm_->AdvertisedAddrs()) {
        addrs.push_back(addr.WithPeer(swarm_->local_peer()).ToString());
      }
      ready["p2p"] = addrs;
      ready["peer_id"] = swarm_->local_peer().ToString();
    }
    if (rpc_) ready["rpc"] = rpc_->bound_address();
    out << ready.dump() << "\n";
    if (!out) return Status::IOError("cannot write " + tmp.string());
  }
  // Rename so a reader never sees a half-written file.
  std::error_code ec;
  fs::rename(tmp, options_.ready_file, ec);
  if (ec)
    return Status::IOError("cannot write " + options_.ready_file.string() + ": " + ec.message());
  return Status::OK();
}

std::vector<fs::path> Node::WatchedFiles() {
  std::vector<fs::path> files;
  auto gen = runtime_->Current();
  if (!gen) return files;
  if (gen->config->watch_config) files.push_back(options_.config_file);
  if (gen->config->watch_plugins) {
    for (const auto& inst : gen->instances) files.push_back(inst->info().file);
  }
  return files;
}

// Reloads when the config file or an active plugin's .so changes, after `reload.debounce_ms`
// without further changes, so a file written in several steps triggers one reload.
void Node::WatchLoop() {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    obs::Logger("boxcar")->warn("inotify unavailable; file-change reloads are off");
    watches_armed_.set_value();
    return;
  }
  uint64_t watched_generation = 0;
  std::map<int, fs::path> dirs;  // watch descriptor -> directory
  std::set<fs::path> files;
  std::string pending;  // trigger of the reload waiting out the debounce
  auto deadline = std::chrono::steady_clock::time_point::max();
  alignas(inotify_event) char buffer[16384];
  bool armed = false;

  while (!stopping_) {
    auto gen = runtime_->Current();
    if (gen && gen->number != watched_generation) {
      watched_generation = gen->number;
      files.clear();
      std::map<int, fs::path> kept;
      for (const fs::path& f : WatchedFiles()) {
        files.insert(f);
        // Completed writes and renames only: a linker creating the file must not trigger a
        // reload of a half-written library. Adding a directory that is already watched returns
        // its existing descriptor, so a write landing during this update is not lost; removing
        // and re-adding every watch would drop it.
        int wd = inotify_add_watch(fd, f.parent_path().c_str(), IN_CLOSE_WRITE | IN_MOVED_TO);
        if (wd >= 0) kept[wd] = f.parent_path();
      }
      for (const auto& [wd, dir] : dirs) {
        if (kept.count(wd) == 0) inotify_rm_watch(fd, wd);
      }
      dirs = std::move(kept);
    }
    if (!armed) {
      armed = true;
      watches_armed_.set_value();
    }
    int timeout_ms = -1;
    if (!pending.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int ready = ::poll(fds, 2, timeout_ms);
    if (ready == 0 && !pending.empty()) {
      Reload(pending);
      pending.clear();
      continue;
    }
    if (ready < 0 || (fds[1].revents & POLLIN)) continue;
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    for (ssize_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<inotify_event*>(buffer + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      auto dir = dirs.find(ev->wd);
      if (dir == dirs.end() || ev->len == 0) continue;
      const fs::path changed = dir->second / ev->name;
      if (files.count(changed) == 0) continue;
      const bool is_config = changed == options_.config_file;
      if (pending.empty() || is_config) pending = is_config ? "config-file" : "plugin-file";
      deadline = std::chrono::steady_clock::now() +
                 std::chrono::milliseconds(gen ? gen->config->reload_debounce_ms : 200);
    }
  }
  ::close(fd);
}

void Node::ControlLoop() {
  while (!stopping_) {
    auto interval = runtime_->tunables().Find("control.interval_ms");
    const auto wait =
        std::chrono::milliseconds(static_cast<int64_t>(interval ? interval->value.load() : 1000));
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, wait, [this] { return stopping_.load(); })) return;
    }
    runtime_->TickTuner(metrics_.Snapshot());
  }
}

// SIGHUP reloads; SIGTERM and SIGINT return so Run can drain and exit.
void Node::WaitForStopSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      Reload("signal");
      continue;
    }
    obs::Logger("boxcar")->info("received {}; draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    return;
  }
}

// The lock comes first: no tier may open the store's files while another process has them.
Status Node::OpenStore(const runtime::Config& config) {
  if (Status s = store::StoreLock::Acquire(config.store_path, &store_lock_); !s.ok()) return s;
  if (Status s = store::PinStore::Open(config.store_path / "pins", &pins_); !s.ok()) return s;
  runtime::ReloadOutcome first = Reload("startup");
  if (!first.status.ok()) return first.status.Annotate("cannot start");
  obs::Logger("boxcar")->info("store at {}", config.store_path.string());
  return Status::OK();
}

Status Node::StartGateway(const runtime::Config& config) {
  engine_ = std::make_unique<engine::RequestEngine>(*runtime_, *store_, *metrics_.registry());
  gateway_ = std::make_unique<server::GatewayServer>(config.gateway, *runtime_, *engine_,
                                                     *metrics_.registry());
  gateway_->SetFetcher(GatewayFetcher());
  return gateway_->Start();
}

// The libp2p swarm, when the config has a p2p section: the identity (created on first start),
// the listeners and static peers.
Status Node::StartSwarm(const runtime::Config& config) {
  if (!config.p2p.enabled) return Status::OK();
  const runtime::P2pConfig& p2p_config = config.p2p;
  p2p::Ed25519Key identity;
  bool created = false;
  if (Status s = p2p::LoadOrCreateIdentity(p2p_config.identity_file, &identity, &created);
      !s.ok()) {
    return s.Annotate("p2p.identity_file");
  }
  p2p::SwarmOptions options;
  if (Status s = SwarmOptionsFrom(p2p_config, &options); !s.ok()) return s;
  swarm_ = std::make_unique<p2p::Swarm>(std::move(options), std::move(identity), &metrics_,
                                        runtime_.get());
  if (created) {
    obs::Logger("boxcar")->info("p2p: created the identity {} for peer {}",
                                p2p_config.identity_file.string(), swarm_->local_peer().ToString());
  }
  StartBitswap(config);
  StartBitswapClient();
  return swarm_->Start();
}

// Bitswap's protocols must be registered before the swarm starts.
void Node::StartBitswap(const runtime::Config& config) {
  bitswap_network_ = std::make_unique<exchange::BitswapNetwork>(
      *swarm_, metrics_, BitswapNetworkOptions(config.p2p.bitswap));
  bitswap_server_ =
      std::make_unique<exchange::BitswapServer>(*bitswap_network_, *engine_, *store_, *swarm_,
                                                metrics_, BitswapServerOptions(config.p2p.bitswap));
  bitswap_network_->AddSink(bitswap_server_.get());
  bitswap_network_->RegisterProtocols();
  bitswap_server_->Start();
  blocks_observer_.store(bitswap_server_.get());
}

// Before the swarm stops: no more replies, no more new-block pushes.
void Node::StopBitswap() {
  if (!bitswap_server_) return;
  blocks_observer_.store(nullptr);
  bitswap_server_->Stop();
  bitswap_network_->Stop();
}

// --- The Bitswap client: fetches for the RPC (block/get, pin/add) and the gateway's
// fetch_missing. A sink after the server, so the server sees every message first.
void Node::StartBitswapClient() {
  bitswap_client_ = std::make_unique<exchange::BitswapClient>(*bitswap_network_, *store_, metrics_,
                                                              exchange::ClientOptions{});
  bitswap_network_->AddSink(bitswap_client_.get());
  fetch_client_.store(bitswap_client_.get());
}

// gateway.fetch_missing: the DAG (or block) through the client; without p2p, Unavailable.
server::MissingBlockFetcher Node::GatewayFetcher() {
  return [this](const format::Cid& root, format::DagScope scope, std::chrono::milliseconds timeout,
                std::function<void(Status)> done) {
    exchange::BitswapClient* client = fetch_client_.load();
    if (client == nullptr) return done(Status::Unavailable("this node has no Bitswap peers"));
    // The handle lives as long as the callback, which the fetch drops once it has run.
    auto handle = std::make_shared<std::unique_ptr<exchange::FetchHandle>>();
    *handle = client->FetchDag(
        root, scope, timeout, nullptr,
        [handle, done = std::move(done)](Status status, exchange::FetchProgress) { done(status); });
  };
}

// Fails the fetches in flight (their RPC calls and gateway requests answer at once) and stops
// sending; the object stays until the node goes, for late callers.
void Node::StopBitswapClient() {
  if (bitswap_client_) bitswap_client_->Stop();
}
// --- end of the Bitswap client

Status Node::StartRpc(const runtime::Config& config) {
  rpc_ = std::make_unique<rpc::RpcServer>(config.rpc, "boxcar/" BOXCAR_VERSION);
  rpc::NodeFacts facts;
  facts.swarm = swarm_.get();  // null without a p2p section
  facts.version = BOXCAR_VERSION;
  facts.agent_version = "boxcar/" BOXCAR_VERSION;
  facts.store = store_.get();
  facts.pins = pins_.get();
  facts.bitswap = bitswap_client_.get();  // null without a p2p section
  if (bitswap_server_)
    facts.bitswap_server = BitswapServerHooksFor(*bitswap_server_, *bitswap_network_);
  rpc::RegisterCommands(*rpc_, facts);
  return rpc_->Start();
}

int Node::Run() {
  auto log = obs::Logger("boxcar");
  runtime::LoadResult loaded =
      runtime::LoadConfig(options_.config_file, options_.overrides, options_.exe_dir);
  if (!loaded.config) {
    log->error("invalid config:\n{}", JoinErrors(options_.config_file, loaded.errors));
    return 1;
  }
  obs::SetupLogging(loaded.config->log_level, loaded.config->log_format);
  if (Status s = OpenStore(*loaded.config); !s.ok()) {
    log->error("{}", s.message());
    return 1;
  }

  admin_ =
      std::make_unique<admin::AdminServer>(loaded.config->admin_listen, loaded.config->admin_token);
  admin_->SetTimeouts({std::chrono::milliseconds(loaded.config->admin_header_timeout_ms),
                       std::chrono::milliseconds(loaded.config->admin_body_timeout_ms),
                       std::chrono::milliseconds(loaded.config->admin_idle_timeout_ms)});
  RegisterRoutes();
  if (Status s = admin_->Start(); !s.ok()) {
    log->error("admin endpoint: {}", s.message());
    return 1;
  }
  log->info("admin endpoint on http://{}", admin_->bound_address());
  if (Status s = StartGateway(*loaded.config); !s.ok()) {
    log->error("gateway: {}", s.message());
    return 1;
  }
  log->info("gateway on http://{}", gateway_->bound_address());
  if (Status s = StartSwarm(*loaded.config); !s.ok()) {
    log->error("p2p: {}", s.message());
    return 1;
  }
  if (loaded.config->rpc.enabled) {
    if (Status s = StartRpc(*loaded.config); !s.ok()) {
      log->error("rpc: {}", s.message());
      return 1;
    }
    log->info("Kubo RPC API on http://{}/api/v0", rpc_->bound_address());
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  watcher_ = std::thread([this] { WatchLoop(); });
  control_ = std::thread([this] { ControlLoop(); });
  watches_armed_.get_future().wait();
  if (Status s = WriteReadyFile(); !s.ok()) log->warn("{}", s.message());

  WaitForStopSignal();

  stopping_ = true;
  stop_cv_.notify_all();
  uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof one) < 0) log->warn("cannot wake the file watcher");
  // Reload triggers first (admin, file watcher), so no reload touches the engine as it goes.
  admin_->Stop();  // finishes requests in flight
  if (rpc_) rpc_->Stop();
  watcher_.join();
  control_.join();
  ::close(wake_fd_);
  StopBitswapClient();
  StopBitswap();
  if (swarm_) swarm_->Stop();  // GoAway to every peer
  gateway_->Drain(runtime_->Current()->config->gateway.drain_timeout_ms);
  gateway_->Stop();
  engine_.reset();  // its queued work holds connections, whose sockets need the gateway alive
  gateway_.reset();
  rpc_.reset();    // after the swarm, whose callbacks may still answer RPC requests
  store_.reset();  // stops the store's threads before the tiers go
  runtime_->Shutdown();
  log->info("stopped");
  return 0;
}

}  // namespace boxcar
