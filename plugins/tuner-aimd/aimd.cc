// tuner "aimd": steers one tunable by one metric with additive increase, multiplicative
// decrease, the rule TCP congestion control uses. While the metric is healthy (below or above
// its target, per `mode`) the tunable grows by `increase_step` each tick; when it is not, the
// tunable is multiplied by `decrease_factor` and left alone for `cooldown_ticks` ticks so the
// node can react before the metric is judged again.
//
// The metric is a selector, a name with optional label matchers as in PromQL
// ('boxcar_request_latency_seconds{quantile="0.99"}'); every series it matches is summed. With
// signal "rate" the tuner works on the per-second increase of a counter between ticks.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/tuner.h"

namespace {

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["param", "metric", "target"],
  "properties": {
    "param": {
      "type": "string",
      "description": "The tunable to steer, e.g. \"prioritizer.quantum_bytes\"."
    },
    "metric": {
      "type": "string",
      "description": "Metric selector, e.g. 'boxcar_request_latency_seconds{quantile=\"0.99\"}'; matching series are summed."
    },
    "signal": {
      "type": "string", "enum": ["value", "rate"],
      "description": "\"value\": the metric itself; \"rate\": its per-second increase (for counters).",
      "default": "value"
    },
    "target": {
      "type": "number",
      "description": "The value the signal is kept below or above.",
      "minimum": -1e18, "maximum": 1e18
    },
    "mode": {
      "type": "string", "enum": ["below", "above"],
      "description": "\"below\": healthy while signal <= target (latency); \"above\": while signal >= target (throughput).",
      "default": "below"
    },
    "increase_step": {
      "type": "number",
      "description": "Added to the tunable on each healthy tick.",
      "default": 1, "minimum": 0, "maximum": 1e15
    },
    "decrease_factor": {
      "type": "number",
      "description": "The tunable is multiplied by this on an unhealthy tick.",
      "default": 0.5, "minimum": 0.01, "maximum": 0.99
    },
    "cooldown_ticks": {
      "type": "integer",
      "description": "Ticks without any change after a decrease.",
      "default": 2, "minimum": 0, "maximum": 1000000
    }
  }
})json";

constexpr char kStateFormat[] = "tuner-aimd/1";

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Selector {
  std::string name;
  Labels matchers;  // each must be present in a sample's labels
};

bool IsNameChar(char c, bool first) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return letter || (!first && c >= '0' && c <= '9');
}

std::string_view Trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// Parses `k1="v1",k2="v2"` with the escapes of the Prometheus text format (\\ \" \n) in
// values. Used both for selectors and for the canonical labels of samples.
class LabelParser {
 public:
  explicit LabelParser(std::string_view text) : text_(text) {}

  std::optional<Labels> Parse() {
    Labels labels;
    SkipSpace();
    while (pos_ < text_.size()) {
      std::string name = ParseName(/*allow_colon=*/false);
      SkipSpace();
      if (name.empty() || !Consume('=')) return std::nullopt;
      SkipSpace();
      std::optional<std::string> value = ParseQuoted();
      if (!value) return std::nullopt;
      labels.emplace_back(std::move(name), std::move(*value));
      SkipSpace();
      if (pos_ < text_.size() && !Consume(',')) return std::nullopt;
      SkipSpace();
    }
    return labels;
  }

 private:
  std::string ParseName(bool allow_colon) {
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (IsNameChar(text_[pos_], pos_ == start) || (allow_colon && text_[pos_] == ':'))) {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  std::optional<std::string> ParseQuoted() {
    if (!Consume('"')) return std::nullopt;
    std::string value;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return value;
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (pos_ == text_.size()) return std::nullopt;
      const char escaped = text_[pos_++];
      if (escaped == 'n') {
        value += '\n';
      } else if (escaped == '\\' || escaped == '"') {
        value += escaped;
      } else {
        return std::nullopt;
      }
    }
    return std::nullopt;  // unterminated
  }

  bool Consume(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0) && name[i] != ':') return false;
  }
  return true;
}

