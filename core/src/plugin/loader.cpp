// SPDX-License-Identifier: Apache-2.0
// The only file that talks to Boost.DLL. Order matters: open (RTLD_NOW | RTLD_LOCAL), read and check the C
// manifest, and only then resolve and call the C++ registration alias.
#include "plugin/loader.h"

#include <dlfcn.h>
#include <errno.h>  // program_invocation_short_name
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <torch/csrc/api/include/torch/version.h>

#include "plugin/declarations.h"
#include "stagehand/facts_companion.h"
#include "stagehand/plugin.h"
#include "util/hash.h"

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
std::string check_manifest(const ManifestFacts& m) {
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
  if (m.compiler_id != STAGEHAND_COMPILER_ID || m.compiler_major != STAGEHAND_COMPILER_MAJOR)
    return fmt::format("built with {} {}, the runner with {} {}; rebuild the plugin with the same compiler",
                       m.compiler_id.empty() ? "?" : m.compiler_id, m.compiler_major, STAGEHAND_COMPILER_ID,
                       STAGEHAND_COMPILER_MAJOR);
  return "";
}

ManifestFacts facts_of(const stagehand_plugin_manifest& m) {
  ManifestFacts f;
  f.manifest_version = m.manifest_version;
  f.abi = m.abi;
  f.torch_major = m.torch_major;
  f.torch_minor = m.torch_minor;
  f.torch_patch = m.torch_patch;
  f.cxx11_abi = m.cxx11_abi;
  f.cplusplus = m.cplusplus;
  f.compiler_id = m.compiler_id ? m.compiler_id : "";
  f.compiler_major = m.compiler_major;
  f.stagehand_version = m.stagehand_version ? m.stagehand_version : "";
  return f;
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

// A plugin that crashes (a signal, not an exception) while it is opened (its static initializers) or while it
// registers would take the process down with a bare "Segmentation fault". CrashGuard, alive for exactly that
// time, turns the fatal signals into one line naming the plugin, the signal and the fix, and exit status 1.
// Recovering is not safe (the plugin may have died holding malloc's lock, half through a static constructor), so
// the handler only write()s the line it was given ready-made and calls _exit(): both async-signal-safe. An
// alternate stack lets it run after a stack overflow too. The previous handlers come back afterwards.
constexpr int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP};
char g_crash_head[2048];  // "<program>: error: plugin '<file>' crashed while <phase>: "
char g_crash_tail[1024];  // "; nothing of it was registered; ..."
size_t g_crash_head_len = 0, g_crash_tail_len = 0;
const char* volatile g_crash_phase = "";

const char* signal_text(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bad memory access)";
    case SIGFPE: return "SIGFPE (arithmetic error, e.g. an integer division by zero)";
    case SIGILL: return "SIGILL (illegal instruction, e.g. a trap the compiler put on undefined behaviour)";
    case SIGABRT: return "SIGABRT (abort: a failed assert, or an exception that could not be thrown through)";
    case SIGSYS: return "SIGSYS (bad system call)";
    case SIGTRAP: return "SIGTRAP (trap)";
    default: return "a fatal signal";
  }
}

