#include "swarm/connection.h"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "swarm/stream_impl.h"

namespace boxcar::p2p {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::string_view kNoiseProtocol = "/noise";
constexpr std::string_view kYamuxProtocol = "/yamux/1.0.0";
constexpr auto kHousekeepingInterval = std::chrono::seconds(10);
constexpr auto kCloseGrace = std::chrono::seconds(2);
// Housekeeping rounds whose ping went unanswered before the connection is declared dead.
constexpr int kMaxUnansweredPings = 3;
// What one readable event may read before other connections on the thread get their turn.
constexpr size_t kMaxReadPerWakeup = 1 << 20;
// Reassembly and write buffers larger than this are released once they empty.
constexpr size_t kKeepBufferCapacity = 4096;

// The per-thread read buffer: one Noise frame and then some, shared by the thread's connections
// because a read completes before the next one starts.
char* ThreadReadBuffer(size_t* size) {
  static thread_local std::unique_ptr<char[]> buffer(new char[256 * 1024]);
  *size = 256 * 1024;
  return buffer.get();
}

void Release(std::string& buffer) {
  if (buffer.empty() && buffer.capacity() > kKeepBufferCapacity) std::string().swap(buffer);
}

HandshakeResult ResultOf(HandshakeFailure failure) {
  switch (failure) {
    case HandshakeFailure::kBadSignature:
      return HandshakeResult::kBadSignature;
    case HandshakeFailure::kPeerIdMismatch:
      return HandshakeResult::kPeerIdMismatch;
    default:
      return HandshakeResult::kProtocolError;
  }
}

Multiaddr AddrOf(const asio::ip::tcp::endpoint& endpoint) {
  asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return Multiaddr::FromTcp(address.to_string(), endpoint.port());
}

}  // namespace

int64_t SwarmNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Connection::Connection(ConnectionHost* host, asio::io_context& ioc, bool outbound,
                       std::optional<PeerId> expected_peer, uint64_t id)
    : host_(host),
      ioc_(ioc),
      socket_(ioc),
      timer_(ioc),
      outbound_(outbound),
      id_(id),
      expected_peer_(std::move(expected_peer)),
      opened_ns_(SwarmNowNs()) {
  last_active_ns_.store(opened_ns_, std::memory_order_relaxed);
  host_->metrics()->ConnectionState(!outbound_, false, +1);
}

Connection::~Connection() = default;

void Connection::Dial(const asio::ip::tcp::endpoint& endpoint) {
  remote_addr_ = AddrOf(endpoint);
  BeginUpgrade();
  socket_.async_connect(endpoint, [self = shared_from_this()](const error_code& ec) {
    if (self->phase_ == Phase::kClosed) return;
    if (ec) {
      self->FailHandshake(HandshakeResult::kNoConnection,
                          Status::Unavailable("cannot connect to " + self->remote_addr_.ToString() +
                                              ": " + ec.message()));
      return;
    }
    error_code ignored;
    self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    self->phase_ = Phase::kSecurityMss;
    self->mss_initiator_ =
        std::make_unique<MssInitiator>(std::vector<std::string>{std::string(kNoiseProtocol)});
    self->mss_initiator_->Start(&self->clear_out_);
    self->Flush();
    self->WaitReadable();
  });
}

void Connection::Accept(asio::ip::tcp::socket socket) {
  socket_ = std::move(socket);
  error_code ec;
  const asio::ip::tcp::endpoint remote = socket_.remote_endpoint(ec);
  if (!ec) remote_addr_ = AddrOf(remote);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  BeginUpgrade();
  phase_ = Phase::kSecurityMss;
  mss_responder_ = std::make_unique<MssResponder>(
      [](std::string_view protocol) { return protocol == kNoiseProtocol; });
  WaitReadable();
}

void Connection::BeginUpgrade() {
  timer_.expires_after(host_->limits().handshake_timeout);
  timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->upgraded_ || self->phase_ == Phase::kClosed) return;
    self->FailHandshake(
        HandshakeResult::kTimeout,
        Status::Unavailable("handshake with " + self->remote_addr_.ToString() + " timed out"));
  });
}

