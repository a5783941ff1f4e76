#include "exchange/network.h"

#include <atomic>
#include <deque>
#include <map>
#include <mutex>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "exchange/network_metrics.h"
#include "obs/metrics.h"
#include "swarm/swarm.h"

namespace boxcar::exchange {
namespace {

namespace asio = boost::asio;
using p2p::PeerId;
using p2p::StreamPtr;

const std::vector<std::string>& OutboundProtocols() {
  static const std::vector<std::string> protocols = {
      std::string(bitswap::kProtocol120), std::string(bitswap::kProtocol110),
      std::string(bitswap::kProtocol100), std::string(bitswap::kProtocolLegacy)};
  return protocols;
}

}  // namespace

// What the senders and readers share with the network; they hold it by shared_ptr, so a timer
// or stream callback that outlives the BitswapNetwork object still finds it.
struct NetworkCore {
  NetworkCore(p2p::Swarm& s, prometheus::Registry& registry, const NetworkOptions& o)
      : swarm(s), idle_close(o.idle_close), metrics(registry) {
    SetOptions(o);
  }

  void SetOptions(const NetworkOptions& o) {
    max_queued_bytes.store(o.max_queued_bytes);
    write_timeout_ms.store(o.write_timeout.count());
  }
  std::chrono::milliseconds write_timeout() const {
    return std::chrono::milliseconds(write_timeout_ms.load());
  }

  p2p::Swarm& swarm;
  const std::chrono::milliseconds idle_close;
  std::atomic<uint64_t> max_queued_bytes{0};
  std::atomic<int64_t> write_timeout_ms{0};
  NetworkMetrics metrics;
  std::vector<MessageSink*> sinks;  // fixed before the swarm starts
  std::atomic<bool> stopped{false};

  mutable std::mutex mu;
  std::map<PeerId, bitswap::Version> versions;  // connected peers, by what they last spoke

  void Penalize(const PeerId& peer, const std::string& reason, const std::string& detail) {
    metrics.Penalty(reason);
    spdlog::warn("bitswap: disconnecting {}: {}", peer.ToString(), detail);
    (void)swarm.Disconnect(peer);
  }
};

namespace {

// One outgoing message and how much of it the stream has taken.
struct Outgoing {
  std::string framed;
  size_t written = 0;
  std::function<void(Status)> done;
};

// A peer's outgoing messages and the one stream they go out on. Enqueue and Close may be called
// from any thread; everything that touches the stream runs on the stream's executor.
class PeerSender : public std::enable_shared_from_this<PeerSender> {
 public:
  PeerSender(std::shared_ptr<NetworkCore> core, PeerId peer)
      : core_(std::move(core)), peer_(std::move(peer)) {}

  Status Enqueue(std::string framed, std::function<void(Status)> done) {
    const size_t size = framed.size();
    bool open = false;
    StreamPtr stream;
    {
      std::lock_guard lock(mu_);
      if (closed_) return Status::Unavailable("not connected to " + peer_.ToString());
      if (queued_bytes_ + size > core_->max_queued_bytes.load() && !queue_.empty()) {
        return Status::Busy("the send queue to " + peer_.ToString() + " is full (" +
                            std::to_string(queued_bytes_) + " bytes)");
      }
      queued_bytes_ += size;
      queue_.push_back(Outgoing{std::move(framed), 0, std::move(done)});
      ++enqueued_;
      if (stream_) {
        if (!pump_posted_) {
          pump_posted_ = true;
          stream = stream_;
        }
      } else if (!opening_) {
        opening_ = open = true;
      }
    }
    if (stream) {
      asio::post(stream->executor(), [self = shared_from_this()] { self->Pump(); });
    }
    if (open) OpenStream();
    return Status::OK();
  }

  uint64_t queued_bytes() const {
    std::lock_guard lock(mu_);
    return queued_bytes_;
  }

