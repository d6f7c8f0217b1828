// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by the core tests: temporary folders, files, running the runner binary.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace sh_test {

namespace fs = std::filesystem;

inline const fs::path kFixtureDir = STAGEHAND_FIXTURE_DIR;
inline const fs::path kFixtureGood = kFixtureDir / "fixture_good.so";
inline const fs::path kFixtureAbi = kFixtureDir / "abi" / "fixture_abi_mismatch.so";
inline const fs::path kFixtureThrows = kFixtureDir / "throws" / "fixture_throws.so";
inline const fs::path kFixtureDuplicate = kFixtureDir / "duplicate" / "fixture_duplicate.so";
inline const fs::path kFixtureNotAPlugin = kFixtureDir / "other" / "fixture_not_a_plugin.so";
inline const fs::path kFixtureUnresolved = kFixtureDir / "other" / "fixture_unresolved.so";
inline const std::string kRunner = STAGEHAND_RUNNER;

/// A fresh folder under ::testing::TempDir(), removed (with everything in it) at the end of the test.
class TempFolder {
 public:
  TempFolder() {
    std::string tmpl = (fs::path(::testing::TempDir()) / "stagehand-test-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    char* made = ::mkdtemp(buf.data());
    if (!made) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = fs::canonical(made);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

inline void write_text(const fs::path& file, const std::string& text) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

inline std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

/// Single-quotes a string for /bin/sh.
inline std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs `command` with /bin/sh in folder `cwd`, capturing stdout and stderr.
inline CommandResult run_command(const std::string& command, const fs::path& cwd) {
  std::string full = "cd " + sh_quote(cwd.string()) + " && " + command + " 2>&1";
  CommandResult r;
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

/// Runs the runner binary with `args` (already shell-quoted where needed) in `cwd`.
inline CommandResult runner(const std::string& args, const fs::path& cwd) {
  return run_command(sh_quote(kRunner) + " " + args, cwd);
}

inline size_t count_occurrences(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + needle.size())) ++n;
  return n;
}

}  // namespace sh_test
