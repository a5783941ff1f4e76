// multistream-select 1.0 (multiformats/multistream-select), both roles, as byte-in/byte-out
// state machines with no I/O so the connection and every stream can drive them.
//
// A message is uvarint(len) || text || '\n', the length counting the '\n'. Tokens are capped at
// kMssMaxToken bytes. Both sides send the header "/multistream/1.0.0" first. Bytes that follow
// the selection (go-libp2p's lazy form sends data right behind its proposal) are not consumed:
// they belong to the selected protocol.
//
// Thread safety: none; one object per negotiation.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"

namespace boxcar::p2p {

inline constexpr std::string_view kMssHeader = "/multistream/1.0.0";
inline constexpr size_t kMssMaxToken = 1024;

// Appends one message carrying `token` to *out.
void AppendMssMessage(std::string_view token, std::string* out);

enum class MssRead { kMessage, kNeedMore, kError };
// Reads one message from the front of `buffer`: kMessage with *consumed and *token set,
// kNeedMore, or kError with *error saying what is wrong (a token over 1,024 bytes, no trailing
// '\n', a bad varint).
MssRead ReadMssMessage(std::string_view buffer, size_t* consumed, std::string* token,
                       Status* error);

// The listener's side: echoes a supported proposal, answers "na" to others (and to "ls").
// Past kMaxRefusedProposals refusals in one negotiation Feed fails: a peer that proposes
// without end (and may not read the "na"s) must not grow our output without bound.
class MssResponder {
 public:
  static constexpr int kMaxRefusedProposals = 32;
  explicit MssResponder(std::function<bool(std::string_view protocol)> supports);
  // Consumes what it can from `in` (*consumed), appending replies (its own header first) to
  // *out. Stops consuming right after the selected proposal. An error means: close the stream
  // or connection.
  Status Feed(std::string_view in, size_t* consumed, std::string* out);
  bool selected() const { return selected_; }
  const std::string& protocol() const { return protocol_; }

 private:
  std::function<bool(std::string_view)> supports_;
  bool header_sent_ = false;
  bool header_seen_ = false;
  bool selected_ = false;
  int refused_ = 0;
  std::string protocol_;
};

// The dialer's side: proposes each protocol in order until one is echoed.
class MssInitiator {
 public:
  explicit MssInitiator(std::vector<std::string> proposals);
  // Appends the header and the first proposal (one write, as js and go do).
  void Start(std::string* out);
  // Consumes replies; on "na" appends the next proposal to *out. NotSupported naming every
  // proposal when the peer refused them all; InvalidArgument on a reply that is neither the
  // header, the proposal, nor "na".
  Status Feed(std::string_view in, size_t* consumed, std::string* out);
  bool selected() const { return selected_; }
  const std::string& protocol() const { return protocol_; }

 private:
  Status AllRefused() const;

  std::vector<std::string> proposals_;
  size_t next_ = 0;
  bool header_seen_ = false;
  bool selected_ = false;
  std::string protocol_;
};

}  // namespace boxcar::p2p