void Connection::FailHandshake(HandshakeResult result, const Status& why) {
  if (phase_ == Phase::kClosed || upgraded_) return;
  failure_ = result;
  Close(why);
}

void Connection::WaitReadable() {
  if (reading_ || phase_ == Phase::kClosed) return;
  if (!socket_.non_blocking()) {
    error_code ec;
    socket_.non_blocking(true, ec);
  }
  reading_ = true;
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](const error_code& ec) {
                       self->reading_ = false;
                       if (self->phase_ == Phase::kClosed) return;
                       if (ec) {
                         self->Close(Status::IOError("read: " + ec.message()));
                         return;
                       }
                       self->OnReadable();
                     });
}

void Connection::OnReadable() {
  size_t capacity = 0;
  char* buffer = ThreadReadBuffer(&capacity);
  size_t total = 0;
  while (phase_ != Phase::kClosed && total < kMaxReadPerWakeup) {
    error_code ec;
    const size_t n = socket_.read_some(asio::buffer(buffer, capacity), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      Close(ec == asio::error::eof ? Status::Unavailable("the peer closed the connection")
                                   : Status::IOError("read: " + ec.message()));
      return;
    }
    total += n;
    last_active_ns_.store(SwarmNowNs(), std::memory_order_relaxed);
    Feed(std::string_view(buffer, n));
  }
  if (phase_ == Phase::kClosed) return;
  if (total >= kMaxReadPerWakeup) {
    asio::post(ioc_, [self = shared_from_this()] {
      if (self->phase_ != Phase::kClosed) self->OnReadable();
    });
    return;
  }
  WaitReadable();
}

void Connection::CompletePartialFrame(std::string_view* bytes) {
  while (!rx_.empty() && !bytes->empty() && InTransport()) {
    if (rx_.size() < 2) {  // the length prefix itself was split
      const size_t take = std::min(2 - rx_.size(), bytes->size());
      rx_.append(bytes->substr(0, take));
      bytes->remove_prefix(take);
      continue;
    }
    const size_t frame_size = 2 + ((static_cast<size_t>(static_cast<uint8_t>(rx_[0])) << 8) |
                                   static_cast<uint8_t>(rx_[1]));
    const size_t take = std::min(frame_size - rx_.size(), bytes->size());
    rx_.append(bytes->substr(0, take));
    bytes->remove_prefix(take);
    if (rx_.size() == frame_size) {
      DriveTransport(rx_);
      rx_.clear();
    }
  }
}

bool Connection::InTransport() const {
  return phase_ == Phase::kMuxerMss || phase_ == Phase::kYamux;
}

void Connection::Feed(std::string_view bytes) {
  if (InTransport()) {
    // A frame that straddled the last read is completed with only the bytes it lacks, so the
    // rest of this read is decrypted in place rather than copied into rx_ first.
    CompletePartialFrame(&bytes);
  }
  if (InTransport() && rx_.empty()) {
    // The common case: whole frames straight from the read buffer; only a partial one is kept.
    const size_t used = DriveTransport(bytes);
    if (phase_ != Phase::kClosed) rx_.assign(bytes.substr(used));
  } else {
    rx_.append(bytes);
    if (phase_ == Phase::kSecurityMss) DriveSecurityMss();
    if (phase_ == Phase::kNoise) DriveNoise();
    if (InTransport()) rx_.erase(0, DriveTransport(rx_));
  }
  if (phase_ != Phase::kClosed) ScheduleFlush();
}

