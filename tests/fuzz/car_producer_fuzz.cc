// The CAR producer over arbitrary DAGs: whatever blocks a store holds (they hash to their CIDs,
// but their content is anyone's), producing a CAR never crashes, every section it writes is a
// verified block, and the bytes do not depend on the chunk size.
//
// Input: an options byte, two entity-bytes bytes, an optional path segment, then blocks as
// [codec byte][uvarint length][bytes]. The first block is the root. Links reach other blocks
// through their real CIDs (the seed corpus has such DAGs) or carry data inline as identity CIDs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <string_view>

#include "format/car.h"
#include "format/varint.h"
#include "gateway/car_producer.h"

using namespace boxcar;
using format::Cid;

namespace {

// Output past this is cut short: with dups=y a small DAG of repeated links can expand without
// bound, and the producer is meant to stream that, not to refuse it.
constexpr size_t kMaxOutput = 1 << 20;
constexpr uint64_t kCodecs[] = {format::kRaw, format::kDagPb, format::kDagCbor, format::kDagJson};

struct Input {
  gateway::GatewayRequest request;
  // Keyed by multihash, so a CIDv0 link finds a block stored under its CIDv1.
  std::map<std::string, std::string> blocks;
};

bool ParseInput(std::string_view in, Input* out) {
  if (in.size() < 3) return false;
  const uint8_t options = static_cast<uint8_t>(in[0]);
  gateway::GatewayRequest& req = out->request;
  req.format = gateway::ResponseFormat::kCar;
  req.scope = static_cast<format::DagScope>(options % 3);
  req.dups = (options & 0x04) != 0;
  if ((options & 0x08) != 0) {
    req.scope = format::DagScope::kEntity;
    req.entity_bytes.set = true;
    req.entity_bytes.from = static_cast<int8_t>(in[1]) * 97;
    const int8_t to = static_cast<int8_t>(in[2]);
    if (to != INT8_MIN) req.entity_bytes.to = to * 97;
  }
  in.remove_prefix(3);
  if ((options & 0x10) != 0 && !in.empty()) {
    const size_t length = std::min<size_t>(static_cast<uint8_t>(in[0]) % 16, in.size() - 1);
    req.path.emplace_back(in.substr(1, length));
    in.remove_prefix(1 + length);
  }
  bool first = true;
  while (in.size() > 1) {
    const uint64_t codec = kCodecs[static_cast<uint8_t>(in[0]) % 4];
    in.remove_prefix(1);
    uint64_t length = 0;
    if (!format::ReadUvarint(&in, &length).ok() || length > in.size()) return !first;
    const std::string_view block = in.substr(0, length);
    in.remove_prefix(length);
    const Cid cid = Cid::V1(codec, format::Multihash::Sum(format::kSha2_256, block));
    if (first) {
      req.root = cid;
      req.root_text = cid.ToString();
      first = false;
    }
    out->blocks.emplace(cid.hash().bytes(), block);
  }
  return !first;
}

// Produces the CAR in chunks of `chunk` bytes. *complete is false when it ended early (an error,
// which is then the status, or kMaxOutput).
std::string Produce(const Input& input, size_t chunk, bool* complete, Status* status) {
  gateway::CarProducer producer(input.request, [&](const Cid& cid, std::string* data) {
    const auto it = input.blocks.find(cid.hash().bytes());
    if (it == input.blocks.end()) return Status::NotFound("absent");
    *data = it->second;
    return Status::OK();
  });
  std::string car;
  *complete = false;
  *status = producer.Begin();
  if (!status->ok()) return car;
  bool done = false;
  while (!done && car.size() < kMaxOutput) {
    const size_t before = car.size();
    *status = producer.Next(chunk, &car, &done);
    if (!status->ok()) return car;
    if (car.size() == before && !done) std::abort();  // every call makes progress
  }
  *complete = done;
  return car;
}

// Every section is a verified block, and the header names the requested root.
void CheckCar(const std::string& car, const Cid& root) {
  std::istringstream in(car);
  format::CarReader reader(in);
  format::CarHeader header;
  if (!reader.ReadHeader(&header).ok() || header.roots.size() != 1 || !(header.roots[0] == root)) {
    std::abort();
  }
  for (;;) {
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    if (!reader.NextSection(&cid, &size, &end).ok()) std::abort();
    if (end) return;
    if (cid.IsIdentity()) std::abort();  // virtual blocks are never written
    std::string body;
    if (!reader.ReadBody(&body).ok()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input input;
  if (!ParseInput(std::string_view(reinterpret_cast<const char*>(data), size), &input)) return 0;
  bool whole_done = false;
  bool small_done = false;
  Status whole_status, small_status;
  const std::string whole = Produce(input, 256 << 10, &whole_done, &whole_status);
  // Output, even a stream that ended in an error, is whole sections after the header.
  if (!whole.empty()) CheckCar(whole, input.request.root);
  const std::string small = Produce(input, 1, &small_done, &small_status);
  // Chunking changes where the bytes are cut, never which bytes: one is a prefix of the other
  // (kMaxOutput may stop them at different points), and they agree on how it ended.
  const size_t common = std::min(whole.size(), small.size());
  if (whole.compare(0, common, small, 0, common) != 0) std::abort();
  if (whole_done && small_done && whole != small) std::abort();
  if (whole_done != small_done && whole.size() < kMaxOutput && small.size() < kMaxOutput) {
    std::abort();
  }
  return 0;
}
