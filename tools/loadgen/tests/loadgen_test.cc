// Unit tests of loadgen's pieces: histogram, CID text, response parser, options.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cids.h"
#include "histogram.h"
#include "options.h"
#include "response_parser.h"

namespace boxcar::loadgen {
namespace {

TEST_CASE("histogram percentiles keep three significant digits") {
  Histogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.Record(v);
  CHECK(h.Count() == 100000);
  CHECK(h.Min() == 1);
  CHECK(h.Max() == 100000);
  CHECK(h.Mean() == doctest::Approx(50000.5));
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const double exact = p / 100.0 * 100000;
    CHECK(static_cast<double>(h.Percentile(p)) >= exact);
    CHECK(static_cast<double>(h.Percentile(p)) <= exact * 1.001 + 1);
  }
  CHECK(h.Percentile(100) == 100000);
  CHECK(h.Percentile(0) == 1);
}

TEST_CASE("histogram small values are exact, huge values clamp, merge adds") {
  Histogram a;
  a.Record(7);
  a.Record(2047);
  CHECK(a.Percentile(50) == 7);
  CHECK(a.Percentile(100) == 2047);
  Histogram b;
  b.Record(500'000'000);  // beyond 60 s: counted in the top bucket, max stays exact
  a.Merge(b);
  CHECK(a.Count() == 3);
  CHECK(a.Max() == 500'000'000);
  CHECK(a.Percentile(100) >= Histogram::kMaxValue);
  a.Reset();
  CHECK(a.Count() == 0);
  CHECK(a.Percentile(99) == 0);
}

TEST_CASE("CID text of the empty raw block") {
  const unsigned char sha256_empty[] = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
                                        0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
                                        0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
                                        0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
  const std::string digest(reinterpret_cast<const char*>(sha256_empty), sizeof(sha256_empty));
  CHECK(RawCidFromDigest(digest) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  CHECK(Base32LowerNoPad("foobar") == "mzxw6ytboi");
  std::mt19937_64 rng(1);
  const auto missing = RandomMissingCids(3, rng);
  REQUIRE(missing.size() == 3);
  CHECK(missing[0].substr(0, 7) == "bafkrei");
  CHECK(missing[0].size() == 59);
  CHECK(missing[0] != missing[1]);
}

struct Collected {
  std::vector<ParsedResponse> responses;
  std::vector<bool> head_flags;  // whether each response answers a HEAD
  size_t next = 0;
  ResponseParser MakeParser() {
    return ResponseParser([this](const ParsedResponse& r) { responses.push_back(r); },
                          [this] { return next < head_flags.size() && head_flags[next++]; });
  }
};

TEST_CASE("parser handles pipelined responses split at every byte") {
  const std::string stream =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"  // HEAD: no body despite the length
      "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n"
      "X-Stream-Error: block missing\r\n\r\n"
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 204 No Content\r\nConnection: keep-alive, close\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{2}, size_t{7}, stream.size()}) {
    CAPTURE(step);
    Collected c;
    c.head_flags = {false, true, false, false, false};
    ResponseParser parser = c.MakeParser();
    for (size_t i = 0; i < stream.size(); i += step) {
      REQUIRE(parser.Feed(std::string_view(stream).substr(i, step)).ok());
    }
    CHECK(parser.Idle());
    REQUIRE(c.responses.size() == 5);
    CHECK(c.responses[0].status == 200);
    CHECK(c.responses[0].body_bytes == 5);
    CHECK(c.responses[1].body_bytes == 0);
    CHECK(c.responses[2].status == 404);
    CHECK(c.responses[3].body_bytes == 5);
    CHECK(c.responses[3].stream_error);
    CHECK_FALSE(c.responses[2].stream_error);
    CHECK(c.responses[4].status == 204);
    CHECK(c.responses[4].connection_close);
    CHECK_FALSE(c.responses[3].connection_close);
  }
}

TEST_CASE("parser: body until EOF, truncated responses and garbage") {
  Collected c;
  ResponseParser parser = c.MakeParser();
  REQUIRE(parser.Feed("HTTP/1.0 200 OK\r\n\r\nsome body").ok());
  CHECK(c.responses.empty());
  CHECK(parser.OnEof().ok());
  REQUIRE(c.responses.size() == 1);
  CHECK(c.responses[0].body_bytes == 9);

  ResponseParser cut = c.MakeParser();
  REQUIRE(cut.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").ok());
  CHECK_FALSE(cut.OnEof().ok());

  ResponseParser bad = c.MakeParser();
  const Status s = bad.Feed("SSH-2.0-OpenSSH\r\n");
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("status line") != std::string::npos);
  ResponseParser bad_chunk = c.MakeParser();
  CHECK_FALSE(bad_chunk.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").ok());
  ResponseParser bad_length = c.MakeParser();
  CHECK_FALSE(bad_length.Feed("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n").ok());
}

Status Parse(std::vector<std::string> args, Options* o) {
  args.insert(args.begin(), "loadgen");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseOptions(static_cast<int>(argv.size()), argv.data(), o);
}

TEST_CASE("options: valid command line") {
  Options o;
  const Status s =
      Parse({"--target", "127.0.0.1:8080", "--cids", "x", "--mix", "raw=90,head=5,car=3,missing=2",
             "--duration=2.5", "--header", "X-Peer: a", "--ok-status", "429,503", "--rate", "1000"},
            &o);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(o.target_port == 8080);
  CHECK(o.mix[3] == 2);
  CHECK(o.missing_cids == 1000);
  CHECK(o.duration_s == 2.5);
  CHECK(o.headers.size() == 1);
  CHECK(o.ok_statuses == std::vector<int>{429, 503});
  CHECK(o.rate == 1000);
  Options six;
  CHECK(Parse({"--target", "[::1]:1", "--mix", "missing=1", "--requests", "5"}, &six).ok());
  CHECK(six.target_host == "::1");
}

TEST_CASE("options: errors say what is wrong") {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--target", "10.0.0.1:80", "--mix", "missing=1", "--duration", "1"}, "non-loopback"},
      {{"--target", "example.com:80", "--mix", "missing=1", "--duration", "1"}, "loopback"},
      {{"--target", "127.0.0.1:80", "--mix", "missing=1"}, "bounded"},
      {{"--target", "127.0.0.1:80", "--duration", "1"}, "--cids"},
      {{"--target", "127.0.0.1:80", "--mix", "raw=x", "--duration", "1"}, "whole number"},
      {{"--target", "127.0.0.1:80", "--mix", "put=1", "--duration", "1"}, "unknown kind"},
      {{"--target", "127.0.0.1:99999", "--mix", "missing=1", "--duration", "1"}, "65535"},
      {{"--mix", "missing=1", "--duration", "1"}, "--target is required"},
      {{"--target", "127.0.0.1:80", "--bogus", "1"}, "unknown option"},
      {{"--target", "127.0.0.1:80", "--header", "NoColon", "--duration", "1"}, "Name: value"},
  };
  for (const Case& c : cases) {
    Options o;
    const Status s = Parse(c.args, &o);
    CAPTURE(c.expect);
    CHECK_FALSE(s.ok());
    CHECK(s.message().find(c.expect) != std::string::npos);
  }
}

}  // namespace
}  // namespace boxcar::loadgen
