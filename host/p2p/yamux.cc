#include "p2p/yamux.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace boxcar::p2p::yamux {
namespace {

uint32_t LoadBigEndian32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

void StoreBigEndian32(uint32_t value, char* p) {
  p[0] = static_cast<char>(value >> 24);
  p[1] = static_cast<char>(value >> 16);
  p[2] = static_cast<char>(value >> 8);
  p[3] = static_cast<char>(value);
}

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void AppendFrame(FrameType type, uint16_t flags, uint32_t stream_id, uint32_t length,
                 std::string* out) {
  char header[kHeaderSize];
  EncodeHeader({0, type, flags, stream_id, length}, header);
  out->append(header, kHeaderSize);
}

Status ProtocolError(const std::string& what) {
  return Status::InvalidArgument("yamux protocol error: " + what);
}

// Buffers above this are released once empty, so an idle session holds little memory (the
// goal is 16 KiB per idle connection, everything included).
constexpr size_t kKeptBufferCapacity = 4 * 1024;
// Replies the peer provokes (pongs, RSTs of refused SYNs) queue here until it reads them; a
// peer that provokes more than this (four full Noise frames of SYNs) without reading is not
// reading at all: a protocol error, so its replies cannot grow our memory without bound.
constexpr size_t kMaxControlBacklog = 256 * 1024;
constexpr size_t kMaxOutstandingPings = 8;

}  // namespace

void EncodeHeader(const FrameHeader& header, char out[kHeaderSize]) {
  out[0] = static_cast<char>(header.version);
  out[1] = static_cast<char>(header.type);
  out[2] = static_cast<char>(header.flags >> 8);
  out[3] = static_cast<char>(header.flags);
  StoreBigEndian32(header.stream_id, out + 4);
  StoreBigEndian32(header.length, out + 8);
}

Status DecodeHeader(std::string_view bytes, FrameHeader* out) {
  if (bytes.size() < kHeaderSize) {
    return Status::InvalidArgument("yamux: a frame header needs 12 bytes, got " +
                                   std::to_string(bytes.size()));
  }
  const auto version = static_cast<uint8_t>(bytes[0]);
  const auto type = static_cast<uint8_t>(bytes[1]);
  if (version != 0) {
    return Status::InvalidArgument("yamux: frame version " + std::to_string(version) +
                                   " (only version 0 exists)");
  }
  if (type > static_cast<uint8_t>(FrameType::kGoAway)) {
    return Status::InvalidArgument("yamux: unknown frame type " + std::to_string(type));
  }
  out->version = version;
  out->type = static_cast<FrameType>(type);
  out->flags =
      static_cast<uint16_t>((static_cast<uint8_t>(bytes[2]) << 8) | static_cast<uint8_t>(bytes[3]));
  out->stream_id = LoadBigEndian32(bytes.data() + 4);
  out->length = LoadBigEndian32(bytes.data() + 8);
  return Status::OK();
}

struct Session::Impl {
  struct Stream {
    bool inbound = false;
    bool awaiting_ack = false;   // our SYN is out and no ACK came yet
    bool fin_requested = false;  // CloseWrite: FIN once the buffer drains
    bool fin_sent = false;
    bool remote_fin = false;
    bool in_ready = false;  // listed in ready_ (has data and window)
    bool stalled = false;   // has data, the peer's window is closed
    bool want_writable = false;
    uint64_t send_window = kInitialWindow;  // bytes the peer lets us send
    uint32_t recv_window = kInitialWindow;  // our window size (grows)
    uint32_t recv_available = 0;            // bytes the peer may still send
    uint32_t consumed_pending = 0;          // consumed, not yet given back
    int64_t epoch_start_ns = 0;             // when our last window update went out
    size_t send_offset = 0;                 // sent prefix of send_buffer
    std::string send_buffer;

    size_t buffered() const { return send_buffer.size() - send_offset; }
  };

