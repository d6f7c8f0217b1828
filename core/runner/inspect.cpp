// SPDX-License-Identifier: Apache-2.0
#include "inspect.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>

#include "pipeline/pipeline.h"
#include "plugin/declarations.h"

namespace fs = std::filesystem;

namespace stagehand::cli {

namespace {

/// Whether LibTorch is in this process (`check --timing` says): a line of /proc/self/maps naming libtorch_cpu.
bool libtorch_loaded() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("libtorch_cpu") != std::string::npos) return true;
  return false;
}

void print_refusals(const PluginLoader& loader) {
  for (const auto& r : loader.refused())
    std::cerr << "runner: warning: plugin " << r.file.string() << " refused: " << r.reason << "\n";
}

}  // namespace

void load_plugins(PluginLoader& loader, const std::vector<std::string>& extra) {
  loader.load_default();
  for (const auto& e : extra) loader.load(e, "command line");
  // A refusal is reported by runner-full, once, rather than here and again there.
  if (loader.mode() == LoadMode::Declarations && !loader.refused().empty())
    throw NeedsPluginCode(fmt::format("plugin {} was refused", loader.refused().front().file.string()));
  print_refusals(loader);
}

std::vector<std::string> with_overrides(const std::vector<std::string>& positional) {
  return std::vector<std::string>(positional.begin() + 1, positional.end());
}

std::vector<CLI::App*> parse_commands(CLI::App& app, std::vector<Entry>& table, Common& c,
                                      const std::vector<std::string>& args) {
  std::vector<CLI::App*> subs;
  for (auto& e : table) {
    subs.push_back(app.add_subcommand(e.name, e.help));
    e.command->declare(*subs.back(), c);
  }
  std::vector<const char*> cargs;
  for (const auto& a : args) cargs.push_back(a.c_str());
  app.parse(static_cast<int>(cargs.size()), cargs.data());
  return subs;
}

size_t after_global_options(const std::vector<std::string>& args) {
  size_t i = 1;
  while (i < args.size()) {
    const std::string& a = args[i];
    if (a == "-q" || a == "--quiet" || a == "-v" || a == "--verbose" || a.rfind("--log-level=", 0) == 0 ||
        a.rfind("--plugin=", 0) == 0)
      i += 1;
    else if ((a == "--log-level" || a == "--plugin") && i + 1 < args.size())
      i += 2;
    else
      break;
  }
  return i;
}

int guarded(const std::function<int()>& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    std::cerr << "runner: error: " << e.what() << "\n";
    return 1;
  }
}

namespace {

int cmd_check(const std::string& file, const std::vector<std::string>& overrides, const std::vector<std::string>& extra,
              bool print, bool timing, LoadMode mode) {
  auto t0 = std::chrono::steady_clock::now();
  Registry registry;
  PluginLoader loader(registry, mode);
  load_plugins(loader, extra);
  auto t1 = std::chrono::steady_clock::now();
  Pipeline p = load_pipeline(file, overrides, loader);
  auto t2 = std::chrono::steady_clock::now();
  if (print) {
    std::cout << to_yaml(p.root);
    return 0;
  }
  std::cout << fmt::format("pipeline '{}': {} stages\n", p.name, p.stages.size());
  for (const auto& s : p.stages) {
    std::string deps;
    for (const auto& d : s.deps) deps += (deps.empty() ? "" : ", ") + d;
    std::cout << fmt::format("  {:<20} {:<14} after: {}  ({} input files)\n", s.name, s.kind, deps.empty() ? "-" : deps,
                             s.inputs.size());
  }
  std::cout << "plugins (code this pipeline may run):\n";
  for (const auto& l : loader.loaded())
    std::cout << fmt::format("  {:<28} {:<10} {}  {}\n", l.name, l.origin, l.sha256.substr(0, 16), l.file.string());
  if (timing) {
    double load_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    double check_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    std::cout << fmt::format("timing: plugins loaded in {:.1f} ms ({} plugins), pipeline checked in {:.1f} ms\n",
                             load_ms, loader.loaded().size(), check_ms);
    for (const auto& l : loader.loaded()) std::cout << fmt::format("  {:<28} {:.2f} ms\n", l.name, l.load_ms);
    std::string how = mode == LoadMode::Declarations ? "plugins read from their declaration files"
                                                     : "plugins opened";
    if (const char* why = std::getenv("STAGEHAND_LIGHT_FALLBACK"); why && *why)
      how += fmt::format(" (the light runner handed over: {})", why);
    std::cout << fmt::format("timing: {}; LibTorch loaded: {}\n", how, libtorch_loaded() ? "yes" : "no");
  }
  // A refused plugin that the pipeline does not use was reported as a warning when loading; one it uses made
  // load_pipeline fail. So reaching here means the pipeline is valid: the verdict comes last, exit 0.
  std::cout << fmt::format("pipeline '{}': {} stages, all options valid\n", p.name, p.stages.size());
  return 0;
}

// ---------------------------------------------------------------- plugins / describe
int cmd_plugins(const std::vector<std::string>& extra, const std::string& kind_filter, LoadMode mode) {
  Registry registry;
  PluginLoader loader(registry, mode);
  load_plugins(loader, extra);
  std::map<std::string, const LoadedPlugin*> by_file;
  for (const auto& l : loader.loaded()) by_file[l.file.string()] = &l;
  std::vector<std::string> kinds;
  for (const auto& [k, doc] : known_kinds()) kinds.push_back(k);
  for (const auto& k : registry.kinds())
    if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);
  for (const auto& kind : kinds) {
    if (!kind_filter.empty() && kind != kind_filter) continue;
    std::string doc;
    for (const auto& [k, d] : known_kinds())
      if (k == kind) doc = d;
    auto comps = registry.list(kind);
    std::cout << kind << (doc.empty() ? "" : " — " + doc) << (comps.empty() ? ": (none loaded)" : ":") << "\n";
    for (const ComponentInfo* c : registry.list(kind)) {
      const LoadedPlugin* l = by_file[c->plugin_file];
      std::cout << fmt::format("  {:<22} {}  [{}]\n", c->name, c->doc,
                               l ? fmt::format("{} {}", fs::path(c->plugin_file).filename().string(), l->version) : c->plugin_file);
    }
  }
  std::cout << "\nplugin files:\n";
  for (const auto& l : loader.loaded())
    std::cout << fmt::format("  {} ({} {}, {}, sha256 {}, {:.1f} ms)\n", l.file.string(), l.name, l.version, l.origin,
                             l.sha256.substr(0, 16), l.load_ms);
  for (const auto& r : loader.refused()) std::cout << fmt::format("  REFUSED {}: {}\n", r.file.string(), r.reason);
  return 0;
}

