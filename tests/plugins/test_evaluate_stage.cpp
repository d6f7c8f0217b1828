// SPDX-License-Identifier: Apache-2.0
// The evaluate stage's `models` list takes models written in place as well as stage names: a tiny classifier is
// trained and evaluated, exported as a Hugging Face folder (BertForSequenceClassification with id2label), and an
// evaluate stage reading that folder ({type: hf, path: FOLDER}, the folder's own tokenizer) gives the same metrics,
// confusion counts included, in a column named after the folder. A folder whose id2label is not the data's labels is
// refused at its place in the pipeline; a missing folder, a stage that provides no model and an encoder-only folder
// (tests/data/hf-bert-tiny: BertForPreTraining) are refused too, the first two by `runner check`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pipeline/pipeline.h"
#include "plugin/loader.h"
#include "stagehand/files.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace stagehand;

namespace {

const std::string kVocab = std::string(STAGEHAND_TEST_DATA) + "/tokenizers/bert-base-uncased-vocab.txt";

// Sentiment by majority of the words, every seventh label flipped, so that the trained model is right on most
// examples and wrong on some (a confusion matrix with every cell in use is a sharper comparison than a constant
// guess).
std::string data_text() {
  const char* good[] = {"good", "great", "nice", "fine"};
  const char* bad[] = {"bad", "awful", "poor", "sad"};
  std::string s;
  for (int i = 0; i < 48; ++i) {
    const int n_good = (i * 5) % 4, n_bad = (i * 3 + 1) % 4;
    std::string text;
    for (int w = 0; w < n_good + n_bad; ++w)
      text += std::string(w ? " " : "") + (w % 2 == 0 && w / 2 < n_good ? good[(i + w) % 4] : bad[(i + w) % 4]);
    const bool pos = (n_good > n_bad || (n_good == n_bad && i % 3 == 0)) != (i % 7 == 0);
    s += fmt::format("{{\"text\": \"{}\", \"label\": \"{}\"}}\n", text.empty() ? "meh" : text, pos ? "pos" : "neg");
  }
  return s;
}

std::string data_spec(const std::string& tokenizer, const std::string& extra = "") {
  return fmt::format("{{type: text_classification, train: data.jsonl, max_length: 16, tokenizer: {}{}}}", tokenizer,
                     extra);
}

std::string trained_pipeline() {
  const std::string data = data_spec(fmt::format("{{type: wordpiece, vocab: {}}}", kVocab));
  return fmt::format(R"(name: evalsrc
seed: 5
threads: {{intra_op: 1, blas: 1}}
stages:
  train:
    kind: train
    data: {data}
    model:
      type: classifier
      pooling: pooler
      head: {{type: mlp, hidden: []}}
      encoder: {{type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2,
                intermediate_size: 32, max_positions: 16}}
    loss: {{type: cross_entropy}}
    optimizer: {{type: adamw, lr: 3.0e-3}}
    batch_size: 8
    steps: 60
  export: {{kind: export_hf, model: train, tokenizer: {{type: wordpiece, vocab: {vocab}}}, head: required}}
  ev: {{kind: evaluate, models: [train], data: {data}, split: train}}
)",
                     fmt::arg("data", data), fmt::arg("vocab", kVocab));
}

// An evaluate stage of `models` (line 4 of the file) on the data read with `tokenizer`.
std::string evaluate_pipeline(const std::string& models, const std::string& tokenizer, const std::string& extra = "") {
  return fmt::format("name: evalhf\nstages:\n  ev:\n    models: {}\n    kind: evaluate\n    data: {}\n    split: train\n",
                     models, data_spec(tokenizer, extra));
}

RunResult run(const fs::path& file, PluginLoader& loader, const fs::path& runs) {
  Pipeline p = load_pipeline(file, {}, loader);
  RunOptions ro;
  ro.runs_dir = runs;
  return run_pipeline(p, loader, ro);
}

class EvaluateStage : public ::testing::Test {
 protected:
  void SetUp() override {
    loader_.load_dir(STAGEHAND_PLUGIN_DIR, "builtin");
    ASSERT_TRUE(reg_.find("stage", "evaluate")) << "stage_evaluate.so not loaded";
    write_file_atomic(dir() / "data.jsonl", data_text());
  }
  const fs::path& dir() const { return tmp_.path(); }

