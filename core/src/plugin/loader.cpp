// SPDX-License-Identifier: Apache-2.0
// The only file that talks to Boost.DLL. Order matters: open (RTLD_NOW | RTLD_LOCAL), read and check the C
// manifest, and only then resolve and call the C++ registration alias.
#include "stagehand/loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <torch/csrc/api/include/torch/version.h>

#include "stagehand/plugin.h"
#include "stagehand/util.h"

namespace stagehand {

namespace fs = std::filesystem;

namespace {

// Libraries are kept here until exit: code from a plugin (vtables, deleters, autograd nodes) may be
// referenced by objects that outlive any loader.
std::vector<std::shared_ptr<boost::dll::shared_library>>& keep_alive() {
  static auto* libs = new std::vector<std::shared_ptr<boost::dll::shared_library>>();
  return *libs;
}

std::string host_torch() { return fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH); }

// Returns an empty string if compatible, else the reason (one line, both sides named, and the fix).
std::string check_manifest(const stagehand_plugin_manifest& m) {
  if (m.manifest_version != STAGEHAND_MANIFEST_VERSION)
    return fmt::format("plugin manifest layout {} is not the runner's {}; rebuild the plugin against this "
                       "stagehand's headers",
                       m.manifest_version, STAGEHAND_MANIFEST_VERSION);
  if (m.abi != STAGEHAND_PLUGIN_ABI)
    return fmt::format("built for stagehand plugin ABI {}, the runner has ABI {}; rebuild the plugin against this "
                       "stagehand (stagehand {})",
                       m.abi, STAGEHAND_PLUGIN_ABI, STAGEHAND_VERSION);
  if (m.torch_major != TORCH_VERSION_MAJOR || m.torch_minor != TORCH_VERSION_MINOR)
    return fmt::format("built for LibTorch {}.{}.{}, the runner uses LibTorch {}; rebuild the plugin against the "
                       "same LibTorch (CMAKE_PREFIX_PATH)",
                       m.torch_major, m.torch_minor, m.torch_patch, host_torch());
  if (m.cxx11_abi != _GLIBCXX_USE_CXX11_ABI)
    return fmt::format("built with _GLIBCXX_USE_CXX11_ABI={}, the runner with {}; rebuild the plugin with the "
                       "runner's LibTorch flags",
                       m.cxx11_abi, _GLIBCXX_USE_CXX11_ABI);
  if (std::string(m.compiler_id ? m.compiler_id : "") != STAGEHAND_COMPILER_ID ||
      m.compiler_major != STAGEHAND_COMPILER_MAJOR)
    return fmt::format("built with {} {}, the runner with {} {}; rebuild the plugin with the same compiler",
                       m.compiler_id ? m.compiler_id : "?", m.compiler_major, STAGEHAND_COMPILER_ID,
                       STAGEHAND_COMPILER_MAJOR);
  return "";
}

std::string dl_message(const std::exception& e) {
  std::string s = e.what();
  // Boost wraps dlerror() as "... (dlerror system message: ...)"; keep the system part, which names the
  // missing symbol or file.
  auto p = s.find("dlerror system message: ");
  if (p != std::string::npos) {
    s = s.substr(p + 24);
    auto close = s.rfind("): ");
    if (close != std::string::npos) s = s.substr(0, close);
    if (!s.empty() && s.back() == ')') s.pop_back();
  }
  return s;
}

}  // namespace

PluginLoader::PluginLoader(Registry& registry) : registry_(registry) {}
PluginLoader::~PluginLoader() = default;

