#include "rpc/rpc_request.h"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace boxcar::rpc {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string TypeName(OptionType type) {
  switch (type) {
    case OptionType::kBool:
      return "bool";
    case OptionType::kInt:
      return "int";
    case OptionType::kString:
      return "string";
  }
  return "string";
}

bool ValidOption(OptionType type, const std::string& value) {
  if (type == OptionType::kBool) return ParseGoBool(value).has_value();
  if (type != OptionType::kInt) return true;
  int64_t parsed = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
  return ec == std::errc() && ptr == end && !value.empty();
}

// "1.234567" from 1234567 with 6 fraction digits; trailing zeros dropped, as Go prints.
std::string WithFraction(uint64_t value, int digits) {
  uint64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  std::string text = std::to_string(value / scale);
  if (const uint64_t fraction = value % scale; fraction != 0) {
    std::string f = std::to_string(fraction);
    f.insert(0, static_cast<size_t>(digits) - f.size(), '0');
    while (f.back() == '0') f.pop_back();
    text += "." + f;
  }
  return text;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return out;
}

Status ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!key || !value) {
      return Status::InvalidArgument("invalid percent-encoding in query parameter '" +
                                     std::string(pair) + "'");
    }
    out->emplace_back(std::move(*key), std::move(*value));
  }
  return Status::OK();
}

std::optional<bool> ParseGoBool(std::string_view text) {
  if (text.empty() || text == "1" || text == "t" || text == "T" || text == "TRUE" ||
      text == "true" || text == "True") {
    return true;
  }
  if (text == "0" || text == "f" || text == "F" || text == "FALSE" || text == "false" ||
      text == "False") {
    return false;
  }
  return std::nullopt;
}

void RpcCommandTable::Add(RpcCommand command) {
  std::string name = command.name;
  commands_[name] = std::move(command);
}

const RpcCommand* RpcCommandTable::Find(const std::string& path,
                                        std::optional<std::string>* path_arg) const {
  path_arg->reset();
  if (auto it = commands_.find(path); it != commands_.end()) return &it->second;
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash + 1 == path.size()) return nullptr;
  auto parent = commands_.find(path.substr(0, slash));
  if (parent == commands_.end() || parent->second.max_args == 0) return nullptr;
  *path_arg = path.substr(slash + 1);
  return &parent->second;
}

Status BuildRequest(const RpcCommand& command, const std::optional<std::string>& path_arg,
                    const std::vector<std::pair<std::string, std::string>>& query,
                    RpcRequest* out) {
  out->command = command.name;
  out->args.clear();
  out->options.clear();
  if (path_arg) out->args.push_back(*path_arg);
  for (const auto& [key, value] : query) {
    if (key == "arg") {
      out->args.push_back(value);
      continue;
    }
    auto alias = command.aliases.find(key);
    const std::string& name = alias == command.aliases.end() ? key : alias->second;
    auto option = command.options.find(name);
    if (option == command.options.end()) continue;
    if (out->options.count(name) != 0) {
      return Status::InvalidArgument("expected key " + name +
                                     " to have only a single value, received several");
    }
    if (!ValidOption(option->second, value)) {
      return Status::InvalidArgument("Could not convert value '" + value + "' to type '" +
                                     TypeName(option->second) + "' (for option '-" + name + "')");
    }
    out->options[name] = value;
  }
  if (static_cast<int>(out->args.size()) < command.min_args) {
    return Status::InvalidArgument("argument \"" + command.arg_name + "\" is required");
  }
  if (command.max_args >= 0 && static_cast<int>(out->args.size()) > command.max_args) {
    return Status::InvalidArgument("expected " + std::to_string(command.max_args) +
                                   " argument(s), got " + std::to_string(out->args.size()));
  }
  return Status::OK();
}

std::vector<std::string> DefaultAllowedOrigins(uint16_t port) {
  const std::string p = std::to_string(port);
  std::vector<std::string> origins;
  for (const char* scheme : {"http://", "https://"}) {
    for (const char* host : {"127.0.0.1:", "[::1]:", "localhost:"}) {
      origins.push_back(scheme + std::string(host) + p);
    }
  }
  // ipfs-companion and its beta, as Kubo allows them.
  origins.push_back("chrome-extension://nibjojkomfdiaoajekhjakgkdhaomnch");
  origins.push_back("chrome-extension://hjoieblefckbooibpepigmacodalfndh");
  return origins;
}

bool PassesCsrfChecks(const std::vector<std::string>& allowed_origins, std::string_view origin,
                      std::string_view referer, std::string_view user_agent) {
  auto allowed = [&](std::string_view candidate) {
    for (const std::string& o : allowed_origins) {
      if (o == candidate) return true;
    }
    return false;
  };
  if (!origin.empty() && !allowed(origin)) return false;
  if (!referer.empty()) {
    // The Referer counts as its origin: scheme://host[:port].
    const size_t scheme_end = referer.find("://");
    if (scheme_end == std::string_view::npos) return false;
    const size_t host_end = referer.find_first_of("/?#", scheme_end + 3);
    if (!allowed(referer.substr(0, host_end))) return false;
  }
  const bool browser =
      user_agent.substr(0, 7) == "Mozilla" && user_agent.find("Electron") == std::string_view::npos;
  if (origin.empty() && referer.empty() && browser) return false;
  return true;
}

std::string FormatGoDuration(int64_t nanoseconds) {
  if (nanoseconds == 0) return "0s";
  const bool negative = nanoseconds < 0;
  const uint64_t ns =
      negative ? 0 - static_cast<uint64_t>(nanoseconds) : static_cast<uint64_t>(nanoseconds);
  constexpr uint64_t kMinute = 60'000'000'000ULL;
  std::string text;
  if (ns < 1'000) {
    text = std::to_string(ns) + "ns";
  } else if (ns < 1'000'000) {
    text = WithFraction(ns, 3) + "\u00b5s";
  } else if (ns < 1'000'000'000) {
    text = WithFraction(ns, 6) + "ms";
  } else {
    text = WithFraction(ns % kMinute, 9) + "s";
    if (const uint64_t minutes = ns / kMinute; minutes > 0) {
      text = std::to_string(minutes % 60) + "m" + text;
      if (minutes >= 60) text = std::to_string(minutes / 60) + "h" + text;
    }
  }
  return negative ? "-" + text : text;
}

}  // namespace boxcar::rpc

namespace boxcar::rpc {

std::optional<int64_t> ParseGoDuration(std::string_view text) {
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1},   {"us", 1e3}, {"\xC2\xB5s", 1e3}, {"\xCE\xBCs", 1e3},
      {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
  if (text == "0") return 0;
  if (text.empty()) return std::nullopt;
  double total = 0;
  while (!text.empty()) {
    size_t digits = 0;
    while (digits < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
      ++digits;
    }
    if (digits == 0 || text.substr(0, digits) == ".") return std::nullopt;
    const double number = std::strtod(std::string(text.substr(0, digits)).c_str(), nullptr);
    text.remove_prefix(digits);
    // The longest unit that matches ("ms" before "m").
    const std::pair<std::string_view, double>* unit = nullptr;
    for (const auto& candidate : kUnits) {
      if (text.substr(0, candidate.first.size()) == candidate.first &&
          (unit == nullptr || candidate.first.size() > unit->first.size())) {
        unit = &candidate;
      }
    }
    if (unit == nullptr) return std::nullopt;
    total += number * unit->second;
    text.remove_prefix(unit->first.size());
  }
  if (total > 9.2e18) return std::nullopt;
  return static_cast<int64_t>(total);
}

}  // namespace boxcar::rpc
