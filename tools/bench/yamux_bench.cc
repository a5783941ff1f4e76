// One yamux stream's throughput in process, without Noise or sockets: what the session itself
// costs per byte, to compare with ChaCha20-Poly1305 (`openssl speed -evp chacha20-poly1305`),
// which the whole stack must reach half of. The client's output is cut into 65,519-byte pieces
// and fed to the server piece by piece, as the swarm does with Noise frames.
//
// Usage: bench-yamux [--mib N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "p2p/yamux.h"

using namespace boxcar::p2p::yamux;

namespace {

constexpr size_t kNoisePlaintext = 65519;

struct Sink : SessionHandler {
  Session* session = nullptr;
  size_t received = 0;
  void OnStreamOpened(uint32_t) override {}
  void OnStreamData(uint32_t id, std::string_view data) override {
    received += data.size();
    session->Consumed(id, data.size());
  }
  void OnStreamFin(uint32_t) override {}
  void OnStreamReset(uint32_t) override {}
  void OnStreamWritable(uint32_t) override {}
  void OnStreamRefused(uint32_t) override {}
  void OnPingRtt(int64_t) override {}
  void OnGoAway(uint32_t) override {}
};

bool Feed(Session& session, const std::string& wire) {
  for (size_t at = 0; at < wire.size(); at += kNoisePlaintext) {
    if (!session.Feed(std::string_view(wire).substr(at, kNoisePlaintext)).ok()) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 1024;
  if (argc == 3 && std::strcmp(argv[1], "--mib") == 0) mib = std::strtoul(argv[2], nullptr, 10);
  Sink client_sink, server_sink;
  Session client(true, {}, &client_sink);
  Session server(false, {}, &server_sink);
  client_sink.session = &client;
  server_sink.session = &server;
  const uint32_t id = client.OpenStream();
  const std::string chunk(256 * 1024, 'x');
  const size_t total = mib << 20;
  size_t written = 0;
  std::string wire;
  const auto start = std::chrono::steady_clock::now();
  while (server_sink.received < total) {
    while (written < total) {
      const size_t accepted = client.Write(id, std::string_view(chunk).substr(0, total - written));
      if (accepted == 0) break;
      written += accepted;
    }
    wire.clear();
    client.TakeOutput(&wire, 1 << 20);
    if (!Feed(server, wire)) return std::puts("bench-yamux: the server refused a frame"), 1;
    wire.clear();
    server.TakeOutput(&wire, 1 << 20);
    if (!Feed(client, wire)) return std::puts("bench-yamux: the client refused a frame"), 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("bench-yamux: %zu MiB through one stream in %.3f s: %.0f MB/s\n", mib, seconds,
              static_cast<double>(total) / seconds / 1e6);
  return 0;
}
