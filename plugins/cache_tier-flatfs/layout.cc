#include "layout.h"

namespace flatfs_tier {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr char kMagic[] = {'B', 'X', 'F', '\x01'};

int Base32Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return 26 + (c - '2');
  return -1;
}

}  // namespace

std::string Base32(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : bytes) {
    buffer = (buffer << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(buffer >> bits) & 0x1f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 0x1f]);
  return out;
}

bool DecodeBase32(std::string_view text, std::string* out) {
  out->clear();
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int value = Base32Value(c);
    if (value < 0) return false;
    buffer = (buffer << 5) | static_cast<uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  // What is left must be padding of fewer than 8 bits, all zero, as Base32 writes it.
  return bits < 5 && (buffer & ((1u << bits) - 1)) == 0;
}

std::string ShardOf(std::string_view name) {
  const std::string padded = "___" + std::string(name);
  return padded.substr(padded.size() - 3, 2);
}

std::string EncodeHeader(FileFormat format, uint64_t size) {
  std::string out(kMagic, sizeof(kMagic));
  out.push_back(static_cast<char>(format));
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
  return out;
}

std::string ParseHeader(std::string_view bytes, FileHeader* out) {
  if (bytes.size() < kHeaderBytes) {
    return "file of " + std::to_string(bytes.size()) + " bytes is shorter than the " +
           std::to_string(kHeaderBytes) + "-byte header";
  }
  if (bytes.substr(0, sizeof(kMagic)) != std::string_view(kMagic, sizeof(kMagic))) {
    return "no block file header (bad magic); not written by boxcar's flatfs tier";
  }
  const auto format = static_cast<uint8_t>(bytes[4]);
  if (format > static_cast<uint8_t>(FileFormat::kZstd)) {
    return "unknown format byte " + std::to_string(format);
  }
  out->format = static_cast<FileFormat>(format);
  out->size = 0;
  for (int i = 0; i < 8; ++i) {
    out->size |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[5 + i])) << (8 * i);
  }
  return "";
}

}  // namespace flatfs_tier
