#include "response_parser.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

namespace boxcar::loadgen {
namespace {

// Longer header or chunk-size lines mean the stream is not HTTP; stop before buffering it all.
constexpr size_t kMaxLineBytes = 64 * 1024;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

bool ContainsTokenIgnoreCase(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string Quote(std::string_view line) {
  std::string out(line.substr(0, 80));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  }
  return "'" + out + (line.size() > 80 ? "...'" : "'");
}

}  // namespace

ResponseParser::ResponseParser(OnResponse on_response, IsHeadNext is_head_next)
    : on_response_(std::move(on_response)), is_head_next_(std::move(is_head_next)) {}

bool ResponseParser::TakeLine(std::string_view& data) {
  const void* nl = std::memchr(data.data(), '\n', data.size());
  const size_t take = nl == nullptr ? data.size() : static_cast<const char*>(nl) - data.data() + 1;
  line_.append(data.data(), take);
  data.remove_prefix(take);
  return nl != nullptr;
}

Status ResponseParser::Feed(std::string_view data) {
  while (!data.empty()) {
    switch (state_) {
      case State::kBody:
      case State::kChunkData: {
        const uint64_t skip = std::min<uint64_t>(remaining_, data.size());
        data.remove_prefix(skip);
        remaining_ -= skip;
        current_.body_bytes += skip;
        if (remaining_ == 0) {
          if (state_ == State::kBody) {
            Finish();
          } else {
            state_ = State::kChunkDataEnd;
          }
        }
        break;
      }
      case State::kBodyUntilEof:
        current_.body_bytes += data.size();
        data = {};
        break;
      default: {
        if (!TakeLine(data)) {
          if (line_.size() > kMaxLineBytes) {
            return Status::Corruption("response line longer than 64 KiB: " + Quote(line_));
          }
          return Status::OK();
        }
        std::string_view line(line_);
        line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        Status s = OnLine(line);
        line_.clear();
        if (!s.ok()) return s;
      }
    }
  }
  return Status::OK();
}

Status ResponseParser::OnLine(std::string_view line) {
  switch (state_) {
    case State::kStatusLine:
      return OnStatusLine(line);
    case State::kHeaders:
      return line.empty() ? OnHeadersDone() : OnHeaderLine(line);
    case State::kChunkSize:
      return OnChunkSizeLine(line);
    case State::kChunkDataEnd:
      if (!line.empty())
        return Status::Corruption("expected CRLF after chunk data, got " + Quote(line));
      state_ = State::kChunkSize;
      return Status::OK();
    case State::kTrailers:
      if (line.empty()) {
        Finish();
        return Status::OK();
      }
      if (line.size() >= 15 && EqualsIgnoreCase(line.substr(0, 15), "x-stream-error:")) {
        current_.stream_error = true;
      }
      return Status::OK();
    default:
      return Status::Internal("line in a body state");
  }
}

Status ResponseParser::OnStatusLine(std::string_view line) {
  // "HTTP/1.1 200 OK": version, a space, three digits, then an optional reason.
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ') {
    return Status::Corruption("malformed status line " + Quote(line) +
                              "; expected 'HTTP/1.x NNN reason' (is the target an HTTP server?)");
  }
  int status = 0;
  const auto [end, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc() || end != line.data() + 12 || status < 100 || status > 999) {
    return Status::Corruption("malformed status code in " + Quote(line));
  }
  current_ = ParsedResponse{};
  current_.status = status;
  head_ = status >= 200 && is_head_next_();
  chunked_ = false;
  has_length_ = false;
  remaining_ = 0;
  state_ = State::kHeaders;
  return Status::OK();
}

Status ResponseParser::OnHeaderLine(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status::Corruption("malformed header line " + Quote(line) + "; expected 'Name: value'");
  }
  const std::string_view name = line.substr(0, colon);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (EqualsIgnoreCase(name, "content-length")) {
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), remaining_);
    if (ec != std::errc() || end != value.data() + value.size()) {
      return Status::Corruption("malformed Content-Length in " + Quote(line));
    }
    has_length_ = true;
  } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
    chunked_ = ContainsTokenIgnoreCase(value, "chunked");
  } else if (EqualsIgnoreCase(name, "connection")) {
    if (ContainsTokenIgnoreCase(value, "close")) current_.connection_close = true;
  }
  return Status::OK();
}

Status ResponseParser::OnHeadersDone() {
  const int status = current_.status;
  if (status < 200) {  // interim response: the final one follows
    state_ = State::kStatusLine;
    return Status::OK();
  }
  if (head_ || status == 204 || status == 304) {
    Finish();
  } else if (chunked_) {
    state_ = State::kChunkSize;
  } else if (has_length_) {
    if (remaining_ == 0) {
      Finish();
    } else {
      state_ = State::kBody;
    }
  } else {
    state_ = State::kBodyUntilEof;
  }
  return Status::OK();
}

Status ResponseParser::OnChunkSizeLine(std::string_view line) {
  const std::string_view hex = line.substr(0, line.find(';'));  // drop chunk extensions
  uint64_t size = 0;
  const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
  if (hex.empty() || ec != std::errc() || end != hex.data() + hex.size()) {
    return Status::Corruption("malformed chunk size line " + Quote(line));
  }
  if (size == 0) {
    state_ = State::kTrailers;
  } else {
    remaining_ = size;
    state_ = State::kChunkData;
  }
  return Status::OK();
}

void ResponseParser::Finish() {
  state_ = State::kStatusLine;
  on_response_(current_);
}

Status ResponseParser::OnEof() {
  if (state_ == State::kBodyUntilEof) {
    Finish();
    return Status::OK();
  }
  if (Idle()) return Status::OK();
  return Status::IOError("connection closed in the middle of a response");
}

}  // namespace boxcar::loadgen
