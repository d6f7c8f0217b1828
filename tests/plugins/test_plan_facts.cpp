// SPDX-License-Identifier: Apache-2.0
// Options that follow from other components are filled before anything runs: an encoder's vocab_size is its
// tokenizer's size (issue: the preset default 30,522 used to win over the tokenizer's 8,000), a written value that
// disagrees is a `runner check` error, and a stage that runs takes the size the trained tokenizer really has.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <stagehand/config.h>
#include "pipeline/pipeline.h"
#include "plugin/loader.h"
#include <stagehand/model.h>
#include <stagehand/registry.h>

#include "support/test_support.h"
#include "support/plugin_support.h"

namespace {

namespace fs = std::filesystem;
using sh_test::error_of;
using sh_test::TempFolder;
using sh_test::write_text;
using stagehand::ConfigNode;

stagehand::PluginLoader& loader() {
  static auto* registry = new stagehand::Registry;
  static auto* loader = [] {
    auto* l = new stagehand::PluginLoader(*registry);
    l->load_dir(STAGEHAND_PLUGIN_DIR, "test");
    return l;
  }();
  return *loader;
}

stagehand::Pipeline plan(const fs::path& file, const std::vector<std::string>& overrides = {}) {
  return stagehand::load_pipeline(file, overrides, loader());
}

/// Every `vocab_size` under a stage's `model` option, with its dotted path and location.
struct Found {
  std::string path;
  int64_t value;
  stagehand::Location where;
};
std::vector<Found> model_vocab_sizes(const stagehand::Pipeline& p) {
  std::vector<Found> out;
  std::function<void(const ConfigNode&, const std::string&)> walk = [&](const ConfigNode& n, const std::string& at) {
    if (!n.is_map()) return;
    for (const auto& [k, v] : n.entries()) {
      if (k == "vocab_size" && v.is_scalar()) out.push_back({at + "." + k, v.as_int(), v.location()});
      walk(v, at + "." + k);
    }
  };
  for (const auto& s : p.stages)
    if (const ConfigNode* m = s.resolved.find("model"); m && m->is_map()) walk(*m, s.name + ".model");
  return out;
}

// The size each shipped pipeline's tokenizer will have, read independently of the planner: the one tokenizer
// stage's `train.vocab_size` (SentencePiece makes exactly that many pieces; WordPiece at most that many, and these
// corpora are large enough to reach it).
int64_t tokenizer_size(const stagehand::Pipeline& p) {
  int64_t size = -1;
  for (const auto& s : p.stages) {
    if (s.kind != "tokenizer") continue;
    EXPECT_EQ(size, -1) << p.name << " has more than one tokenizer stage; this test assumes one";
    size = s.resolved.at("train").at("vocab_size").as_int();
  }
  return size;
}

TEST(PlanFacts, EveryShippedPipelineBuildsItsEncodersWithTheTokenizersVocabulary) {
  int pipelines = 0, encoders = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(STAGEHAND_SOURCE_DIR) / "pipelines")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    stagehand::Pipeline p = plan(entry.path());
    ++pipelines;
    auto found = model_vocab_sizes(p);
    if (found.empty()) continue;  // e.g. tokenizers.yaml: no model
    const int64_t want = tokenizer_size(p);
    ASSERT_GT(want, 0) << "a pipeline with models but no tokenizer stage";
    for (const auto& f : found) {
      ++encoders;
      EXPECT_EQ(f.value, want) << f.path;
      EXPECT_EQ(f.where.file.rfind("<from stage 'tokenizer'", 0), 0u) << f.path << " came from " << f.where.str();
    }
  }
  EXPECT_GE(pipelines, 8);
  EXPECT_GE(encoders, 8);  // quickstart alone has two: pretrain's and distill's
}

const char* kTwoStages = R"(name: facts
stages:
  tokenizer:
    kind: tokenizer
    train: {type: wordpiece, vocab_size: 600}
    corpus: [CORPUS]
  pretrain_data: {kind: pretraining_data, tokenizer: tokenizer, files: [CORPUS], max_length: 32}
  pretrain:
    kind: train
    data: pretrain_data
    model:
      type: electra
      encoder: {type: transformer, hidden_size: 32, num_layers: 1, num_heads: 2, intermediate_size: 64,
                max_positions: 32ENCODER_EXTRA}
    loss: {type: electra}
    steps: 2
)";

std::string two_stages(const std::string& corpus, const std::string& encoder_extra) {
  std::string y = kTwoStages;
  for (std::string key : {"CORPUS", "CORPUS"}) y.replace(y.find(key), key.size(), corpus);
  y.replace(y.find("ENCODER_EXTRA"), 13, encoder_extra);
  return y;
}

TEST(PlanFacts, ATokenizerStageSizesTheEncoderThroughThePretrainingData) {
  TempFolder tmp;
  const std::string corpus = (fs::path(STAGEHAND_TEST_DATA) / "corpora" / "web_bible_excerpt.txt").string();
  write_text(tmp / "p.yaml", two_stages(corpus, ""));
  stagehand::Pipeline p = plan(tmp / "p.yaml");
  const ConfigNode& v = p.find("pretrain")->resolved.at("model").at("encoder").at("vocab_size");
  EXPECT_EQ(v.as_int(), 600);
  EXPECT_EQ(v.location().file, "<from stage 'tokenizer' (the tokenizer_trainer 'wordpiece')>");
  // The fully resolved pipeline (runner check --print, the record) shows the same.
  EXPECT_EQ(p.root.at("stages").at("pretrain").at("model").at("encoder").at("vocab_size").as_int(), 600);
}

