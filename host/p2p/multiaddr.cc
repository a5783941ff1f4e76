#include "p2p/multiaddr.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>

#include "format/varint.h"

namespace boxcar::p2p {
namespace {

constexpr uint32_t kIp4 = 4, kTcp = 6, kIp6 = 41, kDns = 53, kDns4 = 54, kDns6 = 55, kP2p = 421;
constexpr size_t kMaxDnsName = 255;
// More components than any real address has (they have 2 to 6); bounds work on untrusted
// identify data. With every value bounded too, both forms stay under kMaxMultiaddrBytes, so
// whatever one form accepts the other accepts.
constexpr size_t kMaxComponents = 32;
constexpr size_t kMaxMultiaddrBytes = 16 * 1024;

struct Protocol {
  const char* name;
  uint32_t code;
  int fixed_size;  // bytes of a fixed-size value, or -1 for a length-prefixed one
};

constexpr std::array<Protocol, 7> kProtocols = {{
    {"ip4", kIp4, 4},
    {"tcp", kTcp, 2},
    {"ip6", kIp6, 16},
    {"dns", kDns, -1},
    {"dns4", kDns4, -1},
    {"dns6", kDns6, -1},
    {"p2p", kP2p, -1},
}};

const Protocol* ByName(std::string_view name) {
  if (name == "ipfs") name = "p2p";  // the old name of /p2p
  for (const Protocol& protocol : kProtocols) {
    if (name == protocol.name) return &protocol;
  }
  return nullptr;
}

const Protocol* ByCode(uint64_t code) {
  for (const Protocol& protocol : kProtocols) {
    if (code == protocol.code) return &protocol;
  }
  return nullptr;
}

bool IsDns(uint32_t code) { return code == kDns || code == kDns4 || code == kDns6; }

// The binary value of one text component; `error` says what is wrong with it.
bool ValueFromText(const Protocol& protocol, std::string_view text, std::string* value,
                   std::string* error) {
  switch (protocol.code) {
    case kIp4:
    case kIp6: {
      const int family = protocol.code == kIp4 ? AF_INET : AF_INET6;
      unsigned char buffer[16];
      if (text.size() >= INET6_ADDRSTRLEN ||
          inet_pton(family, std::string(text).c_str(), buffer) != 1) {
        *error = std::string("bad ") + protocol.name + " address";
        return false;
      }
      value->assign(reinterpret_cast<const char*>(buffer), protocol.code == kIp4 ? 4 : 16);
      return true;
    }
    case kTcp: {
      uint32_t port = 0;
      bool valid = !text.empty() && text.size() <= 5;
      for (char c : text) {
        valid = valid && c >= '0' && c <= '9';
        if (valid) port = port * 10 + static_cast<uint32_t>(c - '0');
      }
      if (!valid || port > 65535) {
        *error = "bad tcp port (a number from 0 to 65535)";
        return false;
      }
      value->assign({static_cast<char>(port >> 8), static_cast<char>(port & 0xff)});
      return true;
    }
    case kP2p: {
      PeerId peer;
      Status status = PeerId::Parse(text, &peer);
      if (!status.ok()) {
        *error = status.message();
        return false;
      }
      *value = peer.bytes();
      return true;
    }
    default:  // dns, dns4, dns6
      if (text.empty() || text.size() > kMaxDnsName) {
        *error = "a DNS name must have 1 to 255 characters";
        return false;
      }
      *value = text;
      return true;
  }
}

std::string ValueToText(uint32_t code, const std::string& value) {
  switch (code) {
    case kIp4:
    case kIp6: {
      char text[INET6_ADDRSTRLEN];
      inet_ntop(code == kIp4 ? AF_INET : AF_INET6, value.data(), text, sizeof text);
      return text;
    }
    case kTcp: {
      const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
      return std::to_string((unsigned{bytes[0]} << 8) | bytes[1]);
    }
    case kP2p: {
      PeerId peer;
      return PeerId::FromBytes(value, &peer).ok() ? peer.ToString() : "?";
    }
    default:
      return value;
  }
}

// Checks a binary value; `error` says what is wrong with it.
bool CheckBinaryValue(const Protocol& protocol, std::string_view value, std::string* error) {
  if (protocol.fixed_size >= 0 && value.size() != static_cast<size_t>(protocol.fixed_size)) {
    *error = "needs " + std::to_string(protocol.fixed_size) + " bytes";
    return false;
  }
  if (protocol.code == kP2p) {
    PeerId peer;
    Status status = PeerId::FromBytes(value, &peer);
    if (!status.ok()) *error = status.message();
    return status.ok();
  }
  if (IsDns(protocol.code)) {
    if (value.empty() || value.size() > kMaxDnsName || value.find('/') != value.npos) {
      *error = "a DNS name must have 1 to 255 characters and no '/'";
      return false;
    }
  }
  return true;
}

}  // namespace

Status Multiaddr::Parse(std::string_view text, Multiaddr* out) {
  const std::string quoted = "multiaddr '" + std::string(text.substr(0, 200)) + "'";
  if (text.empty() || text[0] != '/') {
    return Status::InvalidArgument(quoted + ": must start with '/', as in /ip4/127.0.0.1/tcp/4001");
  }
  if (text.size() > kMaxMultiaddrBytes) {
    return Status::InvalidArgument(quoted + "...: longer than " +
                                   std::to_string(kMaxMultiaddrBytes) + " characters");
  }
  std::string_view rest = text.substr(1);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);  // one trailing '/' is fine
  Multiaddr result;
  while (!rest.empty()) {
    const size_t name_end = rest.find('/');
    const std::string_view name = rest.substr(0, name_end);
    if (name.empty()) return Status::InvalidArgument(quoted + ": empty component ('//')");
    if (result.components_.size() == kMaxComponents) {
      return Status::InvalidArgument(quoted + ": more than " + std::to_string(kMaxComponents) +
                                     " components");
    }
    const Protocol* protocol = ByName(name);
    if (protocol == nullptr) {
      return Status::InvalidArgument(quoted + ": unsupported protocol '" + std::string(name) +
                                     "' (supported: ip4, ip6, dns, dns4, dns6, tcp, p2p)");
    }
    if (name_end == rest.npos) {
      return Status::InvalidArgument(quoted + ": /" + std::string(name) + " needs a value");
    }
    rest.remove_prefix(name_end + 1);
    const size_t value_end = rest.find('/');
    const std::string_view value_text = rest.substr(0, value_end);
    Component component{protocol->code, {}};
    std::string error;
    if (!ValueFromText(*protocol, value_text, &component.value, &error)) {
      return Status::InvalidArgument(quoted + ": " + error + " '" + std::string(value_text) +
                                     "' in /" + std::string(name));
    }
    result.components_.push_back(std::move(component));
    rest.remove_prefix(value_end == rest.npos ? rest.size() : value_end + 1);
  }
  if (result.empty()) return Status::InvalidArgument(quoted + ": no components");
  *out = std::move(result);
  return Status::OK();
}