void write_all(const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, p, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

extern "C" void stagehand_plugin_crash_handler(int sig) {
  write_all(g_crash_head, g_crash_head_len);
  const char* phase = g_crash_phase;
  write_all(phase, std::strlen(phase));
  write_all(": ", 2);
  const char* what = signal_text(sig);
  write_all(what, std::strlen(what));
  write_all(g_crash_tail, g_crash_tail_len);
  ::_exit(1);
}

class CrashGuard {
 public:
  CrashGuard(const fs::path& file, const std::string& origin) {
    const std::string head = fmt::format("{}: error: plugin '{}' crashed while ", program_invocation_short_name,
                                         file.string());
    const std::string tail = fmt::format(
        "; nothing of it was registered and nothing was run; fix the plugin (`runner test-plugin {}` under gdb shows "
        "where) or remove it from {}\n",
        file.string(),
        origin == "builtin"                 ? std::string("the built-in plugin folder")
        : origin == "STAGEHAND_PLUGIN_PATH" ? std::string("STAGEHAND_PLUGIN_PATH")
        : origin == "pipeline"              ? std::string("the pipeline's 'plugins:' list")
                                            : fmt::format("the {}", origin));
    g_crash_head_len = std::min(head.size(), sizeof g_crash_head);
    std::memcpy(g_crash_head, head.data(), g_crash_head_len);
    g_crash_tail_len = std::min(tail.size(), sizeof g_crash_tail);
    std::memcpy(g_crash_tail, tail.data(), g_crash_tail_len);
    stack_t alt{};
    alt.ss_sp = alt_stack_;
    alt.ss_size = sizeof alt_stack_;
    has_old_stack_ = ::sigaltstack(&alt, &old_stack_) == 0;
    struct sigaction sa {};
    sa.sa_handler = stagehand_plugin_crash_handler;
    sa.sa_flags = SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(kCrashSignals); ++i) ::sigaction(kCrashSignals[i], &sa, &old_[i]);
  }
  ~CrashGuard() {
    for (size_t i = 0; i < std::size(kCrashSignals); ++i) ::sigaction(kCrashSignals[i], &old_[i], nullptr);
    if (has_old_stack_) ::sigaltstack(&old_stack_, nullptr);
    g_crash_phase = "";
  }
  void phase(const char* what) { g_crash_phase = what; }
  CrashGuard(const CrashGuard&) = delete;
  CrashGuard& operator=(const CrashGuard&) = delete;

 private:
  struct sigaction old_[std::size(kCrashSignals)] {};
  stack_t old_stack_{};
  bool has_old_stack_ = false;
  alignas(16) char alt_stack_[64 * 1024];
};

}  // namespace

PluginLoader::PluginLoader(Registry& registry, LoadMode mode) : registry_(registry), mode_(mode) {}
PluginLoader::~PluginLoader() = default;

const LoadedPlugin* PluginLoader::refuse(const fs::path& file, const std::string& reason) {
  refused_.push_back({file, reason});
  return nullptr;
}

const LoadedPlugin* PluginLoader::load(const fs::path& file_in, const std::string& origin) {
  fs::path file = fs::absolute(file_in).lexically_normal();
  for (const auto& l : loaded_)
    if (l.file == file) return &l;
  if (!fs::exists(file)) return refuse(file, "no such file; check the path (STAGEHAND_PLUGIN_PATH or `plugins:`)");
  return mode_ == LoadMode::Code ? load_code(file, origin) : load_declared(file, origin);
}

const LoadedPlugin* PluginLoader::commit(LoadedPlugin rec, std::vector<ComponentInfo>& entries) {
  // Check every clash before committing anything, so a refused plugin leaves no partial registration.
  for (const auto& e : entries) {
    if (const ComponentInfo* other = registry_.find(e.kind, e.name))
      return refuse(rec.file, fmt::format("{} '{}' is provided by both '{}' and '{}'; remove one of the two plugins or "
                                          "rename the component",
                                          e.kind, e.name, other->plugin_file, rec.file.string()));
  }
  for (auto& e : entries) {
    e.plugin_name = rec.name;
    e.plugin_file = rec.file.string();
    rec.components.push_back(e.kind + "/" + e.name);
    registry_.add(std::move(e));
  }
  loaded_.push_back(std::move(rec));
  return &loaded_.back();
}

const LoadedPlugin* PluginLoader::load_code(const fs::path& file, const std::string& origin,
                                            const std::string& sha256) {
  auto t0 = std::chrono::steady_clock::now();
  auto refuse = [&](const std::string& reason) { return this->refuse(file, reason); };
  CrashGuard guard(file, origin);
  guard.phase("it was being opened (its static initializers)");
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
  LoadedPlugin rec;
  rec.manifest = facts_of(*m);
  std::string why = check_manifest(rec.manifest);
  if (!why.empty()) return refuse(why);

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
  guard.phase("it was registering its components");
  try {
    auto& fn = lib->get_alias<detail::RegisterFn>(STAGEHAND_REGISTER_ALIAS);
    fn(registrar);
  } catch (const std::exception& e) {
    return refuse(fmt::format("its registration threw: {}; fix the plugin (nothing of it was registered)", e.what()));
  } catch (...) {
    return refuse("its registration threw a non-standard exception; fix the plugin (nothing of it was registered)");
  }
  rec.sha256 = sha256.empty() ? sha256_file(file) : sha256;
  rec.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return commit(std::move(rec), registrar.entries());
}