  Impl(bool client_side, SessionLimits session_limits, SessionHandler* session_handler,
       int64_t (*clock)())
      : client(client_side),
        limits(session_limits),
        handler(session_handler),
        now_ns(clock != nullptr ? clock : &SteadyNowNs),
        next_outbound_id(client_side ? 1 : 2) {}

  bool client;
  SessionLimits limits;
  SessionHandler* handler;
  int64_t (*now_ns)();
  uint32_t next_outbound_id;
  uint32_t highest_inbound_id = 0;
  uint32_t inbound_count = 0;
  uint32_t unacked_outbound = 0;
  bool local_went_away = false;
  bool remote_went_away = false;
  Status failure;
  std::unordered_map<uint32_t, Stream> streams;
  std::string control;          // encoded control frames, sent before any data
  std::string partial;          // a frame that straddles Feed calls
  std::vector<uint32_t> ready;  // streams with data and window, round-robin
  size_t ready_head = 0;
  std::vector<std::pair<uint32_t, int64_t>> pings;  // our pings awaiting ACK
  uint32_t next_ping_value = 1;
  int64_t rtt_ns = 0;
  uint64_t window_stalls = 0;

  Stream* Find(uint32_t id) {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : &it->second;
  }

  bool PeerParity(uint32_t id) const { return (id % 2 == 1) != client; }

  Stream& Create(uint32_t id, bool inbound) {
    Stream& stream = streams[id];
    stream.inbound = inbound;
    stream.recv_window = limits.initial_window;
    stream.recv_available = limits.initial_window;
    stream.epoch_start_ns = now_ns();
    if (inbound) ++inbound_count;
    return stream;
  }

  void Erase(uint32_t id) {
    auto it = streams.find(id);
    if (it == streams.end()) return;
    if (it->second.inbound) --inbound_count;
    if (it->second.awaiting_ack) --unacked_outbound;
    if (it->second.in_ready) {
      auto pos =
          std::find(ready.begin() + static_cast<std::ptrdiff_t>(ready_head), ready.end(), id);
      if (pos != ready.end()) ready.erase(pos);
    }
    streams.erase(it);
    if (streams.empty()) {
      std::vector<uint32_t>().swap(ready);
      ready_head = 0;
    }
  }

  void EraseIfClosed(uint32_t id) {
    Stream* stream = Find(id);
    if (stream != nullptr && stream->fin_sent && stream->remote_fin) Erase(id);
  }

  void MarkReady(uint32_t id, Stream& stream) {
    if (stream.in_ready || stream.buffered() == 0) return;
    if (stream.send_window == 0) {
      if (!stream.stalled) ++window_stalls;
      stream.stalled = true;
      return;
    }
    stream.stalled = false;
    stream.in_ready = true;
    ready.push_back(id);
  }

  // The extra window beyond the spec's 256 KiB goes with the SYN or ACK.
  uint32_t InitialDelta() const {
    return limits.initial_window > kInitialWindow ? limits.initial_window - kInitialWindow : 0;
  }

  Status Feed(std::string_view bytes);
  Status CheckHeader(const FrameHeader& header);
  Status Process(const FrameHeader& header, std::string_view payload);
  Status ProcessStreamFrame(const FrameHeader& header, std::string_view payload);
  Status ProcessPing(const FrameHeader& header);
  Status CheckControlBacklog() const;
  void SendWindowUpdate(uint32_t id, Stream& stream);
  void TakeData(std::string* out, size_t max_bytes, std::vector<uint32_t>* writable);
};

