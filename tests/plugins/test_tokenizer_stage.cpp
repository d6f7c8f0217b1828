// SPDX-License-Identifier: Apache-2.0
// End to end: the `tokenizer` stage kind trains a SentencePiece model, measures it on held-out text and
// provides it to a later stage that loads it by stage name; a second run reuses both; a replay-style rerun
// without the cache reproduces the metrics exactly.
#include <gtest/gtest.h>

#include <fstream>

#include "stagehand/files.h"
#include "util/hash.h"
#include "pipeline/pipeline.h"
#include "plugin/loader.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace stagehand;

namespace {

std::string pipeline_text() {
  return fmt::format(R"(name: tokstage
stages:
  spm:
    kind: tokenizer
    train: {{type: sentencepiece, model_type: unigram, vocab_size: 600}}
    corpus: [{0}]
    heldout: [{0}]
    max_heldout_lines: 300
  reuse:
    kind: tokenizer
    load: spm
    heldout: [{0}]
    max_heldout_lines: 300
)",
                     std::string(STAGEHAND_TEST_DATA) + "/corpora/moby_dick_excerpt.txt");
}

}  // namespace

TEST(TokenizerStage, TrainsProvidesCachesAndReproduces) {
  sh_test::TempFolder tmp;
  const fs::path dir = tmp.path();
  write_file_atomic(dir / "p.yaml", pipeline_text());
  Registry reg;
  PluginLoader loader(reg);
  loader.load_dir(STAGEHAND_PLUGIN_DIR, "builtin");
  ASSERT_TRUE(reg.find("stage", "tokenizer")) << "stage_tokenizer.so not loaded";
  ASSERT_TRUE(reg.find("tokenizer_trainer", "sentencepiece")) << "tokenizer_sentencepiece.so not loaded";

  Pipeline p = load_pipeline(dir / "p.yaml", {}, loader);
  ASSERT_EQ(p.stages.size(), 2u);
  EXPECT_EQ(p.stages[1].name, "reuse");
  EXPECT_EQ(p.stages[1].deps, std::vector<std::string>{"spm"});  // a component option naming a stage

  RunOptions ro;
  ro.runs_dir = dir / "runs";
  RunResult r1 = run_pipeline(p, loader, ro);
  ASSERT_EQ(r1.exit_code, 0) << r1.error;
  const auto& m = r1.stages["spm"].metrics;
  EXPECT_EQ(m.at("vocab_size"), 600);
  EXPECT_EQ(m.at("heldout_lines"), 300);
  EXPECT_GT(m.at("pieces_per_word"), 1.0);
  EXPECT_LT(m.at("unk_rate"), 0.01);
  EXPECT_TRUE(r1.stages["spm"].timings.count("train_seconds"));
  // The downstream stage used the provided tokenizer: identical statistics on the same text.
  EXPECT_EQ(r1.stages["reuse"].metrics.at("pieces_per_word"), m.at("pieces_per_word"));
  EXPECT_TRUE(fs::exists(r1.run_dir / "stages" / "spm" / "tokenizer" / "spm.model"));

  RunResult r2 = run_pipeline(p, loader, ro);
  ASSERT_EQ(r2.exit_code, 0) << r2.error;
  EXPECT_EQ(r2.stages["spm"].status, StageStatus::Cached);
  EXPECT_EQ(r2.stages["reuse"].status, StageStatus::Cached);
  EXPECT_EQ(r2.stages["spm"].metrics, m);

  // Without the cache (what `runner replay` does) training is deterministic: the same metrics.
  RunOptions fresh = ro;
  fresh.use_cache = false;
  RunResult r3 = run_pipeline(p, loader, fresh);
  ASSERT_EQ(r3.exit_code, 0) << r3.error;
  EXPECT_EQ(r3.stages["spm"].status, StageStatus::Ran);
  EXPECT_EQ(r3.stages["spm"].metrics, m);
  EXPECT_EQ(sha256_file(r3.run_dir / "stages" / "spm" / "tokenizer" / "spm.model"),
            sha256_file(r1.run_dir / "stages" / "spm" / "tokenizer" / "spm.model"));
}

TEST(TokenizerStage, NeedsExactlyOneOfTrainAndLoad) {
  sh_test::TempFolder tmp;
  const fs::path dir = tmp.path();
  write_file_atomic(dir / "p.yaml", "name: t\nstages:\n  x: {kind: tokenizer}\n");
  Registry reg;
  PluginLoader loader(reg);
  loader.load_dir(STAGEHAND_PLUGIN_DIR, "builtin");
  Pipeline p = load_pipeline(dir / "p.yaml", {}, loader);
  RunOptions ro;
  ro.runs_dir = dir / "runs";
  RunResult r = run_pipeline(p, loader, ro);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.error.find("exactly one of 'train'"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("stage 'x'"), std::string::npos) << r.error;
}
