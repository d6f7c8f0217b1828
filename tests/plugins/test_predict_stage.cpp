// SPDX-License-Identifier: Apache-2.0
// End to end: a tiny classifier is trained, then `predict` and `embed` stages write its logits and pooled vectors
// over the training split, in dataset order, as JSON lines and as LibTorch archives.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/serialize/archive.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "stagehand/checkpoint.h"
#include "stagehand/dataset.h"
#include "stagehand/files.h"
#include "pipeline/pipeline.h"
#include "plugin/loader.h"
#include "stagehand/model.h"
#include "support/test_support.h"

#include <cmath>
#include <sstream>

namespace fs = std::filesystem;
using namespace stagehand;

namespace {

constexpr int kExamples = 20;

// Texts of very different lengths, so that sorting by length really reorders the batches.
std::string data_text() {
  const char* words[] = {"good", "bad", "great", "awful", "fine", "poor", "nice", "sad"};
  std::string s;
  for (int i = 0; i < kExamples; ++i) {
    std::string text;
    for (int w = 0; w <= (i * 7) % 11; ++w) text += std::string(w ? " " : "") + words[(i + w) % 8];
    s += fmt::format("{{\"id\": \"ex-{}\", \"text\": \"{}\", \"label\": \"{}\"}}\n", i, text, i % 2 ? "pos" : "neg");
  }
  return s;
}

std::string data_spec() {
  return fmt::format("{{type: text_classification, train: data.jsonl, id_field: id, max_length: 16, "
                     "tokenizer: {{type: wordpiece, vocab: {}/tokenizers/bert-base-uncased-vocab.txt}}}}",
                     STAGEHAND_TEST_DATA);
}

std::string pipeline_text() {
  const std::string data = data_spec();
  return fmt::format(R"(name: predictstage
seed: 3
threads: {{intra_op: 1, blas: 1}}
stages:
  train:
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
  pred: {{kind: predict, model: train, data: {data}, batch_size: 7}}
  pred_t: {{kind: predict, model: train, data: {data}, batch_size: 7, output: tensor}}
  emb: {{kind: embed, model: train, data: {data}, batch_size: 6}}
  emb_plain: {{kind: embed, model: train, data: {data}, batch_size: 6, sort_by_length: false}}
  emb_t: {{kind: embed, model: train, data: {data}, batch_size: 6, output: tensor, normalize: true}}
)",
                     fmt::arg("data", data));
}

struct Line {
  std::string id;
  std::vector<double> values;
};

std::vector<Line> read_jsonl(const fs::path& file, const std::string& field) {
  std::vector<Line> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    out.push_back({j.at("id").get<std::string>(), j.at(field).get<std::vector<double>>()});
  }
  return out;
}

torch::Tensor read_tensor(const fs::path& file, const std::string& name) {
  torch::serialize::InputArchive archive;
  read_archive(file, archive);
  torch::Tensor t;
  archive.read(name, t);
  return t;
}

}  // namespace

