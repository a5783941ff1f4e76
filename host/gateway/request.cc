#include "gateway/request.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace boxcar::gateway {
namespace {

constexpr std::string_view kRawType = "application/vnd.ipld.raw";
constexpr std::string_view kCarType = "application/vnd.ipld.car";
constexpr std::string_view kImmutableCacheControl = "public, max-age=29030400, immutable";
// Longest value quoted back in an error message.
constexpr size_t kQuoteLimit = 100;

std::string Quote(std::string_view text) {
  return "\"" + std::string(text.substr(0, kQuoteLimit)) + "\"";
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Splits on `sep`, keeping empty pieces.
std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> pieces;
  for (;;) {
    const size_t at = text.find(sep);
    pieces.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return pieces;
    text.remove_prefix(at + 1);
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `text`; in a query, '+' is a space.
bool PercentDecode(std::string_view text, bool query, std::string* out) {
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size()) return false;
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) return false;
      out->push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (query && text[i] == '+') {
      out->push_back(' ');
    } else {
      out->push_back(text[i]);
    }
  }
  return true;
}

bool Fail(HttpError* error, int status, std::string message) {
  error->status = status;
  error->message = std::move(message);
  return false;
}

bool ParseInt64(std::string_view text, int64_t* value) {
  if (text.empty() || text.front() == '+') return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size();
}

// entity-bytes=from:to per the spec: integers, negative counting from the end, to may be '*'.
bool ParseEntityBytes(std::string_view text, EntityBytes* out, HttpError* error) {
  const std::string help = " (use from:to with integer byte offsets, to may be *; e.g. 0:1023)";
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return Fail(error, 400, "invalid entity-bytes " + Quote(text) + ": no ':'" + help);
  }
  EntityBytes range;
  range.set = true;
  if (!ParseInt64(text.substr(0, colon), &range.from)) {
    return Fail(error, 400, "invalid entity-bytes " + Quote(text) + ": bad from" + help);
  }
  const std::string_view to = text.substr(colon + 1);
  if (to != "*") {
    int64_t value = 0;
    if (!ParseInt64(to, &value)) {
      return Fail(error, 400, "invalid entity-bytes " + Quote(text) + ": bad to" + help);
    }
    // Both ends counted the same way can be compared before the size is known.
    if ((range.from >= 0) == (value >= 0) && value < range.from) {
      return Fail(error, 400, "invalid entity-bytes " + Quote(text) + ": to is before from" + help);
    }
    range.to = value;
  }
  *out = range;
  return true;
}

// One entry of an Accept header that boxcar can answer.
struct AcceptChoice {
  ResponseFormat format = ResponseFormat::kRaw;
  std::optional<CarOrder> order;
  std::optional<bool> dups;
  double q = 1.0;
};

// Parses one media range; false when boxcar does not produce it (other types, car version other
// than 1, unknown order or dups values, q=0).
bool ParseAcceptEntry(std::string_view entry, AcceptChoice* out) {
  std::vector<std::string_view> parts = Split(entry, ';');
  const std::string_view type = Trim(parts[0]);
  AcceptChoice choice;
  if (EqualsIgnoreCase(type, kRawType)) {
    choice.format = ResponseFormat::kRaw;
  } else if (EqualsIgnoreCase(type, kCarType)) {
    choice.format = ResponseFormat::kCar;
  } else {
    return false;
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string_view param = Trim(parts[i]);
    const size_t eq = param.find('=');
    const std::string_view name = Trim(param.substr(0, eq));
    std::string_view value = eq == std::string_view::npos ? "" : Trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (EqualsIgnoreCase(name, "q")) {
      choice.q = std::strtod(std::string(value).c_str(), nullptr);
    } else if (choice.format != ResponseFormat::kCar) {
      continue;
    } else if (EqualsIgnoreCase(name, "version")) {
      if (value != "1") return false;
    } else if (EqualsIgnoreCase(name, "order")) {
      if (value == "dfs") {
        choice.order = CarOrder::kDfs;
      } else if (value == "unk" || value.empty()) {
        choice.order = CarOrder::kUnknown;
      } else {
        return false;
      }
    } else if (EqualsIgnoreCase(name, "dups")) {
      if (value != "y" && value != "n") return false;
      choice.dups = value == "y";
    }
  }
  if (choice.q <= 0) return false;
  *out = choice;
  return true;
}

