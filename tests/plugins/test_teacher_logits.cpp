// SPDX-License-Identifier: Apache-2.0
// DSE's logits file as pipeline stages: a teacher's logits written once by a `predict` stage (keyed by example id)
// and read by a student's `train` stage through `teacher_logits:` must train the student exactly as the live
// teacher (`teacher:`) does, although the student visits the examples in a shuffled order and the file is in
// dataset order; an example the file lacks is a one-line error naming it, and so is a logits archive whose ids file
// lists a different number of examples than it has rows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "support/test_support.h"
#include "support/plugin_support.h"
#include "stagehand/checkpoint.h"
#include "stagehand/engine.h"
#include "stagehand/files.h"
#include "pipeline/pipeline.h"
#include "plugin/loader.h"
#include "stagehand/model.h"
#include "stagehand/sdk/train/teacher.h"

namespace fs = std::filesystem;
using namespace stagehand;

namespace {

std::string data_text(int n) {
  const char* words[] = {"good", "bad", "great", "awful", "fine", "poor", "nice", "sad"};
  std::string s;
  for (int i = 0; i < n; ++i) {
    std::string text;
    for (int w = 0; w <= (i * 7) % 5; ++w) text += std::string(w ? " " : "") + words[(i + w) % 8];
    s += fmt::format("{{\"id\": \"ex-{}\", \"text\": \"{}\", \"label\": \"{}\"}}\n", i, text, i % 2 ? "pos" : "neg");
  }
  return s;
}

std::string pipeline_text(const std::string& extra) {
  const std::string data = fmt::format(
      "{{type: text_classification, train: train.jsonl, validation: dev.jsonl, id_field: id, max_length: 16, "
      "tokenizer: {{type: wordpiece, vocab: {}/tokenizers/bert-base-uncased-vocab.txt}}}}",
      STAGEHAND_TEST_DATA);
  const std::string student = R"(
    data: {data}
    model:
      type: classifier
      pooling: mean
      encoder: {{type: transformer, vocab_size: 30522, hidden_size: 8, num_layers: 1, num_heads: 2,
                intermediate_size: 16, max_positions: 16}}
    loss: {{type: distillation, kd: kl, temperature: 2.0, task_weight: 0.5, teacher_weight: 0.5}}
    optimizer: {{type: adamw, lr: 1.0e-2}}
    batch_size: 4
    steps: 6
    eval_every: 3
    seed: 11)";
  return fmt::format(R"(name: teacherlogits
seed: 5
threads: {{intra_op: 1, blas: 1}}
stages:
  teacher:
    kind: train
    data: {data}
    model:
      type: classifier
      pooling: mean
      encoder: {{type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2,
                intermediate_size: 32, max_positions: 16}}
    loss: {{type: cross_entropy}}
    batch_size: 8
    steps: 3
  logits_train: {{kind: predict, model: teacher, data: {data}, split: train, batch_size: 5}}
  logits_dev: {{kind: predict, model: teacher, data: {data}, split: validation, batch_size: 5, output: tensor}}
  live:
    kind: train
    teacher: teacher{student}
  cached:
    kind: train
    teacher_logits: [logits_train, logits_dev]{student}
{extra})",
                     fmt::arg("data", data), fmt::arg("student", fmt::format(student, fmt::arg("data", data))),
                     fmt::arg("extra", extra));
}

RunResult run(const fs::path& dir, const std::string& extra) {
  write_file_atomic(dir / "train.jsonl", data_text(24));
  write_file_atomic(dir / "dev.jsonl", data_text(30).substr(data_text(24).size()));
  write_file_atomic(dir / "p.yaml", pipeline_text(extra));
  static Registry reg;
  static PluginLoader loader(reg);
  static bool loaded = [] {
    loader.load_dir(STAGEHAND_PLUGIN_DIR, "builtin");
    return true;
  }();
  (void)loaded;
  Pipeline p = load_pipeline(dir / "p.yaml", {}, loader);
  RunOptions ro;
  ro.runs_dir = dir / "runs";
  return run_pipeline(p, loader, ro);
}

}  // namespace