  sh_test::TempFolder tmp_;
  Registry reg_;
  PluginLoader loader_{reg_};
};

}  // namespace

TEST_F(EvaluateStage, AHuggingFaceFolderGetsTheMetricsOfTheStageItWasExportedFrom) {
  write_file_atomic(dir() / "train.yaml", trained_pipeline());
  RunResult trained = run(dir() / "train.yaml", loader_, dir() / "runs");
  ASSERT_EQ(trained.exit_code, 0) << trained.error;
  // The folder under a name of its own: the table's column is named after it.
  const fs::path folder = dir() / "tiny-clf";
  fs::copy(trained.run_dir / "stages" / "export" / "hf", folder, fs::copy_options::recursive);
  const auto config = nlohmann::json::parse(read_file(folder / "config.json"));
  ASSERT_EQ(config.at("architectures")[0], "BertForSequenceClassification");
  ASSERT_EQ(config.at("id2label").dump(), R"({"0":"neg","1":"pos"})");

  const std::string spec = fmt::format("{{type: hf, path: {}}}", folder.string());
  write_file_atomic(dir() / "hf.yaml", evaluate_pipeline(fmt::format("[{}]", spec), spec));
  // `runner check` accepts a model written in place.
  sh_test::CommandResult check = sh_test::runner("check hf.yaml", dir());
  EXPECT_EQ(check.exit_code, 0) << check.output;
  RunResult from_folder = run(dir() / "hf.yaml", loader_, dir() / "runs");
  ASSERT_EQ(from_folder.exit_code, 0) << from_folder.error;

  const auto& a = trained.stages["ev"].metrics;
  const auto& b = from_folder.stages["ev"].metrics;
  int compared = 0;
  for (const auto& [key, value] : a) {
    if (key.rfind("train.", 0) != 0 || key == "train.parameters") continue;
    const std::string other = "hf:tiny-clf." + key.substr(6);
    ASSERT_TRUE(b.count(other)) << other << " is missing from the folder's metrics";
    EXPECT_NEAR(b.at(other), value, 1e-5) << key;
    ++compared;
  }
  EXPECT_GE(compared, 10);
  // Not a constant guess: both classes are predicted, rightly and wrongly.
  for (const char* cell : {"neg.neg", "neg.pos", "pos.neg", "pos.pos"})
    EXPECT_GT(a.at(std::string("train.confusion.") + cell), 0) << cell;
  EXPECT_EQ(b.at("hf:tiny-clf.parameters"), a.at("train.parameters"));
  const std::string table = read_file(from_folder.run_dir / "stages" / "ev" / "results.md");
  EXPECT_NE(table.find("| hf:tiny-clf |"), std::string::npos) << table;
  EXPECT_NE(table.find("confusion matrix of hf:tiny-clf on 'train'"), std::string::npos) << table;

  // id2label against the data's labels: another set, or the same names in another order, is refused at the model's
  // place in the file (line 4, column 14: the spec in the flow list).
  write_file_atomic(dir() / "more.yaml",
                    evaluate_pipeline(fmt::format("[{}]", spec), spec, ", labels: [neg, pos, meh]"));
  RunResult more = run(dir() / "more.yaml", loader_, dir() / "runs");
  EXPECT_EQ(more.exit_code, 1);
  EXPECT_NE(more.error.find("more.yaml:4:14: stage 'ev': evaluate: model hf:tiny-clf names its classes [neg, pos] "
                            "(from its config.json), but the dataset's are [neg, pos, meh]; use data with the "
                            "model's classes, or correct id2label in " + (folder / "config.json").string()),
            std::string::npos)
      << more.error;
  EXPECT_EQ(more.error.find('\n'), std::string::npos) << more.error;
  write_file_atomic(dir() / "order.yaml", evaluate_pipeline(fmt::format("[{}]", spec), spec, ", labels: [pos, neg]"));
  RunResult order = run(dir() / "order.yaml", loader_, dir() / "runs");
  EXPECT_EQ(order.exit_code, 1);
  EXPECT_NE(order.error.find("order.yaml:4:14: stage 'ev': evaluate: model hf:tiny-clf names its classes [neg, pos] "
                             "(from its config.json) and the dataset [pos, neg]: the same names in another order; "
                             "list them in the data's 'labels' option in the model's order"),
            std::string::npos)
      << order.error;

  // The predict stage checks the same: labels in another order would name every prediction wrongly.
  write_file_atomic(dir() / "predict.yaml",
                    fmt::format("name: predhf\nstages:\n  pr:\n    model: {}\n    kind: predict\n    data: {}\n"
                                "    split: train\n",
                                spec, data_spec(spec, ", labels: [pos, neg]")));
  RunResult pred = run(dir() / "predict.yaml", loader_, dir() / "runs");
  EXPECT_EQ(pred.exit_code, 1);
  EXPECT_NE(pred.error.find("predict.yaml:4:12: stage 'pr': predict: model hf:tiny-clf names its classes [neg, pos] "
                            "(from its config.json) and the dataset [pos, neg]: the same names in another order"),
            std::string::npos)
      << pred.error;

  // The same folder twice would be two columns of one name.
  write_file_atomic(dir() / "twice.yaml", evaluate_pipeline(fmt::format("[{}, {}]", spec, spec), spec));
  RunResult twice = run(dir() / "twice.yaml", loader_, dir() / "runs");
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.error.find("stage 'ev': evaluate: two models are both named 'hf:tiny-clf' in the table"),
            std::string::npos)
      << twice.error;
}

