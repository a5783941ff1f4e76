#include "runtime/elf_image.h"

#include <elf.h>

#include <cstring>
#include <string>

namespace boxcar::runtime {
namespace {

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t kHostMachine = EM_AARCH64;
#else
constexpr uint16_t kHostMachine = EM_NONE;  // not checked
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr unsigned char kHostData = ELFDATA2LSB;
#else
constexpr unsigned char kHostData = ELFDATA2MSB;
#endif

std::string Named(const std::filesystem::path& file) { return "plugin file " + file.string(); }

Status Refuse(const std::filesystem::path& file, const std::string& problem) {
  return Status::InvalidArgument(Named(file) + " " + problem);
}

Status Truncated(const std::filesystem::path& file, const std::string& what, uint64_t needs,
                 size_t has) {
  return Status::InvalidArgument(Named(file) + " is truncated: " + what + " needs " +
                                 std::to_string(needs) + " bytes, the file has " +
                                 std::to_string(has) + "; reinstall it");
}

// offset + count * entry_size; false (and UINT64_MAX) when that overflows.
bool TableEnd(uint64_t offset, uint64_t count, uint64_t entry_size, uint64_t* end) {
  if (entry_size != 0 && count > (UINT64_MAX - offset) / entry_size) {
    *end = UINT64_MAX;
    return false;
  }
  *end = offset + count * entry_size;
  return true;
}

Status CheckIdentity(const std::filesystem::path& file, std::string_view image) {
  if (image.size() < SELFMAG || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0) {
    return Refuse(file, "is not an ELF shared object (no ELF magic at its start)");
  }
  if (image.size() < sizeof(Elf64_Ehdr)) {
    return Truncated(file, "the ELF header", sizeof(Elf64_Ehdr), image.size());
  }
  if (static_cast<unsigned char>(image[EI_CLASS]) != ELFCLASS64) {
    return Refuse(file, "is not a 64-bit ELF object; build it for this host");
  }
  if (static_cast<unsigned char>(image[EI_DATA]) != kHostData) {
    return Refuse(file, "has the wrong byte order for this host; build it for this host");
  }
  return Status::OK();
}

Status CheckSegments(const std::filesystem::path& file, std::string_view image,
                     const Elf64_Ehdr& header) {
  if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum == 0) {
    return Refuse(file, "has no usable program headers; it is not a loadable shared object");
  }
  uint64_t table_end = 0;
  if (!TableEnd(header.e_phoff, header.e_phnum, sizeof(Elf64_Phdr), &table_end) ||
      table_end > image.size()) {
    return Truncated(file, "the program header table", table_end, image.size());
  }
  for (uint16_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment;
    std::memcpy(&segment, image.data() + header.e_phoff + i * sizeof(Elf64_Phdr), sizeof segment);
    if (segment.p_type != PT_LOAD) continue;
    uint64_t end = 0;
    if (!TableEnd(segment.p_offset, 1, segment.p_filesz, &end) || end > image.size()) {
      return Truncated(file, "segment " + std::to_string(i), end, image.size());
    }
  }
  return Status::OK();
}

}  // namespace

Status CheckElfImage(const std::filesystem::path& file, std::string_view image) {
  if (Status s = CheckIdentity(file, image); !s.ok()) return s;
  Elf64_Ehdr header;
  std::memcpy(&header, image.data(), sizeof header);
  if (header.e_type != ET_DYN) {
    return Refuse(file, "is not a shared object (ELF type " + std::to_string(header.e_type) +
                            "); build the plugin as a SHARED library");
  }
  if (kHostMachine != EM_NONE && header.e_machine != kHostMachine) {
    return Refuse(file, "is built for another machine (ELF machine " +
                            std::to_string(header.e_machine) + "); build it for this host");
  }
  if (Status s = CheckSegments(file, image, header); !s.ok()) return s;
  uint64_t sections_end = 0;
  if (header.e_shoff != 0 &&
      (!TableEnd(header.e_shoff, header.e_shnum, header.e_shentsize, &sections_end) ||
       sections_end > image.size())) {
    return Truncated(file, "the section header table", sections_end, image.size());
  }
  return Status::OK();
}

}  // namespace boxcar::runtime
