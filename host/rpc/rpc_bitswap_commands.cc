// block/get, pin/add and the bitswap/* inspection commands (rpc_commands.h lists the shapes).
#include <algorithm>
#include <chrono>
#include <memory>

#include "exchange/client.h"
#include "format/walk.h"
#include "rpc/rpc_commands.h"
#include "rpc/rpc_request.h"
#include "store/blockstore.h"
#include "store/pin_store.h"
#include "swarm/swarm.h"

namespace boxcar::rpc {
namespace {

using json = nlohmann::ordered_json;

constexpr auto kBlockGetTimeout = std::chrono::seconds(60);
constexpr auto kPinAddTimeout = std::chrono::minutes(10);
// Kubo's pin add reports progress on a ticker; this bounds the lines a fast fetch sends.
constexpr auto kProgressInterval = std::chrono::milliseconds(100);

Status ParseCidArg(const std::string& text, format::Cid* cid) {
  // Kubo takes /ipfs/<cid> paths too; only their CID is used here.
  std::string_view view = text;
  if (view.substr(0, 6) == "/ipfs/") view.remove_prefix(6);
  if (view.find('/') != std::string_view::npos) {
    return Status::InvalidArgument("invalid CID \"" + text +
                                   "\": paths below a CID are not supported, give the CID");
  }
  Status status = format::Cid::Parse(view, cid);
  if (!status.ok())
    return Status::InvalidArgument("invalid CID \"" + text + "\": " + status.message());
  return Status::OK();
}

// The request's timeout= (a Go duration), else `fallback`.
Status TimeoutOption(const RpcRequest& request, std::chrono::milliseconds fallback,
                     std::chrono::milliseconds* out) {
  auto it = request.options.find("timeout");
  if (it == request.options.end()) {
    *out = fallback;
    return Status::OK();
  }
  auto ns = ParseGoDuration(it->second);
  if (!ns || *ns <= 0) {
    return Status::InvalidArgument("invalid timeout \"" + it->second +
                                   "\": use a Go duration such as 30s, 2m or 1500ms");
  }
  *out = std::chrono::milliseconds(std::max<int64_t>(1, *ns / 1000000));
  return Status::OK();
}

json CidLinks(const std::vector<format::Cid>& cids) {
  if (cids.empty()) return nullptr;  // Go's nil slice
  json keys = json::array();
  for (const format::Cid& cid : cids) keys.push_back({{"/", cid.ToString()}});
  return keys;
}

void BlockGet(const NodeFacts& facts, const RpcRequest& request,
              std::shared_ptr<RpcResponder> out) {
  format::Cid cid;
  if (Status s = ParseCidArg(request.args[0], &cid); !s.ok()) return out->Fail({s.message()});
  std::chrono::milliseconds timeout;
  if (Status s = TimeoutOption(request, kBlockGetTimeout, &timeout); !s.ok()) {
    return out->Fail({s.message(), ErrorCode::kClient});
  }
  if (facts.bitswap == nullptr) {
    // No p2p: the store alone answers (a local read; this node cannot fetch).
    BlockData data;
    Status status = facts.store->Get(cid, &data);
    if (status.ok()) return out->ReplyBytes(*data);
    return out->Fail({"block was not found locally (offline): " + status.message()});
  }
  // The handle lives as long as the callback, which the fetch drops once it has run.
  auto handle = std::make_shared<std::unique_ptr<exchange::FetchHandle>>();
  *handle = facts.bitswap->GetBlock(cid, timeout, [out, handle](Status status, BlockData data) {
    if (status.ok()) return out->ReplyBytes(*data);
    out->Fail({status.message()});
  });
}

// Checks, holding the pin store's shared lock (so GC cannot run between the check and the pin),
// that the whole DAG is in the store, then pins it.
Status PinComplete(store::BlockStore& store, store::PinStore& pins, const format::Cid& root,
                   bool recursive) {
  auto shared = pins.Shared();
  format::WalkOptions options;
  options.scope = recursive ? format::DagScope::kAll : format::DagScope::kBlock;
  options.dups = false;
  options.verify = false;  // the store verified each block as it was written
  Status walked = format::Walk(
      root, options,
      [&store](const format::Cid& cid, std::string* data) {
        BlockData block;
        Status status = store.Get(cid, &block);
        if (status.ok()) data->assign(*block);
        return status;
      },
      [](const format::Cid&, std::string_view) { return Status::OK(); });
  if (!walked.ok())
    return walked.Annotate("pin: the DAG under " + root.ToString() + " is incomplete");
  return pins.Add(root, recursive ? store::PinKind::kRecursive : store::PinKind::kDirect);
}

// Pins each argument in turn: fetch its DAG through the client, then pin it.
class PinRun : public std::enable_shared_from_this<PinRun> {
 public:
  PinRun(const NodeFacts& facts, std::vector<format::Cid> roots, bool recursive, bool progress,
         std::chrono::milliseconds timeout, std::shared_ptr<RpcResponder> out)
      : facts_(facts),
        roots_(std::move(roots)),
        recursive_(recursive),
        progress_(progress),
        timeout_(timeout),
        out_(std::move(out)) {}