TEST(PredictStage, LogitsAndEmbeddingsInDatasetOrder) {
  sh_test::TempFolder tmp;
  const fs::path dir = tmp.path();
  write_file_atomic(dir / "data.jsonl", data_text());
  write_file_atomic(dir / "p.yaml", pipeline_text());
  Registry reg;
  PluginLoader loader(reg);
  loader.load_dir(STAGEHAND_PLUGIN_DIR, "builtin");
  ASSERT_TRUE(reg.find("stage", "predict")) << "stage_predict.so not loaded";
  ASSERT_TRUE(reg.find("stage", "embed"));
  ASSERT_TRUE(reg.find("encoder", "transformer")) << "encoder_transformer.so not loaded";

  Pipeline p = load_pipeline(dir / "p.yaml", {}, loader);
  RunOptions ro;
  ro.runs_dir = dir / "runs";
  RunResult r = run_pipeline(p, loader, ro);
  ASSERT_EQ(r.exit_code, 0) << r.error;
  const fs::path stages = r.run_dir / "stages";
  EXPECT_EQ(r.stages["pred"].metrics.at("examples"), kExamples);
  EXPECT_EQ(r.stages["emb"].metrics.at("examples"), kExamples);

  // predict: one line per example, in file order, with the dataset's ids and two logits each.
  auto pred = read_jsonl(stages / "pred" / "predictions.jsonl", "logits");
  ASSERT_EQ(pred.size(), static_cast<size_t>(kExamples));
  for (int i = 0; i < kExamples; ++i) {
    EXPECT_EQ(pred[i].id, fmt::format("ex-{}", i));
    EXPECT_EQ(pred[i].values.size(), 2u);
  }
  // ... equal to the trained model's own forward pass over the same examples.
  BuildContext bc;
  bc.registry = &reg;
  bc.seed = 1;
  bc.base_dir = stages / "train";
  ConfigNode outputs = load_yaml_file(stages / "train" / "outputs.yaml");
  auto model = reg.create<Model>(outputs.at("provides").at("model"), bc);
  BuildContext dc = bc;
  dc.base_dir = dir;
  auto data = reg.create<Dataset>(parse_yaml(data_spec(), (dir / "p.yaml").string()), dc);
  model->eval();
  torch::NoGradGuard no_grad;
  std::vector<int64_t> all(kExamples);
  for (int i = 0; i < kExamples; ++i) all[i] = i;
  torch::Tensor logits = model->forward(data->batch("train", all)).at("logits");
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{kExamples, 2}));
  for (int i = 0; i < kExamples; ++i)
    for (int c = 0; c < 2; ++c) EXPECT_NEAR(pred[i].values[c], logits[i][c].item<double>(), 1e-5) << i << "," << c;

  // The tensor format holds the same logits, with the ids beside it.
  torch::Tensor pt = read_tensor(stages / "pred_t" / "predictions.pt", "logits");
  ASSERT_EQ(pt.sizes(), logits.sizes());
  EXPECT_LT((pt - logits).abs().max().item<double>(), 1e-5);
  std::string ids = read_file(stages / "pred_t" / "predictions.ids.txt");
  EXPECT_EQ(ids.substr(0, 15), "ex-0\nex-1\nex-2\n");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), '\n'), kExamples);

  // embed: hidden-size vectors in dataset order; sorting by length changes nothing but the batching.
  auto emb = read_jsonl(stages / "emb" / "embeddings.jsonl", "embedding");
  auto plain = read_jsonl(stages / "emb_plain" / "embeddings.jsonl", "embedding");
  ASSERT_EQ(emb.size(), static_cast<size_t>(kExamples));
  ASSERT_EQ(plain.size(), static_cast<size_t>(kExamples));
  // Mean pooling of the trained encoder, computed here in one batch.
  auto enc = model->encoder();
  Batch b = data->batch("train", all);
  torch::Tensor pooled = enc->pool(enc->encode({b.at("input_ids"), b.at("attention_mask"), b.at("token_type_ids")}), "mean");
  for (int i = 0; i < kExamples; ++i) {
    EXPECT_EQ(emb[i].id, fmt::format("ex-{}", i));
    EXPECT_EQ(plain[i].id, emb[i].id);
    ASSERT_EQ(emb[i].values.size(), 16u);
    for (int d = 0; d < 16; ++d) {
      EXPECT_NEAR(emb[i].values[d], plain[i].values[d], 1e-5) << i << "," << d;
      EXPECT_NEAR(emb[i].values[d], pooled[i][d].item<double>(), 1e-5) << i << "," << d;
    }
  }
  // Normalised tensor output: unit vectors in the directions of the plain ones.
  torch::Tensor et = read_tensor(stages / "emb_t" / "embeddings.pt", "embedding");
  ASSERT_EQ(et.sizes(), (std::vector<int64_t>{kExamples, 16}));
  EXPECT_LT((et.norm(2, {1}) - 1).abs().max().item<double>(), 1e-5);
  torch::Tensor unit = pooled / pooled.norm(2, {1}, true);
  EXPECT_LT((et - unit).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(read_file(stages / "emb_t" / "embeddings.ids.txt"), ids);
}

TEST(PredictStage, NeedsAStageThatProvidesAModel) {
  sh_test::TempFolder tmp;
  const fs::path dir = tmp.path();
  write_file_atomic(dir / "data.jsonl", data_text());
  write_file_atomic(dir / "p.yaml",
                    fmt::format("name: predbad\nstages:\n  tok: {{kind: tokenizer, load: {{type: wordpiece, vocab: "
                                "{}/tokenizers/bert-base-uncased-vocab.txt}}}}\n  pred: {{kind: predict, model: tok, "
                                "data: {}}}\n",
                                STAGEHAND_TEST_DATA, data_spec()));
  Registry reg;
  PluginLoader loader(reg);
  loader.load_dir(STAGEHAND_PLUGIN_DIR, "builtin");
  // Caught when the pipeline is loaded (so by `runner check` too), at the option's file:line:col.
  try {
    load_pipeline(dir / "p.yaml", {}, loader);
    ADD_FAILURE() << "a predict stage reading a tokenizer stage's model was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("p.yaml:4:32: stage 'tok' (kind tokenizer) provides no model (it provides: tokenizer)"),
              std::string::npos) << what;
  }
}