void Connection::DriveSecurityMss() {
  size_t consumed = 0;
  Status s = outbound_ ? mss_initiator_->Feed(rx_, &consumed, &clear_out_)
                       : mss_responder_->Feed(rx_, &consumed, &clear_out_);
  rx_.erase(0, consumed);
  if (!s.ok()) {
    FailHandshake(HandshakeResult::kProtocolError, s.Annotate("security negotiation"));
    return;
  }
  const bool selected = outbound_ ? mss_initiator_->selected() : mss_responder_->selected();
  if (!selected) return;
  mss_initiator_.reset();
  mss_responder_.reset();
  phase_ = Phase::kNoise;
  noise_ = std::make_unique<Libp2pNoiseHandshake>(
      outbound_, host_->identity(), expected_peer_,
      std::vector<std::string>{std::string(kYamuxProtocol)}, host_->noise_static_key());
  if (noise_->our_turn()) {
    if (Status w = noise_->WriteNext(&clear_out_); !w.ok()) {
      FailHandshake(HandshakeResult::kProtocolError, w);
    }
  }
}

void Connection::DriveNoise() {
  size_t offset = 0;
  while (phase_ == Phase::kNoise && rx_.size() - offset >= 2) {
    const size_t length =
        (static_cast<uint8_t>(rx_[offset]) << 8) | static_cast<uint8_t>(rx_[offset + 1]);
    if (rx_.size() - offset - 2 < length) break;
    Status s = noise_->ReadNext(std::string_view(rx_).substr(offset + 2, length));
    offset += 2 + length;
    if (!s.ok()) {
      rx_.clear();
      FailHandshake(ResultOf(noise_->failure()), s.Annotate("noise handshake"));
      return;
    }
    if (!noise_->finished() && noise_->our_turn()) {
      if (Status w = noise_->WriteNext(&clear_out_); !w.ok()) {
        rx_.clear();
        FailHandshake(HandshakeResult::kProtocolError, w);
        return;
      }
    }
    if (noise_->finished()) {
      rx_.erase(0, offset);
      offset = 0;
      NoiseFinished();
    }
  }
  rx_.erase(0, offset);
}

void Connection::NoiseFinished() {
  peer_ = noise_->remote_peer();
  remote_public_key_ = noise_->remote_public_key();
  const std::vector<std::string> remote_muxers = noise_->remote_stream_muxers();
  noise_->Split(&send_cipher_, &receive_cipher_);
  noise_.reset();
  // Early muxer negotiation: both sides listed muxers, and ours is only yamux.
  const bool early =
      std::find(remote_muxers.begin(), remote_muxers.end(), kYamuxProtocol) != remote_muxers.end();
  if (early) {
    StartSession({});
    return;
  }
  phase_ = Phase::kMuxerMss;
  if (outbound_) {
    mss_initiator_ =
        std::make_unique<MssInitiator>(std::vector<std::string>{std::string(kYamuxProtocol)});
    mss_initiator_->Start(&plain_out_);
  } else {
    mss_responder_ = std::make_unique<MssResponder>(
        [](std::string_view protocol) { return protocol == kYamuxProtocol; });
  }
}

size_t Connection::DriveTransport(std::string_view in) {
  size_t offset = 0;
  while (InTransport()) {
    if (in.size() - offset < 2) break;
    const size_t length =
        (static_cast<uint8_t>(in[offset]) << 8) | static_cast<uint8_t>(in[offset + 1]);
    if (in.size() - offset - 2 < length) break;
    scratch_.clear();
    Status s = receive_cipher_.Decrypt(in.substr(offset + 2, length), &scratch_);
    offset += 2 + length;
    if (!s.ok()) {
      if (upgraded_) {
        host_->metrics()->Errored(ConnectionError::kDecrypt);
        Close(s.Annotate("noise transport"));
      } else {
        FailHandshake(HandshakeResult::kProtocolError, s.Annotate("noise transport"));
      }
      return in.size();
    }
    OnPlaintext(scratch_);
  }
  return phase_ == Phase::kClosed ? in.size() : offset;
}