  void Next() {
    if (next_ == roots_.size()) return Finish();
    if (out_->cancelled()) return;
    const format::Cid& root = roots_[next_++];
    if (facts_.bitswap == nullptr) return Pin(root, 0);
    const auto scope = recursive_ ? format::DagScope::kAll : format::DagScope::kBlock;
    auto self = shared_from_this();
    handle_ = facts_.bitswap->FetchDag(
        root, scope, timeout_,
        [self](const exchange::FetchProgress& progress) { self->OnProgress(progress.blocks); },
        [self, root](Status status, exchange::FetchProgress progress) {
          if (!status.ok()) return self->out_->Fail({"pin: " + status.message()});
          self->Pin(root, progress.blocks);
        });
  }

 private:
  // Runs on the client's thread (or the RPC thread without p2p): a local walk and one write.
  void Pin(const format::Cid& root, uint64_t blocks) {
    done_blocks_ += blocks;
    Status status = PinComplete(*facts_.store, *facts_.pins, root, recursive_);
    if (!status.ok()) return out_->Fail({status.message()});
    pinned_.push_back(root.ToString());
    Next();
  }

  void OnProgress(uint64_t blocks) {
    if (!progress_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ < kProgressInterval) return;
    last_progress_ = now;
    out_->Emit({{"Progress", done_blocks_ + blocks}});
  }

  void Finish() {
    if (!progress_) return out_->Reply({{"Pins", pinned_}});
    out_->Emit({{"Progress", done_blocks_}});
    out_->Emit({{"Pins", pinned_}});
    out_->Close();
  }

