// SPDX-License-Identifier: Apache-2.0
#pragma once
/// `runner --nproc N ...`: starts this node's ranks of a data-parallel run (torchrun's conventions) and watches
/// them: a rank that dies or fails stops the others, named in one line.
#include <string>
#include <vector>

namespace stagehand::launch {

struct LaunchOptions {
  int nproc = 1;        ///< ranks on this machine
  int nnodes = 1;       ///< machines
  int node_rank = 0;    ///< this machine's index
  std::string master_addr;  ///< rank 0's machine (default 127.0.0.1 on one machine)
  int master_port = 0;      ///< default: a free port on one machine, 29500 on several
  int timeout_s = 300;      ///< collectives' timeout (STAGEHAND_DIST_TIMEOUT in the ranks)
};

/// Strips the launcher's own options from `args` (argv of this process) so that each rank runs the rest.
std::vector<std::string> rank_arguments(const std::vector<std::string>& args);

/// Starts the ranks (this executable with `rank_args`), waits for them, and returns the run's exit code: rank
/// 0's when it failed, else the first failure's (128 + signal for a killed rank), else 0. SIGINT/SIGTERM are
/// passed on to every rank.
int run_ranks(const LaunchOptions& o, const std::vector<std::string>& rank_args);

}  // namespace stagehand::launch
