// The gateway's engine work: what a raw block read or a CAR chunk does once the RequestEngine
// runs it, and how store results map to HTTP responses (200, or 400/404/412/501/503/500 with a
// text body; a CAR stream that fails after its head ends with an X-Stream-Error trailer).
//
// Thread safety: a work object runs on an engine thread (an I/O thread of the server); it hands
// its result to its connection through the connection's executor, so the PendingResponse is only
// ever touched on the connection's thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "boxcar/status.h"
#include "gateway/request.h"

namespace boxcar::engine {
class Work;
}

namespace boxcar::server {

class Connection;
struct CarStream;
struct PendingResponse;

// CAR streams are produced in chunks of this size, each one engine task; a stream holds at most
// one chunk being written and one being produced, which bounds its memory.
inline constexpr size_t kCarChunkBytes = 256 * 1024;

// Reads `request.root` and answers it as a raw block (or its error).
std::shared_ptr<engine::Work> MakeRawWork(std::shared_ptr<Connection> conn,
                                          std::shared_ptr<PendingResponse> response,
                                          gateway::GatewayRequest request);

// Produces the next chunk of `response->stream`; the first chunk also resolves the path and
// writes the head. `continuation`: every chunk after the first, whose stream the client is
// already reading.
std::shared_ptr<engine::Work> MakeCarWork(std::shared_ptr<Connection> conn,
                                          std::shared_ptr<PendingResponse> response,
                                          bool continuation);

// The end of a CAR stream's body: the last chunk, with an X-Stream-Error trailer when `error` is
// not empty. Nothing for a close-delimited stream, whose client sees the close (and a truncated
// CAR when it failed).
std::string StreamEnd(const CarStream& stream, std::string_view error);

// The status a failed store read or path resolution answers with.
int StatusFor(const Status& status, const gateway::GatewayRequest& request);

// The head of a text/plain error response; Retry-After when `retry_after_s` > 0.
std::string ErrorHead(int status, size_t body_size, int retry_after_s);

}  // namespace boxcar::server
