// A deliberately plain HTTP/1.1 client for end-to-end tests: blocking sockets on 127.0.0.1, its
// own response parser (Content-Length, chunked bodies with trailers, HEAD), so tests see exactly
// the bytes the server framed, and can pipeline or send partial requests.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace boxcar::testing {

struct Response {
  int status = 0;                                   // 0: the connection failed or closed early
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::multimap<std::string, std::string> trailers;
  std::string body;  // de-chunked
  bool chunked = false;
  bool close_delimited = false;  // neither chunked nor Content-Length: read until the close
  std::string error;             // why status is 0

  std::string Header(const std::string& lower_name) const;
  bool Has(const std::string& lower_name) const { return headers.count(lower_name) > 0; }
};

// A connection to "127.0.0.1:port" with a receive timeout.
class Client {
 public:
  explicit Client(const std::string& address,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Sends bytes as they are; false when the socket refused them.
  bool Send(const std::string& bytes);
  // Reads one response; `head` when it answers a HEAD request (no body).
  Response Receive(bool head = false);
  // True when the server closed the connection (a read returns 0 or fails) within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout);

 private:
  bool Fill();  // reads more bytes into buffer_; false on EOF, error or timeout
  bool ReadLine(std::string* line);

  int fd_ = -1;
  std::string buffer_;
};

// "GET target HTTP/1.1" with Host and the given extra header lines ("Name: value").
std::string RequestText(const std::string& method, const std::string& target,
                        const std::vector<std::string>& headers = {});

// One request on a new connection.
Response Fetch(const std::string& address, const std::string& method, const std::string& target,
               const std::vector<std::string>& headers = {});

}  // namespace boxcar::testing
