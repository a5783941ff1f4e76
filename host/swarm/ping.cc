// Ping (/ipfs/ping/1.0.0): the responder echoes every byte until the peer's FIN; the initiator
// measures one round trip of 32 random bytes.
#include <chrono>

#include <openssl/rand.h>
#include <boost/asio/steady_timer.hpp>

#include "swarm/swarm_impl.h"

namespace boxcar::p2p {
namespace {
constexpr size_t kPingSize = 32;
constexpr auto kPingTimeout = std::chrono::seconds(10);
}  // namespace

void Swarm::Impl::RegisterPing() {
  handlers_[kPingProtocol] = [](StreamPtr stream) {
    Stream* raw = stream.get();  // alive while its callbacks run
    stream->SetReader(
        [raw](std::string_view data) {
          // A pinger sends 32 bytes and waits for them; one that floods past the stream's send
          // buffer is not pinging.
          if (raw->Write(data) < data.size()) raw->Reset();
        },
        [raw](Status end) {
          if (end.ok()) raw->CloseWrite();
        });
  };
}

void Swarm::Impl::PingOn(const std::shared_ptr<Connection>& conn,
                         std::function<void(Status, int64_t)> done) {
  boost::asio::post(conn->io_context(), [this, conn, done = std::move(done)]() mutable {
    auto once = std::make_shared<std::function<void(Status, int64_t)>>(std::move(done));
    auto finish = [once](Status status, int64_t rtt) {
      if (!*once) return;
      auto callback = std::move(*once);
      *once = nullptr;
      callback(status, rtt);
    };
    conn->OpenStream({kPingProtocol}, [this, finish, conn](Status s, StreamPtr stream) {
      if (!s.ok()) {
        finish(s, 0);
        return;
      }
      std::string payload(kPingSize, '\0');
      RAND_bytes(reinterpret_cast<unsigned char*>(payload.data()), kPingSize);
      auto timer = std::make_shared<boost::asio::steady_timer>(conn->io_context());
      timer->expires_after(kPingTimeout);
      timer->async_wait([finish, stream](const boost::system::error_code& ec) {
        if (ec) return;
        stream->Reset();
        finish(Status::Unavailable("ping to " + stream->peer().ToString() + " timed out"), 0);
      });
      auto echoed = std::make_shared<std::string>();
      const int64_t sent_ns = SwarmNowNs();
      Stream* raw = stream.get();
      stream->SetReader(
          [this, finish, timer, echoed, payload, sent_ns, raw, conn](std::string_view data) {
            echoed->append(data);
            if (echoed->size() < kPingSize) return;
            timer->cancel();
            if (echoed->compare(0, kPingSize, payload) != 0) {
              raw->Reset();
              finish(Status::Corruption("ping: the echo differs from what was sent"), 0);
              return;
            }
            const int64_t rtt = SwarmNowNs() - sent_ns;
            OnRtt(*conn, rtt);
            raw->CloseWrite();
            finish(Status::OK(), rtt);
          },
          [finish, timer](Status end) {
            timer->cancel();
            finish(end.ok() ? Status::Unavailable("ping: the peer closed before echoing") : end, 0);
          });
      stream->Write(payload);
    });
  });
}

}  // namespace boxcar::p2p