  const NodeFacts facts_;
  const std::vector<format::Cid> roots_;
  const bool recursive_;
  const bool progress_;
  const std::chrono::milliseconds timeout_;
  std::shared_ptr<RpcResponder> out_;
  std::unique_ptr<exchange::FetchHandle> handle_;
  size_t next_ = 0;
  uint64_t done_blocks_ = 0;
  std::chrono::steady_clock::time_point last_progress_{};
  std::vector<std::string> pinned_;
};

void PinAdd(const NodeFacts& facts, const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
  std::vector<format::Cid> roots;
  for (const std::string& arg : request.args) {
    format::Cid cid;
    if (Status s = ParseCidArg(arg, &cid); !s.ok()) return out->Fail({"pin: " + s.message()});
    roots.push_back(cid);
  }
  std::chrono::milliseconds timeout;
  if (Status s = TimeoutOption(request, kPinAddTimeout, &timeout); !s.ok()) {
    return out->Fail({s.message(), ErrorCode::kClient});
  }
  const bool recursive = request.options.count("recursive") == 0 || request.Flag("recursive");
  std::make_shared<PinRun>(facts, std::move(roots), recursive, request.Flag("progress"), timeout,
                           std::move(out))
      ->Next();
}

std::vector<std::string> BitswapPeers(const NodeFacts& facts) {
  if (facts.bitswap_server.peers) return facts.bitswap_server.peers();
  std::vector<std::string> peers;
  if (facts.swarm != nullptr) {
    for (const p2p::PeerInfo& info : facts.swarm->Peers()) peers.push_back(info.peer.ToString());
  }
  return peers;
}

void BitswapStat(const NodeFacts& facts, RpcResponder& out) {
  const exchange::BitswapClient::Stats client = facts.bitswap->stats();
  const BitswapServerStats server =
      facts.bitswap_server.stats ? facts.bitswap_server.stats() : BitswapServerStats{};
  std::vector<std::string> peers = BitswapPeers(facts);
  std::sort(peers.begin(), peers.end());
  out.Reply({{"ProvideBufLen", server.provide_buf_len},
             {"Wantlist", CidLinks(facts.bitswap->Wantlist())},
             {"Peers", peers.empty() ? json(nullptr) : json(peers)},
             {"BlocksReceived", client.blocks_received},
             {"DataReceived", client.data_received},
             {"DupBlksReceived", client.dup_blks_received},
             {"DupDataReceived", client.dup_data_received},
             {"MessagesReceived", server.messages_received},
             {"BlocksSent", server.blocks_sent},
             {"DataSent", server.data_sent}});
}

void BitswapWantlist(const NodeFacts& facts, const RpcRequest& request, RpcResponder& out) {
  auto peer = request.options.find("peer");
  if (peer == request.options.end()) {
    return out.Reply({{"Keys", CidLinks(facts.bitswap->Wantlist())}});
  }
  p2p::PeerId id;
  if (Status s = p2p::PeerId::Parse(peer->second, &id); !s.ok()) {
    return out.Fail({"invalid peer id \"" + peer->second + "\": " + s.message()});
  }
  if (!facts.bitswap_server.peer_wantlist) {
    return out.Fail({"the Bitswap server does not report peers' wantlists"});
  }
  std::vector<format::Cid> wants;
  Status status = facts.bitswap_server.peer_wantlist(id.ToString(), &wants);
  if (status.IsNotFound())
    wants.clear();  // Kubo: a peer without a ledger wants nothing
  else if (!status.ok())
    return out.Fail({status.message()});
  out.Reply({{"Keys", CidLinks(wants)}});
}

void BitswapLedger(const NodeFacts& facts, const RpcRequest& request, RpcResponder& out) {
  p2p::PeerId id;
  if (Status s = p2p::PeerId::Parse(request.args[0], &id); !s.ok()) {
    return out.Fail({"invalid peer id \"" + request.args[0] + "\": " + s.message()});
  }
  BitswapLedgerEntry entry;
  if (facts.bitswap_server.ledger) {
    Status status = facts.bitswap_server.ledger(id.ToString(), &entry);
    if (!status.ok() && !status.IsNotFound()) return out.Fail({status.message()});
  }
  out.Reply({{"Peer", id.ToString()},
             {"Value", entry.value},
             {"Sent", entry.sent},
             {"Recv", entry.recv},
             {"Exchanged", entry.exchanged}});
}

constexpr char kBitswapDisabled[] =
    "bitswap is not enabled: add a \"p2p\" section to the config (p2p.listen) and restart";

// Wraps a bitswap/* command: 500 without the client.
RpcHandler NeedsBitswap(const NodeFacts& facts,
                        void (*run)(const NodeFacts&, const RpcRequest&, RpcResponder&)) {
  return [facts, run](const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
    if (facts.bitswap == nullptr) return out->Fail({kBitswapDisabled});
    run(facts, request, *out);
  };
}

}  // namespace

void RegisterBlockCommands(RpcServer& server, const NodeFacts& facts) {
  if (facts.store == nullptr) return;
  server.Register({"block/get",
                   "cid",
                   1,
                   1,
                   {{"timeout", OptionType::kString}},
                   {},
                   [facts](const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
                     BlockGet(facts, request, std::move(out));
                   }});
  if (facts.pins != nullptr) {
    server.Register({"pin/add",
                     "ipfs-path",
                     1,
                     -1,
                     {{"recursive", OptionType::kBool},
                      {"progress", OptionType::kBool},
                      {"timeout", OptionType::kString}},
                     {{"r", "recursive"}},
                     [facts](const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
                       PinAdd(facts, request, std::move(out));
                     }});
  }
  server.Register({"bitswap/stat",
                   "",
                   0,
                   0,
                   {{"verbose", OptionType::kBool}, {"human", OptionType::kBool}},
                   {},
                   NeedsBitswap(facts, [](const NodeFacts& f, const RpcRequest&, RpcResponder& o) {
                     BitswapStat(f, o);
                   })});
  server.Register({"bitswap/wantlist",
                   "",
                   0,
                   0,
                   {{"peer", OptionType::kString}},
                   {{"p", "peer"}},
                   NeedsBitswap(facts, BitswapWantlist)});
  server.Register({"bitswap/ledger", "peer", 1, 1, {}, {}, NeedsBitswap(facts, BitswapLedger)});
}

}  // namespace boxcar::rpc