// The most preferred entry of `accept` boxcar can answer (highest q, first on ties).
std::optional<AcceptChoice> NegotiateAccept(std::string_view accept) {
  std::optional<AcceptChoice> best;
  for (std::string_view entry : Split(accept, ',')) {
    AcceptChoice choice;
    if (!ParseAcceptEntry(entry, &choice)) continue;
    if (!best || choice.q > best->q) best = choice;
  }
  return best;
}

bool IsKnownUnsupportedFormat(std::string_view format) {
  for (std::string_view name : {"dag-json", "dag-cbor", "json", "cbor", "tar", "ipns-record"}) {
    if (format == name) return true;
  }
  return false;
}

struct QueryParams {
  std::optional<std::string> format, dag_scope, entity_bytes, car_version, car_order, car_dups,
      filename;
};

bool ParseQuery(std::string_view query, QueryParams* out, HttpError* error) {
  if (query.empty()) return true;
  for (std::string_view pair : Split(query, '&')) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string name, value;
    if (!PercentDecode(pair.substr(0, eq), true, &name) ||
        !PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true, &value)) {
      return Fail(
          error, 400,
          "invalid percent-encoding in query parameter " + Quote(pair) + " (encode '%' as %25)");
    }
    std::optional<std::string>* slot = nullptr;
    if (name == "format") slot = &out->format;
    if (name == "dag-scope") slot = &out->dag_scope;
    if (name == "entity-bytes") slot = &out->entity_bytes;
    if (name == "car-version") slot = &out->car_version;
    if (name == "car-order") slot = &out->car_order;
    if (name == "car-dups") slot = &out->car_dups;
    if (name == "filename") slot = &out->filename;
    if (slot != nullptr && !slot->has_value()) *slot = std::move(value);
  }
  return true;
}

// Chooses the response format from ?format= and Accept.
bool ChooseFormat(const QueryParams& params, std::string_view accept, GatewayRequest* out,
                  std::optional<AcceptChoice>* accepted, HttpError* error) {
  *accepted = NegotiateAccept(accept);
  if (params.format) {
    const std::string& format = *params.format;
    if (format == "raw") {
      out->format = ResponseFormat::kRaw;
    } else if (format == "car") {
      out->format = ResponseFormat::kCar;
    } else if (IsKnownUnsupportedFormat(format)) {
      return Fail(error, 406,
                  "format=" + format +
                      " is not served by this trustless gateway (use format=raw or format=car)");
    } else {
      return Fail(error, 400,
                  "unknown format=" + Quote(format) + " (use format=raw or format=car)");
    }
    // Accept's CAR parameters still apply when it asked for the same format.
    if (*accepted && (*accepted)->format != out->format) accepted->reset();
    return true;
  }
  if (*accepted) {
    out->format = (*accepted)->format;
    out->format_from_accept = true;
    return true;
  }
  if (Trim(accept).empty()) {
    return Fail(error, 400,
                "no response format requested: this is a trustless gateway, add ?format=raw or "
                "?format=car (or Accept: application/vnd.ipld.raw or application/vnd.ipld.car)");
  }
  return Fail(error, 406,
              "Accept " + Quote(accept) +
                  " names no format this trustless gateway serves (use application/vnd.ipld.raw "
                  "or application/vnd.ipld.car; version=1)");
}

