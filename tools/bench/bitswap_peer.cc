#include "bitswap_peer.h"

#include <algorithm>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>

namespace boxcar::bench {

namespace {

constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kMaxWriteBatch = 256 * 1024;

bool IsBitswap(std::string_view protocol) {
  return protocol == bitswap::kProtocol120 || protocol == bitswap::kProtocol110 ||
         protocol == bitswap::kProtocol100 || protocol == bitswap::kProtocolLegacy;
}

}  // namespace

BitswapPeer::InboundStream::InboundStream() : responder(IsBitswap) {}

BitswapPeer::BitswapPeer(boost::asio::io_context& io, testing::RawPeer::Transport transport,
                         Callbacks callbacks)
    : socket_(io),
      send_(std::move(transport.send)),
      receive_(std::move(transport.receive)),
      pending_plaintext_(std::move(transport.decrypted)),
      callbacks_(std::move(callbacks)),
      session_(/*client=*/true, p2p::yamux::SessionLimits{}, this) {
  boost::system::error_code ec;
  socket_.assign(boost::asio::ip::tcp::v4(), transport.fd, ec);
  adopted_ = !ec;
}

BitswapPeer::~BitswapPeer() = default;

void BitswapPeer::Start() {
  if (!adopted_) return Fail(Status::IOError("the socket could not be adopted"));
  read_buffer_.resize(kReadChunk);
  if (!pending_plaintext_.empty()) {
    in_feed_ = true;
    const Status s = session_.Feed(pending_plaintext_);
    in_feed_ = false;
    pending_plaintext_.clear();
    if (!s.ok()) return Fail(s);
  }
  OpenOutbound();
  Flush();
  Read();
}

void BitswapPeer::OpenOutbound() {
  outbound_id_ = session_.OpenStream();
  if (outbound_id_ == 0) return Fail(Status::IOError("yamux refused a new stream"));
  outbound_select_.emplace(std::vector<std::string>{std::string(bitswap::kProtocol120)});
  outbound_replies_.clear();
  outbound_frames_ = bitswap::FrameReader();
  std::string hello;
  outbound_select_->Start(&hello);
  session_.Write(outbound_id_, hello);
}

void BitswapPeer::Send(std::string framed) {
  if (closed_) return;
  queued_ += framed;
  WriteQueued();
  Flush();
}

void BitswapPeer::WriteQueued() {
  if (closed_ || outbound_id_ == 0 || !outbound_select_ || !outbound_select_->selected()) return;
  while (!queued_.empty()) {
    const size_t accepted = session_.Write(outbound_id_, queued_);
    queued_.erase(0, accepted);
    if (accepted == 0) return;  // OnStreamWritable resumes
  }
}

void BitswapPeer::Close() {
  if (closed_) return;
  session_.GoAway(p2p::yamux::kNormal);
  Fail(Status::OK());
}

void BitswapPeer::Fail(const Status& why) {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  if (callbacks_.on_closed) callbacks_.on_closed(why);
}

void BitswapPeer::Read() {
  if (closed_) return;
  socket_.async_read_some(
      boost::asio::buffer(read_buffer_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t bytes) {
        if (self->closed_) return;
        if (ec) return self->Fail(Status::IOError("read: " + ec.message()));
        self->OnRead(bytes);
      });
}

void BitswapPeer::OnRead(size_t bytes) {
  received_.append(read_buffer_.data(), bytes);
  size_t offset = 0;
  std::string plaintext;
  while (received_.size() - offset >= 2) {
    const size_t length = (static_cast<uint8_t>(received_[offset]) << 8) |
                          static_cast<uint8_t>(received_[offset + 1]);
    if (received_.size() - offset - 2 < length) break;
    const Status s =
        receive_.Decrypt(std::string_view(received_).substr(offset + 2, length), &plaintext);
    if (!s.ok()) return Fail(s);
    offset += 2 + length;
  }
  received_.erase(0, offset);
  if (!plaintext.empty()) {
    in_feed_ = true;  // handlers may Send; the output is taken once Feed returns
    const Status s = session_.Feed(plaintext);
    in_feed_ = false;
    if (!s.ok()) return Fail(s);
  }
  if (closed_) return;
  Flush();
  Read();
}

void BitswapPeer::Flush() {
  if (writing_ || in_feed_ || closed_ || !session_.HasOutput()) return;
  std::string plaintext;
  session_.TakeOutput(&plaintext, kMaxWriteBatch);
  wire_.clear();
  for (size_t offset = 0; offset < plaintext.size(); offset += p2p::kNoiseMaxPlaintext) {
    const std::string_view chunk =
        std::string_view(plaintext).substr(offset, p2p::kNoiseMaxPlaintext);
    std::string frame;
    const Status s = send_.Encrypt(chunk, &frame);
    if (!s.ok()) return Fail(s);
    wire_.push_back(static_cast<char>(frame.size() >> 8));
    wire_.push_back(static_cast<char>(frame.size() & 0xff));
    wire_ += frame;
  }
  writing_ = true;
  boost::asio::async_write(
      socket_, boost::asio::buffer(wire_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        self->writing_ = false;
        if (self->closed_) return;
        if (ec) return self->Fail(Status::IOError("write: " + ec.message()));
        self->Flush();
      });
}

void BitswapPeer::DeliverFrames(bitswap::FrameReader& frames, std::string_view data) {
  const Status s = frames.Feed(data, [this](std::string_view body) {
    bitswap::Message message;
    const Status decoded = bitswap::DecodeMessage(body, &message);
    if (!decoded.ok()) {
      if (callbacks_.on_problem) callbacks_.on_problem(decoded);
    } else if (callbacks_.on_message) {
      callbacks_.on_message(message);
    }
    return Status::OK();
  });
  if (!s.ok() && callbacks_.on_problem) callbacks_.on_problem(s);
}

void BitswapPeer::OnStreamOpened(uint32_t id) { inbound_.try_emplace(id); }

void BitswapPeer::OnStreamData(uint32_t id, std::string_view data) {
  session_.Consumed(id, data.size());
  if (id == outbound_id_) return OnOutboundData(data);
  auto it = inbound_.find(id);
  if (it == inbound_.end()) return;
  InboundStream& stream = it->second;
  if (!stream.responder.selected()) {
    size_t consumed = 0;
    std::string replies;
    const Status s = stream.responder.Feed(data, &consumed, &replies);
    if (!replies.empty()) session_.Write(id, replies);
    if (!s.ok()) {
      session_.Reset(id);
      inbound_.erase(it);
      return;
    }
    data.remove_prefix(consumed);
    if (!stream.responder.selected()) return;
  }
  DeliverFrames(stream.frames, data);
}

void BitswapPeer::OnOutboundData(std::string_view data) {
  if (outbound_select_ && !outbound_select_->selected()) {
    outbound_replies_.append(data);
    size_t consumed = 0;
    std::string out;
    const Status s = outbound_select_->Feed(outbound_replies_, &consumed, &out);
    if (!out.empty()) session_.Write(outbound_id_, out);
    if (!s.ok()) return Fail(s);
    outbound_replies_.erase(0, consumed);
    if (!outbound_select_->selected()) return;
    data = outbound_replies_;
    if (callbacks_.on_ready) callbacks_.on_ready();
    WriteQueued();
  }
  // A server may reply on our stream (Bitswap allows it; boxcar and Helia do not).
  if (!data.empty()) DeliverFrames(outbound_frames_, std::string(data));
  outbound_replies_.clear();
}

void BitswapPeer::OnStreamFin(uint32_t id) {
  if (id == outbound_id_) return;  // the server may end its direction; ours stays usable
  session_.CloseWrite(id);
  inbound_.erase(id);
}

void BitswapPeer::OnStreamReset(uint32_t id) {
  if (id == outbound_id_) {
    if (callbacks_.on_problem) callbacks_.on_problem(Status::IOError("outbound stream reset"));
    OpenOutbound();  // the queued messages go on a new stream
    return;
  }
  inbound_.erase(id);
}

void BitswapPeer::OnStreamWritable(uint32_t id) {
  if (id == outbound_id_) WriteQueued();
}

void BitswapPeer::OnGoAway(uint32_t code) {
  Fail(Status::IOError("the server sent GoAway " + std::to_string(code)));
}

}  // namespace boxcar::bench
