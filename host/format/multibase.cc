#include "format/multibase.h"

#include <array>
#include <cstdint>
#include <vector>

namespace boxcar::format {
namespace {

constexpr char kBase32Lower[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr char kBase32Upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr char kBase58btc[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr char kBase36Lower[] = "0123456789abcdefghijklmnopqrstuvwxyz";
constexpr char kBase36Upper[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr char kBase16Lower[] = "0123456789abcdef";
constexpr char kBase16Upper[] = "0123456789ABCDEF";
constexpr char kBase64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr uint8_t kInvalid = 0xff;

// Character -> digit value, kInvalid for characters outside the alphabet.
using DecodeTable = std::array<uint8_t, 256>;

constexpr DecodeTable MakeDecodeTable(const char* alphabet) {
  DecodeTable table{};
  for (auto& entry : table) entry = kInvalid;
  for (uint8_t i = 0; alphabet[i] != '\0'; ++i) table[static_cast<unsigned char>(alphabet[i])] = i;
  return table;
}

constexpr DecodeTable kBase32LowerTable = MakeDecodeTable(kBase32Lower);
constexpr DecodeTable kBase32UpperTable = MakeDecodeTable(kBase32Upper);
constexpr DecodeTable kBase58btcTable = MakeDecodeTable(kBase58btc);
constexpr DecodeTable kBase36LowerTable = MakeDecodeTable(kBase36Lower);
constexpr DecodeTable kBase36UpperTable = MakeDecodeTable(kBase36Upper);
constexpr DecodeTable kBase16LowerTable = MakeDecodeTable(kBase16Lower);
constexpr DecodeTable kBase16UpperTable = MakeDecodeTable(kBase16Upper);
constexpr DecodeTable kBase64urlTable = MakeDecodeTable(kBase64url);

// "'x'" for printable ASCII, "0x.." otherwise, so messages stay readable for binary junk.
std::string DescribeChar(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x21 && byte < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[byte >> 4] + kHex[byte & 0xf];
}

Status BadChar(const char* base, char c, size_t position) {
  return Status::InvalidArgument(std::string("invalid ") + base + " character " + DescribeChar(c) +
                                 " at position " + std::to_string(position));
}

// `position_base` is added to positions in messages (1 when a multibase prefix precedes).
Status DecodeBase32At(std::string_view text, bool upper, size_t position_base, std::string* out) {
  const DecodeTable& table = upper ? kBase32UpperTable : kBase32LowerTable;
  const size_t tail = text.size() % 8;
  // 8 characters carry 5 bytes; a final group of 1, 3 or 6 characters cannot end on a byte.
  if (tail == 1 || tail == 3 || tail == 6) {
    return Status::InvalidArgument("invalid base32 length " + std::to_string(text.size()) +
                                   " (a text of 8k+1, 8k+3 or 8k+6 characters is truncated)");
  }
  out->clear();
  out->resize(text.size() / 8 * 5 + tail * 5 / 8);
  auto* dst = reinterpret_cast<unsigned char*>(out->data());
  const auto* src = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  uint64_t acc = 0;
  int bits = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t group = 0;
    for (size_t j = 0; j < 8; ++j) {
      const uint8_t v = table[src[i + j]];
      if (v == kInvalid) return BadChar("base32", text[i + j], position_base + i + j);
      group = (group << 5) | v;
    }
    for (int k = 4; k >= 0; --k) *dst++ = static_cast<unsigned char>(group >> (8 * k));
  }
  for (; i < text.size(); ++i) {
    const uint8_t v = table[src[i]];
    if (v == kInvalid) return BadChar("base32", text[i], position_base + i);
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      *dst++ = static_cast<unsigned char>(acc >> bits);
    }
  }
  if ((acc & ((uint64_t{1} << bits) - 1)) != 0) {
    return Status::InvalidArgument("non-zero trailing bits in the last base32 character " +
                                   DescribeChar(text.back()) + " at position " +
                                   std::to_string(position_base + text.size() - 1) +
                                   " (not a canonical encoding)");
  }
  return Status::OK();
}

Status DecodeBase16At(std::string_view text, bool upper, size_t position_base, std::string* out) {
  const DecodeTable& table = upper ? kBase16UpperTable : kBase16LowerTable;
  if (text.size() % 2 != 0) {
    return Status::InvalidArgument("invalid base16 length " + std::to_string(text.size()) +
                                   " (two characters per byte, so it must be even)");
  }
  out->resize(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const uint8_t high = table[static_cast<unsigned char>(text[i])];
    if (high == kInvalid) return BadChar("base16", text[i], position_base + i);
    const uint8_t low = table[static_cast<unsigned char>(text[i + 1])];
    if (low == kInvalid) return BadChar("base16", text[i + 1], position_base + i + 1);
    (*out)[i / 2] = static_cast<char>(high << 4 | low);
  }
  return Status::OK();
}

Status DecodeBase64urlAt(std::string_view text, size_t position_base, std::string* out) {
  // 4 characters carry 3 bytes; a final group of 1 character cannot end on a byte.
  if (text.size() % 4 == 1) {
    return Status::InvalidArgument("invalid base64url length " + std::to_string(text.size()) +
                                   " (a text of 4k+1 characters is truncated)");
  }
  out->clear();
  out->reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t v = kBase64urlTable[static_cast<unsigned char>(text[i])];
    if (v == kInvalid) return BadChar("base64url", text[i], position_base + i);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>(acc >> bits));
      acc &= (uint32_t{1} << bits) - 1;
    }
  }
  if (acc != 0) {
    return Status::InvalidArgument("non-zero trailing bits in the last base64url character " +
                                   DescribeChar(text.back()) + " at position " +
                                   std::to_string(position_base + text.size() - 1) +
                                   " (not a canonical encoding)");
  }
  return Status::OK();
}