bool ApplyCarParams(const QueryParams& params, const std::optional<AcceptChoice>& accepted,
                    GatewayRequest* out, HttpError* error) {
  if (params.car_version && *params.car_version != "1") {
    return Fail(error, 406,
                "car-version=" + Quote(*params.car_version) + " is not served (use car-version=1)");
  }
  if (params.car_order) {
    if (*params.car_order == "dfs") {
      out->order = CarOrder::kDfs;
    } else if (*params.car_order == "unk") {
      out->order = CarOrder::kUnknown;
    } else {
      return Fail(error, 406,
                  "car-order=" + Quote(*params.car_order) + " is not served (use dfs or unk)");
    }
  } else if (accepted && accepted->order) {
    out->order = *accepted->order;
    out->car_params_from_accept = true;
  }
  if (params.car_dups) {
    if (*params.car_dups != "y" && *params.car_dups != "n") {
      return Fail(error, 406,
                  "car-dups=" + Quote(*params.car_dups) + " is not served (use y or n)");
    }
    out->dups = *params.car_dups == "y";
  } else if (accepted && accepted->dups) {
    out->dups = *accepted->dups;
    out->car_params_from_accept = true;
  }
  if (params.dag_scope) {
    const Status status = format::ParseDagScope(*params.dag_scope, &out->scope);
    if (!status.ok()) return Fail(error, 400, status.message());
  }
  if (params.entity_bytes) {
    if (!ParseEntityBytes(*params.entity_bytes, &out->entity_bytes, error)) return false;
    out->scope = format::DagScope::kEntity;
  }
  return true;
}

// Splits "/ipfs/{cid}[/path]" into the CID text and decoded path segments.
bool ParsePath(std::string_view path, GatewayRequest* out, HttpError* error) {
  constexpr std::string_view kPrefix = "/ipfs/";
  if (path.substr(0, kPrefix.size()) != kPrefix) {
    return Fail(error, 400,
                "request path " + Quote(path) + " does not start with /ipfs/ (use /ipfs/{cid})");
  }
  path.remove_prefix(kPrefix.size());
  std::vector<std::string_view> segments = Split(path, '/');
  if (!PercentDecode(segments[0], false, &out->root_text)) {
    return Fail(error, 400, "invalid percent-encoding in CID " + Quote(segments[0]));
  }
  if (out->root_text.empty()) return Fail(error, 400, "no CID after /ipfs/ (use /ipfs/{cid})");
  const Status status = format::Cid::Parse(out->root_text, &out->root);
  if (!status.ok()) {
    return Fail(error, 400, status.message());  // Cid::Parse names the CID
  }
  for (size_t i = 1; i < segments.size(); ++i) {
    if (segments[i].empty()) continue;  // "a//b" and a trailing '/'
    std::string segment;
    if (!PercentDecode(segments[i], false, &segment)) {
      return Fail(error, 400, "invalid percent-encoding in path segment " + Quote(segments[i]));
    }
    if (segment == "." || segment == "..") {
      return Fail(
          error, 400,
          "path segment " + Quote(segment) + " is not allowed (give the path without . and ..)");
    }
    out->path.push_back(std::move(segment));
  }
  return true;
}

bool HasOnlyIfCached(std::string_view cache_control) {
  for (std::string_view directive : Split(cache_control, ',')) {
    if (EqualsIgnoreCase(Trim(directive), "only-if-cached")) return true;
  }
  return false;
}

// FNV-1a 64, for the Etag suffix of CAR responses.
uint64_t Fnv1a(std::string_view data) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string PercentEncodeSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// "/ipfs/<root as given>[/<segments>]".
std::string IpfsPath(const GatewayRequest& req) {
  std::string path = "/ipfs/" + req.root_text;
  for (const std::string& segment : req.path) path += "/" + PercentEncodeSegment(segment);
  return path;
}

