#include "p2p/noise.h"

#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "cacophony_xx_vector.h"
#include "p2p_test_util.h"

namespace {

using boxcar::Status;
using boxcar::p2p::DecodeNoisePayload;
using boxcar::p2p::Ed25519Key;
using boxcar::p2p::EncodeNoisePayload;
using boxcar::p2p::HandshakeFailure;
using boxcar::p2p::Libp2pNoiseHandshake;
using boxcar::p2p::NoiseCipher;
using boxcar::p2p::NoiseHandshakePayload;
using boxcar::p2p::NoiseXX;
using boxcar::p2p::PeerId;
using p2p_test::Hex;
using p2p_test::Unhex;

TEST_CASE("noise: the cacophony Noise_XX_25519_ChaChaPoly_SHA256 vector, both roles") {
  using namespace cacophony_xx;
  NoiseXX initiator(true, Unhex(kPrologue), Unhex(kInitStatic), Unhex(kInitEphemeral));
  NoiseXX responder(false, Unhex(kPrologue), Unhex(kRespStatic), Unhex(kRespEphemeral));
  REQUIRE(initiator.init_status().ok());
  REQUIRE(responder.init_status().ok());
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    NoiseXX& writer = i % 2 == 0 ? initiator : responder;
    NoiseXX& reader = i % 2 == 0 ? responder : initiator;
    REQUIRE(writer.our_turn());
    std::string message;
    Status status = writer.WriteMessage(Unhex(kMessages[i].payload), &message);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    CHECK(Hex(message) == kMessages[i].ciphertext);
    std::string payload;
    status = reader.ReadMessage(message, &payload);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    CHECK(Hex(payload) == kMessages[i].payload);
  }
  REQUIRE(initiator.finished());
  REQUIRE(responder.finished());
  CHECK(Hex(initiator.handshake_hash()) == kHandshakeHash);
  CHECK(Hex(responder.handshake_hash()) == kHandshakeHash);
  CHECK(initiator.remote_static_public() == responder.local_static_public());
  CHECK(responder.remote_static_public() == initiator.local_static_public());

  NoiseCipher initiator_send, initiator_receive, responder_send, responder_receive;
  initiator.Split(&initiator_send, &initiator_receive);
  responder.Split(&responder_send, &responder_receive);
  for (int i = 3; i < 6; ++i) {
    CAPTURE(i);
    // The vector keeps alternating: even messages are the initiator's.
    NoiseCipher& send = i % 2 == 0 ? initiator_send : responder_send;
    NoiseCipher& receive = i % 2 == 0 ? responder_receive : initiator_receive;
    std::string message;
    REQUIRE(send.Encrypt(Unhex(kMessages[i].payload), &message).ok());
    CHECK(Hex(message) == kMessages[i].ciphertext);
    std::string payload;
    REQUIRE(receive.Decrypt(message, &payload).ok());
    CHECK(Hex(payload) == kMessages[i].payload);
  }
}

TEST_CASE("noise: handshake messages out of turn or truncated are refused") {
  using namespace cacophony_xx;
  NoiseXX responder(false, {}, Unhex(kRespStatic));
  std::string message, payload;
  CHECK(!responder.WriteMessage("", &message).ok());
  CHECK(!responder.ReadMessage(std::string(31, 'e'), &payload).ok());
  // After a failure the state is spent.
  CHECK(!responder.ReadMessage(std::string(32, 'e'), &payload).ok());
  CHECK(!NoiseXX(true, {}, "short").init_status().ok());
}

NoiseHandshakePayload SamplePayload() {
  NoiseHandshakePayload payload;
  payload.identity_key = std::string("\x08\x01\x12\x20", 4) + std::string(32, 'k');
  payload.identity_sig = std::string(64, 's');
  payload.stream_muxers = {"/yamux/1.0.0", "/mplex/6.7.0"};
  return payload;
}