TEST(TeacherLogits, CachedLogitsTrainTheStudentExactlyAsTheLiveTeacher) {
  sh_test::TempFolder dir;
  RunResult r = run(dir.path(), "");
  ASSERT_EQ(r.exit_code, 0) << r.error;
  const auto& live = r.stages["live"].metrics;
  const auto& cached = r.stages["cached"].metrics;
  ASSERT_TRUE(live.count("train_loss") && live.count("validation.loss"));
  EXPECT_DOUBLE_EQ(live.at("train_loss"), cached.at("train_loss"));
  EXPECT_DOUBLE_EQ(live.at("validation.loss"), cached.at("validation.loss"));
  // The very same weights at the end.
  const fs::path stages = r.run_dir / "stages";
  torch::serialize::InputArchive a, b;
  read_archive(stages / "live" / "model.pt", a);
  read_archive(stages / "cached" / "model.pt", b);
  for (const auto& key : a.keys()) {
    torch::Tensor x, y;
    a.read(key, x);
    b.read(key, y);
    EXPECT_TRUE(torch::equal(x, y)) << key;
  }
}

TEST(TeacherLogits, AMissingExampleIsNamed) {
  sh_test::TempFolder dir;
  // Logits of the training split only: the validation loss needs the dev examples too.
  RunResult r = run(dir.path(), R"(  no_dev:
    kind: train
    teacher_logits: [logits_train]
    data: {type: text_classification, train: train.jsonl, validation: dev.jsonl, id_field: id, max_length: 16,
           tokenizer: {type: wordpiece, vocab: )" + std::string(STAGEHAND_TEST_DATA) + R"(/tokenizers/bert-base-uncased-vocab.txt}}
    model: {type: classifier, encoder: {type: transformer, vocab_size: 30522, hidden_size: 8, num_layers: 1,
            num_heads: 2, intermediate_size: 16, max_positions: 16}}
    loss: {type: distillation}
    batch_size: 4
    steps: 2
)");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.error.find("teacher_logits: no logits for example 'ex-24'"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("logits_train"), std::string::npos) << r.error;
  // The stages before it ran, the cached student among them.
  EXPECT_EQ(r.stages["cached"].status, StageStatus::Ran);
}

// A predict stage's tensor output is two files: the logits archive (one row per example) and <stem>.ids.txt (the
// examples' ids, one per row). Rows are matched to ids by position, so counts that differ are an error naming both
// files and both counts, in one line, rather than logits silently given to the wrong examples or left out.
TEST(TeacherLogits, AnArchiveAndItsIdsFileOfDifferentCountsAreOneLineError) {
  sh_test::TempFolder dir;
  const fs::path file = dir / "predictions.pt";
  torch::serialize::OutputArchive ar;
  ar.write("logits", torch::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}).view({3, 2}));
  write_archive(file, ar);
  auto read = [&](const std::string& ids) {
    if (ids.empty())
      fs::remove(dir / "predictions.ids.txt");
    else
      write_file_atomic(dir / "predictions.ids.txt", ids);
    sdk::train::LogitsById logits;
    logits.add_file(file);
    return logits;
  };
  const sdk::train::LogitsById ok = read("a\nb\nc\n");
  EXPECT_EQ(ok.width, 2);
  EXPECT_TRUE(torch::equal(ok.lookup({"c", "a"}), torch::tensor({5.0f, 6.0f, 1.0f, 2.0f}).view({2, 2})));
  for (const auto& [ids, count] : {std::pair<std::string, int>{"a\nb\nc\nd\n", 4}, {"a\nb\n", 2}}) {
    const std::string err = sh_test::error_of([&, ids = ids] { read(ids); });
    EXPECT_NE(err.find(fmt::format("teacher_logits: '{}' holds 3 rows of logits but '{}' lists {} example ids; they "
                                   "must match one for one",
                                   file.string(), (dir / "predictions.ids.txt").string(), count)),
              std::string::npos)
        << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
  const std::string missing = sh_test::error_of([&] { read(""); });
  EXPECT_NE(missing.find(fmt::format("teacher_logits: cannot read '{}'", (dir / "predictions.ids.txt").string())),
            std::string::npos)
      << missing;
}
