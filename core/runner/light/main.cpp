// SPDX-License-Identifier: Apache-2.0
// runner: the command line users type. It links the base library only (no LibTorch), so that `check`, `plugins` and
// `describe`, which read the plugins' declaration files (plugin/declarations.h), start in milliseconds; every other
// command, and any of these three that needs a plugin's code (a plugin without an up-to-date declaration file, a
// component planning must build), is handed to runner-full, beside it, by exec: the same process, arguments and exit
// status. STAGEHAND_FULL_RUNNER=1 hands everything over (to compare the two).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "../inspect.h"
#include "plugin/declarations.h"
#include "stagehand/version.h"

namespace fs = std::filesystem;
using namespace stagehand;
using namespace stagehand::cli;

namespace {

constexpr int kHandOver = -1;

/// Runs check, plugins or describe from declaration files; kHandOver (with `why`) where runner-full must.
int run_light(const std::vector<std::string>& args, std::string& why) {
  Common c;
  c.argv = args;
  c.args = args;
  c.load_mode = LoadMode::Declarations;
  CLI::App app{"stagehand runner"};
  app.require_subcommand(1, 1);
  app.fallthrough(true);
  app.add_option("--plugin", c.extra_plugins);
  bool quiet = false, verbose = false;
  std::string log_level;
  app.add_flag("-q,--quiet", quiet);
  app.add_flag("-v,--verbose", verbose);
  app.add_option("--log-level", log_level);
  std::vector<Entry> table;
  table.push_back({"check", "", check_command()});
  table.push_back({"plugins", "", plugins_command()});
  table.push_back({"describe", "", describe_command()});
  std::vector<CLI::App*> subs;
  try {
    subs = parse_commands(app, table, c, args);
  } catch (const CLI::ParseError&) {
    return kHandOver;  // --help, a usage error: runner-full says it as it always has
  }
  // -q, -v and --log-level change nothing these three commands print (they print no log lines); a bad level is
  // runner-full's to report.
  if (!log_level.empty() && log_level != "debug" && log_level != "info" && log_level != "warning" && log_level != "warn" &&
      log_level != "error")
    return kHandOver;
  for (size_t i = 0; i < table.size(); ++i) {
    if (!app.got_subcommand(subs[i])) continue;
    try {
      return table[i].command->handle(c);
    } catch (const NeedsPluginCode& e) {
      why = e.what();
      return kHandOver;
    } catch (const std::exception& e) {
      std::cerr << "runner: error: " << e.what() << "\n";
      return 1;
    }
  }
  return kHandOver;
}

[[noreturn]] void hand_over(char** argv, const std::string& why) {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const fs::path full = self.parent_path() / "runner-full";
  if (ec || !fs::is_regular_file(full)) {
    std::cerr << "runner: error: runner-full, which runs every command but check, plugins and describe, is not beside "
              << (ec ? std::string("this runner") : self.string()) << "; reinstall stagehand (make install)\n";
    std::exit(1);
  }
  if (!why.empty()) ::setenv("STAGEHAND_LIGHT_FALLBACK", why.c_str(), 1);
  ::execv(full.c_str(), argv);
  std::cerr << "runner: error: cannot start " << full.string() << ": " << std::strerror(errno) << "\n";
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  std::string why;
  const size_t i = after_global_options(args);
  const char* full = std::getenv("STAGEHAND_FULL_RUNNER");
  if (i < args.size() && (args[i] == "check" || args[i] == "plugins" || args[i] == "describe") &&
      !(full && *full && std::string(full) != "0")) {
    const int rc = run_light(args, why);
    if (rc != kHandOver) return rc;
  }
  hand_over(argv, why);
}
