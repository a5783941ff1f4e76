#include "swarm/stream_impl.h"

#include <chrono>

#include <boost/asio/post.hpp>

namespace boxcar::p2p {
namespace asio = boost::asio;

namespace {
// js and go both give a stream's protocol negotiation 10 s.
constexpr auto kNegotiationTimeout = std::chrono::seconds(10);
}  // namespace

StreamImpl::StreamImpl(std::shared_ptr<Connection> conn, uint32_t id, bool inbound)
    : conn_(std::move(conn)), id_(id), inbound_(inbound) {
  if (inbound_) {
    ConnectionHost* host = conn_->host();
    responder_ = std::make_unique<MssResponder>(
        [host](std::string_view protocol) { return host->SupportsProtocol(protocol); });
  }
}

StreamImpl::~StreamImpl() = default;

asio::any_io_executor StreamImpl::executor() const { return conn_->io_context().get_executor(); }

void StreamImpl::StartOutbound(std::vector<std::string> protocols, OpenDone done) {
  open_done_ = std::move(done);
  initiator_ = std::make_unique<MssInitiator>(std::move(protocols));
  std::string out;
  initiator_->Start(&out);
  conn_->StreamWrite(id_, out);
  ArmNegotiationTimer();
}

void StreamImpl::StartInbound() { ArmNegotiationTimer(); }

// A peer that opens a stream and never finishes the negotiation must not hold it forever.
void StreamImpl::ArmNegotiationTimer() {
  negotiation_timer_ = std::make_unique<asio::steady_timer>(conn_->io_context());
  negotiation_timer_->expires_after(kNegotiationTimeout);
  negotiation_timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || !self->negotiating_) return;
    self->FailOpen(
        Status::Unavailable("protocol negotiation with " + self->peer().ToString() + " timed out"));
    self->Reset();
  });
}

void StreamImpl::OnData(std::string_view data) {
  if (negotiating_) {
    Negotiate(data);
    return;
  }
  if (series_) conn_->metrics()->Bytes(series_, data.size(), 0);
  if (on_data_ && pending_.empty() && !delivery_posted_) {
    Deliver(data);
    return;
  }
  // Not consumed: the window stays closed until the reader takes it. The connection's budget
  // bounds what many such streams hold together.
  if (conn_->unread_bytes() + data.size() > conn_->host()->limits().buffer_bytes) {
    conn_->metrics()->Refused(RefusedReason::kBufferMemory);
    Reset();
    return;
  }
  Buffer(data);
}

void StreamImpl::Buffer(std::string_view data) {
  pending_.append(data);
  conn_->unread_bytes() += data.size();
}

std::string StreamImpl::TakePending() {
  conn_->unread_bytes() -= pending_.size();
  std::string data;
  data.swap(pending_);
  return data;
}

void StreamImpl::Deliver(std::string_view data) {
  auto keep = shared_from_this();
  on_data_(data);
  conn_->StreamConsumed(id_, data.size());
}

void StreamImpl::Negotiate(std::string_view data) {
  mss_in_.append(data);
  size_t consumed = 0;
  std::string out;
  Status s = inbound_ ? responder_->Feed(mss_in_, &consumed, &out)
                      : initiator_->Feed(mss_in_, &consumed, &out);
  if (!out.empty()) conn_->StreamWrite(id_, out);
  conn_->StreamConsumed(id_, consumed);
  if (!s.ok()) {
    FailOpen(s);
    Reset();
    return;
  }
  const bool selected = inbound_ ? responder_->selected() : initiator_->selected();
  if (!selected) {
    mss_in_.erase(0, consumed);
    return;
  }
  std::string leftover = mss_in_.substr(consumed);
  std::string().swap(mss_in_);
  Selected(leftover);
}