Status Multiaddr::FromBytes(std::string_view bytes, Multiaddr* out) {
  if (bytes.empty()) return Status::InvalidArgument("binary multiaddr: empty");
  if (bytes.size() > kMaxMultiaddrBytes) {
    return Status::InvalidArgument("binary multiaddr: " + std::to_string(bytes.size()) +
                                   " bytes, more than " + std::to_string(kMaxMultiaddrBytes));
  }
  Multiaddr result;
  std::string_view rest = bytes;
  while (!rest.empty()) {
    const size_t offset = bytes.size() - rest.size();
    const std::string where = "binary multiaddr: at byte " + std::to_string(offset) + ": ";
    if (result.components_.size() == kMaxComponents) {
      return Status::InvalidArgument(where + "more than " + std::to_string(kMaxComponents) +
                                     " components");
    }
    uint64_t code = 0;
    Status status = format::ReadUvarint(&rest, &code);
    if (!status.ok()) return Status::InvalidArgument(where + "protocol code: " + status.message());
    const Protocol* protocol = ByCode(code);
    if (protocol == nullptr) {
      return Status::InvalidArgument(where + "unsupported protocol code " + std::to_string(code));
    }
    uint64_t size = static_cast<uint64_t>(protocol->fixed_size);
    if (protocol->fixed_size < 0) {
      status = format::ReadUvarint(&rest, &size);
      if (!status.ok()) {
        return Status::InvalidArgument(where + protocol->name + " length: " + status.message());
      }
    }
    if (size > rest.size()) {
      return Status::InvalidArgument(where + protocol->name + " value of " + std::to_string(size) +
                                     " bytes runs past the end");
    }
    const std::string_view value = rest.substr(0, static_cast<size_t>(size));
    std::string error;
    if (!CheckBinaryValue(*protocol, value, &error)) {
      return Status::InvalidArgument(where + "bad " + protocol->name + " value: " + error);
    }
    result.components_.push_back({protocol->code, std::string(value)});
    rest.remove_prefix(static_cast<size_t>(size));
  }
  *out = std::move(result);
  return Status::OK();
}

