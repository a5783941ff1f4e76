// Trustless Gateway requests (specs.ipfs.tech/http-gateways/trustless-gateway): parsing
// "/ipfs/{cid}[/path][?query]" with its Accept header into a GatewayRequest, the Etag of the
// response, If-None-Match matching and the response header sets. No HTTP library: the server
// hands in the method, target and header values, and writes the headers returned here.
//
// Defaults the server picks when the client does not say (the spec leaves them to the gateway
// and requires that Content-Type states them): order=dfs (the only order boxcar produces) and
// dups=n ("a Gateway should respond with dups=n if it has control over the duplicate status").
//
// Thread safety: free functions on caller-owned values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "format/cid.h"
#include "format/walk.h"

namespace boxcar::gateway {

enum class ResponseFormat { kRaw, kCar };
enum class CarOrder { kDfs, kUnknown };  // order=dfs | order=unk

// entity-bytes=from:to. to == nullopt is '*' (end of file); negative values count from the end.
struct EntityBytes {
  bool set = false;
  int64_t from = 0;
  std::optional<int64_t> to;
};

struct RequestHeaders {
  std::string_view accept, if_none_match, cache_control;
};

// An HTTP error answer: status and a message saying what was wrong and how to fix it.
struct HttpError {
  int status = 0;
  std::string message;
};

struct GatewayRequest {
  bool head = false;
  format::Cid root;
  std::string root_text;          // the root as given in the URL
  std::vector<std::string> path;  // percent-decoded segments after the CID
  std::string query;              // the raw query string (without '?'), for Content-Location
  ResponseFormat format = ResponseFormat::kRaw;
  bool format_from_accept = false;  // no ?format=: the Accept header chose it
  // A CAR parameter (order or dups) came from Accept, not from the URL.
  bool car_params_from_accept = false;
  // order=unk is accepted; boxcar then still sends depth-first order and says order=dfs.
  CarOrder order = CarOrder::kDfs;
  bool dups = false;
  format::DagScope scope = format::DagScope::kAll;
  EntityBytes entity_bytes;  // when set, scope is kEntity (the spec: it implies dag-scope=entity)
  std::string filename;      // ?filename=
  bool only_if_cached = false;  // Cache-Control: only-if-cached (answer 412 if the root is absent)
  std::string if_none_match;
};

// Parses a request. GET and HEAD only (else 405). Returns false and fills *error with:
//   400  bad target or CID (the CID parse error is included), bad query parameter (dag-scope,
//        entity-bytes, percent-encoding), a path on a raw block request, no format asked for
//        (neither ?format= nor a usable Accept);
//   406  a format or CAR variant boxcar does not produce (dag-json, tar, car version=2, ...).
// ?format= takes precedence over Accept; car-version/car-order/car-dups URL parameters take
// precedence over the parameters of the chosen Accept entry.
bool ParseRequest(std::string_view method, std::string_view target, const RequestHeaders& headers,
                  GatewayRequest* out, HttpError* error);

// The strong Etag, quoted: "<cid>.raw" for a block; "<cid>.car.<hash>" for a CAR where the hash
// covers the path, dag-scope, entity-bytes, order and dups (the CAR bytes are deterministic).
std::string Etag(const GatewayRequest& req);

// True when `if_none_match` (a list of entity tags, weak or strong, or "*") matches `etag`, using
// the weak comparison RFC 9110 prescribes for If-None-Match.
bool IfNoneMatchHits(std::string_view if_none_match, std::string_view etag);

using Header = std::pair<std::string, std::string>;

// Headers of a 200 raw block response of `size` bytes (appended to *out).
void RawHeaders(const GatewayRequest& req, uint64_t size, std::vector<Header>* out);

// Headers of a 200 CAR response; path_cids are the root and each resolved path element
// (CarProducer::path_cids), listed in X-Ipfs-Roots.
void CarHeaders(const GatewayRequest& req, const std::vector<format::Cid>& path_cids,
                std::vector<Header>* out);

// Headers of a 304 Not Modified: Etag, Cache-Control, X-Ipfs-Path, Vary, Content-Location when
// negotiated, and X-Ipfs-Roots when the request has no path (else the path is not resolved).
void NotModifiedHeaders(const GatewayRequest& req, std::vector<Header>* out);

// CORS as Kubo's gateway sends it, on every response (errors included): any origin may read the
// response, and scripts may see the gateway's own headers (Access-Control-Expose-Headers).
// Constant, so shared caches need no Vary: Origin.
const std::vector<Header>& CorsHeaders();

// The answer to an OPTIONS preflight (a 204, with CorsHeaders too): the methods and request
// headers a browser may use (GET, HEAD, OPTIONS; Content-Type, Range, User-Agent,
// X-Requested-With), and how long it may cache this answer.
const std::vector<Header>& PreflightHeaders();

// The methods the gateway serves, as an Allow header's value.
inline constexpr std::string_view kAllowedMethods = "GET, HEAD, OPTIONS";

// "application/vnd.ipld.car; version=1; order=dfs; dups=y" for req's parameters.
std::string CarContentType(const GatewayRequest& req);

}  // namespace boxcar::gateway