namespace {

/// The fact functions of a facts companion (a torch-free shared object built from the plugin's fact code), by
/// "kind/name".
std::map<std::string, FactFunction> companion_facts(const fs::path& file, const std::string& sha256,
                                                    const std::string& plugin) {
  if (!fs::is_regular_file(file) || sha256_file(file) != sha256)
    throw NeedsPluginCode(fmt::format("the facts companion {} of plugin {} is missing or not the one its declaration "
                                      "file names", file.string(), plugin));
  CrashGuard guard(file, "facts companion of " + plugin);
  guard.phase("it was being opened (its static initializers)");
  auto lib = std::make_shared<boost::dll::shared_library>();
  PluginRegistrar registrar;
  try {
    lib->load(boost::dll::fs::path(file.string()),
              boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    keep_alive().push_back(lib);
    guard.phase("it was registering its facts");
    lib->get_alias<detail::RegisterFn>(STAGEHAND_FACTS_ALIAS)(registrar);
  } catch (const std::exception& e) {
    throw NeedsPluginCode(fmt::format("the facts companion {} of plugin {} cannot be used: {}", file.string(), plugin,
                                      dl_message(e)));
  }
  std::map<std::string, FactFunction> out;
  for (auto& e : registrar.entries())
    if (e.facts) out[e.kind + "/" + e.name] = std::move(e.facts);
  return out;
}

}  // namespace

const LoadedPlugin* PluginLoader::load_declared(const fs::path& file, const std::string& origin) {
  auto t0 = std::chrono::steady_clock::now();
  const fs::path decl_file = declaration_file(file);
  if (!fs::is_regular_file(decl_file))
    throw NeedsPluginCode(fmt::format("plugin {} has no declaration file ({})", file.string(), decl_file.string()));
  Declarations d = read_declarations(decl_file);
  const std::string sha = sha256_file(file);
  if (d.sha256 != sha)
    throw NeedsPluginCode(fmt::format("the declaration file of plugin {} is of another build of it (sha256 {}, the "
                                      "file has {})", file.string(), d.sha256.substr(0, 16), sha.substr(0, 16)));
  if (d.light) return load_code(file, origin, sha);  // no LibTorch in it: its code is as cheap as its declarations
  std::string why = check_manifest(d.manifest);
  if (!why.empty()) return refuse(file, why);
  LoadedPlugin rec;
  rec.file = file;
  rec.sha256 = sha;
  rec.name = d.name;
  rec.version = d.version;
  rec.manifest = d.manifest;
  rec.abi = d.manifest.abi;
  rec.torch_version = fmt::format("{}.{}.{}", d.manifest.torch_major, d.manifest.torch_minor, d.manifest.torch_patch);
  rec.cxx11_abi = d.manifest.cxx11_abi;
  rec.compiler = fmt::format("{} {}", d.manifest.compiler_id.empty() ? "?" : d.manifest.compiler_id,
                             d.manifest.compiler_major);
  rec.origin = origin;
  rec.from_declarations = true;
  std::map<std::string, FactFunction> facts;
  if (!d.facts.empty()) facts = companion_facts(d.facts, d.facts_sha256, file.string());
  for (size_t i = 0; i < d.components.size(); ++i) {
    ComponentInfo& c = d.components[i];
    const std::string id = c.kind + "/" + c.name;
    c.factory = [id, file](const Options&, const BuildContext&) -> std::shared_ptr<void> {
      throw NeedsPluginCode(fmt::format("{} is to be built, which needs its plugin {} opened", id, file.string()));
    };
    if (auto f = facts.find(id); f != facts.end()) {
      c.facts = f->second;
    } else if (d.has_facts[i]) {
      c.facts = [id, file](const Options&, const FactLookup&) -> PlanFacts {
        throw NeedsPluginCode(fmt::format("the facts of {} need its plugin {} opened (no facts companion has them)",
                                          id, file.string()));
      };
    }
  }
  rec.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return commit(std::move(rec), d.components);
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
