// SPDX-License-Identifier: Apache-2.0
#include "support/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "stagehand/error.h"

namespace sh_test {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const stagehand::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a stagehand::Error, got another exception: " << e.what();
    return std::string("(not a stagehand::Error) ") + e.what();
  }
  ADD_FAILURE() << "expected a stagehand::Error, nothing was thrown";
  return "(no error)";
}

const fs::path kFixtureDir = STAGEHAND_FIXTURE_DIR;
const fs::path kFixtureGood = kFixtureDir / "fixture_good.so";
const fs::path kFixtureAbi = kFixtureDir / "abi" / "fixture_abi_mismatch.so";
const fs::path kFixtureThrows = kFixtureDir / "throws" / "fixture_throws.so";
const fs::path kFixtureAborts = kFixtureDir / "aborts" / "fixture_aborts.so";
const fs::path kFixtureSegfaults = kFixtureDir / "segfaults" / "fixture_segfaults.so";
const fs::path kFixtureDuplicate = kFixtureDir / "duplicate" / "fixture_duplicate.so";
const fs::path kFixtureNotAPlugin = kFixtureDir / "other" / "fixture_not_a_plugin.so";
const fs::path kFixtureUnresolved = kFixtureDir / "other" / "fixture_unresolved.so";
const std::string kRunner = STAGEHAND_RUNNER;

TempFolder::TempFolder() {
  std::string tmpl = (fs::path(::testing::TempDir()) / "stagehand-test-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* made = ::mkdtemp(buf.data());
  if (!made) throw std::runtime_error("mkdtemp failed for " + tmpl);
  path_ = fs::canonical(made);
}

TempFolder::~TempFolder() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_text(const fs::path& file, const std::string& text) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

size_t count_occurrences(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + needle.size())) ++n;
  return n;
}

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

CommandResult run_command(const std::string& command, const fs::path& cwd) {
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

CommandResult runner(const std::string& args, const fs::path& cwd) {
  return run_command(sh_quote(kRunner) + " " + args, cwd);
}

pid_t spawn_runner(const fs::path& cwd, const std::vector<std::string>& args, fs::path log) {
  if (log.empty()) log = cwd / "spawned.log";
  std::vector<std::string> argv_s = {kRunner};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) ::_exit(126);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  EXPECT_GT(pid, 0) << "fork failed";
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool has_complete_checkpoint(const fs::path& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return false;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.rfind("ckpt-", 0) == 0 && n.size() > 7 && n.compare(n.size() - 7, 7, ".sha256") == 0) return true;
  }
  return false;
}

int free_local_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  EXPECT_GT(port, 0) << "no free port on 127.0.0.1";
  return port;
}

}  // namespace sh_test
