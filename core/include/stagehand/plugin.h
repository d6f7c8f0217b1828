// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What a plugin includes. A plugin is one shared object that exports
///  1. a C-linkage manifest (plain struct, version field first) that the loader reads and checks before it
///     touches any C++ symbol: stagehand plugin ABI, LibTorch version, _GLIBCXX_USE_CXX11_ABI, compiler;
///  2. a registration function, exported as the Boost.DLL alias `stagehand_register`.
/// Both come from one macro:
///
///   #include <stagehand/plugin.h>
///   STAGEHAND_PLUGIN(registrar) {
///     registrar.add<stagehand::Loss>("focal", "Focal loss", stagehand::Schema().opt("gamma", 2.0, "..."),
///                                   [](const stagehand::Options& o) { return std::make_shared<Focal>(o); });
///   }
///
/// stagehand_add_plugin() in CMake defines STAGEHAND_PLUGIN_NAME and STAGEHAND_PLUGIN_VERSION.
#include <cstdint>

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>
#include <torch/csrc/api/include/torch/version.h>

#include "stagehand/registry.h"
#include "stagehand/version.h"

extern "C" {
/// Layout version 1. Never reorder or remove fields; append only, and bump `manifest_version`.
struct stagehand_plugin_manifest {
  uint32_t manifest_version;  ///< first field: layout of this struct
  uint32_t abi;               ///< STAGEHAND_PLUGIN_ABI the plugin was built against
  int32_t torch_major, torch_minor, torch_patch;
  int32_t cxx11_abi;          ///< _GLIBCXX_USE_CXX11_ABI
  int32_t cplusplus;          ///< __cplusplus / 100 (e.g. 2017)
  const char* compiler_id;    ///< "gcc" or "clang"
  int32_t compiler_major;
  const char* name;           ///< plugin name
  const char* version;        ///< plugin version
  const char* stagehand_version;  ///< version of the headers it was built with
};
}

#define STAGEHAND_MANIFEST_VERSION 1u
#define STAGEHAND_MANIFEST_SYMBOL "stagehand_plugin_manifest"
#define STAGEHAND_REGISTER_ALIAS "stagehand_register"

#if defined(__clang__)
#define STAGEHAND_COMPILER_ID "clang"
#define STAGEHAND_COMPILER_MAJOR __clang_major__
#elif defined(__GNUC__)
#define STAGEHAND_COMPILER_ID "gcc"
#define STAGEHAND_COMPILER_MAJOR __GNUC__
#else
#define STAGEHAND_COMPILER_ID "unknown"
#define STAGEHAND_COMPILER_MAJOR 0
#endif

#ifndef STAGEHAND_PLUGIN_NAME
#define STAGEHAND_PLUGIN_NAME "unnamed"
#endif
#ifndef STAGEHAND_PLUGIN_VERSION
#define STAGEHAND_PLUGIN_VERSION "0.0.0"
#endif
// Test fixtures override this to build a deliberately incompatible plugin.
#ifndef STAGEHAND_PLUGIN_ABI_BUILT
#define STAGEHAND_PLUGIN_ABI_BUILT STAGEHAND_PLUGIN_ABI
#endif

namespace stagehand::detail {
using RegisterFn = void(PluginRegistrar&);
}

#define STAGEHAND_PLUGIN(REGISTRAR)                                                                     \
  extern "C" BOOST_SYMBOL_EXPORT const stagehand_plugin_manifest* stagehand_plugin_manifest() noexcept { \
    static const struct stagehand_plugin_manifest manifest = {                                                \
        STAGEHAND_MANIFEST_VERSION, STAGEHAND_PLUGIN_ABI_BUILT, TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, \
        TORCH_VERSION_PATCH,        _GLIBCXX_USE_CXX11_ABI,     static_cast<int32_t>(__cplusplus / 100),  \
        STAGEHAND_COMPILER_ID,      STAGEHAND_COMPILER_MAJOR,   STAGEHAND_PLUGIN_NAME,                    \
        STAGEHAND_PLUGIN_VERSION,   STAGEHAND_VERSION};                                                   \
    return &manifest;                                                                                   \
  }                                                                                                     \
  static void stagehand_register_impl(::stagehand::PluginRegistrar& REGISTRAR);                         \
  BOOST_DLL_ALIAS(stagehand_register_impl, stagehand_register)                                          \
  static void stagehand_register_impl(::stagehand::PluginRegistrar& REGISTRAR)
