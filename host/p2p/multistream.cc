#include "p2p/multistream.h"

#include <string>
#include <utility>

namespace boxcar::p2p {
namespace {

constexpr std::string_view kNotAvailable = "na";
// js-libp2p's handler reads the length as at most two varint bytes and go caps the token at
// 1,024 bytes; the length counts the trailing '\n'.
constexpr size_t kMaxMessageLength = kMssMaxToken + 1;

std::string Printable(std::string_view token) {
  std::string shown;
  for (char c : token.substr(0, 64)) {
    const auto byte = static_cast<unsigned char>(c);
    shown += (byte >= 0x20 && byte < 0x7f) ? c : '?';
  }
  if (token.size() > 64) shown += "...";
  return shown;
}

// Reads the next message from in[*consumed..], checking the header first: *have_token says
// whether *token holds a message after the header (false: more input is needed).
Status NextToken(std::string_view in, size_t* consumed, bool* header_seen, std::string* token,
                 bool* have_token) {
  for (;;) {
    size_t used = 0;
    Status error;
    const MssRead read = ReadMssMessage(in.substr(*consumed), &used, token, &error);
    if (read == MssRead::kNeedMore) return Status::OK();
    if (read == MssRead::kError) return error;
    *consumed += used;
    if (*header_seen) {
      *have_token = true;
      return Status::OK();
    }
    if (*token != kMssHeader) {
      return Status::InvalidArgument("multistream: expected the header " + std::string(kMssHeader) +
                                     ", got \"" + Printable(*token) + "\"");
    }
    *header_seen = true;
  }
}

}  // namespace

void AppendMssMessage(std::string_view token, std::string* out) {
  size_t length = token.size() + 1;
  while (length >= 0x80) {
    out->push_back(static_cast<char>((length & 0x7f) | 0x80));
    length >>= 7;
  }
  out->push_back(static_cast<char>(length));
  out->append(token);
  out->push_back('\n');
}

MssRead ReadMssMessage(std::string_view buffer, size_t* consumed, std::string* token,
                       Status* error) {
  if (buffer.empty()) return MssRead::kNeedMore;
  const auto first = static_cast<unsigned char>(buffer[0]);
  size_t length = first & 0x7f;
  size_t prefix = 1;
  if (first & 0x80) {
    if (buffer.size() < 2) return MssRead::kNeedMore;
    const auto second = static_cast<unsigned char>(buffer[1]);
    if (second & 0x80) {
      *error = Status::InvalidArgument(
          "multistream: the message length takes more than two varint bytes (the limit is " +
          std::to_string(kMaxMessageLength) + " bytes)");
      return MssRead::kError;
    }
    if (second == 0) {
      *error = Status::InvalidArgument("multistream: the message length is a non-minimal varint");
      return MssRead::kError;
    }
    length |= static_cast<size_t>(second) << 7;
    prefix = 2;
  }
  if (length == 0) {
    *error = Status::InvalidArgument("multistream: an empty message (it needs at least '\\n')");
    return MssRead::kError;
  }
  if (length > kMaxMessageLength) {
    *error = Status::InvalidArgument("multistream: a message of " + std::to_string(length) +
                                     " bytes; protocol names are limited to " +
                                     std::to_string(kMssMaxToken) + " bytes");
    return MssRead::kError;
  }
  if (buffer.size() < prefix + length) return MssRead::kNeedMore;
  if (buffer[prefix + length - 1] != '\n') {
    *error = Status::InvalidArgument("multistream: a message that does not end in '\\n'");
    return MssRead::kError;
  }
  token->assign(buffer.substr(prefix, length - 1));
  *consumed = prefix + length;
  return MssRead::kMessage;
}

MssResponder::MssResponder(std::function<bool(std::string_view protocol)> supports)
    : supports_(std::move(supports)) {}

Status MssResponder::Feed(std::string_view in, size_t* consumed, std::string* out) {
  *consumed = 0;
  if (!header_sent_) {
    AppendMssMessage(kMssHeader, out);
    header_sent_ = true;
  }
  std::string token;
  while (!selected_) {
    bool have_token = false;
    if (Status s = NextToken(in, consumed, &header_seen_, &token, &have_token); !s.ok()) return s;
    if (!have_token) break;
    // "ls" and every protocol we do not run get "na"; the dialer may then propose again.
    if (token != "ls" && supports_(token)) {
      AppendMssMessage(token, out);
      protocol_ = std::move(token);
      selected_ = true;
    } else if (++refused_ > kMaxRefusedProposals) {
      return Status::InvalidArgument(
          "multistream: more than " + std::to_string(kMaxRefusedProposals) +
          " refused proposals in one negotiation; the last was '" + token + "'");
    } else {
      AppendMssMessage(kNotAvailable, out);
    }
  }
  return Status::OK();
}

MssInitiator::MssInitiator(std::vector<std::string> proposals) : proposals_(std::move(proposals)) {}

void MssInitiator::Start(std::string* out) {
  AppendMssMessage(kMssHeader, out);
  if (next_ < proposals_.size()) AppendMssMessage(proposals_[next_++], out);
}

Status MssInitiator::Feed(std::string_view in, size_t* consumed, std::string* out) {
  *consumed = 0;
  if (proposals_.empty()) return Status::NotSupported("multistream: nothing to propose");
  std::string token;
  while (!selected_) {
    bool have_token = false;
    if (Status s = NextToken(in, consumed, &header_seen_, &token, &have_token); !s.ok()) return s;
    if (!have_token) break;
    if (next_ > 0 && token == proposals_[next_ - 1]) {
      protocol_ = std::move(token);
      selected_ = true;
    } else if (token == kNotAvailable) {
      if (next_ >= proposals_.size()) return AllRefused();
      AppendMssMessage(proposals_[next_++], out);
    } else {
      return Status::InvalidArgument("multistream: the reply \"" + Printable(token) +
                                     "\" is neither the proposal, \"na\" nor the header");
    }
  }
  return Status::OK();
}

Status MssInitiator::AllRefused() const {
  std::string names;
  for (const std::string& proposal : proposals_) {
    names += names.empty() ? "" : ", ";
    names += proposal;
  }
  return Status::NotSupported("multistream: the peer supports none of: " + names);
}

}  // namespace boxcar::p2p
