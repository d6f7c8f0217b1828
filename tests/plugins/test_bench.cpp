// SPDX-License-Identifier: Apache-2.0
// `runner bench`: each workload of the peer benchmark runs through the built-in plugins on a tiny model and prints
// one JSON line with the peer's fields (the figures themselves are for `make bench`, never asserted here).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

using namespace sh_test;

namespace {
const char* kTiny = "--seconds 0.2 --batch 3 --seq 16 --vocab 200 --hidden 32 --layers 2 --heads 2 --ffn 64 --embed 16";
}

TEST(Bench, EveryWorkloadPrintsThePeersFieldsInBothDtypes) {
  TempFolder dir;
  for (const char* workload : {"pretrain", "finetune", "embed"}) {
    for (const char* dtype : {"fp32", "bf16"}) {
      CommandResult r = runner(fmt::format("bench {} --dtype {} {}", workload, dtype, kTiny), dir.path());
      ASSERT_EQ(r.exit_code, 0) << r.output;
      const std::string line = r.output.substr(r.output.rfind('{'));
      auto j = nlohmann::json::parse(line);
      EXPECT_EQ(j.at("workload"), workload);
      EXPECT_EQ(j.at("dtype"), dtype);
      EXPECT_EQ(j.at("batch"), 3);
      EXPECT_EQ(j.at("seq"), 16);
      EXPECT_EQ(j.at("batch_width"), 14);  // the last eighth is padding in every row, so no column holds it
      EXPECT_GE(j.at("steps").get<int>(), 1);
      for (const char* f : {"tokens_per_s", "ms_per_step", "examples_per_s", "peak_rss_mb"})
        EXPECT_GT(j.at(f).get<double>(), 0.0) << workload << " " << dtype << " " << f;
      // tokens/s is batch x seq (padding included, as the peer counts) per step.
      EXPECT_NEAR(j.at("tokens_per_s").get<double>(), 16 * j.at("examples_per_s").get<double>(),
                  0.01 * j.at("tokens_per_s").get<double>());
      // Threads: fp32 gives the GEMMs to OpenBLAS (1 LibTorch thread); bf16 runs them on LibTorch's threads.
      if (std::string(dtype) == "fp32") EXPECT_EQ(j.at("threads"), 1);
      EXPECT_GE(j.at("blas_threads").get<int>(), 1);
      EXPECT_GT(j.at("non_embedding_params").get<int64_t>(), 2 * 4 * 32 * 32);
      // Model FLOPs: 6 x non-embedding parameters x tokens/s when training, 2 x for inference.
      const double factor = std::string(workload) == "embed" ? 2.0 : 6.0;
      EXPECT_NEAR(j.at("model_gflops_per_s").get<double>(),
                  factor * j.at("non_embedding_params").get<double>() * j.at("tokens_per_s").get<double>() / 1e9, 0.001);
    }
  }
  CommandResult fixed = runner(fmt::format("bench embed --fixed-width {}", kTiny), dir.path());
  ASSERT_EQ(fixed.exit_code, 0) << fixed.output;
  EXPECT_EQ(nlohmann::json::parse(fixed.output.substr(fixed.output.rfind('{'))).at("batch_width"), 16);
}

TEST(Bench, BadArgumentsAreUsageErrors) {
  TempFolder dir;
  for (const char* args : {"bench", "bench pretrian", "bench embed --dtype fp16", "bench embed --batch 0",
                           "bench embed --seq 4", "bench embed --seconds -1"}) {
    CommandResult r = runner(args, dir.path());
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("\"tokens_per_s\""), std::string::npos) << args;
  }
  // pretrain: a typo gets the allowed values named.
  CommandResult r = runner("bench pretrian", dir.path());
  EXPECT_NE(r.output.find("pretrain"), std::string::npos) << r.output;
}
