// UnixFS HAMT-sharded directories: which link of a shard node holds a name. The go-unixfs layout
// that every IPFS implementation writes: the name is hashed with murmur3 x64 128 (seed 0, the
// first 64 bits, hashType 0x22); each level consumes log2(fanout) bits of that hash, most
// significant first; a link named by the bucket index alone (upper-case hex, as wide as
// fanout - 1) is a sub-shard, and one named index + name is the entry itself.
//
// Thread safety: free functions on caller-owned data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "boxcar/status.h"

namespace boxcar::gateway {

inline constexpr uint64_t kMurmur3X64_64 = 0x22;

// The first 64 bits of murmur3 x64 128 of `data` with seed 0.
uint64_t Murmur3X64_64(std::string_view data);

// The bucket prefix of `name` at shard `depth` (0 for the root shard) for a shard of `fanout`
// (a power of two from 2 to 1024). InvalidArgument when the fanout is not such a power of two or
// the hash has no bits left at that depth.
Status HamtBucketPrefix(std::string_view name, uint64_t fanout, size_t depth, std::string* prefix);

}  // namespace boxcar::gateway
