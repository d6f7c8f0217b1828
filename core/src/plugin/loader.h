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

/// A plugin's C manifest (stagehand/plugin.h) as values.
struct STAGEHAND_API ManifestFacts {
  uint32_t manifest_version = 0, abi = 0;
  int torch_major = 0, torch_minor = 0, torch_patch = 0, cxx11_abi = -1, cplusplus = 0, compiler_major = 0;
  std::string compiler_id, stagehand_version;
};

/// How a loader takes a plugin in: by opening it (its code: every command that builds components), or by reading
/// its declaration file (plugin/declarations.h: `runner check`, `plugins`, `describe`, without LibTorch). Reading
/// declarations opens only the plugins that are light (no LibTorch) and the facts companions of the others, and
/// throws NeedsPluginCode where code is needed that it does not have.
enum class LoadMode { Code, Declarations };

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
  ManifestFacts manifest;
  bool from_declarations = false;  ///< read from its declaration file, not opened
};

struct STAGEHAND_API PluginRefusal {
  std::filesystem::path file;
  std::string reason;  ///< one line: what is wrong and how to fix it
};

class STAGEHAND_API PluginLoader {
 public:
  explicit PluginLoader(Registry& registry, LoadMode mode = LoadMode::Code);
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
  LoadMode mode() const { return mode_; }
  Registry& registry() { return registry_; }
  const Registry& registry() const { return registry_; }

  /// Folders searched for built-in plugins: <exe>/../plugins, <exe>/../lib/stagehand/plugins,
  /// <libstagehand_core.so>/../plugins, <libstagehand_core.so>/stagehand/plugins.
  static std::vector<std::filesystem::path> builtin_dirs();

 private:
  /// `sha256`: the file's, when the caller has hashed it already (else it is hashed here).
  const LoadedPlugin* load_code(const std::filesystem::path& file, const std::string& origin,
                                const std::string& sha256 = "");
  const LoadedPlugin* load_declared(const std::filesystem::path& file, const std::string& origin);
  const LoadedPlugin* refuse(const std::filesystem::path& file, const std::string& reason);
  /// Commits a plugin's entries to the registry, or refuses it when one clashes (nothing of it is then registered).
  const LoadedPlugin* commit(LoadedPlugin rec, std::vector<ComponentInfo>& entries);

  Registry& registry_;
  LoadMode mode_ = LoadMode::Code;
  std::vector<LoadedPlugin> loaded_;
  std::vector<PluginRefusal> refused_;
};

}  // namespace stagehand