void Connection::OnPlaintext(std::string_view plain) {
  if (phase_ == Phase::kYamux) {
    if (close_after_flush_) return;  // draining after a GoAway of ours
    if (Status s = session_->Feed(plain); !s.ok()) {
      spdlog::info("p2p: closing the connection to {}: {}", peer_.ToString(), s.message());
      host_->metrics()->Errored(ConnectionError::kYamux);
      session_->GoAway(yamux::kProtocolError);
      CloseAfterFlush();
    }
    return;
  }
  plain_in_.append(plain);
  size_t consumed = 0;
  Status s = outbound_ ? mss_initiator_->Feed(plain_in_, &consumed, &plain_out_)
                       : mss_responder_->Feed(plain_in_, &consumed, &plain_out_);
  if (!s.ok()) {
    FailHandshake(HandshakeResult::kProtocolError, s.Annotate("muxer negotiation"));
    return;
  }
  const bool selected = outbound_ ? mss_initiator_->selected() : mss_responder_->selected();
  if (!selected) {
    plain_in_.erase(0, consumed);
    return;
  }
  std::string leftover = plain_in_.substr(consumed);
  std::string().swap(plain_in_);
  mss_initiator_.reset();
  mss_responder_.reset();
  StartSession(leftover);
}

void Connection::StartSession(std::string_view leftover) {
  yamux::SessionLimits limits;
  limits.max_inbound_streams = std::max<uint32_t>(1, host_->limits().inbound_streams_per_peer);
  session_ = std::make_unique<yamux::Session>(outbound_, limits, this);
  phase_ = Phase::kYamux;
  upgraded_ = true;
  timer_.cancel();
  host_->metrics()->ConnectionState(!outbound_, false, -1);
  host_->metrics()->ConnectionState(!outbound_, true, +1);
  session_->SendPing();  // the first RTT sample
  host_->OnUpgraded(shared_from_this(), HandshakeResult::kOk, Status::OK());
  if (phase_ == Phase::kClosed) return;
  Housekeep();
  if (!leftover.empty()) OnPlaintext(leftover);
}

void Connection::Activate(std::shared_ptr<std::atomic<uint32_t>> peer_inbound_streams) {
  peer_inbound_streams_ = std::move(peer_inbound_streams);
}

void Connection::Housekeep() {
  timer_.expires_after(kHousekeepingInterval);
  timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->phase_ != Phase::kYamux || self->close_after_flush_) return;
    // A peer that answered none of the last pings is gone (or stopped reading): go-yamux
    // closes such a session too. Pings answer even when the streams' windows are closed.
    if (++self->unanswered_pings_ > kMaxUnansweredPings) {
      self->Close(Status::Unavailable("the peer answered no yamux ping for " +
                                      std::to_string(kMaxUnansweredPings * 10) + " s"));
      return;
    }
    self->session_->SendPing();
    self->ReportStalls();
    self->ScheduleFlush();
    self->Housekeep();
  });
}

void Connection::ReportStalls() {
  if (!session_) return;
  const uint64_t stalls = session_->stats().window_stalls;
  host_->metrics()->WindowStalls(stalls - reported_stalls_);
  reported_stalls_ = stalls;
}

void Connection::OpenStream(std::vector<std::string> protocols,
                            std::function<void(Status, StreamPtr)> done) {
  if (phase_ != Phase::kYamux || remote_went_away_ || close_after_flush_) {
    done(Status::Unavailable("the connection to " + peer_.ToString() + " is closing"), nullptr);
    return;
  }
  const uint32_t id = session_->OpenStream();
  if (id == 0) {
    done(Status::Busy("cannot open a stream to " + peer_.ToString() +
                      ": the peer went away or too many streams await its ACK"),
         nullptr);
    return;
  }
  auto stream = std::make_shared<StreamImpl>(shared_from_this(), id, false);
  streams_.emplace(id, stream);
  stream_count_.store(streams_.size(), std::memory_order_relaxed);
  stream->StartOutbound(std::move(protocols), std::move(done));
  ScheduleFlush();
}

void Connection::GoAwayAndClose() {
  if (phase_ == Phase::kClosed) return;
  if (phase_ != Phase::kYamux) {
    Close(Status::Unavailable("closed during the handshake"));
    return;
  }
  session_->GoAway(yamux::kNormal);
  CloseAfterFlush();
}