Status Session::Impl::Feed(std::string_view bytes) {
  if (!failure.ok()) return failure;
  FrameHeader header;
  if (!partial.empty()) {
    if (partial.size() < kHeaderSize) {
      const size_t take = std::min(kHeaderSize - partial.size(), bytes.size());
      partial.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (partial.size() < kHeaderSize) return Status::OK();
    }
    if (Status s = DecodeHeader(partial, &header); !s.ok()) return failure = s;
    if (Status s = CheckHeader(header); !s.ok()) return failure = s;
    const size_t frame_size = kHeaderSize + (header.type == FrameType::kData ? header.length : 0);
    partial.reserve(frame_size);
    const size_t take = std::min(frame_size - partial.size(), bytes.size());
    partial.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (partial.size() < frame_size) return Status::OK();
    std::string frame;
    frame.swap(partial);
    if (Status s = Process(header, std::string_view(frame).substr(kHeaderSize)); !s.ok()) {
      return failure = s;
    }
    if (frame.capacity() <= kKeptBufferCapacity) {
      frame.clear();
      partial.swap(frame);
    }
  }
  // Whole frames are handled in place: their payload reaches the handler without a copy.
  while (bytes.size() >= kHeaderSize) {
    if (Status s = DecodeHeader(bytes, &header); !s.ok()) return failure = s;
    if (Status s = CheckHeader(header); !s.ok()) return failure = s;
    const size_t frame_size = kHeaderSize + (header.type == FrameType::kData ? header.length : 0);
    if (bytes.size() < frame_size) break;
    if (Status s = Process(header, bytes.substr(kHeaderSize, frame_size - kHeaderSize)); !s.ok()) {
      return failure = s;
    }
    bytes.remove_prefix(frame_size);
  }
  partial.append(bytes);
  return Status::OK();
}

// Checks what can be checked from the header alone, so an oversized frame is refused before
// its payload is buffered.
Status Session::Impl::CheckHeader(const FrameHeader& header) {
  if (header.type != FrameType::kData) return Status::OK();
  const Stream* stream = Find(header.stream_id);
  if (stream == nullptr) {
    const uint32_t limit = (header.flags & kSyn) ? limits.initial_window : limits.max_window;
    if (header.length > limit) {
      return ProtocolError("a data frame of " + std::to_string(header.length) +
                           " bytes on stream " + std::to_string(header.stream_id) +
                           " is larger than its window of " + std::to_string(limit));
    }
    return Status::OK();
  }
  if (header.length > stream->recv_window) {
    return ProtocolError("a data frame of " + std::to_string(header.length) + " bytes on stream " +
                         std::to_string(header.stream_id) + " is larger than its window of " +
                         std::to_string(stream->recv_window));
  }
  if (header.length > stream->recv_available) {
    return ProtocolError("the peer overran the window of stream " +
                         std::to_string(header.stream_id) + ": " + std::to_string(header.length) +
                         " bytes with " + std::to_string(stream->recv_available) + " allowed");
  }
  return Status::OK();
}

Status Session::Impl::Process(const FrameHeader& header, std::string_view payload) {
  switch (header.type) {
    case FrameType::kData:
    case FrameType::kWindowUpdate:
      return ProcessStreamFrame(header, payload);
    case FrameType::kPing:
      return ProcessPing(header);
    case FrameType::kGoAway:
      remote_went_away = true;
      handler->OnGoAway(header.length);
      return Status::OK();
  }
  return Status::OK();
}

Status Session::Impl::CheckControlBacklog() const {
  if (control.size() < kMaxControlBacklog) return Status::OK();
  return ProtocolError("the peer provoked " + std::to_string(control.size()) +
                       " bytes of control frames (pongs, RSTs) without reading them");
}

Status Session::Impl::ProcessPing(const FrameHeader& header) {
  if (header.flags & kSyn) {
    if (Status s = CheckControlBacklog(); !s.ok()) return s;
    AppendFrame(FrameType::kPing, kAck, 0, header.length, &control);
    return Status::OK();
  }
  if (header.flags & kAck) {
    auto it = std::find_if(pings.begin(), pings.end(),
                           [&](const auto& ping) { return ping.first == header.length; });
    // go-yamux ignores an ACK it did not ask for (a late or duplicate pong); so do we.
    if (it == pings.end()) return Status::OK();
    rtt_ns = std::max<int64_t>(1, now_ns() - it->second);
    pings.erase(it);
    handler->OnPingRtt(rtt_ns);
    return Status::OK();
  }
  return ProtocolError("a ping with neither SYN nor ACK");
}

