// CIDs for the load: reading a list from a file and making CIDs the server cannot have.
//
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"

namespace boxcar::loadgen {

// RFC 4648 base32, lowercase alphabet, no padding (the multibase 'b' body).
std::string Base32LowerNoPad(std::string_view bytes);

// A CIDv1, raw codec (0x55), sha2-256 multihash over `digest` (32 bytes), as "b" + base32.
std::string RawCidFromDigest(std::string_view digest);

// `count` CIDs with random digests: valid CIDs no store holds.
std::vector<std::string> RandomMissingCids(size_t count, std::mt19937_64& rng);

// Reads one CID per line from `path`, skipping blank lines and lines starting with '#'
// (surrounding whitespace is ignored). Fails when the file cannot be read, a line holds
// characters no CID text contains, or no CID is listed.
Status ReadCidFile(const std::string& path, std::vector<std::string>* cids);

}  // namespace boxcar::loadgen