// What `runner check` (loading the pipeline) refuses, at the option's file:line:col: a folder that does not exist and
// a stage that provides no model.
TEST_F(EvaluateStage, CheckRefusesAMissingFolderAndAStageWithoutAModel) {
  const std::string tok = fmt::format("{{type: wordpiece, vocab: {}}}", kVocab);
  write_file_atomic(dir() / "missing.yaml", evaluate_pipeline("[{type: hf, path: no-such-folder}]", tok));
  sh_test::CommandResult check = sh_test::runner("check missing.yaml", dir());
  EXPECT_EQ(check.exit_code, 1) << check.output;
  EXPECT_NE(check.output.find("missing.yaml:4:31: model 'hf': option 'path': input file '" +
                              (dir() / "no-such-folder").string() + "' not found"),
            std::string::npos)
      << check.output;

  write_file_atomic(dir() / "tok.yaml",
                    fmt::format("name: evaltok\nstages:\n  tok: {{kind: tokenizer, load: {}}}\n  ev:\n    models: "
                                "[train, tok]\n    kind: evaluate\n    data: {}\n",
                                tok, data_spec(tok)));
  const std::string what = sh_test::error_of([&] { load_pipeline(dir() / "tok.yaml", {}, loader_); });
  EXPECT_NE(what.find("tok.yaml:5:14: 'train' is neither a model spec nor a stage of this pipeline"),
            std::string::npos) << what;
  write_file_atomic(dir() / "tok.yaml",
                    fmt::format("name: evaltok\nstages:\n  tok: {{kind: tokenizer, load: {}}}\n  ev:\n    models: "
                                "[tok]\n    kind: evaluate\n    data: {}\n",
                                tok, data_spec(tok)));
  EXPECT_NE(sh_test::error_of([&] { load_pipeline(dir() / "tok.yaml", {}, loader_); })
                .find("tok.yaml:5:14: stage 'tok' (kind tokenizer) provides no model (it provides: tokenizer)"),
            std::string::npos);
}

// A folder of a bare encoder (BertModel, what an encoder export writes) is no model to evaluate, and the stage says
// what the folder holds and what loads as a model.
TEST_F(EvaluateStage, AnEncoderFolderIsNoModel) {
  const std::string tok = fmt::format("{{type: wordpiece, vocab: {}}}", kVocab);
  const fs::path folder = dir() / "bare";
  fs::create_directories(folder);
  auto config = nlohmann::json::parse(read_file(fs::path(STAGEHAND_TEST_DATA) / "hf-bert-tiny" / "config.json"));
  config["architectures"] = {"BertModel"};
  write_file_atomic(folder / "config.json", config.dump(2));
  fs::copy_file(fs::path(STAGEHAND_TEST_DATA) / "hf-bert-tiny" / "model.safetensors", folder / "model.safetensors");
  write_file_atomic(dir() / "enc.yaml",
                    evaluate_pipeline(fmt::format("[{{type: hf, path: {}}}]", folder.string()), tok));
  RunResult r = run(dir() / "enc.yaml", loader_, dir() / "runs");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.error.find("config.json names the architecture 'BertModel'; a folder loads as a model here when it is "
                         "<Type>ForSequenceClassification"),
            std::string::npos)
      << r.error;
}