// Base-N with big-number arithmetic (base58btc, base36): each leading zero byte is one leading
// zero digit, the rest is the big-endian number in base N. The number is held in 32-bit limbs
// (least significant first) and converted `group` digits at a time, radix^group < 2^32, which
// keeps these quadratic conversions ~20 times faster than digit-at-a-time.
struct BaseN {
  const char* name;
  const char* alphabet;
  uint32_t radix;
  uint32_t group;       // digits per limb step
  uint32_t group_base;  // radix^group
};

constexpr BaseN kBase58 = {"base58btc", kBase58btc, 58, 5, 58u * 58 * 58 * 58 * 58};
constexpr BaseN kBase36 = {"base36", kBase36Lower, 36, 6, 36u * 36 * 36 * 36 * 36 * 36};

std::string EncodeBaseN(std::string_view bytes, const BaseN& base) {
  size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == 0) ++zeros;
  const std::string_view number = bytes.substr(zeros);
  std::vector<uint32_t> limbs((number.size() + 3) / 4);
  for (size_t i = 0; i < number.size(); ++i) {
    const size_t bit = 8 * (number.size() - 1 - i);
    limbs[bit / 32] |= static_cast<uint32_t>(static_cast<unsigned char>(number[i])) << (bit % 32);
  }
  while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
  std::string reversed;  // least significant digit first
  while (!limbs.empty()) {
    uint64_t remainder = 0;
    for (size_t i = limbs.size(); i-- > 0;) {
      const uint64_t current = (remainder << 32) | limbs[i];
      limbs[i] = static_cast<uint32_t>(current / base.group_base);
      remainder = current % base.group_base;
    }
    while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
    // Every group but the most significant is written in full, zeros included.
    for (uint32_t j = 0; j < base.group && (!limbs.empty() || remainder != 0); ++j) {
      reversed.push_back(base.alphabet[remainder % base.radix]);
      remainder /= base.radix;
    }
  }
  std::string text(zeros, base.alphabet[0]);
  text.append(reversed.rbegin(), reversed.rend());
  return text;
}

Status DecodeBaseN(std::string_view text, const BaseN& base, const DecodeTable& table,
                   size_t position_base, std::string* out) {
  size_t zeros = 0;
  while (zeros < text.size() && table[static_cast<unsigned char>(text[zeros])] == 0) ++zeros;
  std::vector<uint32_t> limbs;
  for (size_t i = zeros; i < text.size();) {
    uint32_t value = 0;
    uint32_t scale = 1;
    for (uint32_t j = 0; j < base.group && i < text.size(); ++j, ++i) {
      const uint8_t digit = table[static_cast<unsigned char>(text[i])];
      if (digit == kInvalid) return BadChar(base.name, text[i], position_base + i);
      value = value * base.radix + digit;
      scale *= base.radix;
    }
    uint64_t carry = value;
    for (uint32_t& limb : limbs) {
      const uint64_t product = static_cast<uint64_t>(limb) * scale + carry;
      limb = static_cast<uint32_t>(product);
      carry = product >> 32;
    }
    if (carry != 0) limbs.push_back(static_cast<uint32_t>(carry));
  }
  out->assign(zeros, '\0');
  bool leading = true;  // the number's own leading zero bytes are not written
  for (size_t i = limbs.size(); i-- > 0;) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      const auto byte = static_cast<char>(limbs[i] >> shift);
      if (leading && byte == 0) continue;
      leading = false;
      out->push_back(byte);
    }
  }
  return Status::OK();
}

}  // namespace

