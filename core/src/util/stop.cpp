// SPDX-License-Identifier: Apache-2.0
// SIGINT and SIGTERM turned into a flag that long work polls (stagehand/stop.h). In the base library: a tokenizer
// trainer polls it, and tokenizer plugins do not load LibTorch.
#include <unistd.h>

#include <atomic>
#include <csignal>

#include "pipeline/pipeline.h"
#include "stagehand/stop.h"

namespace stagehand {

namespace {
std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  if (g_signal.load() != 0) {
    // Second signal: the user insists. Leave now; completed outputs are already in place.
    _exit(128 + sig);
  }
  g_signal.store(sig);
}
}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A file-size limit (ulimit -f) reached while writing would otherwise kill the process with SIGXFSZ and no word;
  // ignored, the write fails with EFBIG and the error names the file, as a full disk (ENOSPC) does.
  std::signal(SIGXFSZ, SIG_IGN);
}

int stop_signal() { return g_signal.load(); }

}  // namespace stagehand
