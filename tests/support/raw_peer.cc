#include "raw_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "p2p/multistream.h"

namespace boxcar::testing {
namespace {

namespace yamux = p2p::yamux;
constexpr std::string_view kSignaturePrefix = "noise-libp2p-static-key:";

Status Fail(const std::string& what) { return Status::IOError("raw peer: " + what); }

// A 32-byte X25519 private key from OpenSSL (the Noise static key of one handshake).
std::string NewX25519PrivateKey() {
  std::string key(32, '\0');
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr);
  size_t length = key.size();
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1 ||
      EVP_PKEY_get_raw_private_key(pkey, reinterpret_cast<unsigned char*>(key.data()), &length) !=
          1) {
    key.clear();
  }
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
  return key;
}

std::string LengthPrefixed(std::string_view message) {
  std::string out;
  out.push_back(static_cast<char>(message.size() >> 8));
  out.push_back(static_cast<char>(message.size() & 0xff));
  out.append(message);
  return out;
}

// Reads one uvarint-prefixed message from the front of `buffer`; false when incomplete.
bool TakeLengthPrefixed(std::string* buffer, std::string* message) {
  uint64_t length = 0;
  size_t i = 0;
  for (int shift = 0; i < buffer->size() && shift < 64; shift += 7) {
    const auto byte = static_cast<uint8_t>((*buffer)[i++]);
    length |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      if (buffer->size() - i < length) return false;
      *message = buffer->substr(i, length);
      buffer->erase(0, i + length);
      return true;
    }
  }
  return false;
}

}  // namespace

RawPeer::RawPeer() {
  const Status generated = p2p::Ed25519Key::Generate(&identity_);
  if (generated.ok()) local_peer_ = p2p::PeerId::FromPublicKeyProto(identity_.PublicKeyProto());
}

RawPeer::RawPeer(const p2p::Ed25519Key& identity)
    : identity_(identity),
      local_peer_(p2p::PeerId::FromPublicKeyProto(identity.PublicKeyProto())) {}

RawPeer::~RawPeer() { Close(); }

void RawPeer::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

RawPeer::Transport RawPeer::Detach() {
  Transport transport;
  transport.fd = fd_;
  transport.send = std::move(send_);
  transport.receive = std::move(receive_);
  transport.decrypted = std::move(decrypted_);
  decrypted_.clear();
  fd_ = -1;
  return transport;
}