void Connection::CloseAfterFlush() {
  if (close_after_flush_) return;
  close_after_flush_ = true;
  // A peer that stops reading must not keep the connection: the GoAway gets this long.
  timer_.expires_after(kCloseGrace);
  timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
    auto self = weak.lock();
    if (!ec && self) self->Close(Status::Unavailable("closed with GoAway"));
  });
  ScheduleFlush();
}

void Connection::Close(const Status& why) {
  if (phase_ == Phase::kClosed) return;
  const bool was_open = upgraded_;
  phase_ = Phase::kClosed;
  error_code ignored;
  timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  ReportStalls();
  std::map<uint32_t, std::shared_ptr<StreamImpl>> streams;
  streams.swap(streams_);
  for (auto& [id, stream] : streams) {
    if (stream->inbound() && peer_inbound_streams_) peer_inbound_streams_->fetch_sub(1);
    stream->OnConnectionLost(why);
  }
  stream_count_.store(0, std::memory_order_relaxed);
  host_->metrics()->ConnectionState(!outbound_, was_open, -1);
  if (was_open) {
    host_->OnClosed(shared_from_this());
  } else {
    // Every way out of the upgrade (a failure, the timeout, EOF, Stop) reports it once.
    host_->OnUpgraded(shared_from_this(), failure_, why);
  }
}

size_t Connection::StreamWrite(uint32_t stream_id, std::string_view data) {
  if (phase_ != Phase::kYamux) return 0;
  const uint64_t limit = host_->limits().buffer_bytes;
  if (session_->stats().buffered_send_bytes >= limit) {
    blocked_on_buffer_.insert(stream_id);
    return 0;
  }
  const size_t accepted = session_->Write(stream_id, data);
  if (accepted) ScheduleFlush();
  return accepted;
}

size_t Connection::StreamBuffered(uint32_t stream_id) const {
  return phase_ == Phase::kYamux ? session_->Buffered(stream_id) : 0;
}

void Connection::StreamCloseWrite(uint32_t stream_id) {
  if (phase_ != Phase::kYamux) return;
  session_->CloseWrite(stream_id);
  ScheduleFlush();
}

void Connection::StreamReset(uint32_t stream_id) {
  if (phase_ != Phase::kYamux) return;
  session_->Reset(stream_id);
  ScheduleFlush();
}

void Connection::StreamConsumed(uint32_t stream_id, size_t bytes) {
  if (phase_ != Phase::kYamux || bytes == 0) return;
  session_->Consumed(stream_id, bytes);
  ScheduleFlush();
}

void Connection::RemoveStream(uint32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  if (it->second->inbound() && peer_inbound_streams_) peer_inbound_streams_->fetch_sub(1);
  std::shared_ptr<StreamImpl> keep = std::move(it->second);  // may hold the last ref to us
  streams_.erase(it);
  blocked_on_buffer_.erase(stream_id);
  stream_count_.store(streams_.size(), std::memory_order_relaxed);
  if (remote_went_away_ && streams_.empty()) GoAwayAndClose();
}

void Connection::ScheduleFlush() {
  if (flush_posted_ || writing_ || phase_ == Phase::kClosed) return;
  flush_posted_ = true;
  asio::post(ioc_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->Flush();
  });
}

void Connection::EncryptInto(std::string_view plain, std::string* out) {
  while (!plain.empty()) {
    const size_t take = std::min(plain.size(), kNoiseMaxPlaintext);
    const size_t length = take + kNoiseTagSize;
    out->push_back(static_cast<char>(length >> 8));
    out->push_back(static_cast<char>(length & 0xff));
    if (Status s = send_cipher_.Encrypt(plain.substr(0, take), out); !s.ok()) {
      out->clear();
      Close(s.Annotate("noise encrypt"));
      return;
    }
    plain.remove_prefix(take);
  }
}