TEST(PlanFacts, AWrittenVocabularyThatDisagreesIsAnErrorWithBothNumbersAndTheFix) {
  TempFolder tmp;
  const std::string corpus = (fs::path(STAGEHAND_TEST_DATA) / "corpora" / "web_bible_excerpt.txt").string();
  write_text(tmp / "p.yaml", two_stages(corpus, ", vocab_size: 30522"));
  std::string e = error_of([&] { plan(tmp / "p.yaml"); });
  EXPECT_NE(e.find("p.yaml:14:"), std::string::npos) << e;  // the written value's line
  EXPECT_NE(e.find("stage 'pretrain'"), std::string::npos) << e;
  EXPECT_NE(e.find("model.encoder.vocab_size is 30522"), std::string::npos) << e;
  EXPECT_NE(e.find("gives vocab_size 600"), std::string::npos) << e;
  EXPECT_NE(e.find("leave vocab_size out"), std::string::npos) << e;
  // Written to the same value, it is accepted and kept as written.
  write_text(tmp / "q.yaml", two_stages(corpus, ", vocab_size: 600"));
  stagehand::Pipeline q = plan(tmp / "q.yaml");
  EXPECT_NE(q.find("pretrain")->resolved.at("model").at("encoder").at("vocab_size").location().file.find("q.yaml"),
            std::string::npos);
  // A command-line override is written too.
  write_text(tmp / "r.yaml", two_stages(corpus, ""));
  e = error_of([&] { plan(tmp / "r.yaml", {"stages.pretrain.model.encoder.vocab_size=1000"}); });
  EXPECT_NE(e.find("<command line argument 1>"), std::string::npos) << e;
  EXPECT_NE(e.find("is 1000"), std::string::npos) << e;
}

TEST(PlanFacts, AnInlineTokenizerIsBuiltToLearnItsSize) {
  TempFolder tmp;
  const std::string vocab = (fs::path(STAGEHAND_TEST_DATA) / "hf-bert-tiny" / "vocab.txt").string();
  const std::string data = (fs::path(STAGEHAND_SOURCE_DIR) / "data" / "spam" / "train.jsonl").string();
  write_text(tmp / "p.yaml", "name: inline\nstages:\n  finetune:\n    kind: train\n"
                             "    data: {type: text_classification, train: " + data +
                                 ", tokenizer: {type: wordpiece, vocab: " + vocab + "}}\n"
                             "    model: {type: classifier, encoder: {type: transformer, hidden_size: 32, num_layers: 1,"
                             " num_heads: 2, intermediate_size: 64}}\n"
                             "    loss: {type: cross_entropy}\n");
  stagehand::Pipeline p = plan(tmp / "p.yaml");
  const ConfigNode& v = p.find("finetune")->resolved.at("model").at("encoder").at("vocab_size");
  EXPECT_EQ(v.as_int(), 30522);
  EXPECT_EQ(v.location().file, "<from the tokenizer 'wordpiece'>");
}

TEST(PlanFacts, AStageThatRunsTakesTheSizeTheDataReallyHasUnlessItWasWritten) {
  static stagehand::Registry* reg = sh_test::load_plugins({"encoder_transformer", "model_classifier", "head_mlp"});
  ConfigNode spec = stagehand::parse_yaml(
      "{type: classifier, encoder: {type: transformer, hidden_size: 32, num_layers: 1, num_heads: 2, "
      "intermediate_size: 64}}",
      "p.yaml");
  // Planned from a WordPiece trainer asked for 600 that found only 580 pieces: the data's 580 wins.
  ConfigNode planned = spec.clone();
  planned.find("encoder")->set("vocab_size", ConfigNode::of(int64_t{600}, {"<from stage 'tokenizer'>", 0, 0}));
  ConfigNode filled = stagehand::fill_hints(planned, "model", {{"vocab_size", 580}, {"num_labels", 2}}, *reg);
  EXPECT_EQ(filled.at("encoder").at("vocab_size").as_int(), 580);
  EXPECT_EQ(filled.at("num_labels").as_int(), 2);
  // A default (the transformer's 30,522, as planning leaves it without a tokenizer) is replaced too.
  ConfigNode defaulted = spec.clone();
  defaulted.find("encoder")->set("vocab_size", ConfigNode::of(int64_t{30522}, {"<default>", 0, 0}));
  EXPECT_EQ(stagehand::fill_hints(defaulted, "model", {{"vocab_size", 580}}, *reg).at("encoder").at("vocab_size").as_int(),
            580);
  // A written value must agree.
  ConfigNode written = spec.clone();
  written.find("encoder")->set("vocab_size", ConfigNode::of(int64_t{600}, {"p.yaml", 3, 7}));
  std::string e = error_of([&] { stagehand::fill_hints(written, "model", {{"vocab_size", 580}}, *reg); });
  EXPECT_NE(e.find("p.yaml:3:7"), std::string::npos) << e;
  EXPECT_NE(e.find("model.encoder.vocab_size is 600, but the data gives vocab_size 580"), std::string::npos) << e;
}

}  // namespace
