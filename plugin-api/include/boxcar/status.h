// Errors as values. Every call that can fail across the plugin boundary returns a Status
// instead of throwing, so a plugin failure never unwinds into the host.
//
// Thread safety: a Status is a value; distinct objects may be used from distinct threads.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace boxcar {

class Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,         // the key or item does not exist
    kInvalidArgument,  // the caller passed something malformed
    kCorruption,       // stored bytes failed verification
    kIOError,          // the operating system refused an operation
    kNotSupported,     // the plugin does not implement this optional operation
    kBusy,             // refused for now (full queue, over budget, not admitted); retry later
    kUnavailable,      // a dependency is down; retry later
    kInternal,         // a bug or an unexpected exception, contained at the boundary
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status NotSupported(std::string_view msg) { return Status(Code::kNotSupported, msg); }
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  static Status Internal(std::string_view msg) { return Status(Code::kInternal, msg); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }

  // The same code with "<context>: " before the message; OK stays OK.
  Status Annotate(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
  }

  // "OK", or "<code name>: <message>".
  std::string ToString() const {
    if (ok()) return "OK";
    return std::string(CodeName(code_)) + ": " + message_;
  }

  static std::string_view CodeName(Code code) {
    switch (code) {
      case Code::kOk:
        return "OK";
      case Code::kNotFound:
        return "NotFound";
      case Code::kInvalidArgument:
        return "InvalidArgument";
      case Code::kCorruption:
        return "Corruption";
      case Code::kIOError:
        return "IOError";
      case Code::kNotSupported:
        return "NotSupported";
      case Code::kBusy:
        return "Busy";
      case Code::kUnavailable:
        return "Unavailable";
      case Code::kInternal:
        return "Internal";
    }
    return "Unknown";
  }

 private:
  Status(Code code, std::string_view msg) : code_(code), message_(msg) {}

  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace boxcar