int cmd_describe(const std::string& what, const std::vector<std::string>& extra, LoadMode mode) {
  Registry registry;
  PluginLoader loader(registry, mode);
  load_plugins(loader, extra);
  const ComponentInfo* info = nullptr;
  auto slash = what.find('/');
  if (slash != std::string::npos) {
    info = &registry.get(what.substr(0, slash), what.substr(slash + 1));
  } else {
    std::vector<const ComponentInfo*> found;
    for (const ComponentInfo* c : registry.list())
      if (c->name == what) found.push_back(c);
    if (found.empty()) throw Error(fmt::format("no component named '{}'; see `runner plugins`", what));
    if (found.size() > 1) {
      std::string k;
      for (auto* c : found) k += (k.empty() ? "" : ", ") + c->kind + "/" + c->name;
      throw Error(fmt::format("'{}' is ambiguous: {}; write KIND/NAME", what, k));
    }
    info = found[0];
  }
  std::cout << info->kind << "/" << info->name << ": " << info->doc << "\n";
  std::cout << "plugin: " << info->plugin_name << " (" << info->plugin_file << ")\n";
  if (!info->provides.empty()) {
    std::string p;
    for (const auto& x : info->provides) p += (p.empty() ? "" : ", ") + x;
    std::cout << "provides to later stages: " << p << "\n";
  }
  std::cout << "options:\n";
  for (const auto& o : info->schema->options()) {
    std::string def = o.default_value ? to_canonical_json(*o.default_value) : (o.nullable ? "(none)" : "(required)");
    if (def.size() > 40) def = def.substr(0, 37) + "...";
    std::cout << fmt::format("  {:<24} {:<24} {:<18} {}\n", o.name, o.type_string(), def, o.doc);
  }
  if (info->kind == "stage") {
    std::cout << "common to every stage: description, seed, cache, after (see docs/pipelines.md)\n";
  }
  if (info->example.is_map()) std::cout << "example:\n" << to_yaml(info->example);
  return 0;
}

class CheckCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override {
    sub.add_option("pipeline_and_overrides", positional_, "the pipeline file, then overrides")->required();
    sub.add_flag("--print", print_, "print the fully resolved pipeline (every default filled in)");
    sub.add_flag("--timing", timing_, "print how long loading plugins and checking took");
  }
  int handle(Common& c) override {
    return cmd_check(positional_[0], with_overrides(positional_), c.extra_plugins, print_, timing_, c.load_mode);
  }

 private:
  std::vector<std::string> positional_;
  bool print_ = false, timing_ = false;
};

class PluginsCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override { sub.add_option("--kind", kind_, "only this kind"); }
  int handle(Common& c) override { return cmd_plugins(c.extra_plugins, kind_, c.load_mode); }

 private:
  std::string kind_;
};

class DescribeCommand final : public Command {
 public:
  void declare(CLI::App& sub, Common&) override {
    sub.add_option("component", what_, "KIND/NAME (or NAME when unique)")->required();
  }
  int handle(Common& c) override { return cmd_describe(what_, c.extra_plugins, c.load_mode); }

 private:
  std::string what_;
};

}  // namespace

std::unique_ptr<Command> check_command() { return std::make_unique<CheckCommand>(); }
std::unique_ptr<Command> plugins_command() { return std::make_unique<PluginsCommand>(); }
std::unique_ptr<Command> describe_command() { return std::make_unique<DescribeCommand>(); }

}  // namespace stagehand::cli