const LoadedPlugin* PluginLoader::load(const fs::path& file_in, const std::string& origin) {
  auto t0 = std::chrono::steady_clock::now();
  fs::path file = fs::absolute(file_in).lexically_normal();
  for (const auto& l : loaded_)
    if (l.file == file) return &l;
  auto refuse = [&](const std::string& reason) -> const LoadedPlugin* {
    refused_.push_back({file, reason});
    return nullptr;
  };
  if (!fs::exists(file)) return refuse("no such file; check the path (STAGEHAND_PLUGIN_PATH or `plugins:`)");

  auto lib = std::make_shared<boost::dll::shared_library>();
  try {
    lib->load(boost::dll::fs::path(file.string()),
              boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    return refuse(fmt::format("cannot be loaded: {}; it was probably built against another version of stagehand, "
                              "LibTorch or a library it needs: rebuild it",
                              dl_message(e)));
  }
  if (!lib->has(STAGEHAND_MANIFEST_SYMBOL)) {
    keep_alive().push_back(lib);
    return refuse("not a stagehand plugin (no 'stagehand_plugin_manifest' symbol); build it with "
                  "stagehand_add_plugin() and the STAGEHAND_PLUGIN macro");
  }
  using ManifestFn = const stagehand_plugin_manifest*();
  const stagehand_plugin_manifest* m = nullptr;
  try {
    m = lib->get<ManifestFn>(STAGEHAND_MANIFEST_SYMBOL)();
  } catch (const std::exception& e) {
    keep_alive().push_back(lib);
    return refuse(fmt::format("cannot read its manifest: {}", e.what()));
  }
  keep_alive().push_back(lib);
  if (!m) return refuse("its manifest function returned null; rebuild it with the STAGEHAND_PLUGIN macro");
  std::string why = check_manifest(*m);
  if (!why.empty()) return refuse(why);

  LoadedPlugin rec;
  rec.file = file;
  rec.name = m->name ? m->name : "";
  rec.version = m->version ? m->version : "";
  rec.abi = m->abi;
  rec.torch_version = fmt::format("{}.{}.{}", m->torch_major, m->torch_minor, m->torch_patch);
  rec.cxx11_abi = m->cxx11_abi;
  rec.compiler = fmt::format("{} {}", m->compiler_id ? m->compiler_id : "?", m->compiler_major);
  rec.origin = origin;

  if (!lib->has(STAGEHAND_REGISTER_ALIAS))
    return refuse("has a manifest but no registration function (alias 'stagehand_register'); use the "
                  "STAGEHAND_PLUGIN macro");
  PluginRegistrar registrar;
  try {
    auto& fn = lib->get_alias<detail::RegisterFn>(STAGEHAND_REGISTER_ALIAS);
    fn(registrar);
  } catch (const std::exception& e) {
    return refuse(fmt::format("its registration threw: {}; fix the plugin (nothing of it was registered)", e.what()));
  } catch (...) {
    return refuse("its registration threw a non-standard exception; fix the plugin (nothing of it was registered)");
  }
  // Check every clash before committing anything, so a refused plugin leaves no partial registration.
  for (const auto& e : registrar.entries()) {
    if (const ComponentInfo* other = registry_.find(e.kind, e.name))
      return refuse(fmt::format("{} '{}' is provided by both '{}' and '{}'; remove one of the two plugins or rename "
                                "the component",
                                e.kind, e.name, other->plugin_file, file.string()));
  }
  for (auto& e : registrar.entries()) {
    e.plugin_name = rec.name;
    e.plugin_file = file.string();
    rec.components.push_back(e.kind + "/" + e.name);
    registry_.add(std::move(e));
  }
  rec.sha256 = sha256_file(file);
  rec.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  loaded_.push_back(std::move(rec));
  return &loaded_.back();
}

void PluginLoader::load_dir(const fs::path& dir, const std::string& origin) {
  if (!fs::is_directory(dir)) return;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".so") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load(f, origin);
}

std::vector<fs::path> PluginLoader::builtin_dirs() {
  std::vector<fs::path> dirs;
  auto add = [&](const fs::path& p) {
    fs::path n = p.lexically_normal();
    if (fs::is_directory(n) && std::find(dirs.begin(), dirs.end(), n) == dirs.end()) dirs.push_back(n);
  };
  if (const char* env = std::getenv("STAGEHAND_BUILTIN_PLUGIN_DIR")) add(env);
  try {
    fs::path exe = fs::path(boost::dll::program_location().string()).parent_path();
    add(exe / ".." / "plugins");
    add(exe / ".." / "lib" / "stagehand" / "plugins");
  } catch (...) {
  }
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&PluginLoader::builtin_dirs), &info) && info.dli_fname) {
    fs::path lib = fs::absolute(info.dli_fname).parent_path();
    add(lib / ".." / "plugins");
    add(lib / "stagehand" / "plugins");
  }
  return dirs;
}

void PluginLoader::load_default() {
  for (const auto& d : builtin_dirs()) load_dir(d, "builtin");
  if (const char* env = std::getenv("STAGEHAND_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t colon = s.find(':', start);
      std::string entry = s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!entry.empty()) {
        if (fs::is_directory(entry))
          load_dir(entry, "STAGEHAND_PLUGIN_PATH");
        else
          load(entry, "STAGEHAND_PLUGIN_PATH");
      }
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
}

}  // namespace stagehand