Status RawPeer::Connect(const std::string& address) {
  Close();
  const auto colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  if (colon == std::string::npos ||
      inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    return Fail("bad address '" + address + "' (want IPv4:port)");
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Fail(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const std::string error = std::strerror(errno);
    Close();
    return Fail("connect " + address + ": " + error);
  }
  return Status::OK();
}

Status RawPeer::Upgrade(const std::string& address, std::optional<p2p::PeerId> expected) {
  Status s = Connect(address);
  if (s.ok()) s = SelectPlain("/noise");
  if (s.ok()) s = NoiseHandshake({.expected = std::move(expected)});
  if (s.ok()) s = SelectSecure("/yamux/1.0.0");
  return s;
}

Status RawPeer::SendRaw(std::string_view bytes) {
  if (fd_ < 0) return Fail("not connected");
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail(std::string("send: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status RawPeer::ReadExact(size_t count, std::string* out) {
  if (fd_ < 0) return Fail("not connected");
  out->clear();
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  char buffer[65536];
  while (out->size() < count) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
      return Status::Busy("raw peer: timed out reading " + std::to_string(count) + " bytes");
    }
    const ssize_t n = ::recv(fd_, buffer, std::min(sizeof(buffer), count - out->size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return Fail("connection closed by the node");
    if (n < 0) return Fail(std::string("recv: ") + std::strerror(errno));
    out->append(buffer, static_cast<size_t>(n));
  }
  return Status::OK();
}

Status RawPeer::ReadRaw(size_t count, std::string* out) { return ReadExact(count, out); }

bool RawPeer::WaitClosed(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) return false;
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
  }
}

Status RawPeer::SelectPlain(const std::string& protocol) { return Select(protocol, false); }

Status RawPeer::SelectSecure(const std::string& protocol) { return Select(protocol, true); }

Status RawPeer::Select(const std::string& protocol, bool secure) {
  std::string out;
  p2p::AppendMssMessage(p2p::kMssHeader, &out);
  p2p::AppendMssMessage(protocol, &out);
  Status s = secure ? SendEncrypted(out) : SendRaw(out);
  // Byte by byte, so nothing after the echo is taken from what follows it.
  std::string buffer;
  for (int replies = 0; s.ok() && replies < 2;) {
    std::string byte;
    s = secure ? ReadDecrypted(1, &byte) : ReadExact(1, &byte);
    if (!s.ok()) break;
    buffer += byte;
    size_t consumed = 0;
    std::string token;
    Status error;
    const p2p::MssRead read = p2p::ReadMssMessage(buffer, &consumed, &token, &error);
    if (read == p2p::MssRead::kError) return error;
    if (read == p2p::MssRead::kNeedMore) continue;
    buffer.erase(0, consumed);
    if (replies == 1 && token != protocol)
      return Fail("the node refused " + protocol + ": " + token);
    ++replies;
  }
  return s;
}

Status RawPeer::ReadNoiseFrame(std::string* frame) {
  std::string prefix;
  Status s = ReadExact(2, &prefix);
  if (!s.ok()) return s;
  const size_t length = (static_cast<uint8_t>(prefix[0]) << 8) | static_cast<uint8_t>(prefix[1]);
  return ReadExact(length, frame);
}

Status RawPeer::NoiseHandshake(const HandshakeOptions& options) {
  p2p::NoiseXX noise(/*initiator=*/true, /*prologue=*/"", NewX25519PrivateKey());
  if (!noise.init_status().ok()) return noise.init_status();
  std::string message;
  Status s = noise.WriteMessage("", &message);
  if (s.ok()) s = SendRaw(LengthPrefixed(message));
  if (!s.ok() || options.stop_after_first_message) return s;

  std::string frame, payload_bytes;
  s = ReadNoiseFrame(&frame);
  if (s.ok()) s = noise.ReadMessage(frame, &payload_bytes);
  p2p::NoiseHandshakePayload payload;
  if (s.ok()) s = p2p::DecodeNoisePayload(payload_bytes, &payload);
  const std::string signed_key =
      std::string(kSignaturePrefix) + std::string(noise.remote_static_public());
  if (s.ok()) s = p2p::VerifySignature(payload.identity_key, signed_key, payload.identity_sig);
  if (!s.ok()) return s;
  remote_peer_ = p2p::PeerId::FromPublicKeyProto(payload.identity_key);
  if (options.expected && *options.expected != remote_peer_) {
    return Fail("the node is " + remote_peer_.ToString() + ", not " + options.expected->ToString());
  }

  p2p::NoiseHandshakePayload ours;
  ours.identity_key = identity_.PublicKeyProto();
  ours.identity_sig =
      identity_.Sign(std::string(kSignaturePrefix) + std::string(noise.local_static_public()));
  if (options.corrupt_signature) ours.identity_sig[10] ^= 0x01;
  s = noise.WriteMessage(p2p::EncodeNoisePayload(ours), &message);
  if (s.ok()) s = SendRaw(LengthPrefixed(message));
  if (s.ok()) noise.Split(&send_, &receive_);
  return s;
}

Status RawPeer::SendEncrypted(std::string_view plaintext) {
  std::string wire;
  while (!plaintext.empty()) {
    const std::string_view chunk = plaintext.substr(0, p2p::kNoiseMaxPlaintext);
    plaintext.remove_prefix(chunk.size());
    last_frame_.clear();
    Status s = send_.Encrypt(chunk, &last_frame_);
    if (!s.ok()) return s;
    wire += LengthPrefixed(last_frame_);
  }
  return SendRaw(wire);
}

Status RawPeer::SendNoiseFrame(std::string_view frame) { return SendRaw(LengthPrefixed(frame)); }

Status RawPeer::ReadDecrypted(size_t count, std::string* out) {
  while (decrypted_.size() < count) {
    std::string frame;
    Status s = ReadNoiseFrame(&frame);
    if (s.ok()) s = receive_.Decrypt(frame, &decrypted_);
    if (!s.ok()) return s;
  }
  *out = decrypted_.substr(0, count);
  decrypted_.erase(0, count);
  return Status::OK();
}

Status RawPeer::SendYamux(yamux::FrameType type, uint16_t flags, uint32_t stream_id,
                          uint32_t length, std::string_view payload) {
  char header[yamux::kHeaderSize];
  yamux::EncodeHeader({0, type, flags, stream_id, length}, header);
  std::string frame(header, sizeof(header));
  frame.append(payload);
  return SendEncrypted(frame);
}

Status RawPeer::ReadYamux(yamux::FrameHeader* header, std::string* payload) {
  std::string bytes;
  Status s = ReadDecrypted(yamux::kHeaderSize, &bytes);
  if (s.ok()) s = yamux::DecodeHeader(bytes, header);
  if (!s.ok()) return s;
  payload->clear();
  if (header->type != yamux::FrameType::kData || header->length == 0) return Status::OK();
  return ReadDecrypted(header->length, payload);
}

uint32_t RawPeer::NextStreamId() {
  const uint32_t id = next_stream_id_;
  next_stream_id_ += 2;
  return id;
}

Status RawPeer::Pump() {
  yamux::FrameHeader header;
  std::string payload;
  Status s = ReadYamux(&header, &payload);
  if (!s.ok()) return s;
  switch (header.type) {
    case yamux::FrameType::kPing:
      if (header.flags & yamux::kSyn) {
        return SendYamux(yamux::FrameType::kPing, yamux::kAck, 0, header.length);
      }
      return Status::OK();
    case yamux::FrameType::kGoAway:
      return Fail("the node sent GoAway code " + std::to_string(header.length));
    case yamux::FrameType::kData:
    case yamux::FrameType::kWindowUpdate: {
      // A stream the node opens (even ids: it is the yamux server) is refused: this peer serves
      // no protocol.
      if ((header.flags & yamux::kSyn) && header.stream_id % 2 == 0) {
        if (accept_protocol_.empty()) {
          return SendYamux(yamux::FrameType::kWindowUpdate, yamux::kRst, header.stream_id, 0);
        }
        // The node proposes its protocol lazily; answer the header and the echo at once.
        std::string answer;
        p2p::AppendMssMessage(p2p::kMssHeader, &answer);
        p2p::AppendMssMessage(accept_protocol_, &answer);
        if (Status a = SendYamux(yamux::FrameType::kData, yamux::kAck, header.stream_id,
                                 static_cast<uint32_t>(answer.size()), answer);
            !a.ok()) {
          return a;
        }
      }
      StreamState& stream = streams_[header.stream_id];
      stream.data += payload;
      if (header.flags & yamux::kFin) stream.fin = true;
      if (header.flags & yamux::kRst) {
        stream.reset = true;
        ++resets_received_;
      }
      // Give back what the node sent, so long transfers never stall on our window.
      if (!payload.empty() && !stream.reset && grant_window_) {
        return SendYamux(yamux::FrameType::kWindowUpdate, 0, header.stream_id,
                         static_cast<uint32_t>(payload.size()));
      }
      return Status::OK();
    }
  }
  return Status::OK();
}

Status RawPeer::PumpFor(std::chrono::milliseconds quiet) {
  const auto saved = timeout_;
  timeout_ = quiet;
  Status s;
  while (s.ok()) s = Pump();
  timeout_ = saved;
  return s.IsBusy() ? Status::OK() : s;
}

Status RawPeer::OpenStream(const std::string& protocol, uint32_t* id) {
  *id = NextStreamId();
  std::string hello;
  p2p::AppendMssMessage(p2p::kMssHeader, &hello);
  p2p::AppendMssMessage(protocol, &hello);
  Status s = SendYamux(yamux::FrameType::kData, yamux::kSyn, *id,
                       static_cast<uint32_t>(hello.size()), hello);
  for (int replies = 0; s.ok() && replies < 2;) {
    StreamState& stream = streams_[*id];
    size_t consumed = 0;
    std::string token;
    Status error;
    const p2p::MssRead read = p2p::ReadMssMessage(stream.data, &consumed, &token, &error);
    if (read == p2p::MssRead::kError) return error;
    if (read == p2p::MssRead::kMessage) {
      stream.data.erase(0, consumed);
      if (replies == 1 && token != protocol) return Fail("the node refused " + protocol);
      ++replies;
      continue;
    }
    if (stream.reset) return Fail("the node reset stream " + std::to_string(*id));
    if (stream.fin) return Fail("the node closed stream " + std::to_string(*id));
    s = Pump();
  }
  return s;
}

Status RawPeer::ReadStream(uint32_t id, size_t count, std::string* out, bool* fin) {
  Status s;
  while (s.ok() && streams_[id].data.size() < count && !streams_[id].fin && !streams_[id].reset) {
    s = Pump();
  }
  if (!s.ok()) return s;
  StreamState& stream = streams_[id];
  if (stream.reset) return Fail("the node reset stream " + std::to_string(id));
  const size_t taken = std::min(count, stream.data.size());
  *out = stream.data.substr(0, taken);
  stream.data.erase(0, taken);
  if (fin != nullptr) *fin = stream.fin && stream.data.empty();
  return Status::OK();
}

Status RawPeer::WaitStreamEnd(uint32_t id, bool* reset) {
  Status s;
  while (s.ok() && !streams_[id].fin && !streams_[id].reset) s = Pump();
  *reset = streams_[id].reset;
  return s;
}

Status RawPeer::Ping(std::chrono::nanoseconds* rtt) {
  uint32_t id = 0;
  Status s = OpenStream("/ipfs/ping/1.0.0", &id);
  if (!s.ok()) return s;
  std::string probe(32, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(probe.data()), static_cast<int>(probe.size()));
  const auto start = std::chrono::steady_clock::now();
  s = SendYamux(yamux::FrameType::kData, 0, id, 32, probe);
  std::string echo;
  if (s.ok()) s = ReadStream(id, 32, &echo);
  if (rtt != nullptr) *rtt = std::chrono::steady_clock::now() - start;
  if (s.ok() && echo != probe) s = Fail("the ping echo differs from the probe");
  if (s.ok()) s = SendYamux(yamux::FrameType::kWindowUpdate, yamux::kFin, id, 0);
  return s;
}

Status RawPeer::Identify(p2p::IdentifyMessage* out) {
  uint32_t id = 0;
  Status s = OpenStream("/ipfs/id/1.0.0", &id);
  if (s.ok()) s = SendYamux(yamux::FrameType::kWindowUpdate, yamux::kFin, id, 0);
  bool reset = false;
  if (s.ok()) s = WaitStreamEnd(id, &reset);
  if (s.ok() && reset) s = Fail("the node reset the identify stream");
  if (!s.ok()) return s;
  *out = {};
  std::string message;
  for (int count = 0; TakeLengthPrefixed(&streams_[id].data, &message); ++count) {
    if (count == p2p::kIdentifyMaxMessages) return Fail("more than 10 identify messages");
    p2p::IdentifyMessage part;
    s = p2p::DecodeIdentify(message, &part);
    if (!s.ok()) return s;
    p2p::MergeIdentify(part, out);
  }
  if (!streams_[id].data.empty()) return Fail("a truncated identify message");
  return Status::OK();
}

}  // namespace boxcar::testing
