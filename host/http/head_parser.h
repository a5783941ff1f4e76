// HeadParser: an HTTP/1 request head parser for the node's frontends, on Beast's basic_parser.
//
// It copies only the request line and the few header fields a frontend reads into a RequestHead
// whose strings are reused, so parsing a request allocates nothing once they have grown. It
// stores no body: a body's bytes are counted and dropped, and RequestHead::has_body says whether
// there was one (the gateway refuses bodies). Responses are refused (http::error::bad_method).
//
// Use: one parser per request. put() the connection's buffered bytes; http::error::need_more
// means the head is incomplete (the parser may have taken its complete lines: put() returns how
// many bytes, and the same parser takes the rest), any other error means the request is
// malformed (http::error::header_limit when the head passes header_limit()); is_done() means the
// request ended, and put() returned how many bytes it took, so the next request starts there.
//
// Thread safety: none; a parser and its RequestHead belong to one connection.
#pragma once

#include <cstdint>
#include <string>

#include <boost/beast/http/basic_parser.hpp>

namespace boxcar::http1 {

namespace beast_http = boost::beast::http;

// The request line and the header fields a frontend reads.
struct RequestHead {
  beast_http::verb method = beast_http::verb::unknown;
  std::string method_text;
  std::string target;
  int version = 11;           // 10 for HTTP/1.0, 11 for HTTP/1.1
  std::string accept;         // every Accept line, joined by ", " (RFC 9110 5.3)
  std::string if_none_match;  // the last If-None-Match line
  std::string cache_control;  // the last Cache-Control line
  std::string identity;       // the value of the parser's identity header, "" when absent
  bool has_body = false;      // a Content-Length above 0, or a chunked body

  void Clear();
};

class HeadParser final : public beast_http::basic_parser<true> {
 public:
  // `identity_header`: a header whose value names the client (e.g. set by a trusted proxy),
  // matched case-insensitively; "" for none. `head` and `identity_header` must outlive the parser.
  HeadParser(RequestHead* head, const std::string& identity_header);
  HeadParser(RequestHead* head, std::string&& identity_header) = delete;  // would dangle

 private:
  void on_request_impl(beast_http::verb method, boost::beast::string_view method_str,
                       boost::beast::string_view target, int version,
                       boost::beast::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code& ec) override;
  void on_field_impl(beast_http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         boost::beast::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code&) override {
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                 boost::beast::error_code&) override {
    return body.size();
  }
  void on_finish_impl(boost::beast::error_code&) override {}

  RequestHead* head_;
  const std::string& identity_header_;
};

}  // namespace boxcar::http1
