// The Noise handshake payload decoder, alone and behind a real libp2p responder: the input is
// fed as a raw message 1, and as the decrypted payload of message 3 from an initiator that
// follows the protocol, so it reaches the payload decoder and the signature check.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "p2p/noise.h"

namespace {

using boxcar::p2p::Ed25519Key;
using boxcar::p2p::Libp2pNoiseHandshake;
using boxcar::p2p::NoiseHandshakePayload;
using boxcar::p2p::NoiseXX;

const Ed25519Key& ResponderIdentity() {
  static const Ed25519Key key = [] {
    Ed25519Key made;
    if (!Ed25519Key::FromSeed(std::string(32, '\x11'), &made).ok()) std::abort();
    return made;
  }();
  return key;
}

void CheckDecoder(std::string_view input) {
  NoiseHandshakePayload payload;
  if (!boxcar::p2p::DecodeNoisePayload(input, &payload).ok()) return;
  // What decodes re-encodes to something that decodes to the same fields.
  NoiseHandshakePayload again;
  if (!boxcar::p2p::DecodeNoisePayload(EncodeNoisePayload(payload), &again).ok()) std::abort();
  if (again.identity_key != payload.identity_key || again.identity_sig != payload.identity_sig ||
      again.stream_muxers != payload.stream_muxers) {
    std::abort();
  }
}

void FeedAsFirstMessage(std::string_view input) {
  Libp2pNoiseHandshake responder(false, ResponderIdentity(), std::nullopt, {});
  if (responder.ReadNext(input).ok() && !responder.our_turn()) std::abort();
}

void FeedAsThirdPayload(std::string_view input) {
  Libp2pNoiseHandshake responder(false, ResponderIdentity(), std::nullopt, {"/yamux/1.0.0"});
  NoiseXX initiator(true, {}, std::string(32, '\x22'), std::string(32, '\x33'));
  std::string message, ignored, framed;
  if (!initiator.WriteMessage({}, &message).ok() || !responder.ReadNext(message).ok() ||
      !responder.WriteNext(&framed).ok() ||
      !initiator.ReadMessage(std::string_view(framed).substr(2), &ignored).ok()) {
    std::abort();  // an honest exchange must work
  }
  if (!initiator.WriteMessage(input, &message).ok()) return;  // too long for one message
  // The signature cannot match a fuzzed payload, so the handshake must fail.
  if (responder.ReadNext(message).ok() || responder.finished()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckDecoder(input);
  FeedAsFirstMessage(input);
  FeedAsThirdPayload(input);
  return 0;
}