// The URL with the negotiated parameters made explicit, so caches keep variants apart.
std::string ContentLocation(const GatewayRequest& req) {
  std::string query = req.query;
  const auto add = [&query](std::string_view param) {
    if (!query.empty()) query += '&';
    query += param;
  };
  if (req.format_from_accept) add(req.format == ResponseFormat::kCar ? "format=car" : "format=raw");
  if (req.format == ResponseFormat::kCar && req.car_params_from_accept) {
    if (req.query.find("car-order=") == std::string::npos) add("car-order=dfs");
    if (req.query.find("car-dups=") == std::string::npos)
      add(req.dups ? "car-dups=y" : "car-dups=n");
  }
  return IpfsPath(req) + "?" + query;
}

bool NeedsContentLocation(const GatewayRequest& req) {
  return req.format_from_accept ||
         (req.format == ResponseFormat::kCar && req.car_params_from_accept);
}

// A filename for Content-Disposition: ASCII with '"' and '\' and control bytes replaced, plus
// the RFC 8187 UTF-8 form when the name is not plain ASCII.
std::string Disposition(std::string_view filename) {
  std::string ascii;
  bool plain = true;
  for (unsigned char c : filename) {
    const bool ok = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    plain = plain && ok;
    ascii.push_back(ok ? static_cast<char>(c) : '_');
  }
  std::string value = "attachment; filename=\"" + ascii + "\"";
  if (!plain) value += "; filename*=UTF-8''" + PercentEncodeSegment(filename);
  return value;
}

void CommonHeaders(const GatewayRequest& req, std::vector<Header>* out) {
  out->emplace_back("Etag", Etag(req));
  out->emplace_back("Cache-Control", std::string(kImmutableCacheControl));
  out->emplace_back("X-Ipfs-Path", IpfsPath(req));
  out->emplace_back("Vary", "Accept");
  if (NeedsContentLocation(req)) out->emplace_back("Content-Location", ContentLocation(req));
}

std::string JoinCids(const std::vector<format::Cid>& cids) {
  std::string joined;
  for (const format::Cid& cid : cids) {
    if (!joined.empty()) joined += ',';
    joined += cid.ToString();
  }
  return joined;
}

}  // namespace

