#include "p2p/multistream.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using boxcar::p2p::AppendMssMessage;
using boxcar::p2p::kMssHeader;
using boxcar::p2p::kMssMaxToken;
using boxcar::p2p::MssInitiator;
using boxcar::p2p::MssRead;
using boxcar::p2p::MssResponder;
using boxcar::p2p::ReadMssMessage;

std::string Message(std::string_view token) {
  std::string out;
  AppendMssMessage(token, &out);
  return out;
}

MssResponder NoiseResponder() {
  return MssResponder([](std::string_view protocol) { return protocol == "/noise"; });
}

TEST_CASE("multistream: messages are uvarint(len) text '\\n', as in the spec") {
  CHECK(Message("na") == std::string("\x03na\n"));
  CHECK(Message("ls") == std::string("\x03ls\n"));
  CHECK(Message(kMssHeader) == std::string("\x13/multistream/1.0.0\n"));
  const std::string long_token(200, 'p');
  CHECK(Message(long_token).substr(0, 2) == std::string("\xc9\x01"));  // 201 = 0xc9 0x01
}

TEST_CASE("multistream: ReadMssMessage reads, waits for more and refuses bad messages") {
  size_t consumed = 0;
  std::string token;
  boxcar::Status error;
  const std::string two = Message("/noise") + Message("x");
  REQUIRE(ReadMssMessage(two, &consumed, &token, &error) == MssRead::kMessage);
  CHECK(token == "/noise");
  CHECK(consumed == 8);
  for (size_t cut = 0; cut < 8; ++cut) {
    CHECK(ReadMssMessage(std::string_view(two).substr(0, cut), &consumed, &token, &error) ==
          MssRead::kNeedMore);
  }
  // The 1,024-byte token cap: 1,024 is accepted, 1,025 is refused from the length alone.
  const std::string largest = Message(std::string(kMssMaxToken, 'a'));
  REQUIRE(ReadMssMessage(largest, &consumed, &token, &error) == MssRead::kMessage);
  CHECK(token.size() == kMssMaxToken);
  const std::string too_long = Message(std::string(kMssMaxToken + 1, 'a')).substr(0, 2);
  REQUIRE(ReadMssMessage(too_long, &consumed, &token, &error) == MssRead::kError);
  CHECK(error.message().find("1024") != std::string::npos);
  CHECK(ReadMssMessage(std::string("\x80\x80\x01", 3), &consumed, &token, &error) ==
        MssRead::kError);
  CHECK(ReadMssMessage(std::string("\x80\x00", 2), &consumed, &token, &error) == MssRead::kError);
  CHECK(ReadMssMessage(std::string("\x00", 1), &consumed, &token, &error) == MssRead::kError);
  CHECK(ReadMssMessage(std::string("\x03nax"), &consumed, &token, &error) == MssRead::kError);
  CHECK(error.message().find("'\\n'") != std::string::npos);
}

TEST_CASE("multistream: the responder echoes a supported protocol and says na to the rest") {
  MssResponder responder = NoiseResponder();
  const std::string in =
      Message(kMssHeader) + Message("/tls/1.0.0") + Message("ls") + Message("/noise") + "after";
  size_t consumed = 0;
  std::string out;
  REQUIRE(responder.Feed(in, &consumed, &out).ok());
  CHECK(responder.selected());
  CHECK(responder.protocol() == "/noise");
  // The lazy form: bytes behind the proposal are left for the selected protocol.
  CHECK(in.substr(consumed) == "after");
  CHECK(out == Message(kMssHeader) + Message("na") + Message("na") + Message("/noise"));
  // Once selected, nothing more is consumed.
  std::string more;
  REQUIRE(responder.Feed("after", &consumed, &more).ok());
  CHECK(consumed == 0);
  CHECK(more.empty());
}

TEST_CASE("multistream: the responder handles its input byte by byte") {
  MssResponder responder = NoiseResponder();
  const std::string in = Message(kMssHeader) + Message("/yamux/1.0.0") + Message("/noise");
  std::string pending;
  std::string out;
  for (char c : in) {
    pending.push_back(c);
    size_t consumed = 0;
    REQUIRE(responder.Feed(pending, &consumed, &out).ok());
    pending.erase(0, consumed);
  }
  CHECK(pending.empty());
  CHECK(responder.selected());
  CHECK(out == Message(kMssHeader) + Message("na") + Message("/noise"));
}