Selector ParseSelector(std::string_view text) {
  const auto fail = [&](std::string_view why) {
    throw std::invalid_argument("metric: \"" + std::string(text) + "\": " + std::string(why) +
                                " (expected e.g. 'boxcar_request_latency_seconds"
                                "{quantile=\"0.99\"}')");
  };
  const std::string_view trimmed = Trim(text);
  const size_t brace = trimmed.find('{');
  Selector selector;
  selector.name = std::string(Trim(trimmed.substr(0, brace)));
  if (!IsMetricName(selector.name)) fail("not a metric name");
  if (brace == std::string_view::npos) return selector;
  if (trimmed.back() != '}') fail("label matchers must end with '}'");
  std::optional<Labels> matchers =
      LabelParser(trimmed.substr(brace + 1, trimmed.size() - brace - 2)).Parse();
  if (!matchers) fail("label matchers must look like name=\"value\", separated by commas");
  selector.matchers = std::move(*matchers);
  return selector;
}

bool Matches(const Selector& selector, const boxcar::MetricSample& sample) {
  if (sample.name != selector.name) return false;
  if (selector.matchers.empty()) return true;
  const std::optional<Labels> labels = LabelParser(sample.labels).Parse();
  if (!labels) return false;
  return std::all_of(selector.matchers.begin(), selector.matchers.end(), [&](const auto& m) {
    return std::find(labels->begin(), labels->end(), m) != labels->end();
  });
}

std::optional<double> ReadMetric(const Selector& selector,
                                 const std::vector<boxcar::MetricSample>& metrics) {
  std::optional<double> total;
  for (const auto& sample : metrics) {
    if (Matches(selector, sample)) total = total.value_or(0.0) + sample.value;
  }
  return total;
}

struct Config {
  std::string param;
  std::string metric;  // as written
  Selector selector;
  bool rate = false;
  bool keep_below = true;
  double target = 0;
  double increase_step = 0;
  double decrease_factor = 0;
  uint64_t cooldown_ticks = 0;

  // Learned state only makes sense for the same tunable steered by the same signal.
  bool SameLoopAs(const Config& other) const {
    return param == other.param && metric == other.metric && rate == other.rate;
  }
};

Config ParseConfig(const boxcar::Params& params) {
  Config config;
  config.param = params.GetString("param");
  const bool has_control_char = std::any_of(config.param.begin(), config.param.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20;
  });
  if (Trim(config.param).empty() || has_control_char) {
    throw std::invalid_argument(
        "param: name the tunable to steer, e.g. \"prioritizer.quantum_bytes\"");
  }
  config.metric = params.GetString("metric");
  config.selector = ParseSelector(config.metric);
  config.rate = params.GetString("signal") == "rate";
  config.keep_below = params.GetString("mode") == "below";
  config.target = params.GetDouble("target");
  config.increase_step = params.GetDouble("increase_step");
  config.decrease_factor = params.GetDouble("decrease_factor");
  config.cooldown_ticks = static_cast<uint64_t>(params.GetInt("cooldown_ticks"));
  return config;
}

// What the host stores for `value`: clamped to the bounds and rounded for integer tunables.
double AppliedValue(double value, const boxcar::TunableInfo& tunable) {
  const double clamped = std::clamp(value, tunable.min, tunable.max);
  return tunable.integer ? std::round(clamped) : clamped;
}