TEST_CASE("noise payload: round trip, field tags, unknown fields and errors") {
  const NoiseHandshakePayload sample = SamplePayload();
  const std::string bytes = EncodeNoisePayload(sample);
  CHECK(bytes.substr(0, 2) == std::string("\x0a\x24", 2));   // identity_key = 1
  CHECK(bytes.substr(38, 2) == std::string("\x12\x40", 2));  // identity_sig = 2
  CHECK(bytes[104] == '\x22');                               // extensions = 4
  NoiseHandshakePayload decoded;
  REQUIRE(DecodeNoisePayload(bytes, &decoded).ok());
  CHECK(decoded.identity_key == sample.identity_key);
  CHECK(decoded.identity_sig == sample.identity_sig);
  CHECK(decoded.stream_muxers == sample.stream_muxers);

  // Unknown fields (a varint 3, webtransport_certhashes in the extensions) are skipped.
  const std::string extended = bytes + std::string("\x18\x07\x22\x03\x0a\x01\x00", 7);
  REQUIRE(DecodeNoisePayload(extended, &decoded).ok());
  CHECK(decoded.stream_muxers == sample.stream_muxers);

  CHECK(DecodeNoisePayload(std::string("\x08\x01", 2), &decoded)
            .message()
            .find("field 1 (identity_key) must be length-delimited") != std::string::npos);
  CHECK(!DecodeNoisePayload(std::string("\x0a\x05\x00", 3), &decoded).ok());
  CHECK(!DecodeNoisePayload(std::string("\x22\x02\x12\x05", 4), &decoded).ok());
  CHECK(DecodeNoisePayload("", &decoded).ok());
}

// Runs a libp2p handshake in process; true when both sides finished.
bool RunHandshake(Libp2pNoiseHandshake* initiator, Libp2pNoiseHandshake* responder,
                  const std::function<void(int, std::string*)>& tamper = {}) {
  for (int i = 0; i < 3; ++i) {
    Libp2pNoiseHandshake& writer = i % 2 == 0 ? *initiator : *responder;
    Libp2pNoiseHandshake& reader = i % 2 == 0 ? *responder : *initiator;
    std::string framed;
    if (!writer.our_turn() || !writer.WriteNext(&framed).ok()) return false;
    REQUIRE(framed.size() >= 2);
    const size_t length =
        (static_cast<unsigned char>(framed[0]) << 8) | static_cast<unsigned char>(framed[1]);
    REQUIRE(length == framed.size() - 2);
    std::string message = framed.substr(2);
    if (tamper) tamper(i, &message);
    if (!reader.ReadNext(message).ok()) return false;
  }
  return initiator->finished() && responder->finished();
}

struct Identities {
  Identities() {
    REQUIRE(Ed25519Key::Generate(&dialer).ok());
    REQUIRE(Ed25519Key::Generate(&listener).ok());
  }
  PeerId DialerId() const { return PeerId::FromPublicKeyProto(dialer.PublicKeyProto()); }
  PeerId ListenerId() const { return PeerId::FromPublicKeyProto(listener.PublicKeyProto()); }
  Ed25519Key dialer, listener;
};

TEST_CASE("libp2p noise: both roles authenticate each other and exchange data") {
  Identities keys;
  Libp2pNoiseHandshake initiator(true, keys.dialer, keys.ListenerId(), {"/yamux/1.0.0"});
  Libp2pNoiseHandshake responder(false, keys.listener, std::nullopt, {"/yamux/1.0.0"});
  CHECK(initiator.our_turn());
  CHECK(!responder.our_turn());
  REQUIRE(RunHandshake(&initiator, &responder));
  CHECK(initiator.remote_peer() == keys.ListenerId());
  CHECK(responder.remote_peer() == keys.DialerId());
  CHECK(initiator.remote_public_key() == keys.listener.PublicKeyProto());
  CHECK(initiator.remote_stream_muxers() == std::vector<std::string>{"/yamux/1.0.0"});
  CHECK(responder.remote_stream_muxers() == std::vector<std::string>{"/yamux/1.0.0"});
  CHECK(initiator.failure() == HandshakeFailure::kNone);

  NoiseCipher a_send, a_receive, b_send, b_receive;
  initiator.Split(&a_send, &a_receive);
  responder.Split(&b_send, &b_receive);
  const std::string frame(boxcar::p2p::kNoiseMaxPlaintext, 'x');
  std::string sealed, opened;
  REQUIRE(a_send.Encrypt(frame, &sealed).ok());
  CHECK(sealed.size() == boxcar::p2p::kNoiseMaxMessage);
  REQUIRE(b_receive.Decrypt(sealed, &opened).ok());
  CHECK(opened == frame);
  sealed.clear();
  opened.clear();
  REQUIRE(b_send.Encrypt("pong", &sealed).ok());
  REQUIRE(a_receive.Decrypt(sealed, &opened).ok());
  CHECK(opened == "pong");
  CHECK(!a_send.Encrypt(frame + "y", &sealed).ok());
}