Multiaddr Multiaddr::FromTcp(std::string_view ip, uint16_t port) {
  Multiaddr result;
  unsigned char buffer[16];
  const std::string ip_text(ip);
  if (inet_pton(AF_INET, ip_text.c_str(), buffer) == 1) {
    result.components_.push_back({kIp4, std::string(reinterpret_cast<char*>(buffer), 4)});
  } else if (inet_pton(AF_INET6, ip_text.c_str(), buffer) == 1) {
    static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(buffer, kMappedPrefix, sizeof kMappedPrefix) == 0) {
      result.components_.push_back({kIp4, std::string(reinterpret_cast<char*>(buffer) + 12, 4)});
    } else {
      result.components_.push_back({kIp6, std::string(reinterpret_cast<char*>(buffer), 16)});
    }
  } else {
    return result;  // not an IP literal: empty
  }
  result.components_.push_back(
      {kTcp, {static_cast<char>(port >> 8), static_cast<char>(port & 0xff)}});
  return result;
}

std::string Multiaddr::ToString() const {
  std::string text;
  for (const Component& component : components_) {
    const Protocol* protocol = ByCode(component.code);
    text += '/';
    text += protocol != nullptr ? protocol->name : std::to_string(component.code);
    text += '/';
    text += ValueToText(component.code, component.value);
  }
  return text;
}

std::string Multiaddr::ToBytes() const {
  std::string bytes;
  for (const Component& component : components_) {
    format::AppendUvarint(&bytes, component.code);
    const Protocol* protocol = ByCode(component.code);
    if (protocol == nullptr || protocol->fixed_size < 0) {
      format::AppendUvarint(&bytes, component.value.size());
    }
    bytes += component.value;
  }
  return bytes;
}

std::optional<Multiaddr::TcpTarget> Multiaddr::Tcp() const {
  const size_t n = components_.size();
  const bool with_peer = n == 3 && components_[2].code == kP2p;
  if (n != 2 && !with_peer) return std::nullopt;
  const Component& host = components_[0];
  const Component& port = components_[1];
  if (port.code != kTcp || (host.code != kIp4 && host.code != kIp6 && !IsDns(host.code))) {
    return std::nullopt;
  }
  TcpTarget target;
  target.host = ValueToText(host.code, host.value);
  target.port = static_cast<uint16_t>(std::stoul(ValueToText(kTcp, port.value)));
  target.is_dns = IsDns(host.code);
  return target;
}

std::optional<PeerId> Multiaddr::Peer() const {
  if (components_.empty() || components_.back().code != kP2p) return std::nullopt;
  PeerId peer;
  if (!PeerId::FromBytes(components_.back().value, &peer).ok()) return std::nullopt;
  return peer;
}

Multiaddr Multiaddr::WithoutPeer() const {
  Multiaddr result = *this;
  if (!result.components_.empty() && result.components_.back().code == kP2p) {
    result.components_.pop_back();
  }
  return result;
}

Multiaddr Multiaddr::WithPeer(const PeerId& peer) const {
  Multiaddr result = WithoutPeer();
  result.components_.push_back({kP2p, peer.bytes()});
  return result;
}

}  // namespace boxcar::p2p