Status Session::Impl::ProcessStreamFrame(const FrameHeader& header, std::string_view payload) {
  const uint32_t id = header.stream_id;
  if (id == 0) return ProtocolError("a stream frame on stream 0");
  const bool is_data = header.type == FrameType::kData;
  Stream* stream = Find(id);
  if (header.flags & kSyn) {
    if (!PeerParity(id)) {
      return ProtocolError("the peer opened stream " + std::to_string(id) + ", which has our " +
                           (client ? "(client, odd)" : "(server, even)") + " parity");
    }
    // go and js allocate ids in increasing order, so an id at or below the last one is reuse.
    if (stream != nullptr || id <= highest_inbound_id) {
      return ProtocolError("the peer opened stream " + std::to_string(id) +
                           " again (ids must increase)");
    }
    highest_inbound_id = id;
    if (local_went_away || inbound_count >= limits.max_inbound_streams) {
      if (Status s = CheckControlBacklog(); !s.ok()) return s;
      AppendFrame(FrameType::kWindowUpdate, kRst, id, 0, &control);
      handler->OnStreamRefused(id);
      return Status::OK();
    }
    Stream& created = Create(id, /*inbound=*/true);
    if (!is_data) created.send_window += header.length;
    AppendFrame(FrameType::kWindowUpdate, kAck, id, InitialDelta(), &control);
    handler->OnStreamOpened(id);
    stream = Find(id);
    if (stream == nullptr) return Status::OK();  // the handler reset it
  } else if (stream == nullptr) {
    // Frames may still arrive for a stream we reset or closed; ids never opened are an error.
    const bool seen = PeerParity(id) ? id <= highest_inbound_id : id < next_outbound_id;
    if (seen) return Status::OK();
    return ProtocolError("a frame for stream " + std::to_string(id) + ", which was never opened");
  } else if (!is_data && !(header.flags & kRst)) {
    stream->send_window += header.length;
    MarkReady(id, *stream);
  }
  // js-yamux ACKs lazily, on its first frame for the stream: any frame counts as the ACK.
  if (stream->awaiting_ack) {
    stream->awaiting_ack = false;
    --unacked_outbound;
  }
  if (is_data && !payload.empty()) {
    stream->recv_available -= static_cast<uint32_t>(payload.size());
    if (!stream->remote_fin) {
      handler->OnStreamData(id, payload);
      stream = Find(id);
      if (stream == nullptr) return Status::OK();
    }
  }
  if (header.flags & kFin) {
    if (!stream->remote_fin) {
      stream->remote_fin = true;
      handler->OnStreamFin(id);
      EraseIfClosed(id);
      stream = Find(id);
      if (stream == nullptr) return Status::OK();
    }
  }
  if (header.flags & kRst) {
    Erase(id);
    handler->OnStreamReset(id);
  }
  return Status::OK();
}

void Session::Impl::SendWindowUpdate(uint32_t id, Stream& stream) {
  uint32_t delta = stream.consumed_pending;
  const int64_t now = now_ns();
  // Autotuning as go-yamux and js-yamux do it: a window consumed within 4 x RTT doubles.
  if (rtt_ns > 0 && now - stream.epoch_start_ns < 4 * rtt_ns &&
      stream.recv_window < limits.max_window) {
    const uint32_t grown = static_cast<uint32_t>(
        std::min<uint64_t>(uint64_t{stream.recv_window} * 2, limits.max_window));
    delta += grown - stream.recv_window;
    stream.recv_window = grown;
  }
  stream.epoch_start_ns = now;
  stream.recv_available += delta;
  stream.consumed_pending = 0;
  AppendFrame(FrameType::kWindowUpdate, 0, id, delta, &control);
}

