#include "http/head_parser.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace boxcar::http1 {

namespace beast = boost::beast;

void RequestHead::Clear() {
  method = beast_http::verb::unknown;
  method_text.clear();
  target.clear();
  version = 11;
  accept.clear();
  if_none_match.clear();
  cache_control.clear();
  identity.clear();
  has_body = false;
}

HeadParser::HeadParser(RequestHead* head, const std::string& identity_header)
    : head_(head), identity_header_(identity_header) {}

void HeadParser::on_request_impl(beast_http::verb method, beast::string_view method_str,
                                 beast::string_view target, int version, beast::error_code&) {
  head_->method = method;
  head_->method_text.assign(method_str.data(), method_str.size());
  head_->target.assign(target.data(), target.size());
  head_->version = version;
}

void HeadParser::on_response_impl(int, beast::string_view, int, beast::error_code& ec) {
  ec = beast_http::error::bad_method;
}

void HeadParser::on_field_impl(beast_http::field name, beast::string_view name_string,
                               beast::string_view value, beast::error_code&) {
  switch (name) {
    case beast_http::field::accept:
      if (!head_->accept.empty()) head_->accept.append(", ");
      head_->accept.append(value.data(), value.size());
      return;
    case beast_http::field::if_none_match:
      head_->if_none_match.assign(value.data(), value.size());
      return;
    case beast_http::field::cache_control:
      head_->cache_control.assign(value.data(), value.size());
      return;
    default:
      break;
  }
  if (!identity_header_.empty() &&
      beast::iequals(name_string,
                     beast::string_view(identity_header_.data(), identity_header_.size()))) {
    head_->identity.assign(value.data(), value.size());
  }
}

void HeadParser::on_body_init_impl(const boost::optional<std::uint64_t>& length,
                                   beast::error_code&) {
  head_->has_body = !length || *length > 0;
}

}  // namespace boxcar::http1
