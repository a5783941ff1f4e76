#include "http/head_writer.h"

#include <cstdio>

namespace boxcar::http1 {

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 412:
      return "Precondition Failed";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

void AppendStatusLine(int status, std::string* out) {
  out->append("HTTP/1.1 ");
  out->append(std::to_string(status));
  out->push_back(' ');
  out->append(ReasonPhrase(status));
  out->append("\r\n");
}

void AppendHeader(std::string_view name, std::string_view value, std::string* out) {
  out->append(name);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

std::string ResponseHead(int status,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string head;
  head.reserve(512);
  AppendStatusLine(status, &head);
  for (const auto& [name, value] : headers) AppendHeader(name, value, &head);
  return head;
}

std::string SafeHeaderValue(std::string_view text, size_t max_bytes) {
  std::string out(text.substr(0, max_bytes));
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

void AppendChunk(std::string_view data, std::string* out) {
  if (data.empty()) return;
  char size[24];
  const int len = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out->append(size, static_cast<size_t>(len));
  out->append(data);
  out->append("\r\n");
}

void AppendLastChunk(const std::vector<std::pair<std::string, std::string>>& trailers,
                     std::string* out) {
  out->append("0\r\n");
  for (const auto& [name, value] : trailers) AppendHeader(name, value, out);
  out->append("\r\n");
}

}  // namespace boxcar::http1
