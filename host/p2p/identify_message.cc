#include "p2p/identify_message.h"

#include "format/protobuf.h"
#include "format/varint.h"

namespace boxcar::p2p {
namespace {

using format::WireType;

void AppendField(uint32_t field, std::string_view bytes, std::string* out) {
  format::AppendUvarint(out, (field << 3) | 2);
  format::AppendUvarint(out, bytes.size());
  out->append(bytes);
}

void AppendOptional(uint32_t field, const std::optional<std::string>& value, std::string* out) {
  if (value) AppendField(field, *value, out);
}

}  // namespace

std::string EncodeIdentify(const IdentifyMessage& message) {
  std::string out;
  AppendOptional(1, message.public_key, &out);
  for (const std::string& addr : message.listen_addrs) AppendField(2, addr, &out);
  for (const std::string& protocol : message.protocols) AppendField(3, protocol, &out);
  AppendOptional(4, message.observed_addr, &out);
  AppendOptional(5, message.protocol_version, &out);
  AppendOptional(6, message.agent_version, &out);
  AppendOptional(8, message.signed_peer_record, &out);
  return out;
}

Status DecodeIdentify(std::string_view bytes, IdentifyMessage* out) {
  if (bytes.size() > kIdentifyMaxMessage) {
    return Status::InvalidArgument("identify: message of " + std::to_string(bytes.size()) +
                                   " bytes exceeds the " + std::to_string(kIdentifyMaxMessage) +
                                   "-byte limit");
  }
  IdentifyMessage message;
  format::ProtoReader reader(bytes, "identify");
  while (!reader.done()) {
    uint64_t field = 0;
    WireType wire{};
    size_t key_offset = 0;
    Status status = reader.ReadKey(&field, &wire, &key_offset);
    if (!status.ok()) return status;
    const bool known = field <= 6 || field == 8;
    if (!known) {
      status = reader.Skip(wire);
      if (!status.ok()) return status;
      continue;
    }
    if (wire != WireType::kLengthDelimited) {
      return reader.ErrorAt(key_offset,
                            "field " + std::to_string(field) + " must be length-delimited");
    }
    std::string_view value;
    size_t value_offset = 0;
    status = reader.ReadBytes(&value, &value_offset);
    if (!status.ok()) return status;
    switch (field) {
      case 1:
        message.public_key.emplace(value);
        break;
      case 2:
        message.listen_addrs.emplace_back(value);
        break;
      case 3:
        message.protocols.emplace_back(value);
        break;
      case 4:
        message.observed_addr.emplace(value);
        break;
      case 5:
        message.protocol_version.emplace(value);
        break;
      case 6:
        message.agent_version.emplace(value);
        break;
      case 8:
        message.signed_peer_record.emplace(value);
        break;
    }
  }
  *out = std::move(message);
  return Status::OK();
}

void MergeIdentify(const IdentifyMessage& update, IdentifyMessage* into) {
  if (update.public_key) into->public_key = update.public_key;
  if (!update.listen_addrs.empty()) into->listen_addrs = update.listen_addrs;
  if (!update.protocols.empty()) into->protocols = update.protocols;
  if (update.observed_addr) into->observed_addr = update.observed_addr;
  if (update.protocol_version) into->protocol_version = update.protocol_version;
  if (update.agent_version) into->agent_version = update.agent_version;
  if (update.signed_peer_record) into->signed_peer_record = update.signed_peer_record;
}

}  // namespace boxcar::p2p
