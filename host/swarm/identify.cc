// Identify (/ipfs/id/1.0.0) in both roles, and identify push (/ipfs/id/push/1.0.0) as receiver.
#include <chrono>

#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>

#include "swarm/stream_impl.h"
#include "swarm/swarm_impl.h"

namespace boxcar::p2p {
namespace {

// js waits 5 s for identify; a peer that never answers must not hold a dial's callback longer.
constexpr auto kIdentifyTimeout = std::chrono::seconds(5);
constexpr size_t kMaxIdentifyBytes = kIdentifyMaxMessage * kIdentifyMaxMessages + 64;

void AppendUvarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Splits uvarint-delimited messages and merges them; an error names what is wrong.
Status ParseIdentifyStream(std::string_view bytes, IdentifyMessage* merged) {
  int messages = 0;
  while (!bytes.empty()) {
    uint64_t length = 0;
    size_t used = 0;
    for (int shift = 0; used < bytes.size() && shift < 64; shift += 7) {
      const uint8_t byte = static_cast<uint8_t>(bytes[used++]);
      length |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
      if (used == bytes.size()) return Status::InvalidArgument("identify: truncated length");
    }
    if (length > kIdentifyMaxMessage) {
      return Status::InvalidArgument("identify: a message of " + std::to_string(length) +
                                     " bytes (limit " + std::to_string(kIdentifyMaxMessage) + ")");
    }
    if (bytes.size() - used < length) return Status::InvalidArgument("identify: truncated message");
    if (++messages > kIdentifyMaxMessages) {
      return Status::InvalidArgument("identify: more than " + std::to_string(kIdentifyMaxMessages) +
                                     " messages");
    }
    IdentifyMessage message;
    if (Status s = DecodeIdentify(bytes.substr(used, length), &message); !s.ok()) return s;
    MergeIdentify(message, merged);
    bytes.remove_prefix(used + length);
  }
  return Status::OK();
}

// Reads a stream to its end (bounded), then calls `done` once with the bytes or an error.
void ReadAll(const StreamPtr& stream, std::function<void(Status, std::string)> done) {
  auto buffer = std::make_shared<std::string>();
  auto once = std::make_shared<std::function<void(Status, std::string)>>(std::move(done));
  Stream* raw = stream.get();
  stream->SetReader(
      [buffer, once, raw](std::string_view data) {
        if (!*once) return;
        buffer->append(data);
        if (buffer->size() > kMaxIdentifyBytes) {
          auto callback = std::move(*once);
          *once = nullptr;
          raw->Reset();
          callback(Status::InvalidArgument("identify: more than " +
                                           std::to_string(kMaxIdentifyBytes) + " bytes"),
                   {});
        }
      },
      [buffer, once](Status end) {
        if (!*once) return;
        auto callback = std::move(*once);
        *once = nullptr;
        callback(end, std::move(*buffer));
      });
}

}  // namespace

IdentifyMessage Swarm::Impl::LocalIdentify(const Connection& conn) const {
  IdentifyMessage message;
  message.public_key = identity_.PublicKeyProto();
  for (const Multiaddr& addr : advertised_addrs_) message.listen_addrs.push_back(addr.ToBytes());
  for (const auto& [protocol, handler] : handlers_) message.protocols.push_back(protocol);
  if (!conn.remote_addr().empty()) message.observed_addr = conn.remote_addr().ToBytes();
  message.protocol_version = "ipfs/0.1.0";
  message.agent_version = options_.agent_version;
  return message;
}

void Swarm::Impl::MergeIdentified(const PeerId& peer, const std::string& public_key,
                                  const IdentifyMessage& message) {
  if (message.public_key && *message.public_key != public_key) {
    spdlog::info(
        "p2p: ignoring identify from {}: its public key is not the one it "
        "authenticated with",
        peer.ToString());
    return;
  }
  std::lock_guard lock(mu_);
  auto it = peers_.find(peer);
  if (it != peers_.end()) MergeIdentify(message, &it->second.identify);
}

namespace {

// Writes all of `bytes`, the rest as the stream's buffer drains, then FINs: a message cut short
// by a full connection buffer must not be FINed as if it were whole.
void WriteAllThenClose(const StreamPtr& stream, std::string bytes) {
  auto rest = std::make_shared<std::string>(std::move(bytes));
  Stream* raw = stream.get();
  auto drain = [raw, rest] {
    rest->erase(0, raw->Write(*rest));
    if (!rest->empty()) return;
    raw->SetOnWritable(nullptr);
    raw->CloseWrite();
  };
  stream->SetOnWritable(drain);
  drain();
}

}  // namespace

void Swarm::Impl::RegisterIdentify() {
  handlers_[kIdentifyProtocol] = [this](StreamPtr stream) {
    auto& impl = static_cast<StreamImpl&>(*stream);
    const std::string body = EncodeIdentify(LocalIdentify(impl.connection()));
    std::string framed;
    AppendUvarint(body.size(), &framed);
    framed += body;
    // Nothing is expected from the requester; its FIN ends the stream.
    stream->SetReader([](std::string_view) {}, [](Status) {});
    WriteAllThenClose(stream, std::move(framed));  // FIN at once: js otherwise waits 5 s
  };
  handlers_[kIdentifyPushProtocol] = [this](StreamPtr stream) {
    const PeerId peer = stream->peer();
    const std::string key = static_cast<StreamImpl&>(*stream).connection().remote_public_key();
    stream->CloseWrite();
    ReadAll(stream, [this, peer, key](Status end, std::string bytes) {
      IdentifyMessage merged;
      if (end.ok()) end = ParseIdentifyStream(bytes, &merged);
      if (!end.ok()) {
        spdlog::debug("p2p: identify push from {}: {}", peer.ToString(), end.message());
        return;
      }
      MergeIdentified(peer, key, merged);
    });
  };
}

void Swarm::Impl::RunIdentify(const std::shared_ptr<Connection>& conn, std::function<void()> done) {
  auto once = std::make_shared<std::function<void()>>(std::move(done));
  auto finish = [once] {
    if (!*once) return;
    auto callback = std::move(*once);
    *once = nullptr;
    callback();
  };
  auto timer = std::make_shared<boost::asio::steady_timer>(conn->io_context());
  timer->expires_after(kIdentifyTimeout);
  timer->async_wait([finish](const boost::system::error_code& ec) {
    if (!ec) finish();
  });
  const PeerId peer = conn->peer();
  const std::string key = conn->remote_public_key();
  conn->OpenStream(
      {kIdentifyProtocol}, [this, finish, timer, peer, key](Status s, StreamPtr stream) {
        if (!s.ok()) {
          timer->cancel();
          finish();
          return;
        }
        stream->CloseWrite();
        ReadAll(stream, [this, finish, timer, peer, key](Status end, std::string bytes) {
          timer->cancel();
          IdentifyMessage merged;
          if (end.ok()) end = ParseIdentifyStream(bytes, &merged);
          if (end.ok()) {
            MergeIdentified(peer, key, merged);
          } else {
            spdlog::debug("p2p: identify of {} failed: {}", peer.ToString(), end.message());
          }
          finish();
        });
      });
}

}  // namespace boxcar::p2p
