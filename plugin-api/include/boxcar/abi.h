// The ABI tag: the build facts that must match between the host and a plugin for C++ objects
// (std::string, std::vector, vtables) to cross the boundary safely.
//
// The tag is a ';'-separated list of key=value fields so the host can say which one differs.
// The API hash covers the text of every header in this directory, so a plugin compiled against
// headers that changed in any way is refused even when the version numbers were not bumped.
#pragma once

#include <cstddef>  // defines _GLIBCXX_RELEASE and _GLIBCXX_USE_CXX11_ABI

#include "boxcar/api_hash.h"

#define BOXCAR_ABI_STR2(x) #x
#define BOXCAR_ABI_STR(x) BOXCAR_ABI_STR2(x)

#if defined(__clang__)
#define BOXCAR_ABI_COMPILER "clang-" BOXCAR_ABI_STR(__clang_major__)
#elif defined(__GNUC__)
#define BOXCAR_ABI_COMPILER "gcc-" BOXCAR_ABI_STR(__GNUC__)
#else
#define BOXCAR_ABI_COMPILER "unknown"
#endif

// Both g++ and clang++ here use libstdc++; its release and dual-ABI switch decide the layout of
// std::string and std::list.
#if defined(_GLIBCXX_RELEASE)
#define BOXCAR_ABI_STDLIB \
  "libstdc++-" BOXCAR_ABI_STR(_GLIBCXX_RELEASE) ";cxx11abi=" BOXCAR_ABI_STR(_GLIBCXX_USE_CXX11_ABI)
#elif defined(_LIBCPP_VERSION)
#define BOXCAR_ABI_STDLIB "libc++-" BOXCAR_ABI_STR(_LIBCPP_VERSION) ";cxx11abi=n/a"
#else
#define BOXCAR_ABI_STDLIB "unknown;cxx11abi=n/a"
#endif

#if defined(NDEBUG)
#define BOXCAR_ABI_NDEBUG "1"
#else
#define BOXCAR_ABI_NDEBUG "0"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define BOXCAR_ABI_ASAN "1"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BOXCAR_ABI_ASAN "1"
#endif
#endif
#ifndef BOXCAR_ABI_ASAN
#define BOXCAR_ABI_ASAN "0"
#endif

#if defined(__SANITIZE_THREAD__)
#define BOXCAR_ABI_TSAN "1"
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BOXCAR_ABI_TSAN "1"
#endif
#endif
#ifndef BOXCAR_ABI_TSAN
#define BOXCAR_ABI_TSAN "0"
#endif

#define BOXCAR_ABI_TAG                                                                      \
  "compiler=" BOXCAR_ABI_COMPILER ";stdlib=" BOXCAR_ABI_STDLIB ";ndebug=" BOXCAR_ABI_NDEBUG \
  ";asan=" BOXCAR_ABI_ASAN ";tsan=" BOXCAR_ABI_TSAN ";api=" BOXCAR_API_HASH
