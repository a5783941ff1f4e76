#include "gateway/hamt.h"

namespace boxcar::gateway {
namespace {

uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t Mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

uint64_t LoadLittle64(const unsigned char* p, size_t n) {
  uint64_t value = 0;
  for (size_t i = n; i > 0; --i) value = (value << 8) | p[i - 1];
  return value;
}

}  // namespace

uint64_t Murmur3X64_64(std::string_view data) {
  constexpr uint64_t c1 = 0x87c37b91114253d5ull, c2 = 0x4cf5ad432745937full;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const size_t blocks = data.size() / 16;
  uint64_t h1 = 0, h2 = 0;
  for (size_t i = 0; i < blocks; ++i) {
    uint64_t k1 = LoadLittle64(bytes + i * 16, 8), k2 = LoadLittle64(bytes + i * 16 + 8, 8);
    h1 ^= Rotl(k1 * c1, 31) * c2;
    h1 = (Rotl(h1, 27) + h2) * 5 + 0x52dce729;
    h2 ^= Rotl(k2 * c2, 33) * c1;
    h2 = (Rotl(h2, 31) + h1) * 5 + 0x38495ab5;
  }
  const unsigned char* tail = bytes + blocks * 16;
  const size_t rest = data.size() % 16;
  if (rest > 8) h2 ^= Rotl(LoadLittle64(tail + 8, rest - 8) * c2, 33) * c1;
  if (rest > 0) h1 ^= Rotl(LoadLittle64(tail, rest < 8 ? rest : 8) * c1, 31) * c2;
  h1 ^= data.size();
  h2 ^= data.size();
  h1 += h2;
  h2 += h1;
  h1 = Mix(h1);
  h2 = Mix(h2);
  return h1 + h2;
}

Status HamtBucketPrefix(std::string_view name, uint64_t fanout, size_t depth, std::string* prefix) {
  int bits = 0;
  while ((uint64_t{1} << bits) < fanout && bits < 11) ++bits;
  if (fanout < 2 || bits > 10 || (uint64_t{1} << bits) != fanout) {
    return Status::InvalidArgument("HAMT fanout " + std::to_string(fanout) +
                                   " is not a power of two from 2 to 1024");
  }
  const size_t used = depth * static_cast<size_t>(bits);
  if (used + static_cast<size_t>(bits) > 64) {
    return Status::InvalidArgument("HAMT deeper than its 64-bit hash allows (depth " +
                                   std::to_string(depth) + ")");
  }
  const uint64_t index = (Murmur3X64_64(name) >> (64 - used - bits)) & (fanout - 1);
  static constexpr char kHex[] = "0123456789ABCDEF";
  size_t width = 0;
  for (uint64_t max = fanout - 1; max != 0; max >>= 4) ++width;
  prefix->assign(width, '0');
  uint64_t value = index;
  for (size_t i = width; i > 0; --i, value >>= 4) (*prefix)[i - 1] = kHex[value & 15];
  return Status::OK();
}

}  // namespace boxcar::gateway