void Session::Impl::TakeData(std::string* out, size_t max_bytes, std::vector<uint32_t>* writable) {
  size_t budget = max_bytes;
  while (ready_head < ready.size() && budget > kHeaderSize) {
    const uint32_t id = ready[ready_head++];
    Stream* stream = Find(id);
    if (stream == nullptr) continue;
    stream->in_ready = false;
    const size_t room = std::min<uint64_t>(stream->send_window, budget - kHeaderSize);
    const size_t n = std::min({stream->buffered(), room, size_t{limits.max_data_frame}});
    if (n == 0) {
      MarkReady(id, *stream);  // counts the stall when the window is what stopped it
      continue;
    }
    const bool drains = n == stream->buffered();
    const bool fin = drains && stream->fin_requested && !stream->fin_sent;
    AppendFrame(FrameType::kData, 0, id, static_cast<uint32_t>(n), out);
    out->append(stream->send_buffer, stream->send_offset, n);
    // The FIN follows in a frame of its own: js-yamux applies a data frame's flags before its
    // payload, so it drops the payload of a data frame that carries FIN.
    budget -= kHeaderSize + n;
    if (fin) {
      AppendFrame(FrameType::kWindowUpdate, kFin, id, 0, out);
      budget -= std::min(budget, kHeaderSize);
    }
    stream->send_window -= n;
    stream->send_offset += n;
    if (drains) {
      stream->send_buffer.clear();  // kept until ReleaseIdleBuffers
      stream->send_offset = 0;
    }
    if (stream->want_writable && stream->buffered() <= limits.max_send_buffer_per_stream / 2) {
      stream->want_writable = false;
      writable->push_back(id);
    }
    if (fin) {
      stream->fin_sent = true;
      EraseIfClosed(id);
      continue;
    }
    MarkReady(id, *stream);
  }
  if (ready_head == ready.size()) {
    ready.clear();
    ready_head = 0;
  } else if (ready_head > 64 && ready_head * 2 > ready.size()) {
    ready.erase(ready.begin(), ready.begin() + static_cast<std::ptrdiff_t>(ready_head));
    ready_head = 0;
  }
}

Session::Session(bool client, SessionLimits limits, SessionHandler* handler, int64_t (*now_ns)())
    : impl_(std::make_unique<Impl>(client, limits, handler, now_ns)) {}

Session::~Session() = default;

Status Session::Feed(std::string_view bytes) { return impl_->Feed(bytes); }

uint32_t Session::OpenStream() {
  Impl& s = *impl_;
  if (s.local_went_away || s.remote_went_away || !s.failure.ok()) return 0;
  if (s.unacked_outbound >= s.limits.max_unacked_outbound) return 0;
  if (s.next_outbound_id == 0 || s.next_outbound_id > 0xfffffffeu) return 0;
  const uint32_t id = s.next_outbound_id;
  s.next_outbound_id += 2;
  Impl::Stream& stream = s.Create(id, /*inbound=*/false);
  stream.awaiting_ack = true;
  ++s.unacked_outbound;
  // Open with a window update carrying SYN; data may follow at once, before any ACK.
  AppendFrame(FrameType::kWindowUpdate, kSyn, id, s.InitialDelta(), &s.control);
  return id;
}

size_t Session::Write(uint32_t id, std::string_view data) {
  Impl::Stream* stream = impl_->Find(id);
  if (stream == nullptr || stream->fin_requested) return 0;
  const size_t room = impl_->limits.max_send_buffer_per_stream -
                      std::min(impl_->limits.max_send_buffer_per_stream, stream->buffered());
  const size_t accepted = std::min(room, data.size());
  if (accepted < data.size()) stream->want_writable = true;
  if (accepted == 0) return 0;
  // The sent prefix is dropped only once it outweighs what is left, so each byte moves at most
  // once more on average.
  if (stream->send_offset > 0 && stream->send_offset >= stream->buffered()) {
    stream->send_buffer.erase(0, stream->send_offset);
    stream->send_offset = 0;
  }
  stream->send_buffer.append(data.substr(0, accepted));
  impl_->MarkReady(id, *stream);
  return accepted;
}