TEST_CASE("multistream: the responder refuses a missing header and an oversized token") {
  MssResponder responder = NoiseResponder();
  size_t consumed = 0;
  std::string out;
  CHECK_FALSE(responder.Feed(Message("/noise"), &consumed, &out).ok());
  MssResponder second = NoiseResponder();
  out.clear();
  const std::string huge = Message(kMssHeader) + Message(std::string(2000, 'x'));
  const boxcar::Status status = second.Feed(huge, &consumed, &out);
  CHECK_FALSE(status.ok());
  CHECK_FALSE(second.selected());
}

TEST_CASE("multistream: the responder fails after 32 refused proposals, not answering forever") {
  MssResponder responder = NoiseResponder();
  std::string in = Message(kMssHeader);
  for (int i = 0; i < 32; ++i) in += Message("/nope");
  size_t consumed = 0;
  std::string out;
  REQUIRE(responder.Feed(in, &consumed, &out).ok());
  in.erase(0, consumed);
  in += Message("/nope");
  const boxcar::Status status = responder.Feed(in, &consumed, &out);
  CHECK_FALSE(status.ok());
  CHECK(status.message().find("refused proposals") != std::string::npos);
  CHECK_FALSE(responder.selected());
}

TEST_CASE("multistream: the initiator sends header and proposal in one write, then walks na") {
  MssInitiator initiator({"/tls/1.0.0", "/noise"});
  std::string out;
  initiator.Start(&out);
  CHECK(out == Message(kMssHeader) + Message("/tls/1.0.0"));
  out.clear();
  const std::string replies = Message(kMssHeader) + Message("na");
  size_t consumed = 0;
  REQUIRE(initiator.Feed(replies, &consumed, &out).ok());
  CHECK(consumed == replies.size());
  CHECK(out == Message("/noise"));
  CHECK_FALSE(initiator.selected());
  out.clear();
  const std::string echo = Message("/noise") + "data";
  REQUIRE(initiator.Feed(echo, &consumed, &out).ok());
  CHECK(initiator.selected());
  CHECK(initiator.protocol() == "/noise");
  CHECK(echo.substr(consumed) == "data");
  CHECK(out.empty());
}

TEST_CASE("multistream: the initiator names every proposal when all are refused") {
  MssInitiator initiator({"/a", "/b"});
  std::string out;
  initiator.Start(&out);
  size_t consumed = 0;
  const boxcar::Status status =
      initiator.Feed(Message(kMssHeader) + Message("na") + Message("na"), &consumed, &out);
  CHECK(status.IsNotSupported());
  CHECK(status.message().find("/a, /b") != std::string::npos);
  MssInitiator strange({"/a"});
  strange.Start(&out);
  CHECK(strange.Feed(Message(kMssHeader) + Message("/other"), &consumed, &out).code() ==
        boxcar::Status::Code::kInvalidArgument);
}

TEST_CASE("multistream: initiator and responder negotiate with each other in both orders") {
  MssInitiator initiator({"/ipfs/bitswap/1.2.0", "/ipfs/ping/1.0.0"});
  MssResponder responder([](std::string_view protocol) { return protocol == "/ipfs/ping/1.0.0"; });
  std::string to_responder;
  std::string to_initiator;
  initiator.Start(&to_responder);
  for (int round = 0; round < 4 && !(initiator.selected() && responder.selected()); ++round) {
    size_t consumed = 0;
    REQUIRE(responder.Feed(to_responder, &consumed, &to_initiator).ok());
    to_responder.erase(0, consumed);
    REQUIRE(initiator.Feed(to_initiator, &consumed, &to_responder).ok());
    to_initiator.erase(0, consumed);
  }
  CHECK(initiator.selected());
  CHECK(responder.selected());
  CHECK(initiator.protocol() == "/ipfs/ping/1.0.0");
  CHECK(to_responder.empty());
  CHECK(to_initiator.empty());
}

}  // namespace
