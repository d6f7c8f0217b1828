// SPDX-License-Identifier: Apache-2.0
#include "launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <iostream>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "stagehand/error.h"

extern char** environ;

namespace stagehand::launch {

namespace {

std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal = sig; }

/// A port nobody listens on right now (the kernel's pick for port 0).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("--nproc: cannot open a socket to find a free port; give --master-port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  if (port == 0) throw Error("--nproc: cannot find a free port on 127.0.0.1; give --master-port");
  return port;
}

std::string describe_end(int status) {
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    return fmt::format("was killed by signal {} ({})", s, strsignal(s));
  }
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

std::vector<std::string> rank_arguments(const std::vector<std::string>& args) {
  static const std::set<std::string> kValued = {"--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port",
                                                "--dist-timeout"};
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (kValued.count(a)) {
      ++i;  // and its value
      continue;
    }
    auto eq = a.find('=');
    if (eq != std::string::npos && kValued.count(a.substr(0, eq))) continue;
    out.push_back(a);
  }
  return out;
}

namespace {

/// The launcher's environment without torchrun's variables (each rank gets its own).
std::vector<std::string> inherited_environment() {
  std::vector<std::string> base_env;
  static const std::set<std::string> kOurs = {"RANK",        "WORLD_SIZE",  "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                                              "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK", "STAGEHAND_DIST_TIMEOUT"};
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (!kOurs.count(kv.substr(0, kv.find('=')))) base_env.push_back(kv);
  }
  return base_env;
}

/// Starts this machine's ranks (this executable again, with torchrun's variables); returns their pids.
std::vector<pid_t> start_ranks(const LaunchOptions& o, const std::vector<std::string>& rank_args,
                               const std::string& addr, int port) {
  const int world = o.nproc * o.nnodes;
  const std::vector<std::string> base_env = inherited_environment();
  std::vector<pid_t> pids(static_cast<size_t>(o.nproc), -1);
  for (int local = 0; local < o.nproc; ++local) {
    const int rank = o.node_rank * o.nproc + local;
    std::vector<std::string> env = base_env;
    env.push_back(fmt::format("RANK={}", rank));
    env.push_back(fmt::format("WORLD_SIZE={}", world));
    env.push_back(fmt::format("LOCAL_RANK={}", local));
    env.push_back(fmt::format("LOCAL_WORLD_SIZE={}", o.nproc));
    env.push_back(fmt::format("GROUP_RANK={}", o.node_rank));
    env.push_back(fmt::format("MASTER_ADDR={}", addr));
    env.push_back(fmt::format("MASTER_PORT={}", port));
    env.push_back(fmt::format("STAGEHAND_DIST_TIMEOUT={}", o.timeout_s));
    std::vector<char*> argv, envp;
    for (const auto& a : rank_args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& kv : env) envp.push_back(const_cast<char*>(kv.c_str()));
    envp.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw Error(fmt::format("--nproc: cannot start rank {}: {}", rank, std::strerror(errno)));
    if (pid == 0) {
      ::execve("/proc/self/exe", argv.data(), envp.data());
      std::fprintf(stderr, "runner: cannot start rank %d: %s\n", rank, std::strerror(errno));
      ::_exit(127);
    }
    pids[static_cast<size_t>(local)] = pid;
  }
  return pids;
}

/// Waits for the ranks: a rank that ends badly stops the others (SIGTERM, then SIGKILL after a grace period);
/// Ctrl-C or SIGTERM to the launcher is passed on to every rank. Returns rank 0's exit code on node 0 when it
/// failed, else the first failure's (0 when every rank succeeded).
int supervise_ranks(const LaunchOptions& o, std::vector<pid_t> pids) {
  auto rank_of = [&](pid_t pid) {
    for (size_t i = 0; i < pids.size(); ++i)
      if (pids[i] == pid) return o.node_rank * o.nproc + static_cast<int>(i);
    return -1;
  };
  size_t alive = pids.size();
  bool stopping = false;
  int forwarded = 0;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  int rank0_code = -1, first_failure = 0;
  auto signal_all = [&](int sig) {
    for (pid_t p : pids)
      if (p > 0) ::kill(p, sig);
  };
  while (alive > 0) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      const int rank = rank_of(pid);
      if (rank < 0) continue;
      for (auto& p : pids)
        if (p == pid) p = -1;
      --alive;
      const int code = exit_code_of(status);
      if (rank == 0) rank0_code = code;
      if (code != 0 && first_failure == 0) first_failure = code;
      if (code != 0 && !stopping) {
        // A rank that stopped on its own (killed, crashed, or failed with its own error line): the others cannot
        // go on without it.
        if (alive > 0)
          std::cerr << fmt::format("runner: rank {} (pid {}) {}; stopping the other rank(s). Run the same command "
                                   "again to resume from the last checkpoint\n",
                                   rank, pid, describe_end(status));
        stopping = true;
        signal_all(SIGTERM);
        kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (const int s = g_signal.exchange(0); s != 0) {
      // Ctrl-C or a scheduler's SIGTERM: every rank checkpoints and stops; a second one is passed on too.
      signal_all(s);
      if (++forwarded == 1) {
        stopping = true;
        kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      }
    }
    if (std::chrono::steady_clock::now() > kill_deadline) {
      std::cerr << "runner: rank(s) still running after the grace period; killing them\n";
      signal_all(SIGKILL);
      kill_deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (o.node_rank == 0 && rank0_code > 0) return rank0_code;
  return first_failure;
}

}  // namespace

int run_ranks(const LaunchOptions& o, const std::vector<std::string>& rank_args) {
  if (o.nproc < 1) throw Error(fmt::format("--nproc {}: expected at least 1 rank per machine", o.nproc));
  if (o.nnodes < 1) throw Error(fmt::format("--nnodes {}: expected at least 1 machine", o.nnodes));
  if (o.node_rank < 0 || o.node_rank >= o.nnodes)
    throw Error(fmt::format("--node-rank {}: expected 0..{} for --nnodes {}", o.node_rank, o.nnodes - 1, o.nnodes));
  if (o.nnodes > 1 && o.master_addr.empty())
    throw Error(fmt::format("--nnodes {}: give --master-addr, the address of node 0 (where rank 0 runs), on every "
                            "machine",
                            o.nnodes));
  const std::string addr = o.master_addr.empty() ? "127.0.0.1" : o.master_addr;
  const int port = o.master_port > 0 ? o.master_port : (o.nnodes == 1 ? free_port() : 29500);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::cerr << fmt::format("runner: starting {} rank(s) on this machine ({} in all, node {} of {}), rendezvous at "
                           "{}:{}\n",
                           o.nproc, o.nproc * o.nnodes, o.node_rank, o.nnodes, addr, port);
  return supervise_ranks(o, start_ranks(o, rank_args, addr, port));
}

}  // namespace stagehand::launch
