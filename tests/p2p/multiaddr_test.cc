#include "p2p/multiaddr.h"

#include <doctest/doctest.h>

#include <string>

#include "p2p_test_util.h"

namespace {

using boxcar::p2p::Multiaddr;
using boxcar::p2p::PeerId;
using p2p_test::Hex;
using p2p_test::Unhex;

Multiaddr MustParse(std::string_view text) {
  Multiaddr addr;
  const boxcar::Status status = Multiaddr::Parse(text, &addr);
  const std::string context = std::string(text) + ": " + status.ToString();
  REQUIRE_MESSAGE(status.ok(), context);
  return addr;
}

std::string ParseError(std::string_view text) {
  Multiaddr addr;
  const boxcar::Status status = Multiaddr::Parse(text, &addr);
  CHECK_MESSAGE(!status.ok(), text);
  return status.message();
}

// Text and binary forms that must convert both ways.
struct Vector {
  const char* text;
  const char* hex;
};

TEST_CASE("multiaddr: text <-> binary vectors") {
  // The first from go-multiaddr TestStringToBytes/TestBytesToString (commit 7fae00a); the others
  // follow the multiaddr spec's table (ip6 41, dns* 53-55 and p2p 421 length-prefixed).
  const Vector vectors[] = {
      {"/ip4/127.0.0.1/tcp/4321", "047f0000010610e1"},
      {"/ip4/1.2.3.4/tcp/4001", "0401020304060fa1"},
      {"/ip6/::1/tcp/4001", "2900000000000000000000000000000001060fa1"},
      {"/ip6/2601:9:4f81:9700:803e:ca65:66e8:c21", "29260100094f819700803eca6566e80c21"},
      {"/dns4/example.com/tcp/443", "360b6578616d706c652e636f6d0601bb"},
      {"/dns6/example.com", "370b6578616d706c652e636f6d"},
      {"/dns/localhost/tcp/0", "35096c6f63616c686f7374060000"},
      {"/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV",
       "a503260024080112202d3de6d16ae87f7a933fe1552162a2d3f04951e90e8051e4ee2c18f002dd0fb4"},
      {"/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
       "a503221220d52ebb89d85b02a284948203a62ff28389c57c9f42beec4ec20db76a68911c0b"},
  };
  for (const Vector& vector : vectors) {
    CAPTURE(vector.text);
    const Multiaddr parsed = MustParse(vector.text);
    CHECK(Hex(parsed.ToBytes()) == vector.hex);
    Multiaddr decoded;
    const boxcar::Status status = Multiaddr::FromBytes(Unhex(vector.hex), &decoded);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    CHECK(decoded.ToString() == vector.text);
    CHECK(decoded == parsed);
  }
}

TEST_CASE("multiaddr: go-multiaddr's valid addresses parse and normalise") {
  // go-multiaddr multiaddr_test.go TestConstructSucceeds, the cases within ip4/ip6/tcp/p2p.
  CHECK(MustParse("/ip4/127.0.0.1/tcp/1234/").ToString() == "/ip4/127.0.0.1/tcp/1234");
  CHECK(MustParse("/tcp/65535").ToString() == "/tcp/65535");
  CHECK(MustParse("/tcp/0").ToString() == "/tcp/0");
  // "ipfs" is the old name of p2p; CID forms print as base58btc.
  CHECK(MustParse("/ip4/127.0.0.1/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234")
            .ToString() ==
        "/ip4/127.0.0.1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234");
  CHECK(
      MustParse("/p2p/k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs").ToString() ==
      "/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV");
  CHECK(MustParse("/p2p/bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u")
            .ToString() == "/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV");
}

TEST_CASE("multiaddr: go-multiaddr's invalid addresses are refused with a reason") {
  // go-multiaddr TestConstructFails, the cases within our protocols.
  for (const char* text : {"/ip6", "/tcp", "/tcp/65536", "/ip4/127.0.0.1/tcp/jfodsajfidosajfoidsa",
                           "/ip4/127.0.0.1/tcp", "/ip4/127.0.0.1/ipfs/tcp", "/ip4/127.0.0.1/p2p",
                           "/ip4/127.0.0.1/p2p/tcp", "/ip4/1.2.3.4/tcp/-1",
                           "/p2p/QmxoHT6iViN5xAjoz1VZ553cL31U9F94ht3QvWR1FrEbZY"}) {
    ParseError(text);
  }
  CHECK(ParseError("/ip4/1.2.3/tcp/1").find("bad ip4 address '1.2.3'") != std::string::npos);
  CHECK(ParseError("/ip4/1.2.3.4/udp/1").find("unsupported protocol 'udp'") != std::string::npos);
  CHECK(ParseError("ip4/1.2.3.4").find("must start with '/'") != std::string::npos);
  CHECK(ParseError("/ip4//1.2.3.4").find("bad ip4 address ''") != std::string::npos);
  CHECK(ParseError("/").find("no components") != std::string::npos);
  CHECK(ParseError("").find("must start with '/'") != std::string::npos);
  CHECK(ParseError("/tcp/99999").find("bad tcp port") != std::string::npos);
  std::string many;
  for (int i = 0; i < 33; ++i) many += "/tcp/1";
  CHECK(ParseError(many).find("more than 32 components") != std::string::npos);
  std::string many_bytes;
  for (int i = 0; i < 33; ++i) many_bytes += std::string("\x06\x00\x01", 3);
  Multiaddr addr;
  CHECK(Multiaddr::FromBytes(many_bytes, &addr).message().find("more than 32 components") !=
        std::string::npos);
}

TEST_CASE("multiaddr: bad binary forms are refused with the offset") {
  Multiaddr addr;
  auto error = [&](std::string_view hex) {
    const boxcar::Status status = Multiaddr::FromBytes(Unhex(hex), &addr);
    CHECK_MESSAGE(!status.ok(), hex);
    return status.message();
  };
  CHECK(error("047f0000").find("runs past the end") != std::string::npos);
  CHECK(error("047f000001910204d2").find("unsupported protocol code 273") != std::string::npos);
  CHECK(error("047f00000106").find("at byte 5") != std::string::npos);
  CHECK(error("a50305deadbeef00").find("bad p2p value") != std::string::npos);
  CHECK(error("3600").find("DNS name") != std::string::npos);
  CHECK(!Multiaddr::FromBytes("", &addr).ok());
}

TEST_CASE("multiaddr: TCP targets, peers and the v4-mapped form") {
  const Multiaddr with_peer =
      MustParse("/ip6/::1/tcp/4001/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV");
  const auto target = with_peer.Tcp();
  REQUIRE(target.has_value());
  CHECK(target->host == "::1");
  CHECK(target->port == 4001);
  CHECK(!target->is_dns);
  REQUIRE(with_peer.Peer().has_value());
  CHECK(with_peer.Peer()->ToString() == "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV");
  CHECK(with_peer.WithoutPeer().ToString() == "/ip6/::1/tcp/4001");
  CHECK(with_peer.WithoutPeer().WithPeer(*with_peer.Peer()) == with_peer);
  CHECK(with_peer.WithPeer(*with_peer.Peer()) == with_peer);

  const auto dns = MustParse("/dns4/example.com/tcp/443").Tcp();
  REQUIRE(dns.has_value());
  CHECK(dns->is_dns);
  CHECK(dns->host == "example.com");
  CHECK(!MustParse("/ip4/1.2.3.4").Tcp().has_value());
  CHECK(!MustParse("/tcp/1/ip4/1.2.3.4").Tcp().has_value());
  CHECK(!MustParse("/ip4/1.2.3.4/tcp/1").Peer().has_value());

  CHECK(Multiaddr::FromTcp("::ffff:10.0.0.1", 80).ToString() == "/ip4/10.0.0.1/tcp/80");
  CHECK(Multiaddr::FromTcp("127.0.0.1", 4001).ToString() == "/ip4/127.0.0.1/tcp/4001");
  CHECK(Multiaddr::FromTcp("fe80::1", 1).ToString() == "/ip6/fe80::1/tcp/1");
  CHECK(Multiaddr::FromTcp("not-an-ip", 1).empty());
}

}  // namespace
