#include "format/links.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "format/dagcbor.h"
#include "format/dagpb.h"

namespace boxcar::format {
namespace {

// Nesting limit for dag-json, as for dag-cbor.
constexpr size_t kMaxJsonDepth = kMaxCborDepth;

// Collects dag-json links in document order without building a DOM: a link is an object with
// exactly one key "/" whose value is a string. ({"/": {"bytes": ...}} is bytes, not a link.)
class JsonLinkCollector : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit JsonLinkCollector(std::vector<Cid>* links) : links_(links) {}

  const Status& status() const { return status_; }

  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }

  bool string(string_t& value) override {
    if (!frames_.empty() && frames_.back().awaiting_slash_value) {
      frames_.back().link_text = value;
      frames_.back().has_link_text = true;
    }
    return Value();
  }

  bool start_object(std::size_t) override {
    Value();
    frames_.push_back(Frame{});
    return CheckDepth();
  }

  bool key(string_t& key) override {
    Frame& frame = frames_.back();
    ++frame.keys;
    frame.awaiting_slash_value = frame.keys == 1 && key == "/";
    return true;
  }

  bool end_object() override {
    const Frame frame = std::move(frames_.back());
    frames_.pop_back();
    if (frame.keys != 1 || !frame.has_link_text) return true;
    Cid cid;
    Status status = Cid::Parse(frame.link_text, &cid);
    if (!status.ok()) {
      status_ = Status::InvalidArgument("dag-json: link {\"/\": ...}: " + status.message());
      return false;
    }
    links_->push_back(std::move(cid));
    return true;
  }

  bool start_array(std::size_t) override {
    Value();
    ++arrays_;
    return CheckDepth();
  }

  bool end_array() override {
    --arrays_;
    return true;
  }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& error) override {
    status_ = Status::InvalidArgument("dag-json: " + std::string(error.what()) + " (byte " +
                                      std::to_string(position) + ")");
    return false;
  }

 private:
  struct Frame {
    size_t keys = 0;
    bool awaiting_slash_value = false;
    bool has_link_text = false;
    std::string link_text;
  };

  // Any value ends the wait for the "/" key's value: only a string there makes a link.
  bool Value() {
    if (!frames_.empty()) frames_.back().awaiting_slash_value = false;
    return true;
  }

  bool CheckDepth() {
    if (frames_.size() + arrays_ <= kMaxJsonDepth) return true;
    status_ =
        Status::InvalidArgument("dag-json: nesting deeper than " + std::to_string(kMaxJsonDepth));
    return false;
  }

  std::vector<Cid>* links_;
  std::vector<Frame> frames_;
  size_t arrays_ = 0;
  Status status_;
};

Status JsonLinks(std::string_view block, std::vector<Cid>* out) {
  JsonLinkCollector collector(out);
  const bool ok = nlohmann::json::sax_parse(block.begin(), block.end(), &collector);
  if (!ok && collector.status().ok()) return Status::InvalidArgument("dag-json: invalid JSON");
  return collector.status();
}

Status Named(const Cid& cid, Status status) {
  if (status.ok()) return status;
  return Status::InvalidArgument("block " + cid.ToString() + ": " + status.message());
}

}  // namespace

Status BlockLinks(const Cid& cid, std::string_view block, std::vector<Cid>* out) {
  out->clear();
  switch (cid.codec()) {
    case kRaw:
    case kLibp2pKey:
      return Status::OK();
    case kDagPb:
      return Named(cid, DecodePbLinks(block, out));
    case kDagCbor:
      return Named(cid, ExtractCborLinks(block, out));
    case kDagJson:
      return Named(cid, JsonLinks(block, out));
  }
  return Status::NotSupported("block " + cid.ToString() + ": links of codec " +
                              CodecName(cid.codec()) + " are not understood");
}

}  // namespace boxcar::format