void Connection::Flush() {
  if (writing_ || phase_ == Phase::kClosed) return;
  tx_.append(clear_out_);
  clear_out_.clear();
  Release(clear_out_);
  if (!plain_out_.empty()) {
    EncryptInto(plain_out_, &tx_);
    std::string().swap(plain_out_);
  }
  if (session_ && session_->HasOutput()) {
    scratch_.clear();
    session_->TakeOutput(&scratch_, kMaxFlushBytes);
    EncryptInto(scratch_, &tx_);
  }
  if (phase_ == Phase::kClosed) return;
  if (tx_.empty()) {
    // Idle: the buffers a burst grew go back (they stay while data flows, so a busy
    // connection does not reallocate them per write).
    Release(tx_);
    scratch_.clear();
    Release(scratch_);
    Release(rx_);
    if (session_) session_->ReleaseIdleBuffers();
    if (close_after_flush_) Close(Status::Unavailable("closed with GoAway"));
    return;
  }
  writing_ = true;
  asio::async_write(
      socket_, asio::buffer(tx_),
      [self = shared_from_this()](const error_code& ec, size_t) { self->OnWritten(ec); });
}

void Connection::OnWritten(const error_code& ec) {
  writing_ = false;
  tx_.clear();
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    Close(Status::IOError("write: " + ec.message()));
    return;
  }
  last_active_ns_.store(SwarmNowNs(), std::memory_order_relaxed);
  if (!blocked_on_buffer_.empty() && session_ &&
      session_->stats().buffered_send_bytes < host_->limits().buffer_bytes) {
    std::set<uint32_t> blocked;
    blocked.swap(blocked_on_buffer_);
    for (uint32_t id : blocked) OnStreamWritable(id);
  }
  Flush();
}

void Connection::OnStreamOpened(uint32_t id) {
  // A GoAway with an error code closes us inside Feed, which still parses the rest of that
  // plaintext: a stream opened after it would outlive Close (and hold the peer's stream count).
  if (phase_ == Phase::kClosed) return;
  if (peer_inbound_streams_ &&
      peer_inbound_streams_->load() >= host_->limits().inbound_streams_per_peer) {
    session_->Reset(id);
    host_->metrics()->Refused(RefusedReason::kStreamsPerPeer);
    return;
  }
  if (peer_inbound_streams_) peer_inbound_streams_->fetch_add(1);
  auto stream = std::make_shared<StreamImpl>(shared_from_this(), id, true);
  stream->StartInbound();
  streams_.emplace(id, std::move(stream));
  stream_count_.store(streams_.size(), std::memory_order_relaxed);
}

void Connection::OnStreamData(uint32_t id, std::string_view data) {
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    session_->Consumed(id, data.size());  // a stream we refused or reset: keep the window open
    return;
  }
  std::shared_ptr<StreamImpl> stream = it->second;
  stream->OnData(data);
}

void Connection::OnStreamFin(uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  std::shared_ptr<StreamImpl> stream = it->second;
  stream->OnFin();
}

void Connection::OnStreamReset(uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  std::shared_ptr<StreamImpl> stream = it->second;
  stream->OnRemoteReset();
}

void Connection::OnStreamWritable(uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  std::shared_ptr<StreamImpl> stream = it->second;
  stream->OnWritable();
}

void Connection::OnStreamRefused(uint32_t) {
  host_->metrics()->Refused(RefusedReason::kStreamsPerPeer);
}

void Connection::OnPingRtt(int64_t rtt_ns) {
  unanswered_pings_ = 0;
  rtt_ns_.store(rtt_ns, std::memory_order_relaxed);
  host_->OnRtt(*this, rtt_ns);
}

void Connection::OnGoAway(uint32_t code) {
  remote_went_away_ = true;
  if (code != yamux::kNormal) {
    Close(Status::Unavailable("the peer sent GoAway code " + std::to_string(code)));
    return;
  }
  if (streams_.empty()) {
    asio::post(ioc_, [self = shared_from_this()] { self->GoAwayAndClose(); });
  }
}

}  // namespace boxcar::p2p