  // Fails what is queued and resets the stream; later Enqueues fail.
  void Close(const Status& why) {
    std::deque<Outgoing> failed;
    StreamPtr stream;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      failed.swap(queue_);
      queued_bytes_ = 0;
      stream.swap(stream_);
    }
    if (stream) asio::post(stream->executor(), [stream] { stream->Reset(); });
    for (Outgoing& m : failed) {
      if (m.done) m.done(why);
    }
  }

 private:
  void OpenStream() {
    core_->swarm.NewStream(peer_, OutboundProtocols(),
                           [self = shared_from_this()](Status status, StreamPtr stream) {
                             self->OnOpened(status, std::move(stream));
                           });
  }

  void OnOpened(const Status& status, StreamPtr stream) {
    if (!status.ok()) {
      core_->metrics.SendFailed("open");
      FailQueue(Status::Unavailable("could not open a bitswap stream to " + peer_.ToString() +
                                    ": " + status.message()));
      return;
    }
    {
      std::lock_guard lock(mu_);
      opening_ = false;
      if (closed_) {
        stream->Reset();
        return;
      }
      stream_ = stream;
      pump_posted_ = true;
    }
    std::weak_ptr<PeerSender> weak = weak_from_this();
    stream->SetOnWritable([weak] {
      if (auto self = weak.lock()) self->Pump();
    });
    // The peer does not answer on our stream; its end only tells us the stream is gone.
    stream->SetReader([](std::string_view) {},
                      [weak, raw = stream.get()](const Status& end) {
                        if (auto self = weak.lock()) self->OnStreamEnded(raw, end);
                      });
    Pump();
  }

  // Without a stream the queue cannot go anywhere: fail it (the caller releases its budget).
  void FailQueue(const Status& why) {
    std::deque<Outgoing> failed;
    {
      std::lock_guard lock(mu_);
      opening_ = false;
      failed.swap(queue_);
      queued_bytes_ = 0;
    }
    for (Outgoing& m : failed) {
      if (m.done) m.done(why);
    }
  }

  // The peer's FIN on our stream only ends its direction (Helia closes its side of our stream at
  // once); we keep writing. A reset or a lost connection ends the stream for us too.
  void OnStreamEnded(const p2p::Stream* stream, const Status& end) {
    if (end.ok()) return;
    {
      std::lock_guard lock(mu_);
      if (stream_.get() != stream) return;
      stream_ = nullptr;
      pump_posted_ = false;
    }
    core_->metrics.SendFailed("stream_reset");
    FailQueue(Status::Unavailable("the bitswap stream to " + peer_.ToString() +
                                  " ended: " + end.message()));
  }

  // On the stream's executor: writes what the stream takes, in order.
  void Pump() {
    std::vector<std::function<void(Status)>> finished;
    StreamPtr stream;
    bool blocked = false;
    {
      std::lock_guard lock(mu_);
      pump_posted_ = false;
      stream = stream_;
      if (!stream) return;
      while (!queue_.empty()) {
        Outgoing& m = queue_.front();
        const size_t n = stream->Write(std::string_view(m.framed).substr(m.written));
        m.written += n;
        progress_ += n;
        if (m.written < m.framed.size()) break;
        core_->metrics.Sent(m.framed.size());
        queued_bytes_ -= m.framed.size();
        finished.push_back(std::move(m.done));
        queue_.pop_front();
      }
      blocked = !queue_.empty();
    }
    for (auto& done : finished) {
      if (done) done(Status::OK());
    }
    if (blocked) {
      ArmWriteTimer(stream);
    } else {
      ArmIdleTimer(stream);
    }
  }

  // A stream that takes no bytes for write_timeout belongs to a peer that does not read.
  void ArmWriteTimer(const StreamPtr& stream) {
    uint64_t progress = 0;
    {
      std::lock_guard lock(mu_);
      if (write_timer_armed_) return;
      write_timer_armed_ = true;
      progress = progress_;
    }
    auto timer = std::make_shared<asio::steady_timer>(stream->executor(), core_->write_timeout());
    timer->async_wait([self = shared_from_this(), timer, stream, progress](auto) {
      self->OnWriteTimer(stream, progress);
    });
  }

