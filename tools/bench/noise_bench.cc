// libp2p Noise on one core: full XX handshakes (both roles in this process, with the Ed25519
// signatures and checks of the libp2p payload) and NoiseCipher transport throughput with
// 65,519-byte frames, the largest a Noise message carries.
//
// A handshake is both sides' work; the per-side figures split the time between the initiator's
// and the responder's calls. tools/bench/noise-vs-openssl.sh runs this next to `openssl speed`.
//
// Usage: bench-noise [--seconds S]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "p2p/noise.h"
#include "p2p/peer_id.h"

namespace {

using boxcar::Status;
using boxcar::p2p::Ed25519Key;
using boxcar::p2p::Libp2pNoiseHandshake;
using boxcar::p2p::NoiseCipher;
using boxcar::p2p::NoiseStaticKey;
using boxcar::p2p::PeerId;
using Clock = std::chrono::steady_clock;

void Check(const Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "bench-noise: %s: %s\n", what, status.ToString().c_str());
  std::exit(1);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Times one call into *spent.
template <typename Call>
Status Timed(Clock::duration* spent, Call&& call) {
  const auto start = Clock::now();
  Status status = call();
  *spent += Clock::now() - start;
  return status;
}

struct HandshakeResult {
  long count = 0;
  double wall = 0, initiator = 0, responder = 0;  // seconds
};

// With `shared`, each side uses one NoiseStaticKey for every handshake.
HandshakeResult RunHandshakes(double seconds, const Ed25519Key& dialer, const Ed25519Key& listener,
                              bool shared) {
  std::shared_ptr<const NoiseStaticKey> dialer_static, listener_static;
  if (shared) {
    Check(NoiseStaticKey::Generate(dialer, &dialer_static), "static key");
    Check(NoiseStaticKey::Generate(listener, &listener_static), "static key");
  }
  const PeerId listener_id = PeerId::FromPublicKeyProto(listener.PublicKeyProto());
  Clock::duration initiator_time{}, responder_time{};
  HandshakeResult result;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::string framed;
  while (Clock::now() < end) {
    for (int batch = 0; batch < 16; ++batch) {
      // Construction makes each side's static key: part of each side's work.
      auto begin = Clock::now();
      Libp2pNoiseHandshake initiator(true, dialer, listener_id, {"/yamux/1.0.0"}, dialer_static);
      initiator_time += Clock::now() - begin;
      begin = Clock::now();
      Libp2pNoiseHandshake responder(false, listener, std::nullopt, {"/yamux/1.0.0"},
                                     listener_static);
      responder_time += Clock::now() - begin;
      for (int message = 0; message < 3; ++message) {
        const bool from_initiator = message != 1;
        Libp2pNoiseHandshake& writer = from_initiator ? initiator : responder;
        Libp2pNoiseHandshake& reader = from_initiator ? responder : initiator;
        framed.clear();
        Check(Timed(from_initiator ? &initiator_time : &responder_time,
                    [&] { return writer.WriteNext(&framed); }),
              "write");
        Check(Timed(from_initiator ? &responder_time : &initiator_time,
                    [&] { return reader.ReadNext(std::string_view(framed).substr(2)); }),
              "read");
      }
      NoiseCipher a, b, c, d;
      auto split_start = Clock::now();
      initiator.Split(&a, &b);
      initiator_time += Clock::now() - split_start;
      split_start = Clock::now();
      responder.Split(&c, &d);
      responder_time += Clock::now() - split_start;
      if (!initiator.finished() || !responder.finished()) Check(Status::Internal("unfinished"), "");
      ++result.count;
    }
  }
  result.wall = Seconds(Clock::now() - start);
  result.initiator = Seconds(initiator_time);
  result.responder = Seconds(responder_time);
  return result;
}

// Plaintext MB/s (10^6 bytes) of Encrypt, or of Decrypt when `decrypt`, on full frames.
double RunCipher(double seconds, const Ed25519Key& dialer, const Ed25519Key& listener,
                 bool decrypt) {
  Libp2pNoiseHandshake initiator(true, dialer, std::nullopt, {});
  Libp2pNoiseHandshake responder(false, listener, std::nullopt, {});
  std::string framed;
  for (int message = 0; message < 3; ++message) {
    Libp2pNoiseHandshake& writer = message != 1 ? initiator : responder;
    Libp2pNoiseHandshake& reader = message != 1 ? responder : initiator;
    framed.clear();
    Check(writer.WriteNext(&framed), "write");
    Check(reader.ReadNext(std::string_view(framed).substr(2)), "read");
  }
  NoiseCipher send, unused_receive, receive, unused_send;
  initiator.Split(&send, &unused_receive);
  responder.Split(&unused_send, &receive);

  const std::string frame(boxcar::p2p::kNoiseMaxPlaintext, 'x');
  std::string sealed, opened;
  sealed.reserve(boxcar::p2p::kNoiseMaxMessage);
  opened.reserve(frame.size());
  long frames = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    for (int batch = 0; batch < 64; ++batch) {
      sealed.clear();
      Check(send.Encrypt(frame, &sealed), "encrypt");
      if (decrypt) {
        opened.clear();
        Check(receive.Decrypt(sealed, &opened), "decrypt");
      }
      ++frames;
    }
  }
  const double elapsed = Seconds(Clock::now() - start);
  return static_cast<double>(frames) * static_cast<double>(frame.size()) / elapsed / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench-noise [--seconds S]\n");
      return 2;
    }
  }
  Ed25519Key dialer, listener;
  Check(Ed25519Key::Generate(&dialer), "key");
  Check(Ed25519Key::Generate(&listener), "key");

  const HandshakeResult handshakes = RunHandshakes(seconds, dialer, listener, false);
  const HandshakeResult shared = RunHandshakes(seconds, dialer, listener, true);
  const double encrypt = RunCipher(seconds, dialer, listener, false);
  // Decrypt's figure: encrypt and decrypt both run, so subtract the encrypt time per byte.
  const double both = RunCipher(seconds, dialer, listener, true);
  const double decrypt = 1.0 / (1.0 / both - 1.0 / encrypt);

  // Machine-readable lines, "name value", for the comparison script.
  std::printf("handshakes %ld\n", handshakes.count);
  std::printf("handshakes_per_s %.0f\n", handshakes.count / handshakes.wall);
  std::printf("initiator_per_s %.0f\n", handshakes.count / handshakes.initiator);
  std::printf("responder_per_s %.0f\n", handshakes.count / handshakes.responder);
  std::printf("shared_handshakes_per_s %.0f\n", shared.count / shared.wall);
  std::printf("shared_initiator_per_s %.0f\n", shared.count / shared.initiator);
  std::printf("shared_responder_per_s %.0f\n", shared.count / shared.responder);
  std::printf("encrypt_mb_per_s %.1f\n", encrypt);
  std::printf("decrypt_mb_per_s %.1f\n", decrypt);
  return 0;
}
