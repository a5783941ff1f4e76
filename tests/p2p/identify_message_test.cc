#include "p2p/identify_message.h"

#include <doctest/doctest.h>

#include <string>

namespace {

using boxcar::p2p::DecodeIdentify;
using boxcar::p2p::EncodeIdentify;
using boxcar::p2p::IdentifyMessage;
using boxcar::p2p::MergeIdentify;

IdentifyMessage Sample() {
  IdentifyMessage message;
  message.public_key = std::string("\x08\x01\x12\x20", 4) + std::string(32, 'k');
  message.listen_addrs = {std::string("\x04\x7f\x00\x00\x01\x06\x0f\xa1", 8)};
  message.protocols = {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"};
  message.observed_addr = std::string("\x04\x7f\x00\x00\x01\x06\x30\x39", 8);
  message.protocol_version = "ipfs/0.1.0";
  message.agent_version = "boxcar/test";
  return message;
}

TEST_CASE("identify: a message round-trips field for field") {
  const IdentifyMessage sample = Sample();
  IdentifyMessage decoded;
  REQUIRE(DecodeIdentify(EncodeIdentify(sample), &decoded).ok());
  CHECK(decoded.public_key == sample.public_key);
  CHECK(decoded.listen_addrs == sample.listen_addrs);
  CHECK(decoded.protocols == sample.protocols);
  CHECK(decoded.observed_addr == sample.observed_addr);
  CHECK(decoded.protocol_version == sample.protocol_version);
  CHECK(decoded.agent_version == sample.agent_version);
  CHECK_FALSE(decoded.signed_peer_record.has_value());
}

TEST_CASE("identify: the encoding is the protobuf field order with the spec's tags") {
  IdentifyMessage message;
  message.protocols = {"/a"};
  message.agent_version = "x";
  CHECK(EncodeIdentify(message) == std::string("\x1a\x02/a\x32\x01x", 7));
}

TEST_CASE("identify: unknown fields are skipped, malformed ones named") {
  IdentifyMessage decoded;
  // Field 7 (varint 5) is unknown and skipped; field 3 follows.
  CHECK(DecodeIdentify(std::string("\x38\x05\x1a\x02/a", 6), &decoded).ok());
  CHECK(decoded.protocols == std::vector<std::string>{"/a"});
  // Field 3 as a varint is a wire-type error.
  const auto wrong_type = DecodeIdentify(std::string("\x18\x01", 2), &decoded);
  CHECK(wrong_type.message().find("field 3") != std::string::npos);
  // A length past the end.
  const auto truncated = DecodeIdentify(std::string("\x1a\x09/a", 4), &decoded);
  CHECK(truncated.message().find("runs past the end") != std::string::npos);
  CHECK_FALSE(DecodeIdentify(std::string(9000, '\0'), &decoded).ok());
}

TEST_CASE("identify: a pushed partial message replaces only the fields it carries") {
  IdentifyMessage into = Sample();
  IdentifyMessage push;
  push.protocols = {"/ipfs/bitswap/1.2.0"};
  MergeIdentify(push, &into);
  CHECK(into.protocols == std::vector<std::string>{"/ipfs/bitswap/1.2.0"});
  CHECK(into.agent_version == Sample().agent_version);
  CHECK(into.listen_addrs == Sample().listen_addrs);
}

}  // namespace
