#include "gateway/request.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "format/format_test_util.h"

namespace {

using namespace boxcar::gateway;
using boxcar::format::DagScope;
using boxcar::format::testing::ParseCid;

constexpr const char* kCid = "bafkreihhpc5y2pqvl5rbe5uuyhqjouybfs3rvlmisccgzue2kkt5zq6upq";
constexpr const char* kDir = "bafybeietjm63oynimmv5yyqay33nui4y4wx6u3peezwetxgiwvfmelutzu";
constexpr const char* kCarAccept = "application/vnd.ipld.car";

struct Parsed {
  bool ok = false;
  GatewayRequest req;
  HttpError error;
};

Parsed Try(const std::string& target, const std::string& accept = "",
           const std::string& method = "GET", const std::string& cache_control = "") {
  Parsed parsed;
  parsed.ok =
      ParseRequest(method, target, {accept, "\"x\"", cache_control}, &parsed.req, &parsed.error);
  return parsed;
}

GatewayRequest Ok(const std::string& target, const std::string& accept = "") {
  Parsed parsed = Try(target, accept);
  REQUIRE_MESSAGE(parsed.ok, parsed.error.status, " ", parsed.error.message);
  return parsed.req;
}

HttpError Error(const std::string& target, const std::string& accept = "",
                const std::string& method = "GET") {
  Parsed parsed = Try(target, accept, method);
  REQUIRE(!parsed.ok);
  return parsed.error;
}

std::map<std::string, std::string> AsMap(const std::vector<Header>& headers) {
  std::map<std::string, std::string> map;
  for (const auto& [name, value] : headers) {
    CHECK_MESSAGE(map.count(name) == 0, "header twice: ", name);
    map[name] = value;
  }
  return map;
}

TEST_CASE("request: format from ?format= or Accept, ?format= first") {
  GatewayRequest req = Ok(std::string("/ipfs/") + kCid + "?format=raw");
  CHECK(req.format == ResponseFormat::kRaw);
  CHECK(!req.format_from_accept);
  CHECK(req.root == ParseCid(kCid));
  CHECK(req.root_text == kCid);
  CHECK(!req.head);

  req = Ok(std::string("/ipfs/") + kCid, "application/vnd.ipld.raw");
  CHECK(req.format == ResponseFormat::kRaw);
  CHECK(req.format_from_accept);

  req = Ok(std::string("/ipfs/") + kCid + "?format=car", "application/vnd.ipld.raw");
  CHECK(req.format == ResponseFormat::kCar);
  CHECK(!req.format_from_accept);

  // The most preferred entry boxcar serves wins; unusable entries are skipped.
  req = Ok(std::string("/ipfs/") + kCid,
           "text/html, application/vnd.ipld.raw;q=0.5, application/vnd.ipld.car;q=0.9");
  CHECK(req.format == ResponseFormat::kCar);
  req = Ok(std::string("/ipfs/") + kCid,
           "application/vnd.ipld.car; version=2, application/vnd.ipld.raw;q=0.1");
  CHECK(req.format == ResponseFormat::kRaw);

  HttpError error;
  REQUIRE(ParseRequest("HEAD", std::string("/ipfs/") + kCid + "?format=raw", {}, &req, &error));
  CHECK(req.head);
}

TEST_CASE("request: CAR parameters, defaults and precedence") {
  const std::string base = std::string("/ipfs/") + kDir;
  GatewayRequest req = Ok(base + "?format=car");
  CHECK(req.order == CarOrder::kDfs);
  CHECK(!req.dups);  // the spec: respond with dups=n when the gateway has control
  CHECK(req.scope == DagScope::kAll);
  CHECK(CarContentType(req) == "application/vnd.ipld.car; version=1; order=dfs; dups=n");

  req = Ok(base, "application/vnd.ipld.car; version=1; order=dfs; dups=y");
  CHECK(req.dups);
  CHECK(req.car_params_from_accept);
  CHECK(CarContentType(req) == "application/vnd.ipld.car; version=1; order=dfs; dups=y");

  // ?format=car with a CAR Accept keeps Accept's parameters (the conformance suite's case).
  req = Ok(base + "?format=car", "application/vnd.ipld.car; version=1; order=dfs; dups=y");
  CHECK(req.dups);

  // URL parameters beat Accept parameters.
  req = Ok(base + "?format=car&car-dups=n&car-order=unk",
           "application/vnd.ipld.car; dups=y; order=dfs");
  CHECK(!req.dups);
  CHECK(req.order == CarOrder::kUnknown);
  CHECK(!req.car_params_from_accept);
  // order=unk is answered depth-first, and says so.
  CHECK(CarContentType(req).find("order=dfs") != std::string::npos);

  req = Ok(base + "?format=car&dag-scope=entity");
  CHECK(req.scope == DagScope::kEntity);
  req = Ok(base + "?format=car&dag-scope=block");
  CHECK(req.scope == DagScope::kBlock);

  req = Ok(base + "/a%20b/c.txt/?format=car&entity-bytes=-10:*&filename=x%2By.car");
  CHECK(req.path == std::vector<std::string>{"a b", "c.txt"});
  CHECK(req.scope == DagScope::kEntity);
  CHECK(req.entity_bytes.set);
  CHECK(req.entity_bytes.from == -10);
  CHECK(!req.entity_bytes.to);
  CHECK(req.filename == "x+y.car");
  req = Ok(base + "?format=car&entity-bytes=499:-1000");
  CHECK(req.entity_bytes.from == 499);
  CHECK(req.entity_bytes.to == -1000);
}

TEST_CASE("request: errors name the problem") {
  const std::string base = std::string("/ipfs/") + kDir;
  HttpError error = Error("/ipfs/bafyinvalid?format=raw");
  CHECK(error.status == 400);
  CHECK(error.message.find("invalid CID \"bafyinvalid\": ") == 0);
  CHECK_MESSAGE(error.message.find("invalid CID", 1) == std::string::npos, error.message);

  error = Error(base + "?format=car&dag-scope=everything");
  CHECK(error.status == 400);
  CHECK(error.message == "invalid dag-scope \"everything\" (use block, entity or all)");

  for (const char* range : {"5", "a:b", "10:5", "-1:-5", "1:", ":1", "1:+2"}) {
    CAPTURE(range);
    error = Error(base + "?format=car&entity-bytes=" + range);
    CHECK(error.status == 400);
    CHECK(error.message.find("invalid entity-bytes") == 0);
  }

  CHECK(Error(base + "?format=car&car-version=2").status == 406);
  CHECK(Error(base, "application/vnd.ipld.car; version=2").status == 406);
  error = Error(base, "application/vnd.ipld.dag-json");
  CHECK(error.status == 406);
  CHECK(error.message.find("application/vnd.ipld.dag-json") != std::string::npos);
  CHECK(Error(base + "?format=dag-json").status == 406);
  CHECK(Error(base + "?format=car&car-order=bfs").status == 406);
  CHECK(Error(base + "?format=zip").status == 400);
  error = Error(base);
  CHECK(error.status == 400);
  CHECK(error.message.find("format=raw") != std::string::npos);

  CHECK(Error(base + "?format=raw", "", "POST").status == 405);
  CHECK(Error("/ipns/example.com?format=raw").status == 400);
  CHECK(Error("/ipfs/?format=raw").status == 400);
  CHECK(Error(base + "/a%zz?format=car").status == 400);
  CHECK(Error(base + "/../x?format=car").status == 400);
  error = Error(base + "/file.txt?format=raw");
  CHECK(error.status == 400);
  CHECK(error.message.find("format=car") != std::string::npos);
}

TEST_CASE("request: Cache-Control only-if-cached and If-None-Match are kept") {
  Parsed parsed =
      Try(std::string("/ipfs/") + kCid + "?format=raw", "", "GET", "max-age=0, Only-If-Cached");
  REQUIRE(parsed.ok);
  CHECK(parsed.req.only_if_cached);
  CHECK(parsed.req.if_none_match == "\"x\"");
  CHECK(!Ok(std::string("/ipfs/") + kCid + "?format=raw").only_if_cached);
}

TEST_CASE("etag: raw and car forms; the CAR etag varies with every parameter") {
  const std::string base = std::string("/ipfs/") + kDir;
  CHECK(Etag(Ok(std::string("/ipfs/") + kCid + "?format=raw")) ==
        std::string("\"") + kCid + ".raw\"");
  const std::string car = Etag(Ok(base + "?format=car"));
  CHECK(car.rfind(std::string("\"") + kDir + ".car.", 0) == 0);
  CHECK(car.back() == '"');
  // The same response asked for in other words has the same Etag.
  CHECK(Etag(Ok(base, kCarAccept)) == car);
  CHECK(Etag(Ok(base + "?format=car&dag-scope=all&car-dups=n")) == car);
  std::vector<std::string> variants = {car};
  for (const char* query : {"&dag-scope=entity", "&dag-scope=block", "&entity-bytes=0:*",
                            "&entity-bytes=0:10", "&car-dups=y", "&car-order=unk"}) {
    variants.push_back(Etag(Ok(base + "?format=car" + query)));
  }
  variants.push_back(Etag(Ok(base + "/subdir?format=car")));
  for (size_t i = 0; i < variants.size(); ++i) {
    for (size_t j = i + 1; j < variants.size(); ++j) CHECK(variants[i] != variants[j]);
  }
}

TEST_CASE("etag: If-None-Match lists, weak tags and *") {
  CHECK(IfNoneMatchHits("\"a\"", "\"a\""));
  CHECK(IfNoneMatchHits("W/\"a\"", "\"a\""));
  CHECK(IfNoneMatchHits("\"b\", W/\"a\"", "\"a\""));
  CHECK(IfNoneMatchHits("*", "\"a\""));
  CHECK(!IfNoneMatchHits("\"b\"", "\"a\""));
  CHECK(!IfNoneMatchHits("", "\"a\""));
  CHECK(!IfNoneMatchHits("a", "\"a\""));
}

TEST_CASE("headers: raw block response") {
  std::vector<Header> headers;
  RawHeaders(Ok(std::string("/ipfs/") + kCid, "application/vnd.ipld.raw"), 57, &headers);
  auto map = AsMap(headers);
  CHECK(map["Content-Type"] == "application/vnd.ipld.raw");
  CHECK(map["Content-Length"] == "57");
  CHECK(map["Content-Disposition"] == std::string("attachment; filename=\"") + kCid + ".bin\"");
  CHECK(map["X-Content-Type-Options"] == "nosniff");
  CHECK(map["Cache-Control"] == "public, max-age=29030400, immutable");
  CHECK(map["X-Ipfs-Path"] == std::string("/ipfs/") + kCid);
  CHECK(map["X-Ipfs-Roots"] == kCid);
  CHECK(map["Etag"] == std::string("\"") + kCid + ".raw\"");
  CHECK(map["Vary"] == "Accept");
  CHECK(map["Content-Location"] == std::string("/ipfs/") + kCid + "?format=raw");

  headers.clear();
  RawHeaders(Ok(std::string("/ipfs/") + kCid + "?format=raw&filename=foobar.bin"), 1, &headers);
  map = AsMap(headers);
  CHECK(map["Content-Disposition"] == "attachment; filename=\"foobar.bin\"");
  CHECK(map.count("Content-Location") == 0);

  headers.clear();
  RawHeaders(Ok(std::string("/ipfs/") + kCid + "?format=raw&filename=a%22%D1%82.bin"), 1, &headers);
  CHECK(AsMap(headers)["Content-Disposition"] ==
        "attachment; filename=\"a___.bin\"; filename*=UTF-8''a%22%D1%82.bin");
}

TEST_CASE("headers: CAR response and 304") {
  const std::string base = std::string("/ipfs/") + kDir;
  const GatewayRequest req =
      Ok(base + "/subdir?dag-scope=block", "application/vnd.ipld.car; dups=y");
  const std::vector<boxcar::format::Cid> path = {ParseCid(kDir), ParseCid(kCid)};
  std::vector<Header> headers;
  CarHeaders(req, path, &headers);
  auto map = AsMap(headers);
  CHECK(map["Content-Type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=y");
  CHECK(map.count("Content-Length") == 0);
  CHECK(map["Accept-Ranges"] == "none");
  CHECK(map["Content-Disposition"] == std::string("attachment; filename=\"") + kCid + ".car\"");
  CHECK(map["X-Content-Type-Options"] == "nosniff");
  CHECK(map["X-Ipfs-Roots"] == std::string(kDir) + "," + kCid);
  CHECK(map["X-Ipfs-Path"] == base + "/subdir");
  CHECK(map["Etag"] == Etag(req));
  CHECK(map["Cache-Control"] == "public, max-age=29030400, immutable");
  CHECK(map["Content-Location"] ==
        base + "/subdir?dag-scope=block&format=car&car-order=dfs&car-dups=y");

  headers.clear();
  NotModifiedHeaders(req, &headers);
  map = AsMap(headers);
  CHECK(map["Etag"] == Etag(req));
  CHECK(map["Cache-Control"] == "public, max-age=29030400, immutable");
  CHECK(map["X-Ipfs-Path"] == base + "/subdir");
  CHECK(map.count("X-Ipfs-Roots") == 0);
  CHECK(map.count("Content-Type") == 0);
  headers.clear();
  NotModifiedHeaders(Ok(std::string("/ipfs/") + kCid + "?format=raw"), &headers);
  CHECK(AsMap(headers)["X-Ipfs-Roots"] == kCid);
}

}  // namespace

TEST_CASE("request: control characters never reach a header (found by the fuzzer)") {
  const std::string root = "bafkreihhpc5y2pqvl5rbe5uuyhqjouybfs3rvlmisccgzue2kkt5zq6upq";
  Parsed p = Try("/ipfs/" + root + "?format=raw&x=\r\nSet-Cookie:%20a");
  CHECK_FALSE(p.ok);
  CHECK(p.error.status == 400);
  CHECK(p.error.message.find("offset") != std::string::npos);
  p = Try("/ipfs/" + root + "?format=raw&filename=a%0D%0ASet-Cookie:x.bin");
  CHECK_FALSE(p.ok);
  CHECK(p.error.status == 400);
  CHECK(p.error.message.find("filename") != std::string::npos);
}

TEST_CASE("cors: every response allows any origin and exposes the gateway's headers") {
  std::map<std::string, std::string> cors(CorsHeaders().begin(), CorsHeaders().end());
  CHECK(cors["Access-Control-Allow-Origin"] == "*");
  const std::string exposed = cors["Access-Control-Expose-Headers"];
  for (const char* name : {"Content-Length", "Content-Range", "X-Chunked-Output", "X-Stream-Output",
                           "X-Ipfs-Path", "X-Ipfs-Roots", "Etag"}) {
    CHECK_MESSAGE(exposed.find(name) != std::string::npos, name);
  }
  std::map<std::string, std::string> preflight(PreflightHeaders().begin(),
                                               PreflightHeaders().end());
  CHECK(preflight["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS");
  CHECK(preflight["Access-Control-Allow-Headers"] ==
        "Content-Type, Range, User-Agent, X-Requested-With");
  CHECK(std::stoi(preflight["Access-Control-Max-Age"]) > 0);
  for (const auto& [name, value] : CorsHeaders()) {
    CHECK(value.find_first_of("\r\n") == std::string::npos);
  }
}
