// SPDX-License-Identifier: Apache-2.0
#pragma once
// Loading plugins. Host-internal: the runner, the executor and tests use it; plugins never do. Each shared object is
// opened with RTLD_NOW | RTLD_LOCAL (never RTLD_GLOBAL), its C manifest is read and checked (manifest layout,
// stagehand plugin ABI, LibTorch major.minor, _GLIBCXX_USE_CXX11_ABI, compiler family and major version) before any
// C++ symbol is used, and only then is its registration function called. Plugins are never unloaded while the
// process lives. A refused plugin is reported and skipped; it never takes the others down.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "stagehand/export.h"
#include "stagehand/registry.h"

namespace stagehand {

struct STAGEHAND_API LoadedPlugin {
  std::filesystem::path file;  ///< absolute
  std::string sha256;
  std::string name, version;
  uint32_t abi = 0;
  std::string torch_version;  ///< "1.13.0"
  int cxx11_abi = -1;
  std::string compiler;       ///< "gcc 12"
  std::string origin;         ///< "builtin", "STAGEHAND_PLUGIN_PATH", "pipeline", "command line"
  std::vector<std::string> components;  ///< "kind/name"
  double load_ms = 0;
};

struct STAGEHAND_API PluginRefusal {
  std::filesystem::path file;
  std::string reason;  ///< one line: what is wrong and how to fix it
};

class STAGEHAND_API PluginLoader {
 public:
  explicit PluginLoader(Registry& registry);
  ~PluginLoader();

  /// Loads one plugin file. Returns the record, or nullptr if refused (see refused()).
  /// Loading the same file twice is a no-op that returns the first record.
  const LoadedPlugin* load(const std::filesystem::path& file, const std::string& origin = "command line");
  /// Loads every `*.so` in a folder (sorted by name). A missing folder is not an error.
  void load_dir(const std::filesystem::path& dir, const std::string& origin);
  /// Built-in plugins (found relative to the running executable or the core library), then every entry
  /// of STAGEHAND_PLUGIN_PATH (folders or files, ':'-separated).
  void load_default();

  const std::vector<LoadedPlugin>& loaded() const { return loaded_; }
  const std::vector<PluginRefusal>& refused() const { return refused_; }
  Registry& registry() { return registry_; }
  const Registry& registry() const { return registry_; }

  /// Folders searched for built-in plugins: <exe>/../plugins, <exe>/../lib/stagehand/plugins,
  /// <libstagehand_core.so>/../plugins, <libstagehand_core.so>/stagehand/plugins.
  static std::vector<std::filesystem::path> builtin_dirs();

 private:
  Registry& registry_;
  std::vector<LoadedPlugin> loaded_;
  std::vector<PluginRefusal> refused_;
};

}  // namespace stagehand