  void OnWriteTimer(const StreamPtr& stream, uint64_t progress_then) {
    bool stuck = false, rearm = false;
    {
      std::lock_guard lock(mu_);
      write_timer_armed_ = false;
      if (stream_ != stream || queue_.empty()) return;
      stuck = progress_ == progress_then;
      rearm = !stuck;
    }
    if (rearm) ArmWriteTimer(stream);
    if (!stuck || core_->stopped.load()) return;
    core_->metrics.SendFailed("write_timeout");
    Close(Status::Unavailable(peer_.ToString() + " read nothing for " +
                              std::to_string(core_->write_timeout_ms.load()) + " ms"));
    core_->Penalize(peer_, "write_timeout",
                    "it read none of our bitswap messages for " +
                        std::to_string(core_->write_timeout_ms.load()) + " ms");
  }

  // A stream with nothing to send for idle_close is FINed; the next message opens a new one.
  void ArmIdleTimer(const StreamPtr& stream) {
    uint64_t enqueued = 0;
    {
      std::lock_guard lock(mu_);
      enqueued = enqueued_;
    }
    auto timer = std::make_shared<asio::steady_timer>(stream->executor(), core_->idle_close);
    timer->async_wait([self = shared_from_this(), timer, stream, enqueued](auto) {
      {
        std::lock_guard lock(self->mu_);
        if (self->stream_ != stream || self->enqueued_ != enqueued || !self->queue_.empty()) {
          return;
        }
        self->stream_ = nullptr;
      }
      stream->CloseWrite();
    });
  }

  std::shared_ptr<NetworkCore> core_;
  const PeerId peer_;
  mutable std::mutex mu_;
  std::deque<Outgoing> queue_;
  uint64_t queued_bytes_ = 0;
  uint64_t enqueued_ = 0;  // messages ever queued: an idle timer checks nothing came since
  uint64_t progress_ = 0;  // bytes ever accepted by a stream: the write timer checks it moved
  StreamPtr stream_;
  bool opening_ = false;
  bool pump_posted_ = false;
  bool write_timer_armed_ = false;
  bool closed_ = false;
};

// Reads one inbound Bitswap stream: framed messages, each decoded and handed to the sinks.
void ReadInbound(const std::shared_ptr<NetworkCore>& core, const StreamPtr& stream) {
  const PeerId peer = stream->peer();
  const bitswap::Version version = bitswap::VersionOf(stream->protocol());
  {
    std::lock_guard lock(core->mu);
    core->versions[peer] = version;
  }
  // Replies go on our own stream, so this one is read-only for us.
  stream->CloseWrite();
  auto frames = std::make_shared<bitswap::FrameReader>();
  auto failed = std::make_shared<bool>(false);
  stream->SetReader(
      [core, stream, frames, failed, peer, version](std::string_view data) {
        if (*failed) return;
        Status status = frames->Feed(data, [&](std::string_view body) {
          core->metrics.Received(body.size());
          bitswap::Message message;
          if (Status s = bitswap::DecodeMessage(body, &message); !s.ok()) return s;
          for (MessageSink* sink : core->sinks) sink->OnMessage(peer, version, message);
          return Status::OK();
        });
        if (status.ok()) return;
        *failed = true;
        const bool oversized = status.message().find("limit") != std::string::npos;
        // Reset after this callback returns: the reader must not be destroyed while it runs.
        asio::post(stream->executor(), [stream] { stream->Reset(); });
        core->Penalize(peer, oversized ? "oversized" : "malformed", status.message());
      },
      [](const Status&) {});
}

}  // namespace

struct BitswapNetwork::Impl {
  std::shared_ptr<NetworkCore> core;
  std::mutex mu;
  std::map<PeerId, std::shared_ptr<PeerSender>> senders;

  std::shared_ptr<PeerSender> SenderFor(const PeerId& peer) {
    std::lock_guard lock(mu);
    auto& sender = senders[peer];
    if (!sender) sender = std::make_shared<PeerSender>(core, peer);
    return sender;
  }

