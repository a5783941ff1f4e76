#include "server/gateway_work.h"

#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>

#include "engine/request_engine.h"
#include "http/head_writer.h"
#include "server/gateway_connection.h"

namespace boxcar::server {
namespace {

constexpr size_t kMaxStreamErrorBytes = 512;

std::string OverloadedText(int retry_after_s) {
  return "the node is overloaded: retry after " + std::to_string(retry_after_s) + " s";
}

class RawWork final : public engine::Work {
 public:
  RawWork(std::shared_ptr<Connection> conn, std::shared_ptr<PendingResponse> response,
          gateway::GatewayRequest request)
      : conn_(std::move(conn)), response_(std::move(response)), request_(std::move(request)) {}

  const format::Cid* block() const override { return &request_.root; }
  void Run(const Task& task, engine::ReadResult* read) override;
  void Shed(const Task& task, int retry_after_s) override;

 private:
  void Deliver(const Task& task, int status, std::string head, BlockData body, std::string text);

  std::shared_ptr<Connection> conn_;
  std::shared_ptr<PendingResponse> response_;
  gateway::GatewayRequest request_;
};

class CarWork final : public engine::Work {
 public:
  CarWork(std::shared_ptr<Connection> conn, std::shared_ptr<PendingResponse> response,
          bool continuation)
      : conn_(std::move(conn)), response_(std::move(response)), continuation_(continuation) {}

  const format::Cid* block() const override { return nullptr; }
  void Run(const Task& task, engine::ReadResult* read) override;
  void Shed(const Task& task, int retry_after_s) override;
  bool continues_response() const override { return continuation_; }

 private:
  // The head of the stream, or of the error that answers it when the path does not resolve.
  // Sets `done` when nothing is to follow the head.
  std::string Begin(int* status, std::string* framed, bool* done);

