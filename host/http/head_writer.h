// The response head writer for the node's HTTP/1 frontends: status lines, header lines, chunk
// framing, and header values made safe to send. Plain string appends, no allocation beyond the
// output's growth.
//
// Thread safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boxcar::http1 {

// The reason phrase of the statuses the node sends; "Unknown" for others.
const char* ReasonPhrase(int status);

// "HTTP/1.1 404 Not Found\r\n".
void AppendStatusLine(int status, std::string* out);
// "Name: value\r\n"; the value must be safe (see SafeHeaderValue).
void AppendHeader(std::string_view name, std::string_view value, std::string* out);

// A status line and header lines, without the blank line that ends the head: the caller adds
// it once it knows whether to add "Connection: close".
std::string ResponseHead(int status,
                         const std::vector<std::pair<std::string, std::string>>& headers);

// `text` cut to `max_bytes` with CR and LF replaced by spaces, so that text from elsewhere (an
// error message) cannot split a response.
std::string SafeHeaderValue(std::string_view text, size_t max_bytes);

// One chunk of a chunked body: hex size, CRLF, the data, CRLF. Nothing for empty data, which
// would end the body.
void AppendChunk(std::string_view data, std::string* out);
// The last chunk and its trailer section: "0\r\n", the trailer lines, and the final CRLF.
void AppendLastChunk(const std::vector<std::pair<std::string, std::string>>& trailers,
                     std::string* out);

}  // namespace boxcar::http1
