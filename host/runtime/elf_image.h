// A plain check of a shared object's ELF headers, made before the file is handed to dlopen.
//
// dlopen maps each PT_LOAD segment with mmap; a segment that runs past the end of a truncated
// file maps fine but faults with SIGBUS on first touch, which kills the whole node. Reading the
// headers from the bytes first turns that into an error that names the file.
#pragma once

#include <filesystem>
#include <string_view>

#include "boxcar/status.h"

namespace boxcar::runtime {

// Checks that `image` (the whole content of `file`) is a 64-bit ELF shared object for this host's
// byte order and machine, and that its program headers, every PT_LOAD segment's file bytes and
// its section header table lie inside the image. Errors name `file` and say how to fix it, e.g.
// "plugin file X is truncated: segment 2 needs 24576 bytes, the file has 20000; reinstall it".
// Pure function; thread safe.
Status CheckElfImage(const std::filesystem::path& file, std::string_view image);

}  // namespace boxcar::runtime
