#include "runtime/instance.h"

#include <chrono>
#include <ctime>
#include <thread>

#include "runtime/json_schema.h"
#include "runtime/tunables.h"

namespace boxcar::runtime {
namespace {

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::map<std::string, std::shared_ptr<Tunable>> PrepareTunables(const InstanceRequest& r,
                                                                const nlohmann::json& params) {
  std::map<std::string, std::shared_ptr<Tunable>> out;
  if (r.tunables == nullptr) return out;
  for (const TunableSpec& spec : TunablesOf(r.library->info().params_schema)) {
    const double configured = params.value(spec.param, spec.min);
    out[spec.param] = r.tunables->Prepare(r.slot + "." + spec.param, spec.min, spec.max,
                                          spec.integer, configured);
  }
  return out;
}

}  // namespace

Instance::~Instance() {
  // Explicit for clarity: the plugin object first, then what its code needs.
  plugin_.reset();
}

void Instance::RetireAndWait() {
  retired_.store(true, std::memory_order_seq_cst);
  // Plugin calls are short by contract; yield first, then back off so a slow call does not keep
  // a core spinning.
  auto in_flight = [&] {
    int64_t calls = 0;
    for (const Stripe& s : active_) calls += s.calls.load(std::memory_order_seq_cst);
    return calls;
  };
  for (int spins = 0; in_flight() != 0; ++spins) {
    if (spins < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

Status ValidateParams(const PluginInfo& info, const std::string& pointer, nlohmann::json* params) {
  std::vector<SchemaError> errors = ValidateAndFillDefaults(info.params_schema, *params, pointer);
  if (errors.empty()) return Status::OK();
  std::string message;
  for (const SchemaError& e : errors) {
    if (!message.empty()) message += "\n";
    message += e.pointer + ": " + e.message;
  }
  return Status::InvalidArgument(message);
}

Status Instance::Reconfigure(const nlohmann::json& params_json) {
  const Params params = ToParams(params_json, info().params_schema);
  Status s = Invoke<Plugin>([&](Plugin& p) { return p.Reconfigure(params); });
  if (!s.ok()) return s;
  // Plugins read tunables through the bound atomics, not through Params, so a configured value
  // that changed must reach the atomic; a tunable whose configured value stayed keeps its tuned
  // value, as on a reload that keeps the instance.
  for (const auto& [param, tunable] : services_->bound_tunables()) {
    auto it = params_json.find(param);
    if (it == params_json.end() || !it->is_number()) continue;
    const double configured = it->get<double>();
    if (configured == tunable->configured) continue;
    tunable->configured = configured;
    tunable->value.store(tunable->Clamp(configured));
  }
  params_json_ = params_json;
  return Status::OK();
}

Status CreatePlugin(InstanceRequest r, CreatedPlugin* out) {
  const PluginInfo& info = r.library->info();
  if (Status s = ValidateParams(info, r.params_pointer, &r.params); !s.ok()) return s;
  out->params = std::make_unique<Params>(ToParams(r.params, info.params_schema));
  out->services = std::make_shared<InstanceServices>(r.context, r.slot, info.name,
                                                     PrepareTunables(r, r.params));
  out->params_json = std::move(r.params);

  CreateContext ctx;
  ctx.host = out->services.get();
  ctx.params = out->params.get();
  ctx.slot = out->services->slot();  // owned by the services, which outlive the plugin
  ctx.evictions = r.evictions;
  ctx.data_dir = r.data_dir;
  Plugin* raw = nullptr;
  Status s = r.library->descriptor().create(ctx, &raw);
  if (!s.ok()) {
    return Status::InvalidArgument(r.params_pointer + ": plugin \"" + info.name + "\" (" +
                                   info.file.string() + ") refused its params: " + s.message());
  }
  if (raw == nullptr) {
    return Status::Internal(info.file.string() + ": factory returned OK without an instance");
  }
  out->plugin.reset(raw);
  return Status::OK();
}

Status InstanceFactory::Create(InstanceRequest r, std::shared_ptr<Instance>* out) {
  std::shared_ptr<Instance> inst(new Instance());
  inst->library_ = r.library;
  inst->slot_ = r.slot;
  CreatedPlugin created;
  if (Status s = CreatePlugin(std::move(r), &created); !s.ok()) return s;
  inst->services_ = std::move(created.services);
  inst->params_ = std::move(created.params);
  inst->params_json_ = std::move(created.params_json);
  inst->plugin_ = std::move(created.plugin);
  inst->serialize_ = !inst->info().Has(kThreadSafe);
  inst->loaded_at_ = UtcNow();
  *out = std::move(inst);
  return Status::OK();
}

}  // namespace boxcar::runtime