bool ParseRequest(std::string_view method, std::string_view target, const RequestHeaders& headers,
                  GatewayRequest* out, HttpError* error) {
  *out = GatewayRequest();
  if (method != "GET" && method != "HEAD") {
    return Fail(error, 405, "method " + Quote(method) + " is not allowed (use GET or HEAD)");
  }
  out->head = method == "HEAD";
  // Control characters and spaces are not allowed in a request target (RFC 9112 3.2), and some
  // of the target is echoed in response headers.
  for (size_t i = 0; i < target.size(); ++i) {
    const auto c = static_cast<unsigned char>(target[i]);
    if (c <= 0x20 || c == 0x7f) {
      return Fail(error, 400,
                  "the request target has a control character or space at offset " +
                      std::to_string(i) + "; percent-encode it");
    }
  }
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  if (question != std::string_view::npos) out->query = target.substr(question + 1);
  QueryParams params;
  if (!ParsePath(path, out, error) || !ParseQuery(out->query, &params, error)) return false;
  std::optional<AcceptChoice> accepted;
  if (!ChooseFormat(params, headers.accept, out, &accepted, error)) return false;
  if (out->format == ResponseFormat::kRaw) {
    if (!out->path.empty()) {
      return Fail(error, 400,
                  "a raw block request takes no path (the trustless gateway serves only "
                  "/ipfs/{cid} as a block); request format=car for " +
                      IpfsPath(*out));
    }
  } else if (!ApplyCarParams(params, accepted, out, error)) {
    return false;
  }
  if (params.filename) {
    // Percent-decoding can yield CR or LF, which must never reach Content-Disposition.
    if (std::any_of(params.filename->begin(), params.filename->end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return Fail(error, 400, "filename contains a control character; remove it");
    }
    out->filename = *params.filename;
  }
  out->only_if_cached = HasOnlyIfCached(headers.cache_control);
  out->if_none_match = headers.if_none_match;
  return true;
}

std::string Etag(const GatewayRequest& req) {
  const std::string cid = req.root.ToString();
  if (req.format == ResponseFormat::kRaw) return "\"" + cid + ".raw\"";
  std::string variant = IpfsPath(req) + "\n" + format::DagScopeName(req.scope);
  if (req.entity_bytes.set) {
    variant += "\nbytes=" + std::to_string(req.entity_bytes.from) + ":" +
               (req.entity_bytes.to ? std::to_string(*req.entity_bytes.to) : "*");
  }
  variant += req.order == CarOrder::kDfs ? "\norder=dfs" : "\norder=unk";
  variant += req.dups ? "\ndups=y" : "\ndups=n";
  char suffix[17];
  std::snprintf(suffix, sizeof(suffix), "%016llx", static_cast<unsigned long long>(Fnv1a(variant)));
  return "\"" + cid + ".car." + suffix + "\"";
}

bool IfNoneMatchHits(std::string_view if_none_match, std::string_view etag) {
  const auto opaque = [](std::string_view tag) {
    tag = Trim(tag);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    return tag;
  };
  const std::string_view wanted = opaque(etag);
  for (std::string_view candidate : Split(if_none_match, ',')) {
    candidate = Trim(candidate);
    if (candidate == "*") return true;
    if (!candidate.empty() && opaque(candidate) == wanted) return true;
  }
  return false;
}

std::string CarContentType(const GatewayRequest& req) {
  // order=unk is answered in depth-first order, which Content-Type states.
  return std::string(kCarType) + "; version=1; order=dfs; dups=" + (req.dups ? "y" : "n");
}

void RawHeaders(const GatewayRequest& req, uint64_t size, std::vector<Header>* out) {
  out->emplace_back("Content-Type", std::string(kRawType));
  out->emplace_back("Content-Length", std::to_string(size));
  out->emplace_back("Content-Disposition",
                    Disposition(req.filename.empty() ? req.root_text + ".bin" : req.filename));
  out->emplace_back("X-Content-Type-Options", "nosniff");
  out->emplace_back("X-Ipfs-Roots", req.root.ToString());
  CommonHeaders(req, out);
}

void CarHeaders(const GatewayRequest& req, const std::vector<format::Cid>& path_cids,
                std::vector<Header>* out) {
  out->emplace_back("Content-Type", CarContentType(req));
  const std::string terminal = path_cids.empty() ? req.root_text : path_cids.back().ToString();
  out->emplace_back("Content-Disposition",
                    Disposition(req.filename.empty() ? terminal + ".car" : req.filename));
  out->emplace_back("X-Content-Type-Options", "nosniff");
  out->emplace_back("Accept-Ranges", "none");
  out->emplace_back("X-Ipfs-Roots", path_cids.empty() ? req.root.ToString() : JoinCids(path_cids));
  CommonHeaders(req, out);
}

void NotModifiedHeaders(const GatewayRequest& req, std::vector<Header>* out) {
  if (req.path.empty()) out->emplace_back("X-Ipfs-Roots", req.root.ToString());
  CommonHeaders(req, out);
}

const std::vector<Header>& CorsHeaders() {
  static const std::vector<Header> headers = {
      {"Access-Control-Allow-Origin", "*"},
      {"Access-Control-Expose-Headers",
       "Content-Length, Content-Range, Etag, X-Chunked-Output, X-Stream-Output, X-Ipfs-Path, "
       "X-Ipfs-Roots"}};
  return headers;
}

const std::vector<Header>& PreflightHeaders() {
  static const std::vector<Header> headers = {
      {"Access-Control-Allow-Methods", std::string(kAllowedMethods)},
      {"Access-Control-Allow-Headers", "Content-Type, Range, User-Agent, X-Requested-With"},
      {"Access-Control-Max-Age", "86400"}};  // a day: the answer never changes while a node runs
  return headers;
}

}  // namespace boxcar::gateway