void StreamImpl::Selected(std::string_view leftover) {
  protocol_ = inbound_ ? responder_->protocol() : initiator_->protocol();
  responder_.reset();
  initiator_.reset();
  negotiating_ = false;
  if (negotiation_timer_) negotiation_timer_->cancel();
  negotiation_timer_.reset();
  series_ = conn_->metrics()->Protocol(protocol_);
  conn_->metrics()->StreamOpened(series_, inbound_);
  auto self = shared_from_this();
  // The leftover bytes wait in pending_ for the reader the handler is about to set.
  if (!leftover.empty()) {
    conn_->metrics()->Bytes(series_, leftover.size(), 0);
    Buffer(leftover);
  }
  if (inbound_) {
    conn_->host()->DispatchInbound(self);
  } else {
    OpenDone done = std::move(open_done_);
    open_done_ = nullptr;
    done(Status::OK(), self);
  }
}

void StreamImpl::SetReader(std::function<void(std::string_view)> on_data,
                           std::function<void(Status)> on_end) {
  on_data_ = std::move(on_data);
  on_end_ = std::move(on_end);
  if ((!pending_.empty() || fin_received_) && !delivery_posted_) {
    delivery_posted_ = true;
    asio::post(conn_->io_context(), [self = shared_from_this()] { self->DeliverPending(); });
  }
}

void StreamImpl::DeliverPending() {
  delivery_posted_ = false;
  if (ended_ || !on_data_) return;
  if (!pending_.empty()) {
    const std::string data = TakePending();
    Deliver(data);
  }
  if (fin_received_ && !ended_ && pending_.empty()) End(Status::OK());
}

void StreamImpl::OnFin() {
  fin_received_ = true;
  if (negotiating_) {
    FailOpen(Status::Unavailable("the peer closed the stream during protocol negotiation"));
    Reset();
    return;
  }
  if (on_data_ && pending_.empty() && !delivery_posted_) End(Status::OK());
  MaybeRemove();
}

void StreamImpl::End(const Status& status) {
  if (ended_) return;
  ended_ = true;
  auto keep = shared_from_this();
  std::function<void(Status)> on_end = std::move(on_end_);
  on_data_ = nullptr;
  on_end_ = nullptr;
  if (on_end) on_end(status);
}

void StreamImpl::FailOpen(const Status& status) {
  if (!open_done_) return;
  OpenDone done = std::move(open_done_);
  open_done_ = nullptr;
  done(status, nullptr);
}

void StreamImpl::OnRemoteReset() {
  reset_ = true;
  on_writable_ = nullptr;
  TakePending();
  FailOpen(Status::Unavailable("the peer reset the stream"));
  End(Status::Unavailable("the peer reset the stream"));
  MaybeRemove();
}

void StreamImpl::OnConnectionLost(const Status& why) {
  reset_ = true;
  removed_ = true;
  on_writable_ = nullptr;
  TakePending();
  FailOpen(why);
  End(why);
}

void StreamImpl::OnWritable() {
  if (!want_writable_ || !on_writable_) return;
  want_writable_ = false;
  auto keep = shared_from_this();
  std::function<void()> callback = on_writable_;
  callback();
}

size_t StreamImpl::Write(std::string_view data) {
  if (reset_ || write_closed_ || data.empty()) return 0;
  const size_t accepted = conn_->StreamWrite(id_, data);
  if (accepted < data.size()) want_writable_ = true;
  if (series_ && accepted) conn_->metrics()->Bytes(series_, 0, accepted);
  return accepted;
}

void StreamImpl::SetOnWritable(std::function<void()> on_writable) {
  on_writable_ = std::move(on_writable);
}

size_t StreamImpl::buffered() const { return conn_->StreamBuffered(id_); }

void StreamImpl::CloseWrite() {
  if (reset_ || write_closed_) return;
  write_closed_ = true;
  on_writable_ = nullptr;
  conn_->StreamCloseWrite(id_);
  MaybeRemove();
}

void StreamImpl::Reset() {
  if (reset_) return;
  reset_ = true;
  ended_ = true;
  on_data_ = nullptr;
  on_end_ = nullptr;
  on_writable_ = nullptr;
  TakePending();
  conn_->StreamReset(id_);
  MaybeRemove();
}

void StreamImpl::MaybeRemove() {
  if (removed_) return;
  if (reset_ || (write_closed_ && fin_received_)) {
    removed_ = true;
    conn_->RemoveStream(id_);
  }
}

}  // namespace boxcar::p2p
