// Fuzzes the trustless gateway's request parsing (target, query, Accept, If-None-Match,
// Cache-Control) and the header sets built from what it accepts. Input: the target, Accept,
// If-None-Match and Cache-Control separated by newlines; the first byte's low bit picks HEAD.
// Beyond memory errors it checks the two promises the server relies on: a refusal is a 4xx or
// 5xx status, and no header value can carry CR or LF (response splitting).
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "gateway/request.h"

namespace {

void CheckHeaders(const std::vector<boxcar::gateway::Header>& headers) {
  for (const auto& [name, value] : headers) {
    if (name.find_first_of("\r\n") != std::string::npos) std::abort();
    if (value.find_first_of("\r\n") != std::string::npos) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view fields[4];
  for (auto& field : fields) {
    const size_t end = input.find('\n');
    field = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
  }
  const bool head = size > 0 && (data[0] & 1) != 0;
  boxcar::gateway::GatewayRequest request;
  boxcar::gateway::HttpError error;
  const boxcar::gateway::RequestHeaders headers{fields[1], fields[2], fields[3]};
  if (!boxcar::gateway::ParseRequest(head ? "HEAD" : "GET", fields[0], headers, &request, &error)) {
    if (error.status < 400 || error.status > 599) std::abort();
    return 0;
  }
  const std::string etag = boxcar::gateway::Etag(request);
  boxcar::gateway::IfNoneMatchHits(fields[2], etag);
  std::vector<boxcar::gateway::Header> out;
  boxcar::gateway::RawHeaders(request, 1024, &out);
  boxcar::gateway::CarHeaders(request, {request.root}, &out);
  boxcar::gateway::NotModifiedHeaders(request, &out);
  out.emplace_back("Etag", etag);
  CheckHeaders(out);
  return 0;
}
