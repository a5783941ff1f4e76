#include "cids.h"

#include <cctype>
#include <fstream>

namespace boxcar::loadgen {

std::string Base32LowerNoPad(std::string_view bytes) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(buffer >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

std::string RawCidFromDigest(std::string_view digest) {
  // version 1, codec raw, multihash code sha2-256, digest length 32: each a one-byte varint.
  std::string bytes = {'\x01', '\x55', '\x12', '\x20'};
  bytes.append(digest);
  return "b" + Base32LowerNoPad(bytes);
}

std::vector<std::string> RandomMissingCids(size_t count, std::mt19937_64& rng) {
  std::vector<std::string> cids;
  cids.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    std::string digest(32, '\0');
    for (size_t j = 0; j < digest.size(); j += 8) {
      const uint64_t word = rng();
      for (size_t k = 0; k < 8; ++k) digest[j + k] = static_cast<char>(word >> (8 * k));
    }
    cids.push_back(RawCidFromDigest(digest));
  }
  return cids;
}

Status ReadCidFile(const std::string& path, std::vector<std::string>* cids) {
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot open CID file '" + path + "'");
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::string_view text(line);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
      text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
      text.remove_suffix(1);
    }
    if (text.empty() || text.front() == '#') continue;
    for (char c : text) {
      if (!std::isalnum(static_cast<unsigned char>(c))) {
        return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": '" +
                                       std::string(text) +
                                       "' is not a CID (CIDs are alphanumeric; comments start "
                                       "with '#' at the beginning of a line)");
      }
    }
    cids->emplace_back(text);
  }
  if (in.bad()) return Status::IOError("error reading CID file '" + path + "'");
  if (cids->empty()) {
    return Status::InvalidArgument("CID file '" + path + "' lists no CIDs; put one CID per line");
  }
  return Status::OK();
}

}  // namespace boxcar::loadgen
