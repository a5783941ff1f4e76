// An incremental parser for a stream of pipelined HTTP/1.1 responses.
//
// Feed() takes whatever bytes one read returned; responses may start and end anywhere in them.
// Bodies are counted and skipped, never stored: only the header section, chunk-size lines and
// trailers are buffered, a line at a time. Supports Content-Length, Transfer-Encoding: chunked
// (with trailers), bodies delimited by the connection closing, 1xx interim responses (skipped),
// and the bodiless responses (HEAD, 1xx, 204, 304).
//
// Thread safety: none; one parser per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "boxcar/status.h"

namespace boxcar::loadgen {

struct ParsedResponse {
  int status = 0;
  uint64_t body_bytes = 0;
  bool connection_close = false;  // the server will close after this response
  bool stream_error = false;      // a chunked trailer X-Stream-Error was present
};

class ResponseParser {
 public:
  // Called once per complete final response, in order.
  using OnResponse = std::function<void(const ParsedResponse&)>;

  // Tells the parser whether the next response to start answers a HEAD request (no body).
  // The caller sets it before feeding the bytes of each response; see Feed().
  using IsHeadNext = std::function<bool()>;

  ResponseParser(OnResponse on_response, IsHeadNext is_head_next);

  // Parses `data`. On malformed input returns Corruption naming the offending line; the
  // connection must then be dropped, as framing is lost.
  Status Feed(std::string_view data);

  // The peer closed the connection. Completes a response whose body runs to the end of the
  // connection and returns OK; returns IOError when a response was cut short.
  Status OnEof();

  // True between responses (nothing partially parsed).
  bool Idle() const { return state_ == State::kStatusLine && line_.empty(); }

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kBody,
    kBodyUntilEof,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers
  };

  // Takes bytes up to and including '\n' into line_; returns false when the line is incomplete.
  bool TakeLine(std::string_view& data);
  Status OnLine(std::string_view line);
  Status OnStatusLine(std::string_view line);
  Status OnHeaderLine(std::string_view line);
  Status OnHeadersDone();
  Status OnChunkSizeLine(std::string_view line);
  void Finish();

  OnResponse on_response_;
  IsHeadNext is_head_next_;
  State state_ = State::kStatusLine;
  std::string line_;
  ParsedResponse current_;
  bool head_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  uint64_t remaining_ = 0;
};

}  // namespace boxcar::loadgen