TEST_CASE("libp2p noise: a shared static key serves many handshakes in both roles") {
  Identities keys;
  std::shared_ptr<const boxcar::p2p::NoiseStaticKey> dialer_static, listener_static;
  REQUIRE(boxcar::p2p::NoiseStaticKey::Generate(keys.dialer, &dialer_static).ok());
  REQUIRE(boxcar::p2p::NoiseStaticKey::Generate(keys.listener, &listener_static).ok());
  for (int round = 0; round < 2; ++round) {
    Libp2pNoiseHandshake initiator(true, keys.dialer, keys.ListenerId(), {}, dialer_static);
    Libp2pNoiseHandshake responder(false, keys.listener, std::nullopt, {}, listener_static);
    REQUIRE(RunHandshake(&initiator, &responder));
    CHECK(responder.remote_peer() == keys.DialerId());
  }
  // Against a side with a fresh key per handshake, too.
  Libp2pNoiseHandshake initiator(true, keys.dialer, keys.ListenerId(), {});
  Libp2pNoiseHandshake responder(false, keys.listener, std::nullopt, {}, listener_static);
  REQUIRE(RunHandshake(&initiator, &responder));
  // A static key signed by another identity fails the signature check.
  Libp2pNoiseHandshake impostor(false, keys.listener, std::nullopt, {}, dialer_static);
  Libp2pNoiseHandshake victim(true, keys.dialer, std::nullopt, {});
  CHECK(!RunHandshake(&victim, &impostor));
  CHECK(victim.failure() == HandshakeFailure::kBadSignature);
}

TEST_CASE("libp2p noise: no extensions when no muxers are given") {
  Identities keys;
  Libp2pNoiseHandshake initiator(true, keys.dialer, std::nullopt, {});
  Libp2pNoiseHandshake responder(false, keys.listener, std::nullopt, {});
  REQUIRE(RunHandshake(&initiator, &responder));
  CHECK(initiator.remote_stream_muxers().empty());
  CHECK(responder.remote_stream_muxers().empty());
}

TEST_CASE("libp2p noise: dialing the wrong PeerID fails with kPeerIdMismatch") {
  Identities keys;
  Ed25519Key stranger;
  REQUIRE(Ed25519Key::Generate(&stranger).ok());
  Libp2pNoiseHandshake initiator(true, keys.dialer,
                                 PeerId::FromPublicKeyProto(stranger.PublicKeyProto()), {});
  Libp2pNoiseHandshake responder(false, keys.listener, std::nullopt, {});
  CHECK(!RunHandshake(&initiator, &responder));
  CHECK(initiator.failure() == HandshakeFailure::kPeerIdMismatch);
  CHECK(!initiator.finished());
}

// A responder that signs a static key other than the one it uses: its message 2 decrypts, but the
// signature does not cover the static key the initiator received.
TEST_CASE("libp2p noise: a signature over another static key fails with kBadSignature") {
  Identities keys;
  Libp2pNoiseHandshake initiator(true, keys.dialer, std::nullopt, {});
  Libp2pNoiseHandshake responder(false, keys.listener, std::nullopt, {});
  std::string framed;
  REQUIRE(initiator.WriteNext(&framed).ok());
  REQUIRE(responder.ReadNext(std::string_view(framed).substr(2)).ok());

  std::string first_message = framed.substr(2);
  NoiseXX forger(false, {}, std::string(32, '\x07'));
  std::string ignored;
  REQUIRE(forger.ReadMessage(first_message, &ignored).ok());
  NoiseHandshakePayload payload;
  payload.identity_key = keys.listener.PublicKeyProto();
  payload.identity_sig = keys.listener.Sign("noise-libp2p-static-key:" + std::string(32, 'z'));
  std::string second_message;
  REQUIRE(forger.WriteMessage(EncodeNoisePayload(payload), &second_message).ok());
  CHECK(!initiator.ReadNext(second_message).ok());
  CHECK(initiator.failure() == HandshakeFailure::kBadSignature);
}

