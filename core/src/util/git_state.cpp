// SPDX-License-Identifier: Apache-2.0
#include "util/git_state.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace stagehand {
namespace {

namespace fs = std::filesystem;

/// Runs `argv` (no shell) with stdin and stderr on /dev/null and GIT_OPTIONAL_LOCKS=0 (so that a status does not
/// write the repository's index); its stdout, or nullopt when it cannot start or exits non-zero.
std::optional<std::string> run_capture(const std::vector<std::string>& argv) {
  int out[2];
  if (pipe(out) != 0) return std::nullopt;
  const pid_t pid = fork();
  if (pid < 0) {
    close(out[0]);
    close(out[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    const int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDERR_FILENO);
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    setenv("GIT_OPTIONAL_LOCKS", "0", 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return text;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::optional<GitState> git_state(const fs::path& file) {
  std::error_code ec;
  const fs::path abs = fs::absolute(file, ec);
  if (ec || !fs::is_regular_file(abs, ec)) return std::nullopt;
  const std::string dir = abs.parent_path().string(), name = abs.filename().string();
  const auto head = run_capture({"git", "-C", dir, "rev-parse", "--verify", "HEAD"});
  if (!head) return std::nullopt;
  GitState g;
  g.commit = trimmed(*head);
  const auto listed = run_capture({"git", "-C", dir, "ls-files", "--", name});
  const auto file_status = run_capture({"git", "-C", dir, "status", "--porcelain", "--", name});
  const auto repo_status = run_capture({"git", "-C", dir, "status", "--porcelain", "--untracked-files=no"});
  if (!listed || !file_status || !repo_status) return std::nullopt;
  g.tracked = !trimmed(*listed).empty();
  g.file_dirty = !g.tracked || !trimmed(*file_status).empty();
  g.repo_dirty = !trimmed(*repo_status).empty();
  return g;
}

}  // namespace stagehand