std::string EncodeBase32(std::string_view bytes) {
  std::string text((bytes.size() * 8 + 4) / 5, '\0');
  const auto* src = reinterpret_cast<const unsigned char*>(bytes.data());
  char* dst = text.data();
  size_t i = 0;
  for (; i + 5 <= bytes.size(); i += 5) {
    const uint64_t group = (uint64_t{src[i]} << 32) | (uint64_t{src[i + 1]} << 24) |
                           (uint64_t{src[i + 2]} << 16) | (uint64_t{src[i + 3]} << 8) | src[i + 4];
    for (int k = 7; k >= 0; --k) *dst++ = kBase32Lower[(group >> (5 * k)) & 31];
  }
  uint32_t acc = 0;
  int bits = 0;
  for (; i < bytes.size(); ++i) {
    acc = (acc << 8) | src[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      *dst++ = kBase32Lower[(acc >> bits) & 31];
    }
  }
  if (bits > 0) *dst++ = kBase32Lower[(acc << (5 - bits)) & 31];
  return text;
}

Status DecodeBase32(std::string_view text, std::string* out, bool upper) {
  return DecodeBase32At(text, upper, 0, out);
}

std::string EncodeBase58btc(std::string_view bytes) { return EncodeBaseN(bytes, kBase58); }

Status DecodeBase58btc(std::string_view text, std::string* out) {
  return DecodeBaseN(text, kBase58, kBase58btcTable, 0, out);
}

std::string EncodeBase36(std::string_view bytes) { return EncodeBaseN(bytes, kBase36); }

Status DecodeBase36(std::string_view text, std::string* out, bool upper) {
  return DecodeBaseN(text, kBase36, upper ? kBase36UpperTable : kBase36LowerTable, 0, out);
}

std::string EncodeBase16(std::string_view bytes) {
  std::string text;
  text.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    text.push_back(kBase16Lower[byte >> 4]);
    text.push_back(kBase16Lower[byte & 0xf]);
  }
  return text;
}

Status DecodeBase16(std::string_view text, std::string* out, bool upper) {
  return DecodeBase16At(text, upper, 0, out);
}

std::string EncodeBase64url(std::string_view bytes) {
  std::string text;
  text.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      text.push_back(kBase64url[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) text.push_back(kBase64url[(acc << (6 - bits)) & 63]);
  return text;
}

Status DecodeBase64url(std::string_view text, std::string* out) {
  return DecodeBase64urlAt(text, 0, out);
}

std::string MultibaseEncode(Multibase base, std::string_view bytes) {
  std::string text(1, static_cast<char>(base));
  switch (base) {
    case Multibase::kBase32:
      text += EncodeBase32(bytes);
      break;
    case Multibase::kBase58btc:
      text += EncodeBase58btc(bytes);
      break;
    case Multibase::kBase36:
      text += EncodeBase36(bytes);
      break;
    case Multibase::kBase16:
      text += EncodeBase16(bytes);
      break;
    case Multibase::kBase64url:
      text += EncodeBase64url(bytes);
      break;
  }
  return text;
}

Status MultibaseDecode(std::string_view text, std::string* out, Multibase* base) {
  if (text.empty()) return Status::InvalidArgument("empty multibase text (expected a prefix)");
  const std::string_view body = text.substr(1);
  switch (text[0]) {
    case 'b':
    case 'B':
      *base = Multibase::kBase32;
      return DecodeBase32At(body, text[0] == 'B', 1, out);
    case 'z':
      *base = Multibase::kBase58btc;
      return DecodeBaseN(body, kBase58, kBase58btcTable, 1, out);
    case 'k':
    case 'K':
      *base = Multibase::kBase36;
      return DecodeBaseN(body, kBase36, text[0] == 'K' ? kBase36UpperTable : kBase36LowerTable, 1,
                         out);
    case 'f':
    case 'F':
      *base = Multibase::kBase16;
      return DecodeBase16At(body, text[0] == 'F', 1, out);
    case 'u':
      *base = Multibase::kBase64url;
      return DecodeBase64urlAt(body, 1, out);
  }
  return Status::InvalidArgument("unsupported multibase prefix " + DescribeChar(text[0]) +
                                 " at position 0 (supported: 'b'/'B' base32, 'z' base58btc, "
                                 "'k'/'K' base36, 'f'/'F' base16, 'u' base64url)");
}

}  // namespace boxcar::format