TEST_CASE("libp2p noise: a tampered handshake ciphertext fails with kDecrypt") {
  Identities keys;
  Libp2pNoiseHandshake initiator(true, keys.dialer, std::nullopt, {});
  Libp2pNoiseHandshake responder(false, keys.listener, std::nullopt, {});
  CHECK(!RunHandshake(&initiator, &responder, [](int index, std::string* message) {
    if (index == 1) message->back() ^= 0x01;  // the tag of message 2's payload
  }));
  CHECK(initiator.failure() == HandshakeFailure::kDecrypt);
}

TEST_CASE("libp2p noise: a payload that is not a protobuf fails with kProtocol") {
  Identities keys;
  Libp2pNoiseHandshake initiator(true, keys.dialer, std::nullopt, {});
  std::string framed;
  REQUIRE(initiator.WriteNext(&framed).ok());
  NoiseXX forger(false, {}, std::string(32, '\x07'));
  std::string ignored, second_message;
  REQUIRE(forger.ReadMessage(framed.substr(2), &ignored).ok());
  REQUIRE(forger.WriteMessage(std::string("\x0f\xff", 2), &second_message).ok());
  CHECK(!initiator.ReadNext(second_message).ok());
  CHECK(initiator.failure() == HandshakeFailure::kProtocol);
  // A truncated message 2 is a protocol error too.
  Libp2pNoiseHandshake other(true, keys.dialer, std::nullopt, {});
  framed.clear();
  REQUIRE(other.WriteNext(&framed).ok());
  CHECK(!other.ReadNext(std::string(40, 'x')).ok());
  CHECK(other.failure() == HandshakeFailure::kProtocol);
}

TEST_CASE("noise transport: tampered, replayed and reordered frames fail with Corruption") {
  Identities keys;
  Libp2pNoiseHandshake initiator(true, keys.dialer, std::nullopt, {});
  Libp2pNoiseHandshake responder(false, keys.listener, std::nullopt, {});
  REQUIRE(RunHandshake(&initiator, &responder));
  NoiseCipher send, unused_receive, receive, unused_send;
  initiator.Split(&send, &unused_receive);
  responder.Split(&unused_send, &receive);

  std::string first, second, plain;
  REQUIRE(send.Encrypt("first", &first).ok());
  REQUIRE(send.Encrypt("second", &second).ok());
  CHECK(send.nonce() == 2);

  // Reordered: frame 2 under nonce 0.
  CHECK(receive.Decrypt(second, &plain).code() == Status::Code::kCorruption);
  CHECK(plain.empty());
  CHECK(receive.nonce() == 0);
  // Tampered.
  std::string tampered = first;
  tampered[0] ^= 0x20;
  CHECK(receive.Decrypt(tampered, &plain).code() == Status::Code::kCorruption);
  REQUIRE(receive.Decrypt(first, &plain).ok());
  CHECK(plain == "first");
  // Replayed: frame 1 again, now under nonce 1; a reused nonce never decrypts.
  CHECK(receive.Decrypt(first, &plain).code() == Status::Code::kCorruption);
  REQUIRE(receive.Decrypt(second, &plain).ok());
  CHECK(plain == "firstsecond");
  CHECK(receive.Decrypt("short", &plain).code() == Status::Code::kCorruption);
  // A cipher without keys refuses to work.
  NoiseCipher keyless;
  CHECK(!keyless.Encrypt("x", &plain).ok());
}

}  // namespace
