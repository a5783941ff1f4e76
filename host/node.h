// The running node: config, plugin runtime, block store, request engine, gateway, admin and
// Kubo RPC endpoints, reload triggers and the control loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_server.h"
#include "engine/request_engine.h"
#include "exchange/client.h"
#include "exchange/network.h"
#include "exchange/server.h"
#include "obs/metrics.h"
#include "rpc/rpc_server.h"
#include "runtime/config.h"
#include "runtime/runtime.h"
#include "server/gateway_server.h"
#include "store/blockstore.h"
#include "store/pin_store.h"
#include "store/store_lock.h"
#include "swarm/swarm.h"

namespace boxcar {

struct NodeOptions {
  std::filesystem::path config_file;
  std::vector<runtime::Override> overrides;
  std::filesystem::path exe_dir;
  std::filesystem::path ready_file;  // written once serving; "" for none
};

class Node {
 public:
  explicit Node(NodeOptions options);
  ~Node();

  // Starts everything and blocks until SIGTERM or SIGINT; returns the process exit code.
  // The caller must have blocked SIGHUP, SIGTERM and SIGINT in every thread (BlockSignals).
  int Run();

  // Blocks the signals Run waits for; call in main before any thread starts.
  static void BlockSignals();

  // The libp2p swarm while Run serves, when the config has a p2p section; null otherwise.
  p2p::Swarm* swarm() { return swarm_.get(); }

 private:
  runtime::ReloadOutcome Reload(const std::string& trigger);
  runtime::ReloadOutcome ApplyConfig(const runtime::Config& config, const std::string& trigger);
  void RegisterRoutes();
  admin::HttpResponse PluginsJson();
  admin::HttpResponse StoreJson();
  admin::HttpResponse ImportCar(const admin::HttpRequest& request);
  Status StartGateway(const runtime::Config& config);
  Status StartRpc(const runtime::Config& config);
  Status OpenStore(const runtime::Config& config);
  Status StartSwarm(const runtime::Config& config);
  void StartBitswap(const runtime::Config& config);
  void StopBitswap();
  void StartBitswapClient();
  void StopBitswapClient();
  server::MissingBlockFetcher GatewayFetcher();
  admin::HttpResponse ReloadResponse(const runtime::ReloadOutcome& outcome);
  Status WriteReadyFile();
  void WatchLoop();
  void ControlLoop();
  void WaitForStopSignal();
  std::vector<std::filesystem::path> WatchedFiles();

  NodeOptions options_;
  obs::MetricsRegistry metrics_;
  std::shared_ptr<runtime::HostContext> context_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<store::StoreLock> store_lock_;
  std::unique_ptr<store::BlockStore> store_;
  std::unique_ptr<store::PinStore> pins_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<engine::RequestEngine> engine_;
  std::unique_ptr<server::GatewayServer> gateway_;
  // The RPC server is declared before the swarm so that it is destroyed after it: the swarm's
  // callbacks post answers to RPC requests onto the server's io_context.
  std::unique_ptr<rpc::RpcServer> rpc_;  // when the config has an rpc section
  std::unique_ptr<p2p::Swarm> swarm_;
  // Bitswap on the swarm (with a p2p section). The store's new-block hook reaches the server
  // through this pointer, set while it serves.
  std::unique_ptr<exchange::BitswapNetwork> bitswap_network_;
  std::unique_ptr<exchange::BitswapServer> bitswap_server_;
  std::atomic<exchange::BitswapServer*> blocks_observer_{nullptr};
  // The Bitswap client (with a p2p section): fetches what the RPC and the gateway lack. Stopped
  // (its fetches failed) before the network stops; destroyed before the network it sends through.
  std::unique_ptr<exchange::BitswapClient> bitswap_client_;
  // The same client for the gateway's threads, which start before it exists.
  std::atomic<exchange::BitswapClient*> fetch_client_{nullptr};
  prometheus::Family<prometheus::Counter>& reloads_;

  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  int wake_fd_ = -1;  // eventfd that ends the watch loop's poll
  std::thread watcher_;
  // Set once the watcher has its first watches: the ready file waits for it, so a file written
  // right after a node reports ready cannot slip by unwatched.
  std::promise<void> watches_armed_;
  std::thread control_;
};

}  // namespace boxcar
