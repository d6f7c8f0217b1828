// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the light runner (runner) and runner-full share: the command-line frame and the commands that need only the
// plugins' declarations, `check`, `plugins` and `describe`. Nothing here needs LibTorch.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "plugin/loader.h"

namespace stagehand::cli {

/// What every subcommand shares: plugins named with --plugin, the runs folder, the arguments.
struct Common {
  std::vector<std::string> extra_plugins;
  std::string runs_dir = "runs";
  std::vector<std::string> args;  // as parsed (`run` inserted where implied)
  std::vector<std::string> argv;  // as typed, for the record
  /// Code: open every plugin (runner-full). Declarations: read declaration files (the light runner).
  LoadMode load_mode = LoadMode::Code;
};

/// One subcommand: declares its options on its own CLI11 sub-app, then handles the call.
class Command {
 public:
  virtual ~Command() = default;
  virtual void declare(CLI::App& sub, Common& c) = 0;
  virtual int handle(Common& c) = 0;
};

struct Entry {
  const char* name;
  const char* help;
  std::unique_ptr<Command> command;
};

/// The built-in plugins, then `extra`; refused plugins are warned about. Reading declarations, a refusal throws
/// NeedsPluginCode instead, so that runner-full reports it, once.
void load_plugins(PluginLoader& loader, const std::vector<std::string>& extra);
std::vector<std::string> with_overrides(const std::vector<std::string>& positional);
/// The index of the first argument after the global options (-q, -v, --log-level L, --plugin F).
size_t after_global_options(const std::vector<std::string>& args);
/// Every error ends as one line on stderr and exit code 1.
int guarded(const std::function<int()>& f);

/// Adds one sub-app per entry of `table` to `app`, then parses `args` (throws CLI::ParseError); returns the sub-apps
/// in the table's order.
std::vector<CLI::App*> parse_commands(CLI::App& app, std::vector<Entry>& table, Common& c,
                                      const std::vector<std::string>& args);

/// check, plugins, describe.
std::unique_ptr<Command> check_command();
std::unique_ptr<Command> plugins_command();
std::unique_ptr<Command> describe_command();

}  // namespace stagehand::cli
