// tuner "static": pins tunables to fixed values.
//
// Every tick it re-asserts each pinned value that differs from the live one, so a value moved by
// someone else (an admin call, a reconfigure) returns to the pin on the next tick. Pins naming a
// tunable the node does not have are skipped; a typo there therefore shows up as a pin that
// never takes effect rather than as a failing node.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "boxcar/tuner.h"

namespace {

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "set": {
      "type": "array", "items": {"type": "string"},
      "description": "Pins as \"<tunable>=<value>\", e.g. \"prioritizer.quantum_bytes=16384\".",
      "default": []
    }
  }
})json";

constexpr char kReason[] = "pinned by tuner-static";

struct Pin {
  std::string name;
  double value = 0;
};

std::string_view Trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

Pin ParsePin(std::string_view entry) {
  const auto fail = [&](std::string_view why) {
    throw std::invalid_argument("set: \"" + std::string(entry) + "\": " + std::string(why) +
                                " (expected \"<tunable>=<value>\", e.g. "
                                "\"prioritizer.quantum_bytes=16384\")");
  };
  const auto equals = entry.find('=');
  if (equals == std::string_view::npos) fail("no '='");
  const std::string_view name = Trim(entry.substr(0, equals));
  const std::string_view number = Trim(entry.substr(equals + 1));
  if (name.empty()) fail("empty tunable name");
  if (number.empty()) fail("empty value");

  double value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (error != std::errc() || end != number.data() + number.size() || !std::isfinite(value)) {
    fail("value is not a finite number");
  }
  return Pin{std::string(name), value};
}

std::vector<Pin> ParsePins(const boxcar::Params& params) {
  std::vector<Pin> pins;
  std::unordered_set<std::string> seen;
  for (const auto& entry : params.GetStrings("set")) {
    Pin pin = ParsePin(entry);
    if (!seen.insert(pin.name).second) {
      throw std::invalid_argument("set: tunable '" + pin.name + "' is pinned twice");
    }
    pins.push_back(std::move(pin));
  }
  return pins;
}

// What the host would store for `value`: clamped to the bounds and, for integer tunables,
// rounded. Comparing against this instead of the raw pin keeps an out-of-range or fractional pin
// from being re-proposed on every tick.
double AppliedValue(double value, const boxcar::TunableInfo& tunable) {
  const double clamped = std::clamp(value, tunable.min, tunable.max);
  return tunable.integer ? std::round(clamped) : clamped;
}

class StaticTuner : public boxcar::Tuner {
 public:
  explicit StaticTuner(const boxcar::CreateContext& ctx)
      : pins_(std::make_shared<const std::vector<Pin>>(ParsePins(*ctx.params))) {}

  std::vector<boxcar::Proposal> Tick(int64_t /*now_ns*/,
                                     const std::vector<boxcar::MetricSample>& /*metrics*/,
                                     const std::vector<boxcar::TunableInfo>& tunables) override {
    const std::shared_ptr<const std::vector<Pin>> pins = pins_.load();
    std::vector<boxcar::Proposal> proposals;
    for (const Pin& pin : *pins) {
      const auto tunable = std::find_if(tunables.begin(), tunables.end(),
                                        [&](const auto& t) { return t.name == pin.name; });
      if (tunable == tunables.end()) continue;
      if (AppliedValue(pin.value, *tunable) != tunable->value) {
        proposals.push_back(boxcar::Proposal{pin.name, pin.value, kReason});
      }
    }
    return proposals;
  }

  boxcar::Status Reconfigure(const boxcar::Params& params) override {
    try {
      pins_.store(std::make_shared<const std::vector<Pin>>(ParsePins(params)));
    } catch (const std::invalid_argument& e) {
      return boxcar::Status::InvalidArgument(e.what());
    }
    return boxcar::Status::OK();
  }

 private:
  std::atomic<std::shared_ptr<const std::vector<Pin>>> pins_;
};

}  // namespace

BOXCAR_PLUGIN(StaticTuner, "static", "1.0.0", "Pins tunables to fixed values", kSchema,
              boxcar::kThreadSafe | boxcar::kReconfigure);
