// The CAR reader on arbitrary bytes: never crashes, never reads more than it is given, and
// whole and chunked reading agree. The first byte picks the reading mode.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "format/car.h"

using namespace boxcar::format;

namespace {

// Reads the whole CAR; returns the concatenated bodies, or "" with *ok false on error.
std::string ReadAll(const std::string& bytes, bool chunked, size_t chunk, bool* ok) {
  std::istringstream in(bytes);
  CarReaderOptions options;
  options.max_header_bytes = 4096;
  options.max_section_bytes = 1 << 16;
  CarReader reader(in, options);
  CarHeader header;
  std::string bodies;
  *ok = false;
  if (!reader.ReadHeader(&header).ok()) return bodies;
  std::string body;
  std::string buf(chunk, '\0');
  for (;;) {
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    if (!reader.NextSection(&cid, &size, &end).ok()) return bodies;
    if (end) break;
    if (size > options.max_section_bytes) std::abort();
    if (chunked) {
      body.clear();
      for (;;) {
        size_t got = 0;
        if (!reader.ReadBodyChunk(buf.data(), buf.size(), &got).ok()) return bodies;
        if (got == 0) break;
        body.append(buf.data(), got);
      }
    } else if (!reader.ReadBody(&body).ok()) {
      return bodies;
    }
    if (body.size() != size) std::abort();
    bodies += cid.bytes();
    bodies += body;
  }
  if (reader.offset() > bytes.size()) std::abort();
  *ok = true;
  return bodies;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool whole_ok = false;
  bool chunked_ok = false;
  const std::string whole = ReadAll(bytes, false, chunk, &whole_ok);
  const std::string chunked = ReadAll(bytes, true, chunk, &chunked_ok);
  if (whole_ok != chunked_ok || whole != chunked) std::abort();
  return 0;
}
