// Kubo's API.Authorizations for the RPC: each entry's secret becomes the exact Authorization
// header it expects ("bearer:TOKEN" or a bare TOKEN -> "Bearer TOKEN"; "basic:USER:PASS" ->
// "Basic base64(USER:PASS)"; "basic:B64" as it is), and its allowed_paths the path prefixes it
// opens. An entry with an unknown "type:" prefix opens nothing, as in Kubo.
//
// Thread safety: an RpcAuthorizer is immutable after construction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/config.h"

namespace boxcar::rpc {

// Standard padded base64 (the Basic scheme, and Kubo's PublicKey fields).
std::string Base64Encode(std::string_view bytes);

// The Authorization header value a secret expects; "" for an unknown type.
std::string ExpectedAuthorizationHeader(const std::string& auth_secret);

class RpcAuthorizer {
 public:
  explicit RpcAuthorizer(const std::vector<runtime::RpcAuthorization>& authorizations);

  // False when no authorization is configured: every request is then allowed.
  bool enabled() const { return enabled_; }
  // Whether a request for `path` with this Authorization header may proceed. Every configured
  // secret is compared, each in constant time, so the timing says nothing about which matched.
  bool Allows(std::string_view path, std::string_view authorization) const;

 private:
  struct Entry {
    std::string header;
    std::vector<std::string> allowed_paths;
  };
  bool enabled_ = false;
  std::vector<Entry> entries_;
};

}  // namespace boxcar::rpc