void Session::CloseWrite(uint32_t id) {
  Impl::Stream* stream = impl_->Find(id);
  if (stream == nullptr || stream->fin_requested) return;
  stream->fin_requested = true;
  if (stream->buffered() > 0) return;  // the FIN follows the last data frame
  stream->fin_sent = true;
  AppendFrame(FrameType::kWindowUpdate, kFin, id, 0, &impl_->control);
  impl_->EraseIfClosed(id);
}

void Session::Reset(uint32_t id) {
  if (impl_->Find(id) == nullptr) return;
  impl_->Erase(id);
  AppendFrame(FrameType::kWindowUpdate, kRst, id, 0, &impl_->control);
}

void Session::Consumed(uint32_t id, size_t bytes) {
  Impl::Stream* stream = impl_->Find(id);
  if (stream == nullptr || stream->remote_fin) return;
  const uint64_t pending = uint64_t{stream->consumed_pending} + bytes;
  // Never give back more than the peer used: the window would overflow its size.
  const uint64_t used = stream->recv_window - stream->recv_available;
  stream->consumed_pending = static_cast<uint32_t>(std::min(pending, used));
  if (stream->consumed_pending >= stream->recv_window / 2) impl_->SendWindowUpdate(id, *stream);
}

void Session::SendPing() {
  Impl& s = *impl_;
  if (s.pings.size() >= kMaxOutstandingPings) return;
  const uint32_t value = s.next_ping_value++;
  s.pings.emplace_back(value, s.now_ns());
  AppendFrame(FrameType::kPing, kSyn, 0, value, &s.control);
}

void Session::GoAway(uint32_t code) {
  if (impl_->local_went_away) return;
  impl_->local_went_away = true;
  AppendFrame(FrameType::kGoAway, 0, 0, code, &impl_->control);
}

bool Session::HasOutput() const {
  return !impl_->control.empty() || impl_->ready_head < impl_->ready.size();
}

void Session::TakeOutput(std::string* out, size_t max_bytes) {
  Impl& s = *impl_;
  size_t budget = max_bytes;
  if (!s.control.empty()) {
    // Control frames are small; take whole frames, at least one, ahead of any data.
    const size_t frames = std::max<size_t>(1, budget / kHeaderSize);
    const size_t take = std::min(s.control.size(), frames * kHeaderSize);
    out->append(s.control, 0, take);
    s.control.erase(0, take);
    if (s.control.empty() && s.control.capacity() > kKeptBufferCapacity) {
      std::string().swap(s.control);
    }
    budget -= std::min(budget, take);
  }
  std::vector<uint32_t> writable;
  s.TakeData(out, budget, &writable);
  // Handlers run last: they may write, which changes the ready list walked above.
  for (uint32_t id : writable) {
    if (s.Find(id) != nullptr) s.handler->OnStreamWritable(id);
  }
}

void Session::ReleaseIdleBuffers() {
  for (auto& [id, stream] : impl_->streams) {
    if (stream.buffered() == 0 && stream.send_buffer.capacity() > kKeptBufferCapacity) {
      std::string().swap(stream.send_buffer);
      stream.send_offset = 0;
    }
  }
}

size_t Session::Buffered(uint32_t id) const {
  auto it = impl_->streams.find(id);
  return it == impl_->streams.end() ? 0 : it->second.buffered();
}

SessionStats Session::stats() const {
  SessionStats stats;
  stats.window_stalls = impl_->window_stalls;
  stats.open_streams = static_cast<uint32_t>(impl_->streams.size());
  stats.inbound_streams = impl_->inbound_count;
  for (const auto& [id, stream] : impl_->streams) stats.buffered_send_bytes += stream.buffered();
  return stats;
}

bool Session::remote_went_away() const { return impl_->remote_went_away; }

int64_t Session::last_rtt_ns() const { return impl_->rtt_ns; }

}  // namespace boxcar::p2p::yamux
