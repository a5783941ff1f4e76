// The HTTP/1 head parser and writer (host/http) on their own: request lines, the fields the
// frontends read, pipelining from one buffer, incomplete and malformed heads, and the framing
// the writer produces.
#include "http/head_parser.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "http/head_writer.h"

namespace boxcar::http1 {
namespace {

namespace beast_http = boost::beast::http;

struct Parsed {
  boost::beast::error_code error;
  size_t consumed = 0;
  bool done = false;
  bool keep_alive = false;
  RequestHead head;
};

// Feeds `bytes` to a fresh parser the way a connection does (eager, with a header limit).
Parsed Parse(const std::string& bytes, const std::string& identity_header = "",
             size_t header_limit = 8192) {
  Parsed out;
  HeadParser parser(&out.head, identity_header);
  parser.header_limit(static_cast<std::uint32_t>(header_limit));
  parser.eager(true);
  while (out.consumed < bytes.size() && !parser.is_done()) {
    const size_t used = parser.put(
        boost::asio::buffer(bytes.data() + out.consumed, bytes.size() - out.consumed), out.error);
    out.consumed += used;
    if (out.error || used == 0) break;
  }
  out.done = parser.is_done();
  if (out.done) out.keep_alive = parser.keep_alive();
  return out;
}

}  // namespace

TEST_CASE("head parser: the request line and the fields the gateway reads") {
  const Parsed p = Parse(
      "GET /ipfs/bafkqaaa?format=raw HTTP/1.1\r\nHost: x\r\nAccept: application/vnd.ipld.raw\r\n"
      "accept: application/vnd.ipld.car\r\nIf-None-Match: \"a\"\r\nCache-Control: only-if-cached"
      "\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n",
      "x-forwarded-for");
  REQUIRE_FALSE(p.error);
  REQUIRE(p.done);
  CHECK(p.head.method == beast_http::verb::get);
  CHECK(p.head.method_text == "GET");
  CHECK(p.head.target == "/ipfs/bafkqaaa?format=raw");
  CHECK(p.head.version == 11);
  CHECK(p.head.accept == "application/vnd.ipld.raw, application/vnd.ipld.car");
  CHECK(p.head.if_none_match == "\"a\"");
  CHECK(p.head.cache_control == "only-if-cached");
  CHECK(p.head.identity == "10.0.0.7");
  CHECK_FALSE(p.head.has_body);
  CHECK(p.keep_alive);
}

TEST_CASE("head parser: HTTP/1.0 closes unless it asks for keep-alive") {
  Parsed p = Parse("GET / HTTP/1.0\r\n\r\n");
  REQUIRE(p.done);
  CHECK(p.head.version == 10);
  CHECK_FALSE(p.keep_alive);
  p = Parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(p.done);
  CHECK(p.keep_alive);
  p = Parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  REQUIRE(p.done);
  CHECK_FALSE(p.keep_alive);
}

TEST_CASE("head parser: pipelined requests are taken one at a time from one buffer") {
  const std::string first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string second = "HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n";
  const Parsed p = Parse(first + second);
  REQUIRE(p.done);
  CHECK(p.consumed == first.size());
  CHECK(p.head.target == "/a");
  const Parsed q = Parse((first + second).substr(p.consumed));
  REQUIRE(q.done);
  CHECK(q.head.method == beast_http::verb::head);
  CHECK(q.head.target == "/b");
}

TEST_CASE("head parser: an incomplete head needs more, and the same parser takes the rest") {
  const std::string request = "GET /ipfs/bafkqaaa HTTP/1.1\r\nHost: x\r\n\r\n";
  RequestHead head;
  const std::string no_identity_header;
  HeadParser parser(&head, no_identity_header);
  parser.eager(true);
  boost::beast::error_code ec;
  const size_t first = parser.put(boost::asio::buffer(request.data(), request.size() - 2), ec);
  CHECK(ec == beast_http::error::need_more);
  CHECK(first < request.size() - 2);  // at most the complete lines
  CHECK_FALSE(parser.is_done());
  const size_t rest =
      parser.put(boost::asio::buffer(request.data() + first, request.size() - first), ec);
  CHECK_FALSE(ec);
  CHECK(first + rest == request.size());
  CHECK(parser.is_done());
  CHECK(head.target == "/ipfs/bafkqaaa");
}

TEST_CASE("head parser: bodies are noticed and dropped") {
  const std::string with_body = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  Parsed p = Parse(with_body + "GET /next HTTP/1.1\r\n\r\n");
  REQUIRE(p.done);
  CHECK(p.head.has_body);
  CHECK(p.consumed == with_body.size());
  p = Parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  REQUIRE(p.done);
  CHECK(p.head.has_body);
  p = Parse("GET /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(p.done);
  CHECK_FALSE(p.head.has_body);
}

TEST_CASE("head parser: malformed heads, responses and oversized heads are errors") {
  CHECK(Parse("NOT HTTP AT ALL\r\n\r\n").error);
  CHECK(Parse("GET / HTTP/1.1\r\nBad Header\r\n\r\n").error);
  CHECK(Parse("HTTP/1.1 200 OK\r\n\r\n").error);
  CHECK(Parse("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").error);
  const Parsed big =
      Parse("GET / HTTP/1.1\r\nX-Pad: " + std::string(3000, 'a') + "\r\n\r\n", "", 1024);
  CHECK(big.error == beast_http::error::header_limit);
}

TEST_CASE("head parser: Clear resets every field for the next request") {
  Parsed p = Parse("HEAD /a HTTP/1.0\r\nAccept: x\r\nContent-Length: 1\r\n\r\nz");
  REQUIRE(p.done);
  p.head.Clear();
  CHECK(p.head.method == beast_http::verb::unknown);
  CHECK(p.head.target.empty());
  CHECK(p.head.accept.empty());
  CHECK(p.head.version == 11);
  CHECK_FALSE(p.head.has_body);
}

TEST_CASE("head writer: status lines, headers and chunk framing") {
  CHECK(ResponseHead(404, {{"Content-Length", "0"}}) ==
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n");
  CHECK(ResponseHead(599, {}) == "HTTP/1.1 599 Unknown\r\n");
  CHECK(std::string(ReasonPhrase(204)) == "No Content");
  std::string out;
  AppendChunk(std::string(26, 'x'), &out);
  CHECK(out == "1a\r\n" + std::string(26, 'x') + "\r\n");
  AppendChunk("", &out);  // an empty chunk would end the body: nothing is written
  CHECK(out.size() == 32);
  out.clear();
  AppendLastChunk({{"X-Stream-Error", "gone"}}, &out);
  CHECK(out == "0\r\nX-Stream-Error: gone\r\n\r\n");
}

TEST_CASE("head writer: a value from elsewhere cannot split the response") {
  CHECK(SafeHeaderValue("a\r\nSet-Cookie: x", 100) == "a  Set-Cookie: x");
  CHECK(SafeHeaderValue(std::string(600, 'e'), 512).size() == 512);
}

}  // namespace boxcar::http1
