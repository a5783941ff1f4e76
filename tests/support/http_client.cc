#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace boxcar::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

void ParseField(const std::string& line, std::multimap<std::string, std::string>* out) {
  const auto colon = line.find(':');
  if (colon == std::string::npos) return;
  out->emplace(Lower(line.substr(0, colon)), Trim(line.substr(colon + 1)));
}

}  // namespace

std::string Response::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

Client::Client(const std::string& address, std::chrono::milliseconds timeout) {
  const auto colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::atoi(address.substr(colon + 1).c_str())));
  // Tests talk to the node on loopback only.
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr) != 1 ||
      (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
    return;
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int on = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

bool Client::Send(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool Client::Fill() {
  char chunk[65536];
  const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

bool Client::ReadLine(std::string* line) {
  for (;;) {
    const auto end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      *line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return true;
    }
    if (!Fill()) return false;
  }
}

Response Client::Receive(bool head) {
  Response r;
  std::string line;
  if (fd_ < 0 || !ReadLine(&line)) {
    r.error = "no status line";
    return r;
  }
  if (line.rfind("HTTP/1.1 ", 0) != 0 || line.size() < 12) {
    r.error = "bad status line: " + line;
    return r;
  }
  const int status = std::atoi(line.substr(9, 3).c_str());
  while (ReadLine(&line) && !line.empty()) ParseField(line, &r.headers);
  if (line.empty() == false) {
    r.error = "headers cut short";
    return r;
  }
  if (head || status == 304 || status == 204) {
    r.status = status;
    return r;
  }
  if (Lower(r.Header("transfer-encoding")) == "chunked") {
    r.chunked = true;
    for (;;) {
      if (!ReadLine(&line)) {
        r.error = "chunk size missing";
        return r;
      }
      const size_t size = std::strtoull(line.c_str(), nullptr, 16);
      if (size == 0) break;
      while (buffer_.size() < size + 2) {
        if (!Fill()) {
          r.error = "chunk cut short";
          return r;
        }
      }
      r.body.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
    }
    while (ReadLine(&line) && !line.empty()) ParseField(line, &r.trailers);
    if (!line.empty()) {
      r.error = "trailer cut short";
      return r;
    }
  } else if (!r.Has("content-length")) {
    // No framing: the body ends when the server closes the connection (RFC 9112 6.3).
    r.close_delimited = true;
    while (Fill()) {
    }
    r.body = std::move(buffer_);
    buffer_.clear();
  } else {
    const size_t length = std::strtoull(r.Header("content-length").c_str(), nullptr, 10);
    while (buffer_.size() < length) {
      if (!Fill()) {
        r.error = "body cut short";
        return r;
      }
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
  }
  r.status = status;
  return r;
}

bool Client::WaitClosed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char c;
      const ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
      if (n > 0) buffer_.push_back(c);
    }
  }
  return false;
}

std::string RequestText(const std::string& method, const std::string& target,
                        const std::vector<std::string>& headers) {
  std::string text = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : headers) text += h + "\r\n";
  return text + "\r\n";
}

Response Fetch(const std::string& address, const std::string& method, const std::string& target,
               const std::vector<std::string>& headers) {
  Client client(address);
  if (!client.connected()) {
    Response r;
    r.error = "cannot connect to " + address;
    return r;
  }
  client.Send(RequestText(method, target, headers));
  return client.Receive(method == "HEAD");
}

}  // namespace boxcar::testing
