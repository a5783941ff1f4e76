// One simulated Bitswap peer of the load generator (bench-bitswap): a connection that RawPeer
// upgraded (TCP + Noise + Yamux, its own Ed25519 identity), then driven by a shared io_context,
// so thousands of peers need no thread each.
//
// It opens one outbound /ipfs/bitswap/1.2.0 stream for its wantlists, and accepts the Bitswap
// streams the server opens to reply (boxcar's own outbound stream, Helia's stream per send);
// other inbound protocols (identify) are refused with "na". Every complete message from any
// stream goes to on_message, decoded (a block's CID is rebuilt by hashing its bytes, so a block
// that does not match the CID asked for arrives as a CID nobody asked for).
//
// Thread safety: none. Create it anywhere, then call every method on the io_context's thread
// (post Start there); callbacks run on that thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "bitswap/message.h"
#include "boxcar/status.h"
#include "p2p/multistream.h"
#include "p2p/yamux.h"
#include "raw_peer.h"

namespace boxcar::bench {

class BitswapPeer : public p2p::yamux::SessionHandler,
                    public std::enable_shared_from_this<BitswapPeer> {
 public:
  struct Callbacks {
    std::function<void(const bitswap::Message& message)> on_message;
    // The server echoed /ipfs/bitswap/1.2.0 on the outbound stream (one round trip after Start).
    std::function<void()> on_ready;
    // A message that did not decode, or a stream the peer reset (counted, not fatal).
    std::function<void(const Status& problem)> on_problem;
    // The connection ended (once): an error, the server's GoAway or our Close.
    std::function<void(const Status& why)> on_closed;
  };

  BitswapPeer(boost::asio::io_context& io, testing::RawPeer::Transport transport,
              Callbacks callbacks);
  ~BitswapPeer() override;

  // Starts reading and negotiates the outbound Bitswap stream.
  void Start();
  // Queues one framed message (bitswap::Encoder::Finish output) on the outbound stream; it
  // leaves once the server echoed the protocol.
  void Send(std::string framed);
  void Close();
  bool closed() const { return closed_; }
  // Bytes queued for the outbound stream and not yet accepted by the session.
  size_t queued() const { return queued_.size(); }

 private:
  struct InboundStream {
    p2p::MssResponder responder;
    bitswap::FrameReader frames;
    InboundStream();
  };

  void Read();
  void OnRead(size_t bytes);
  void Flush();
  void Fail(const Status& why);
  void WriteQueued();
  void DeliverFrames(bitswap::FrameReader& frames, std::string_view data);

  // yamux::SessionHandler
  void OnStreamOpened(uint32_t id) override;
  void OnStreamData(uint32_t id, std::string_view data) override;
  void OnStreamFin(uint32_t id) override;
  void OnStreamReset(uint32_t id) override;
  void OnStreamWritable(uint32_t id) override;
  void OnStreamRefused(uint32_t) override {}
  void OnPingRtt(int64_t) override {}
  void OnGoAway(uint32_t code) override;

  void OnOutboundData(std::string_view data);
  void OpenOutbound();

  boost::asio::ip::tcp::socket socket_;
  p2p::NoiseCipher send_;
  p2p::NoiseCipher receive_;
  std::string pending_plaintext_;  // decrypted by RawPeer before the hand-over
  Callbacks callbacks_;
  p2p::yamux::Session session_;
  std::string read_buffer_;
  std::string received_;  // ciphertext frames not yet complete
  std::string wire_;      // encrypted bytes being written
  bool adopted_ = false;
  bool in_feed_ = false;  // inside session_.Feed, which its handlers must not re-enter
  bool writing_ = false;
  bool closed_ = false;

  uint32_t outbound_id_ = 0;
  std::optional<p2p::MssInitiator> outbound_select_;
  std::string outbound_replies_;  // server bytes on our stream before the echo completed
  bitswap::FrameReader outbound_frames_;
  std::string queued_;  // framed messages not yet accepted by the session
  std::map<uint32_t, InboundStream> inbound_;
};

}  // namespace boxcar::bench
