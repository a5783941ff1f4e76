// dag-cbor (IPLD codec 0x71): link extraction from CBOR blocks.
//
// The decoder walks the whole item and is strict where dag-cbor restricts CBOR: definite lengths
// only, map keys must be text strings, the only tag is 42 (a link: a byte string holding 0x00 and
// a binary CID), simple values only false/true/null, floats only 16/32/64-bit; and exactly one
// top-level item with no trailing bytes. It does not insist on canonical (sorted, minimal) form
// and does not validate UTF-8 in strings.
// Nesting deeper than kMaxCborDepth is refused so hostile input cannot exhaust the stack.
//
// Thread safety: free functions on caller-owned data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"
#include "format/cid.h"

namespace boxcar::format {

inline constexpr size_t kMaxCborDepth = 256;

// Appends every tag-42 CID in `block` to *out in document order. On error *out may hold the
// links found before it; InvalidArgument "dag-cbor: <problem> at byte <offset>".
Status ExtractCborLinks(std::string_view block, std::vector<Cid>* out);

// A cursor over dag-cbor data for small fixed structures such as CAR headers. Errors are
// InvalidArgument "<context>: <problem> at byte <offset>".
class CborReader {
 public:
  enum Major : uint8_t {
    kUnsigned = 0,
    kNegative = 1,
    kBytes = 2,
    kText = 3,
    kArray = 4,
    kMap = 5,
    kTag = 6,
    kSimple = 7
  };

  explicit CborReader(std::string_view data, const char* context = "dag-cbor")
      : data_(data), context_(context) {}

  bool done() const { return pos_ == data_.size(); }
  size_t offset() const { return pos_; }

  // Reads an item head: the major type and its argument (length, count, value, tag number; for
  // major 7 the simple value or the float's bits). Indefinite lengths and reserved additional
  // information are errors.
  Status ReadHead(uint8_t* major, uint64_t* argument);
  // Reads a head that must have major type `major`; `what` names the item for the message.
  Status ReadHeadOf(uint8_t major, const char* what, uint64_t* argument);
  // Reads a text string.
  Status ReadText(std::string_view* text);
  // Reads a tag-42 link.
  Status ReadLink(Cid* cid);
  // Skips one whole item (with everything nested in it), appending the links in it to *links
  // when not null.
  Status SkipItem(std::vector<Cid>* links);

  Status ErrorAt(size_t offset, const std::string& what) const;

 private:
  Status ReadLinkAfterTag(size_t tag_offset, Cid* cid);
  Status SkipBytes(uint64_t n, size_t head_offset);

  std::string_view data_;
  const char* context_;
  size_t pos_ = 0;
};

}  // namespace boxcar::format
