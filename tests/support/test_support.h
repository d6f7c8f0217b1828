// SPDX-License-Identifier: Apache-2.0
// The test-support library (libstagehand_test_support, linked by every test program): the one way tests capture an
// expected error, temporary folders that clean up after themselves, small file helpers, the build's fixture plugins,
// and running the runner binary as a user would.
#pragma once
#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace sh_test {

namespace fs = std::filesystem;

/// The message of the stagehand::Error that `f` throws. Anything else fails the calling test: another exception
/// type (errors have one type, with the house fields) or nothing thrown (a check that should have refused did not).
std::string error_of(const std::function<void()>& f);

/// Fixture plugins built by tests/fixtures (deliberately broken or special) and the runner binary of this build.
extern const fs::path kFixtureDir;
extern const fs::path kFixtureGood;
extern const fs::path kFixtureAbi;
extern const fs::path kFixtureThrows;
extern const fs::path kFixtureAborts;
extern const fs::path kFixtureSegfaults;
extern const fs::path kFixtureDuplicate;
extern const fs::path kFixtureNotAPlugin;
extern const fs::path kFixtureUnresolved;
extern const std::string kRunner;

/// A fresh folder under ::testing::TempDir(), removed (with everything in it) when the object goes: a member of a
/// test fixture gives each test its own folder.
class TempFolder {
 public:
  TempFolder();
  ~TempFolder();
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

/// Writes `text` to `file` (creating its folder); throws when it cannot.
void write_text(const fs::path& file, const std::string& text);
/// The whole file ("" when it cannot be read).
std::string read_text(const fs::path& file);
/// The file's non-empty lines.
std::vector<std::string> read_lines(const fs::path& file);
size_t count_occurrences(const std::string& haystack, const std::string& needle);

/// Single-quotes a string for /bin/sh.
std::string sh_quote(const std::string& s);

struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs `command` with /bin/sh in folder `cwd`, capturing stdout and stderr.
CommandResult run_command(const std::string& command, const fs::path& cwd);
/// Runs the runner binary with `args` (already shell-quoted where needed) in `cwd`.
CommandResult runner(const std::string& args, const fs::path& cwd);
/// Starts the runner with `args` in folder `cwd`, its stdout and stderr appended to `log` (default
/// cwd/spawned.log), and returns its pid without waiting.
pid_t spawn_runner(const fs::path& cwd, const std::vector<std::string>& args, fs::path log = {});
/// The exit code of `pid` (128 + signal when killed), waiting for it.
int wait_exit(pid_t pid);

/// True once a checkpoint's write has completed (its .sha256 sidecar exists) somewhere under `root`, which may not
/// exist yet.
bool has_complete_checkpoint(const fs::path& root);
/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's pick).
int free_local_port();

}  // namespace sh_test
