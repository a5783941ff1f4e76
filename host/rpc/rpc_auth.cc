#include "rpc/rpc_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace boxcar::rpc {
namespace {}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  out.resize(written > 0 ? static_cast<size_t>(written) : 0);
  return out;
}

namespace {

// Equal length and equal bytes, in time that depends only on the lengths.
bool SecretEquals(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

}  // namespace

std::string ExpectedAuthorizationHeader(const std::string& auth_secret) {
  if (auth_secret.empty()) return "";
  const auto colon = auth_secret.find(':');
  if (colon == std::string::npos) return "Bearer " + auth_secret;
  const std::string type = auth_secret.substr(0, colon);
  const std::string rest = auth_secret.substr(colon + 1);
  if (type == "bearer") return "Bearer " + rest;
  if (type == "basic") {
    // "basic:USER:PASS" is encoded here; "basic:B64" is already encoded.
    return "Basic " + (rest.find(':') != std::string::npos ? Base64Encode(rest) : rest);
  }
  return "";
}

RpcAuthorizer::RpcAuthorizer(const std::vector<runtime::RpcAuthorization>& authorizations)
    : enabled_(!authorizations.empty()) {
  for (const runtime::RpcAuthorization& a : authorizations) {
    std::string header = ExpectedAuthorizationHeader(a.auth_secret);
    if (!header.empty()) entries_.push_back({std::move(header), a.allowed_paths});
  }
}

bool RpcAuthorizer::Allows(std::string_view path, std::string_view authorization) const {
  if (!enabled_) return true;
  const Entry* matched = nullptr;
  for (const Entry& entry : entries_) {
    if (SecretEquals(authorization, entry.header) && matched == nullptr) matched = &entry;
  }
  if (matched == nullptr) return false;
  if (path == "/api/v0/version") return true;  // Kubo lets any valid secret ask the version
  for (const std::string& prefix : matched->allowed_paths) {
    if (path.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace boxcar::rpc
