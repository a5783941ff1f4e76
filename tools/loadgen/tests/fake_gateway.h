// A small HTTP/1.1 server on 127.0.0.1 for loadgen's end-to-end tests, with scripted misbehaviour.
//
// One thread accepts, one thread per connection answers pipelined requests in order:
// /ipfs/<known cid> gets 200 with a 16-byte body (no body for HEAD; chunked when the query asks
// for format=car), anything else 404. Every Nth response (counted per server) can instead end
// with an X-Stream-Error trailer, say Connection: close and close, or never be answered.
//
// Thread safety: configure before Start(); Stop() (or the destructor) from the owning thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace boxcar::loadgen::testing {

class FakeGateway {
 public:
  std::string known_cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
  uint64_t stream_error_every = 0;  // 0 = never
  uint64_t close_every = 0;
  uint64_t stall_every = 0;

  ~FakeGateway() { Stop(); }

  // Listens on an ephemeral port; returns it, or 0 on failure.
  uint16_t Start() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 128) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return 0;
    }
    acceptor_ = std::thread([this] { AcceptLoop(); });
    return ntohs(addr.sin_port);
  }

  void Stop() {
    if (listen_fd_ < 0) return;
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    close(listen_fd_);
    listen_fd_ = -1;
    std::vector<std::thread> handlers;
    {
      std::lock_guard lock(mutex_);
      for (int fd : client_fds_) shutdown(fd, SHUT_RDWR);
      handlers.swap(handlers_);
    }
    for (auto& t : handlers) t.join();
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard lock(mutex_);
      client_fds_.push_back(fd);
      handlers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  enum class Outcome { kKeepOpen, kClose, kStall };

  void Serve(int fd) {
    std::string in;
    char buf[16384];
    bool stalled = false;
    bool closing = false;
    while (!closing) {
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      if (stalled) continue;  // read and drop until the client gives up
      in.append(buf, static_cast<size_t>(n));
      std::string out;
      size_t end;
      while ((end = in.find("\r\n\r\n")) != std::string::npos) {
        const Outcome outcome = Answer(in.substr(0, end), &out);
        in.erase(0, end + 4);
        stalled = outcome == Outcome::kStall;
        closing = outcome == Outcome::kClose;
        if (stalled || closing) break;
      }
      if (!out.empty() && write(fd, out.data(), out.size()) < 0) break;
    }
    std::lock_guard lock(mutex_);  // Stop() shuts down only descriptors still listed
    std::erase(client_fds_, fd);
    close(fd);
  }

  Outcome Answer(const std::string& request, std::string* out) {
    const uint64_t n = ++answered_;
    if (stall_every != 0 && n % stall_every == 0) return Outcome::kStall;
    const bool head = request.rfind("HEAD ", 0) == 0;
    const bool known = request.find("/ipfs/" + known_cid + "?") != std::string::npos;
    const bool car = request.find("format=car") != std::string::npos;
    const bool close_now = close_every != 0 && n % close_every == 0;
    const std::string headers = close_now ? "Connection: close\r\n" : "";
    if (!known) {
      *out += "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n" + headers + "\r\nnot found";
    } else if (car) {
      const bool stream_error = stream_error_every != 0 && n % stream_error_every == 0;
      *out += "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + headers + "\r\n";
      *out += "10\r\n0123456789abcdef\r\n0\r\n";
      *out += stream_error ? "X-Stream-Error: block missing\r\n\r\n" : "\r\n";
    } else {
      *out += "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n" + headers + "\r\n";
      if (!head) *out += "0123456789abcdef";
    }
    return close_now ? Outcome::kClose : Outcome::kKeepOpen;
  }

  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> answered_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> client_fds_;
  std::vector<std::thread> handlers_;
};

}  // namespace boxcar::loadgen::testing