// `runner predict` on raw text gives, for each line, what the pipeline's own predict stage computes for the same
// example: the same logits (as probabilities, softmax) under the label names of the training data.
TEST(RunnerPredict, RawTextGetsThePredictStagesLogitsAsLabelNamesAndProbabilities) {
  sh_test::TempFolder tmp;
  const fs::path dir = tmp.path();
  write_file_atomic(dir / "data.jsonl", data_text());
  write_file_atomic(dir / "p.yaml", pipeline_text());
  auto r = sh_test::runner("-q run p.yaml --runs-dir runs", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path run = dir / "runs" / "predictstage" / "latest";
  const auto pred = read_jsonl(run / "stages" / "pred" / "predictions.jsonl", "logits");
  std::string input;
  std::vector<std::string> texts;
  {
    std::istringstream lines(data_text());
    for (std::string line; std::getline(lines, line) && texts.size() < 6;) {
      texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
      input += texts.back() + "\n";
    }
  }
  write_file_atomic(dir / "in.txt", input);
  r = sh_test::runner("predict runs/predictstage/latest --stage train --file in.txt --batch-size 4", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream out(r.output);
  size_t n = 0;
  for (std::string line; std::getline(out, line); ++n) {
    ASSERT_LT(n, texts.size()) << r.output;
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("text"), texts[n]);
    const auto& logits = pred[n].values;  // ex-n; classes in label order: neg, pos
    const double p_pos = 1.0 / (1.0 + std::exp(logits[0] - logits[1]));
    EXPECT_NEAR(j.at("probabilities").at("pos").get<double>(), p_pos, 1e-5) << line;
    EXPECT_NEAR(j.at("probabilities").at("neg").get<double>(), 1 - p_pos, 1e-5) << line;
    EXPECT_EQ(j.at("label"), p_pos > 0.5 ? "pos" : "neg") << line;
  }
  // The predict stage's own lines carry the same label names and probabilities.
  {
    std::ifstream in(run / "stages" / "pred" / "predictions.jsonl");
    size_t k = 0;
    for (std::string line; std::getline(in, line); ++k) {
      const auto j = nlohmann::json::parse(line);
      const auto& logits = pred[k].values;
      const double p_pos = 1.0 / (1.0 + std::exp(logits[0] - logits[1]));
      EXPECT_NEAR(j.at("probabilities").at("pos").get<double>(), p_pos, 1e-6) << line;
      EXPECT_NEAR(j.at("probabilities").at("neg").get<double>(), 1 - p_pos, 1e-6) << line;
      EXPECT_EQ(j.at("label"), p_pos > 0.5 ? "pos" : "neg") << line;
    }
    EXPECT_EQ(k, pred.size());
  }
  EXPECT_EQ(n, texts.size()) << r.output;

  // The stage's own folder in the run names the run and the stage: the same lines.
  const std::string by_stage = r.output;
  r = sh_test::runner("predict runs/predictstage/latest/stages/train/ --file in.txt --batch-size 4", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, by_stage);
  r = sh_test::runner("predict runs/predictstage/latest --stage trian < in.txt", dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("stage 'trian' has no outputs in the run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean 'train'?"), std::string::npos) << r.output;
  r = sh_test::runner("predict runs --stage train < in.txt", dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is neither a run folder (no record.yaml) nor a Hugging Face folder (no config.json)"),
            std::string::npos) << r.output;
}

// ---- extractive QA through `runner predict`: a model trained (a few steps) on SQuAD-format data answers
// QUESTION<TAB>CONTEXT lines with spans of the context, over several doc-stride windows when the context is long.

std::string squad_json() {
  nlohmann::json data = nlohmann::json::array();
  const char* colours[] = {"red", "green", "blue", "yellow"};
  nlohmann::json paragraphs = nlohmann::json::array();
  for (int p = 0; p < 8; ++p) {
    const std::string context = fmt::format("the house of anna is {} and the car of tom is {} today",
                                            colours[p % 4], colours[(p + 1) % 4]);
    nlohmann::json qas = nlohmann::json::array();
    const std::string answer = colours[p % 4];
    qas.push_back({{"id", fmt::format("q{}", p)}, {"question", "what colour is the house of anna"},
                   {"answers", {{{"text", answer}, {"answer_start", context.find(answer)}}}}, {"is_impossible", false}});
    qas.push_back({{"id", fmt::format("n{}", p)}, {"question", "where does anna work"}, {"answers", nlohmann::json::array()},
                   {"is_impossible", true}});
    paragraphs.push_back({{"context", context}, {"qas", qas}});
  }
  data.push_back({{"title", "colours"}, {"paragraphs", paragraphs}});
  return nlohmann::json{{"version", "v2.0"}, {"data", data}}.dump();
}

std::vector<std::string> words_of(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

/// Whether `part` is a run of consecutive whole words of `whole`.
bool whole_words_of(const std::string& part, const std::string& whole) {
  const auto p = words_of(part), w = words_of(whole);
  if (p.empty() || p.size() > w.size()) return false;
  for (size_t i = 0; i + p.size() <= w.size(); ++i)
    if (std::equal(p.begin(), p.end(), w.begin() + static_cast<std::ptrdiff_t>(i))) return true;
  return false;
}

TEST(RunnerPredict, QuestionsGetSpansOfTheirContextOverSeveralWindows) {
  sh_test::TempFolder tmp;
  const fs::path dir = tmp.path();
  write_file_atomic(dir / "squad.json", squad_json());
  write_file_atomic(dir / "p.yaml", fmt::format(R"(name: qa
seed: 5
threads: {{intra_op: 1, blas: 1}}
stages:
  qa:
    kind: train
    data: {{type: squad, train: squad.json, max_seq_length: 24, doc_stride: 6, max_query_length: 8,
           tokenizer: {{type: wordpiece, vocab: {}/tokenizers/bert-base-uncased-vocab.txt}}}}
    model:
      type: extractive_qa
      encoder: {{type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2,
                intermediate_size: 32, max_positions: 32}}
    loss: {{type: span}}
    batch_size: 8
    steps: 3
)",
                                                STAGEHAND_TEST_DATA));
  auto r = sh_test::runner("-q run p.yaml --runs-dir runs", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // A context longer than one window (24 tokens, 8 of them the question and specials): several windows.
  const std::string long_context =
      "in the old town by the river there is a small house of anna which is painted red and has a garden with "
      "many trees and a bench where tom sits every evening";
  const std::vector<std::pair<std::string, std::string>> questions = {
      {"what colour is the house of anna", "the house of anna is blue and the car of tom is red today"},
      {"who sits on the bench", long_context},
      {"where does anna work", "the house of anna is green and the car of tom is yellow today"}};
  std::string input;
  for (const auto& [q, c] : questions) input += q + "\t" + c + "\n";
  write_file_atomic(dir / "in.tsv", input);
  for (int longest : {30, 1}) {
    r = sh_test::runner(fmt::format("predict runs/qa/latest --stage qa --pair --file in.tsv --batch-size 2 "
                                    "--max-answer-length {}", longest), dir);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::istringstream out(r.output);
    size_t n = 0, answered = 0;
    for (std::string line; std::getline(out, line); ++n) {
      ASSERT_LT(n, questions.size()) << r.output;
      const auto j = nlohmann::json::parse(line);
      EXPECT_EQ(j.at("question"), questions[n].first);
      EXPECT_EQ(j.at("context"), questions[n].second);
      const std::string answer = j.at("answer");
      EXPECT_EQ(j.at("no_answer").get<bool>(), answer.empty()) << line;
      EXPECT_TRUE(j.at("score").is_number()) << line;
      if (answer.empty()) continue;
      ++answered;
      EXPECT_TRUE(whole_words_of(answer, questions[n].second)) << line;
      // squad::decode: the end token at most `longest` tokens after the start, so 2 tokens: at most 2 words.
      if (longest == 1) EXPECT_LE(words_of(answer).size(), 2u) << line;
    }
    EXPECT_EQ(n, questions.size()) << r.output;
    // An untrained span scorer's best span of a whole context beats the single null score (max over many pairs).
    EXPECT_GE(answered, 1u) << r.output;
  }
  r = sh_test::runner("predict runs/qa/latest --stage qa --file in.tsv", dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("answers questions; give --pair"), std::string::npos) << r.output;
}
