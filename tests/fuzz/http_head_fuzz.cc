// Fuzzes the HTTP/1 head parser (host/http) the way a connection drives it: requests parsed one
// after another from one buffer, each with a fresh parser, under a small header limit, with the
// input also split at the first byte's position to exercise incomplete heads. Beyond memory
// errors it checks the parser's promises: it never consumes more than it was given, a finished
// request consumed something, and the head writer's safe values carry no CR or LF.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "http/head_parser.h"
#include "http/head_writer.h"

namespace {

// Parses every request in `bytes`; returns how many bytes the complete requests took.
size_t ParseAll(std::string_view bytes, boxcar::http1::RequestHead* head) {
  static const std::string kIdentityHeader = "x-peer";
  size_t offset = 0;
  while (offset < bytes.size()) {
    head->Clear();
    boxcar::http1::HeadParser parser(head, kIdentityHeader);
    parser.header_limit(2048);
    parser.eager(true);
    size_t taken = 0;
    while (offset + taken < bytes.size() && !parser.is_done()) {
      boost::beast::error_code ec;
      const size_t used = parser.put(
          boost::asio::buffer(bytes.data() + offset + taken, bytes.size() - offset - taken), ec);
      if (used > bytes.size() - offset - taken) std::abort();
      taken += used;
      if (ec || used == 0) return offset;
    }
    if (!parser.is_done()) return offset;
    if (taken == 0) std::abort();
    offset += taken;
    const std::string safe = boxcar::http1::SafeHeaderValue(head->target, 512);
    if (safe.find_first_of("\r\n") != std::string::npos) std::abort();
  }
  return offset;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  boxcar::http1::RequestHead head;
  ParseAll(input, &head);
  if (size > 1) {
    // The same bytes arriving in two reads: the first part alone, then all of it again.
    const size_t split = 1 + data[0] % (size - 1);
    ParseAll(input.substr(0, split), &head);
  }
  std::string framed;
  boxcar::http1::AppendChunk(input, &framed);
  if (!input.empty() && framed.size() <= input.size()) std::abort();
  return 0;
}
