// SPDX-License-Identifier: Apache-2.0
// `runner bench`: the peer benchmark's workloads through stagehand's plugins (bench.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace stagehand {

struct BenchOptions {
  std::string workload;      ///< pretrain, finetune or embed
  int64_t batch = 8;
  int64_t seq = 128;
  double seconds = 20;
  std::string dtype = "fp32";  ///< fp32 or bf16 (autocast, fp32 master weights)
  int threads = -1;  ///< LibTorch intra-op threads; -1: fp32 1 (its GEMMs run in OpenBLAS), bf16 one per core
                     ///< (its GEMMs run in oneDNN on LibTorch's threads); 0: one per core
  int blas = 0;      ///< OpenBLAS threads; 0: the runner's default, the cores the intra-op threads leave
  bool fixed_width = false;  ///< batches 128 wide as the peer's; by default as wide as their longest row, as the
                             ///< project's datasets build them (padding columns no row needs are not computed)
  // ELECTRA-small, the peer's defaults.
  int64_t vocab = 30522, hidden = 256, layers = 12, heads = 4, ffn = 1024, embed = 128, labels = 2;
  double gen_fraction = 0.25;
  double dropout = 0.1;  ///< hidden and attention dropout (training), as the peer's layers
};

/// Runs the workload for `seconds` after two warm-up steps and prints one JSON line; returns the exit code.
int cmd_bench(const BenchOptions& options, const std::vector<std::string>& extra_plugins);

}  // namespace stagehand