std::string FormatNumber(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

template <class T>
bool ParseNumber(std::string_view text, T* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

struct CounterSample {
  double value = 0;
  int64_t ns = 0;
};

// Everything the controller learned; ExportState hands it to a successor.
struct Learned {
  uint64_t ticks = 0;
  uint64_t cooldown_until = 0;               // no change up to and including this tick
  std::optional<CounterSample> last_sample;  // the previous reading, for the rate signal
  std::optional<double> setpoint;            // the last value decided on, before rounding
};

std::string Encode(const Config& config, const Learned& learned) {
  std::string data;
  const auto put = [&](std::string_view key, std::string_view value) {
    data.append(key).append("=").append(value).append("\n");
  };
  put("param", config.param);
  put("metric", config.metric);
  put("signal", config.rate ? "rate" : "value");
  put("ticks", std::to_string(learned.ticks));
  put("cooldown_until", std::to_string(learned.cooldown_until));
  if (learned.last_sample) {
    put("sample_value", FormatNumber(learned.last_sample->value));
    put("sample_ns", std::to_string(learned.last_sample->ns));
  }
  if (learned.setpoint) put("setpoint", FormatNumber(*learned.setpoint));
  return data;
}

// Decodes `data` into `learned`; returns the error, or "" on success. `loop` receives the
// identity fields so the caller can tell whether the state applies to its own loop.
std::string Decode(std::string_view data, Config* loop, Learned* learned) {
  std::map<std::string, std::string, std::less<>> fields;
  while (!data.empty()) {
    const size_t newline = data.find('\n');
    const std::string_view line = data.substr(0, newline);
    data = newline == std::string_view::npos ? std::string_view() : data.substr(newline + 1);
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos) return "line without '='";
    fields.emplace(line.substr(0, equals), line.substr(equals + 1));
  }
  const auto take = [&](std::string_view key) -> std::optional<std::string> {
    const auto it = fields.find(key);
    if (it == fields.end()) return std::nullopt;
    std::string value = std::move(it->second);
    fields.erase(it);
    return value;
  };
  const auto param = take("param");
  const auto metric = take("metric");
  const auto signal = take("signal");
  const auto ticks = take("ticks");
  const auto cooldown_until = take("cooldown_until");
  const auto sample_value = take("sample_value");
  const auto sample_ns = take("sample_ns");
  const auto setpoint = take("setpoint");
  if (!fields.empty()) return "unknown field '" + fields.begin()->first + "'";
  if (!param || !metric || !signal || !ticks || !cooldown_until) return "a field is missing";
  if (sample_value.has_value() != sample_ns.has_value()) return "incomplete counter sample";

  loop->param = *param;
  loop->metric = *metric;
  loop->rate = *signal == "rate";
  if (!ParseNumber(*ticks, &learned->ticks) ||
      !ParseNumber(*cooldown_until, &learned->cooldown_until)) {
    return "bad tick count";
  }
  if (sample_value) {
    CounterSample sample;
    if (!ParseNumber(*sample_value, &sample.value) || !ParseNumber(*sample_ns, &sample.ns)) {
      return "bad counter sample";
    }
    learned->last_sample = sample;
  }
  if (setpoint) {
    double value = 0;
    if (!ParseNumber(*setpoint, &value)) return "bad setpoint";
    learned->setpoint = value;
  }
  return "";
}

class AimdTuner : public boxcar::Tuner {
 public:
  explicit AimdTuner(const boxcar::CreateContext& ctx) : config_(ParseConfig(*ctx.params)) {}

  std::vector<boxcar::Proposal> Tick(int64_t now_ns,
                                     const std::vector<boxcar::MetricSample>& metrics,
                                     const std::vector<boxcar::TunableInfo>& tunables) override {
    std::lock_guard lock(mutex_);
    ++learned_.ticks;
    const std::optional<double> reading = ReadMetric(config_.selector, metrics);
    if (!reading) return {};
    // The counter sample is taken even during a cooldown, so the first rate after it covers
    // one tick interval rather than the whole cooldown.
    const std::optional<double> signal = config_.rate ? RateSince(*reading, now_ns) : reading;
    if (!signal || learned_.ticks <= learned_.cooldown_until) return {};

    const auto tunable = std::find_if(tunables.begin(), tunables.end(),
                                      [&](const auto& t) { return t.name == config_.param; });
    if (tunable == tunables.end()) {
      WarnOnceAboutMissingTunable();
      return {};
    }
    return Step(*signal, *tunable);
  }

  boxcar::Status Reconfigure(const boxcar::Params& params) override {
    Config config;
    try {
      config = ParseConfig(params);
    } catch (const std::invalid_argument& e) {
      return boxcar::Status::InvalidArgument(e.what());
    }
    std::lock_guard lock(mutex_);
    if (!config.SameLoopAs(config_)) {
      learned_.last_sample.reset();
      learned_.setpoint.reset();
      warned_missing_tunable_ = false;
    }
    config_ = std::move(config);
    return boxcar::Status::OK();
  }

  boxcar::Status ExportState(boxcar::PluginState* out) override {
    std::lock_guard lock(mutex_);
    out->format = kStateFormat;
    out->data = Encode(config_, learned_);
    return boxcar::Status::OK();
  }

  boxcar::Status ImportState(const boxcar::PluginState& state) override {
    if (state.format != kStateFormat) {
      return boxcar::Status::NotSupported("state format '" + state.format + "', expected '" +
                                          kStateFormat + "'");
    }
    Config loop;
    Learned learned;
    const std::string error = Decode(state.data, &loop, &learned);
    if (!error.empty()) {
      return boxcar::Status::InvalidArgument(std::string(kStateFormat) + " state: " + error);
    }
    std::lock_guard lock(mutex_);
    if (!loop.SameLoopAs(config_)) {
      host().logger().Log(
          boxcar::LogLevel::kInfo,
          "previous state steered '" + loop.param + "' by '" + loop.metric + "'; starting fresh");
      return boxcar::Status::OK();
    }
    learned_ = learned;
    return boxcar::Status::OK();
  }

 private:
  std::optional<double> RateSince(double counter, int64_t now_ns) {
    const std::optional<CounterSample> previous = learned_.last_sample;
    learned_.last_sample = CounterSample{counter, now_ns};
    if (!previous || now_ns <= previous->ns) return std::nullopt;
    // A counter that went down was reset (e.g. its owner was replaced) and counts from zero.
    const double increase = counter >= previous->value ? counter - previous->value : counter;
    return increase / (static_cast<double>(now_ns - previous->ns) / 1e9);
  }

  std::vector<boxcar::Proposal> Step(double signal, const boxcar::TunableInfo& tunable) {
    const bool healthy = config_.keep_below ? signal <= config_.target : signal >= config_.target;
    // Continue from the unrounded setpoint while the live value is still what it produced, so
    // steps finer than an integer tunable's rounding accumulate; anyone else's change wins.
    const bool still_ours =
        learned_.setpoint && AppliedValue(*learned_.setpoint, tunable) == tunable.value;
    const double base = still_ours ? *learned_.setpoint : tunable.value;
    const double next =
        std::clamp(healthy ? base + config_.increase_step : base * config_.decrease_factor,
                   tunable.min, tunable.max);
    learned_.setpoint = next;
    if (!healthy) learned_.cooldown_until = learned_.ticks + config_.cooldown_ticks;
    if (AppliedValue(next, tunable) == tunable.value) return {};
    return {boxcar::Proposal{config_.param, next, Reason(signal, healthy)}};
  }

  std::string Reason(double signal, bool healthy) const {
    const char* relation = config_.keep_below ? (healthy ? "<=" : ">") : (healthy ? ">=" : "<");
    char action[64];
    if (healthy) {
      std::snprintf(action, sizeof action, "increase by %g", config_.increase_step);
    } else {
      std::snprintf(action, sizeof action, "decrease by factor %g", config_.decrease_factor);
    }
    char text[128];
    std::snprintf(text, sizeof text, "%s %g %s target %g: %s", config_.rate ? "rate" : "value",
                  signal, relation, config_.target, action);
    return "aimd: " + config_.metric + " " + text;
  }

  void WarnOnceAboutMissingTunable() {
    if (warned_missing_tunable_) return;
    warned_missing_tunable_ = true;
    host().logger().Log(boxcar::LogLevel::kWarn,
                        "tunable '" + config_.param + "' does not exist; nothing to steer");
  }

  std::mutex mutex_;
  Config config_;                        // guarded by mutex_
  Learned learned_;                      // guarded by mutex_
  bool warned_missing_tunable_ = false;  // guarded by mutex_
};

}  // namespace

BOXCAR_PLUGIN(AimdTuner, "aimd", "1.0.0",
              "Steers one tunable by one metric: additive increase while healthy, "
              "multiplicative decrease when not",
              kSchema, boxcar::kThreadSafe | boxcar::kStateExport | boxcar::kReconfigure);