  std::shared_ptr<Connection> conn_;
  std::shared_ptr<PendingResponse> response_;
  const bool continuation_;
};

void RawWork::Run(const Task& task, engine::ReadResult* read) {
  const Status& status = read->status;
  BlockData data = std::move(read->data);
  if (!status.ok()) {
    const int code = StatusFor(status, request_);
    std::string text = status.message() + "\n";
    const int retry = code == 503 ? 1 : 0;
    std::string head = ErrorHead(code, text.size(), retry);  // before text is moved
    Deliver(task, code, std::move(head), nullptr, std::move(text));
    return;
  }
  std::vector<gateway::Header> headers;
  gateway::RawHeaders(request_, data->size(), &headers);
  Deliver(task, 200, http1::ResponseHead(200, headers), request_.head ? nullptr : std::move(data),
          {});
}

void RawWork::Shed(const Task& task, int retry_after_s) {
  std::string text = OverloadedText(retry_after_s) + "\n";
  std::string head = ErrorHead(503, text.size(), retry_after_s);  // before text is moved
  Deliver(task, 503, std::move(head), nullptr, std::move(text));
}

void RawWork::Deliver(const Task& task, int status, std::string head, BlockData body,
                      std::string text) {
  const uint64_t bytes = head.size() + (body ? body->size() : 0) + text.size();
  boost::asio::dispatch(conn_->executor(),
                        [conn = conn_, response = response_, task, status, head = std::move(head),
                         body = std::move(body), text = std::move(text), bytes]() mutable {
                          response->status = status;
                          response->head = std::move(head);
                          response->body = std::move(body);
                          if (!response->head_only) response->text = std::move(text);
                          response->tasks.emplace_back(task, bytes);
                          response->ready = true;
                          conn->OnResponseReady(response);
                        });
}

std::string CarWork::Begin(int* status, std::string* framed, bool* done) {
  CarStream& stream = *response_->stream;
  stream.begun = true;
  const Status begun = stream.producer->Begin();
  if (!begun.ok()) {
    *status = StatusFor(begun, stream.request);
    *framed = begun.message() + "\n";
    *done = true;
    return ErrorHead(*status, framed->size(), *status == 503 ? 1 : 0);
  }
  std::vector<gateway::Header> headers;
  gateway::CarHeaders(stream.request, stream.producer->path_cids(), &headers);
  if (stream.chunked) {
    headers.emplace_back("Transfer-Encoding", "chunked");
    headers.emplace_back("Trailer", "X-Stream-Error");
  }
  *done = stream.request.head;
  return http1::ResponseHead(200, headers);
}

void CarWork::Run(const Task& task, engine::ReadResult*) {
  CarStream& stream = *response_->stream;
  std::string head;
  std::string framed;
  int status = 200;
  bool done = false;
  if (!stream.begun) head = Begin(&status, &framed, &done);
  if (!done) {
    std::string out;
    const Status produced = stream.producer->Next(kCarChunkBytes, &out, &done);
    if (stream.chunked) {
      http1::AppendChunk(out, &framed);
    } else {
      framed.append(out);
    }
    if (!produced.ok()) {
      spdlog::warn("CAR stream of {} ended early: {}", stream.request.root_text,
                   produced.ToString());
      framed.append(StreamEnd(stream, produced.message()));
      done = true;
    } else if (done) {
      framed.append(StreamEnd(stream, {}));
    }
  }
  const uint64_t bytes = head.size() + framed.size();
  boost::asio::dispatch(conn_->executor(),
                        [conn = conn_, response = response_, task, status, done, bytes,
                         head = std::move(head), framed = std::move(framed)]() {
                          if (!head.empty()) {
                            response->status = status;
                            response->head = head;
                          }
                          if (!response->head_only) response->text.append(framed);
                          response->streaming = !done;
                          response->producing = false;
                          response->tasks.emplace_back(task, bytes);
                          response->ready = true;
                          conn->OnResponseReady(response);
                        });
}

void CarWork::Shed(const Task& task, int retry_after_s) {
  const bool begun = response_->stream->begun;
  std::string text = OverloadedText(retry_after_s);
  boost::asio::dispatch(conn_->executor(), [conn = conn_, response = response_, task, begun,
                                            retry_after_s, text = std::move(text)]() {
    if (begun) {
      response->text.append(StreamEnd(*response->stream, text));
    } else {
      response->status = 503;
      response->head = ErrorHead(503, text.size() + 1, retry_after_s);
      response->text = text + "\n";
    }
    response->streaming = false;
    response->producing = false;
    response->tasks.emplace_back(task, 0);
    response->ready = true;
    conn->OnResponseReady(response);
  });
}

}  // namespace

std::shared_ptr<engine::Work> MakeRawWork(std::shared_ptr<Connection> conn,
                                          std::shared_ptr<PendingResponse> response,
                                          gateway::GatewayRequest request) {
  return std::make_shared<RawWork>(std::move(conn), std::move(response), std::move(request));
}

std::shared_ptr<engine::Work> MakeCarWork(std::shared_ptr<Connection> conn,
                                          std::shared_ptr<PendingResponse> response,
                                          bool continuation) {
  return std::make_shared<CarWork>(std::move(conn), std::move(response), continuation);
}

std::string StreamEnd(const CarStream& stream, std::string_view error) {
  std::string out;
  if (!stream.chunked) return out;
  if (error.empty()) {
    http1::AppendLastChunk({}, &out);
  } else {
    http1::AppendLastChunk(
        {{"X-Stream-Error", http1::SafeHeaderValue(error, kMaxStreamErrorBytes)}}, &out);
  }
  return out;
}

int StatusFor(const Status& status, const gateway::GatewayRequest& request) {
  switch (status.code()) {
    case Status::Code::kNotFound:
      return request.only_if_cached ? 412 : 404;
    case Status::Code::kInvalidArgument:
      return 400;
    case Status::Code::kNotSupported:
      return 501;
    case Status::Code::kUnavailable:  // an open circuit breaker
    case Status::Code::kBusy:         // the memory budget
    case Status::Code::kIOError:      // a failing tier: worth retrying, unlike a bad request
      return 503;
    default:
      return 500;
  }
}

std::string ErrorHead(int status, size_t body_size, int retry_after_s) {
  std::string head;
  http1::AppendStatusLine(status, &head);
  http1::AppendHeader("Content-Type", "text/plain; charset=utf-8", &head);
  http1::AppendHeader("Content-Length", std::to_string(body_size), &head);
  http1::AppendHeader("Cache-Control", "no-store", &head);
  if (retry_after_s > 0) http1::AppendHeader("Retry-After", std::to_string(retry_after_s), &head);
  return head;
}

}  // namespace boxcar::server