  void Connected(const PeerId& peer) {
    {
      std::lock_guard lock(core->mu);
      core->versions.emplace(peer, bitswap::Version::k120);
    }
    for (MessageSink* sink : core->sinks) sink->OnPeerConnected(peer);
  }

  void Disconnected(const PeerId& peer) {
    std::shared_ptr<PeerSender> sender;
    {
      std::lock_guard lock(mu);
      if (auto it = senders.find(peer); it != senders.end()) {
        sender = std::move(it->second);
        senders.erase(it);
      }
    }
    {
      std::lock_guard lock(core->mu);
      core->versions.erase(peer);
    }
    if (sender) sender->Close(Status::Unavailable(peer.ToString() + " disconnected"));
    for (MessageSink* sink : core->sinks) sink->OnPeerDisconnected(peer);
  }
};

BitswapNetwork::BitswapNetwork(p2p::Swarm& swarm, obs::MetricsRegistry& metrics,
                               NetworkOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->core = std::make_shared<NetworkCore>(swarm, *metrics.registry(), options);
}

BitswapNetwork::~BitswapNetwork() { Stop(); }

void BitswapNetwork::SetOptions(const NetworkOptions& options) { impl_->core->SetOptions(options); }

void BitswapNetwork::AddSink(MessageSink* sink) { impl_->core->sinks.push_back(sink); }

void BitswapNetwork::RegisterProtocols() {
  std::shared_ptr<NetworkCore> core = impl_->core;
  for (const std::string& protocol : OutboundProtocols()) {
    core->swarm.Handle(protocol, [core](StreamPtr stream) {
      if (core->stopped.load()) {
        stream->Reset();
        return;
      }
      ReadInbound(core, stream);
    });
  }
  Impl* impl = impl_.get();
  core->swarm.SetPeerEvents(
      [impl, core](const PeerId& peer) {
        if (!core->stopped.load()) impl->Connected(peer);
      },
      [impl, core](const PeerId& peer) {
        if (!core->stopped.load()) impl->Disconnected(peer);
      });
}

void BitswapNetwork::Stop() {
  if (impl_->core->stopped.exchange(true)) return;
  std::map<PeerId, std::shared_ptr<PeerSender>> senders;
  {
    std::lock_guard lock(impl_->mu);
    senders.swap(impl_->senders);
  }
  for (auto& [peer, sender] : senders) sender->Close(Status::Unavailable("the node is stopping"));
}

void BitswapNetwork::Send(const PeerId& peer, std::string framed,
                          std::function<void(Status)> done) {
  Status status = Status::Unavailable("the node is stopping");
  if (!impl_->core->stopped.load()) {
    if (!impl_->core->swarm.IsConnected(peer)) {
      status = Status::Unavailable("not connected to " + peer.ToString());
    } else {
      status = impl_->SenderFor(peer)->Enqueue(std::move(framed), done);
      if (status.ok()) return;
    }
  }
  impl_->core->metrics.SendFailed(status.IsBusy() ? "queue_full" : "not_connected");
  if (done) done(status);
}

bitswap::Version BitswapNetwork::PeerVersion(const PeerId& peer) const {
  std::lock_guard lock(impl_->core->mu);
  auto it = impl_->core->versions.find(peer);
  return it == impl_->core->versions.end() ? bitswap::Version::k120 : it->second;
}

uint64_t BitswapNetwork::QueuedBytes(const PeerId& peer) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->senders.find(peer);
  return it == impl_->senders.end() ? 0 : it->second->queued_bytes();
}

std::vector<PeerId> BitswapNetwork::ConnectedPeers() const {
  std::vector<PeerId> peers;
  std::lock_guard lock(impl_->core->mu);
  for (const auto& [peer, version] : impl_->core->versions) peers.push_back(peer);
  return peers;
}

void BitswapNetwork::Penalize(const PeerId& peer, const std::string& reason) {
  impl_->core->Penalize(peer, reason, reason);
}

}  // namespace boxcar::exchange
