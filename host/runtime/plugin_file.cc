#include "runtime/plugin_file.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <openssl/evp.h>

#include <boost/dll/shared_library.hpp>

#include "runtime/elf_image.h"
#include "runtime/json_schema.h"

namespace boxcar::runtime {
namespace fs = std::filesystem;

struct PluginLibrary::Handle {
  boost::dll::shared_library library;
};

namespace {

std::string Quote(const fs::path& file) { return file.string(); }

std::string ToHex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

Status ReadFile(const fs::path& file, std::string* bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::IOError(Quote(file) + ": cannot open for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Status::IOError(Quote(file) + ": read failed");
  *bytes = std::move(buffer).str();
  return Status::OK();
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  return ToHex(digest, len);
}

// Writes `bytes` into a new private directory (mode 0700: no other user can replace the copy
// between this write and the load). The caller removes the directory once the copy is mapped, so
// nothing is left in the temporary directory even when the process is killed later.
Status WritePrivateCopy(const fs::path& source, std::string_view bytes, fs::path* copy) {
  std::error_code ec;
  const fs::path temp = fs::temp_directory_path(ec);
  std::string dir = (temp / "boxcar-plugins-XXXXXX").string();
  if (ec || mkdtemp(dir.data()) == nullptr) {
    return Status::IOError("cannot create a private directory for plugin copies in " + Quote(temp) +
                           ": " + std::strerror(errno) + " (set TMPDIR to a writable directory)");
  }
  *copy = fs::path(dir) / source.filename();
  std::ofstream out(*copy, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    fs::remove_all(dir, ec);
    return Status::IOError(Quote(*copy) + ": cannot write the private copy");
  }
  return Status::OK();
}

std::map<std::string, std::string> SplitTag(std::string_view tag) {
  std::map<std::string, std::string> fields;
  size_t start = 0;
  while (start <= tag.size()) {
    size_t end = tag.find(';', start);
    if (end == std::string_view::npos) end = tag.size();
    std::string_view field = tag.substr(start, end - start);
    size_t eq = field.find('=');
    if (eq != std::string_view::npos) {
      fields[std::string(field.substr(0, eq))] = std::string(field.substr(eq + 1));
    }
    start = end + 1;
  }
  return fields;
}

std::string AbiFixHint(const std::string& field) {
  if (field == "ndebug")
    return " (build the plugin with the host's CMAKE_BUILD_TYPE, e.g. Release)";
  if (field == "asan" || field == "tsan")
    return " (build the plugin with the same -fsanitize flags as the host)";
  if (field == "api") return " (rebuild the plugin against this host's plugin-api headers)";
  return " (build the plugin with the same compiler and standard library as the host)";
}

// [a-z0-9][a-z0-9_-]{0,63}: safe in file names, metric labels and config values.
bool ValidName(const char* name) {
  if (name == nullptr) return false;
  const std::string_view n(name);
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (n.empty() || n.size() > 64 || !alnum(n[0])) return false;
  for (char c : n) {
    if (!alnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

bool ValidKind(PluginKind kind) {
  auto k = static_cast<uint32_t>(kind);
  return k >= static_cast<uint32_t>(PluginKind::kPrioritizer) &&
         k <= static_cast<uint32_t>(PluginKind::kTuner);
}

// Checks the fixed prefix first, then the rest; copies fields into `info` as it goes so a caller
// can show what it could read even when the plugin is refused.
Status CheckDescriptor(const fs::path& file, const PluginDescriptor& d, PluginInfo* info) {
  const std::string where = Quote(file) + ": ";
  if (d.magic != kDescriptorMagic) {
    char found[16];
    std::snprintf(found, sizeof found, "0x%08x", d.magic);
    return Status::InvalidArgument(where + "bad descriptor magic: expected 0x52435842, found " +
                                   found + " (the symbol was not made by BOXCAR_PLUGIN)");
  }
  if (d.struct_size != sizeof(PluginDescriptor)) {
    return Status::InvalidArgument(
        where + "descriptor size mismatch: expected " + std::to_string(sizeof(PluginDescriptor)) +
        " bytes, found " + std::to_string(d.struct_size) + " (rebuild against this host's API)");
  }
  info->api_major = d.api_major;
  info->api_minor = d.api_minor;
  const std::string host_api = std::to_string(kApiMajor) + "." + std::to_string(kApiMinor);
  const std::string plugin_api = std::to_string(d.api_major) + "." + std::to_string(d.api_minor);
  if (d.api_major != kApiMajor) {
    return Status::InvalidArgument(where + "API major version mismatch: expected " +
                                   std::to_string(kApiMajor) + ".x, found " + plugin_api);
  }
  if (d.api_minor > kApiMinor) {
    return Status::InvalidArgument(where + "plugin needs API " + plugin_api +
                                   ", newer than the host's " + host_api + " (upgrade boxcar)");
  }
  if (d.abi_tag == nullptr) return Status::InvalidArgument(where + "descriptor has no ABI tag");
  info->abi_tag = d.abi_tag;
  if (std::string mismatch = DescribeAbiMismatch(BOXCAR_ABI_TAG, d.abi_tag); !mismatch.empty()) {
    return Status::InvalidArgument(where + "ABI mismatch: " + mismatch);
  }
  if (!ValidKind(d.kind)) {
    return Status::InvalidArgument(where + "unknown plugin kind " +
                                   std::to_string(static_cast<uint32_t>(d.kind)));
  }
  info->kind = d.kind;
  if (!ValidName(d.name)) {
    return Status::InvalidArgument(where +
                                   "invalid plugin name: expected [a-z0-9][a-z0-9_-]*, found \"" +
                                   std::string(d.name ? d.name : "(null)") + "\"");
  }
  info->name = d.name;
  info->version = d.version ? d.version : "";
  info->description = d.description ? d.description : "";
  info->capabilities = d.capabilities;
  if (d.create == nullptr) return Status::InvalidArgument(where + "descriptor has no factory");
  nlohmann::json schema = nlohmann::json::parse(d.params_schema ? d.params_schema : "", nullptr,
                                                /*allow_exceptions=*/false);
  if (schema.is_discarded()) {
    return Status::InvalidArgument(where + "params schema is not valid JSON");
  }
  if (Status s = CheckParamsSchema(schema); !s.ok()) {
    return Status::InvalidArgument(where + "params schema: " + s.message());
  }
  info->params_schema = std::move(schema);
  return Status::OK();
}

// Boost.DLL reports any failed dlopen as "Bad file descriptor"; the reason is in dlerror, which
// it leaves set. dlerror names the private copy; the operator knows the file by its configured
// name.
std::string LoadError(const fs::path& file, const fs::path& copy) {
  const char* raw = dlerror();
  std::string message = raw != nullptr ? raw : "unknown dynamic linker error";
  for (size_t at = message.find(copy.string()); at != std::string::npos;
       at = message.find(copy.string())) {
    message.replace(at, copy.string().size(), file.string());
  }
  return message;
}

Status MapLibrary(const fs::path& file, const fs::path& copy, boost::dll::shared_library* lib) {
  std::error_code error;
  lib->load(copy, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, error);
  if (error) {
    return Status::InvalidArgument(Quote(file) +
                                   ": cannot load as a shared object: " + LoadError(file, copy));
  }
  if (!lib->has(kDescriptorSymbol)) {
    return Status::InvalidArgument(
        Quote(file) + ": no \"" + std::string(kDescriptorSymbol) +
        "\" symbol: not a boxcar plugin (declare one with BOXCAR_PLUGIN)");
  }
  return Status::OK();
}

}  // namespace

Status Sha256File(const fs::path& file, std::string* hex) {
  std::string bytes;
  if (Status s = ReadFile(file, &bytes); !s.ok()) return s;
  *hex = Sha256Hex(bytes);
  return Status::OK();
}

std::string DescribeAbiMismatch(std::string_view host_tag, std::string_view plugin_tag) {
  auto host = SplitTag(host_tag);
  auto plugin = SplitTag(plugin_tag);
  std::string out;
  for (const auto& [field, host_value] : host) {
    auto it = plugin.find(field);
    const std::string plugin_value = it == plugin.end() ? "(missing)" : it->second;
    if (plugin_value == host_value) continue;
    if (!out.empty()) out += "; ";
    out += field + ": host has " + host_value + ", plugin has " + plugin_value + AbiFixHint(field);
  }
  return out;
}

Status PluginLibrary::Open(const fs::path& file, const std::optional<std::string>& sha256,
                           std::shared_ptr<PluginLibrary>* out, PluginInfo* partial) {
  std::unique_ptr<PluginLibrary> lib(new PluginLibrary());
  lib->info_.file = file;
  auto report = [&](Status s) {
    if (partial != nullptr) *partial = lib->info_;
    return s;
  };
  std::string bytes;
  if (Status s = ReadFile(file, &bytes); !s.ok()) return report(s);
  // Hash the bytes that are about to be mapped, not the file, which may change meanwhile.
  lib->info_.sha256 = Sha256Hex(bytes);
  if (sha256 && *sha256 != lib->info_.sha256) {
    return report(Status::InvalidArgument(Quote(file) + ": sha256 mismatch: config pins " +
                                          *sha256 + ", file has " + lib->info_.sha256));
  }
  // dlopen of a file whose segments run past its end faults later with SIGBUS; refuse it here.
  if (Status s = CheckElfImage(file, bytes); !s.ok()) return report(s);
  if (Status s = WritePrivateCopy(file, bytes, &lib->private_copy_); !s.ok()) return report(s);
  lib->handle_ = std::make_unique<Handle>();
  Status mapped = MapLibrary(file, lib->private_copy_, &lib->handle_->library);
  std::error_code ignored;
  fs::remove_all(lib->private_copy_.parent_path(), ignored);
  if (!mapped.ok()) return report(mapped);
  lib->descriptor_ = &lib->handle_->library.get<const PluginDescriptor>(kDescriptorSymbol);
  if (Status s = CheckDescriptor(file, *lib->descriptor_, &lib->info_); !s.ok()) return report(s);
  if (partial != nullptr) *partial = lib->info_;
  *out = std::shared_ptr<PluginLibrary>(lib.release());
  return Status::OK();
}

PluginLibrary::~PluginLibrary() = default;

Status InspectPlugin(const fs::path& file, PluginInfo* info) {
  std::shared_ptr<PluginLibrary> lib;
  return PluginLibrary::Open(file, std::nullopt, &lib, info);
}

}  // namespace boxcar::runtime
