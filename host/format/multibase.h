// Multibase text encodings used for CIDs: base32 lower ('b', RFC 4648 alphabet, no padding; 'B'
// is the upper-case form), base58btc ('z'), base36 lower ('k'; 'K' is the upper-case form),
// base16 lower ('f'; 'F' is the upper-case form) and base64url ('u', RFC 4648 section 5, no
// padding), the bases other gateways accept in CIDs.
//
// Decoders are strict so that every byte string has exactly one text form per base: base32 and
// base64url reject padding, impossible lengths and non-zero trailing bits; base16 rejects odd
// lengths. Base58btc and base36 are
// quadratic in the input length; callers bound untrusted text (Cid::Parse does).
//
// Thread safety: free functions on caller-owned data.
#pragma once

#include <string>
#include <string_view>

#include "boxcar/status.h"

namespace boxcar::format {

enum class Multibase : char {
  kBase32 = 'b',
  kBase58btc = 'z',
  kBase36 = 'k',
  kBase16 = 'f',
  kBase64url = 'u',
};

// The encoders write lower case and no prefix. The decoders accept one case (the lower-case
// alphabet unless `upper`), and on error return InvalidArgument naming the bad character and its
// position in `text`.
std::string EncodeBase32(std::string_view bytes);
Status DecodeBase32(std::string_view text, std::string* out, bool upper = false);
std::string EncodeBase58btc(std::string_view bytes);
Status DecodeBase58btc(std::string_view text, std::string* out);
std::string EncodeBase36(std::string_view bytes);
Status DecodeBase36(std::string_view text, std::string* out, bool upper = false);
std::string EncodeBase16(std::string_view bytes);
Status DecodeBase16(std::string_view text, std::string* out, bool upper = false);
std::string EncodeBase64url(std::string_view bytes);
Status DecodeBase64url(std::string_view text, std::string* out);

// `bytes` encoded in `base`, with the prefix character.
std::string MultibaseEncode(Multibase base, std::string_view bytes);
// Decodes prefixed text. 'B', 'K' and 'F' decode upper-case text and report kBase32, kBase36 and
// kBase16.
// Errors name the bad character and its position (the prefix is position 0).
Status MultibaseDecode(std::string_view text, std::string* out, Multibase* base);

}  // namespace boxcar::format
