// SPDX-License-Identifier: Apache-2.0
// The probe stage's machinery (plugins/stage/probe: probe.h, compiled into this test; the SDK's plot_svg.h), on a real
// `transformer` encoder and real `adamw` optimizers loaded as the runner loads them:
//  - the encoder's parameters are bit-identical after probe training, it runs once per batch however many layers
//    are probed, and every layer's probe trains (its weights move, its loss falls) - token and span probes;
//  - each head has its own optimizer and clipping: a head whose layer gets no signal does not move;
//  - span scores give padding no probability; token scores against hand-computed accuracy / macro-F1;
//  - the SVG figure: one line per encoder in every panel, one point per layer, names escaped.
// The end-to-end run (the stage through the runner, CSV and plot) is tests/scripts/test_layer_probes_tiny.sh.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include <torch/torch.h>

#include <stagehand/sdk/plot_svg.h>
#include "support/plugin_support.h"
#include "probe.h"
#include "stagehand/config.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"

using namespace stagehand;
using torch::Tensor;

namespace {

Registry& registry() {
  static Registry* reg = sh_test::load_plugins({"encoder_transformer", "optimizer_adamw"});
  return *reg;
}

BuildContext context() { return sh_test::build_context(registry(), 5); }

/// Delegates to a real encoder and counts the passes.
class CountingEncoder : public Encoder {
 public:
  explicit CountingEncoder(std::shared_ptr<Encoder> inner) : inner_(register_module("inner", std::move(inner))) {}
  EncoderOutput encode(const EncoderInput& input) override {
    ++calls;
    return inner_->encode(input);
  }
  int64_t hidden_size() const override { return inner_->hidden_size(); }
  int64_t num_layers() const override { return inner_->num_layers(); }
  int64_t vocab_size() const override { return inner_->vocab_size(); }
  int64_t embedding_size() const override { return inner_->embedding_size(); }
  torch::Tensor word_embeddings() override { return inner_->word_embeddings(); }
  torch::Tensor pool(const EncoderOutput& out, const std::string& how) override { return inner_->pool(out, how); }
  ConfigNode spec() const override { return inner_->spec(); }
  int calls = 0;

 private:
  std::shared_ptr<Encoder> inner_;
};

std::shared_ptr<CountingEncoder> tiny_encoder() {
  auto enc = registry().create<Encoder>(
      parse_yaml("{type: transformer, vocab_size: 40, hidden_size: 16, num_layers: 3, num_heads: 2, "
                 "intermediate_size: 32, max_positions: 32}",
                 "test"),
      context());
  auto counting = std::make_shared<CountingEncoder>(enc);
  counting->eval();
  for (auto& p : counting->parameters()) p.set_requires_grad(false);
  return counting;
}

std::function<std::shared_ptr<Optimizer>()> adamw(double lr) {
  return [lr] {
    return registry().create<Optimizer>(parse_yaml(fmt::format("{{type: adamw, lr: {}, weight_decay: 0}}", lr), "t"),
                                        context());
  };
}

/// 8 sequences of 12 tokens, the last 3 positions of every other row padding; token label = id % 3 (-100 on
/// [CLS] and padding), answer span = the position of the first token with id 7 (a planted token) in each row.
Batch tagging_batch() {
  torch::manual_seed(11);
  Tensor ids = torch::randint(4, 40, {8, 12}, torch::kLong);
  ids.select(1, 0).fill_(1);
  Tensor mask = torch::ones({8, 12}, torch::kLong);
  for (int64_t r = 0; r < 8; r += 2) mask[r].narrow(0, 9, 3).fill_(0), ids[r].narrow(0, 9, 3).fill_(0);
  Tensor starts = torch::zeros({8}, torch::kLong);
  for (int64_t r = 0; r < 8; ++r) {
    const int64_t pos = 2 + (r % 5);
    ids[r][pos] = 7;
    starts[r] = pos;
  }
  Tensor labels = ids.remainder(3).masked_fill(mask.eq(0), -100);
  labels.select(1, 0).fill_(-100);
  Batch b;
  b.set("input_ids", ids);
  b.set("attention_mask", mask);
  b.set("token_type_ids", torch::zeros_like(ids));
  b.set("labels", labels);
  b.set("start_positions", starts);
  b.set("end_positions", starts + 1);
  return b;
}

std::vector<Tensor> clones(torch::nn::Module& m) {
  std::vector<Tensor> out;
  for (const auto& p : m.parameters()) out.push_back(p.detach().clone());
  return out;
}

void expect_identical(torch::nn::Module& m, const std::vector<Tensor>& before) {
  auto now = m.parameters();
  ASSERT_EQ(now.size(), before.size());
  for (size_t i = 0; i < now.size(); ++i) EXPECT_TRUE(torch::equal(now[i], before[i])) << "encoder parameter " << i;
}

void train_and_check(probe::Task task) {
  auto enc = tiny_encoder();
  const auto encoder_before = clones(*enc);
  probe::Config cfg;
  cfg.task = task;
  cfg.layers = {0, 1, 2, 3};
  cfg.hidden_size = 16;
  cfg.num_labels = 3;
  cfg.dropout = 0.1;
  probe::Probes probes(cfg, adamw(0.01));
  const auto heads_before = clones(probes.module());
  Batch b = tagging_batch();
  std::vector<double> first, last;
  const int steps = 60;
  for (int s = 0; s < steps; ++s) {
    auto losses = probes.train_step(*enc, b);
    ASSERT_EQ(losses.size(), 4u);
    if (s == 0) first = losses;
    last = losses;
  }
  // One encoder pass per batch, not one per layer.
  EXPECT_EQ(enc->calls, steps);
  expect_identical(*enc, encoder_before);
  for (size_t l = 0; l < 4; ++l) EXPECT_LT(last[l], 0.8 * first[l]) << "layer " << cfg.layers[l] << " did not train";
  // Every head's weights moved, and none of them carries a gradient into the encoder.
  auto heads_now = probes.module().named_parameters();
  size_t i = 0;
  for (const auto& p : heads_now) EXPECT_FALSE(torch::equal(p.value(), heads_before[i++])) << p.key() << " did not move";
  EXPECT_EQ(heads_now.size(), task == probe::Task::Span ? 4u * 4u : 4u * 2u);
  for (const auto& p : enc->parameters()) EXPECT_FALSE(p.grad().defined());
}

}  // namespace

TEST(Probe, TokenProbesTrainEveryLayerAndLeaveTheEncoderUnchanged) { train_and_check(probe::Task::Token); }

TEST(Probe, SpanProbesTrainEveryLayerAndLeaveTheEncoderUnchanged) { train_and_check(probe::Task::Span); }

TEST(Probe, SpanHeadsAreNamedPerLayerAndScoresGivePaddingNoProbability) {
  auto enc = tiny_encoder();
  probe::Config cfg;
  cfg.task = probe::Task::Span;
  cfg.layers = {1, 3};
  cfg.hidden_size = 16;
  probe::Probes probes(cfg, adamw(0.01));
  std::set<std::string> names;
  for (const auto& p : probes.module().named_parameters()) names.insert(p.key());
  EXPECT_EQ(names, (std::set<std::string>{"layer_1.start.weight", "layer_1.start.bias", "layer_1.end.weight",
                                          "layer_1.end.bias", "layer_3.start.weight", "layer_3.start.bias",
                                          "layer_3.end.weight", "layer_3.end.bias"}));
  // Initial weights ~ N(0, 0.02), biases 0 (the reference's init).
  for (const auto& p : probes.module().named_parameters()) {
    if (p.key().find("bias") != std::string::npos) EXPECT_EQ(p.value().abs().sum().item<double>(), 0.0);
    else EXPECT_LT(p.value().std().item<double>(), 0.05);
  }
  Batch b = tagging_batch();
  auto s = probes.scores(*enc, b);
  ASSERT_EQ(s.size(), 2u);
  ASSERT_EQ(s[0].size(), 2u);
  EXPECT_EQ(s[0][0].sizes(), (std::vector<int64_t>{8, 12}));
  // Padded rows (0, 2, 4, 6: positions 9..11) score -inf; real positions are finite.
  EXPECT_TRUE(torch::isinf(s[1][1][0].narrow(0, 9, 3)).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(s[1][1][0].narrow(0, 0, 9)).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(s[1][1][1]).all().item<bool>());
  // Scoring is deterministic (no dropout outside training).
  auto again = probes.scores(*enc, b);
  EXPECT_TRUE(torch::equal(s[0][0], again[0][0]));
}

TEST(Probe, EachHeadHasItsOwnOptimizerAndClipping) {
  // Two layers, one optimizer made per head, and a tiny clip norm: clipping scales each head's gradient on its
  // own, and Adam's first step is then still about lr per coordinate (at most lr): every head moves, none by more.
  auto enc = tiny_encoder();
  probe::Config cfg;
  cfg.task = probe::Task::Token;
  cfg.layers = {1, 2};
  cfg.hidden_size = 16;
  cfg.num_labels = 3;
  cfg.dropout = 0;
  cfg.clip_norm = 1e-3;
  int made = 0;
  probe::Probes probes(cfg, [&] {
    ++made;
    return adamw(0.01)();
  });
  EXPECT_EQ(made, 2);  // one optimizer per head
  const auto before = clones(probes.module());
  probes.train_step(*enc, tagging_batch());
  size_t i = 0;
  for (const auto& p : probes.module().parameters()) {
    const double step = (p - before[i++]).abs().max().item<double>();
    EXPECT_GT(step, 0.0);
    EXPECT_LE(step, 0.01 * 1.0001);  // Adam's first step is lr per coordinate
  }
}

TEST(Probe, ABatchWithoutLabelledTokensChangesNothing) {
  auto enc = tiny_encoder();
  probe::Config cfg;
  cfg.task = probe::Task::Token;
  cfg.layers = {1};
  cfg.hidden_size = 16;
  cfg.num_labels = 3;
  probe::Probes probes(cfg, adamw(0.01));
  const auto before = clones(probes.module());
  Batch b = tagging_batch();
  b.set("labels", torch::full_like(b.at("labels"), -100));
  EXPECT_EQ(probes.train_step(*enc, b), std::vector<double>{0.0});
  size_t i = 0;
  for (const auto& p : probes.module().parameters()) EXPECT_TRUE(torch::equal(p, before[i++]));
  EXPECT_EQ(enc->calls, 0);
}

TEST(Probe, BadConfigurationIsNamed) {
  probe::Config cfg;
  cfg.hidden_size = 16;
  EXPECT_THROW(probe::Probes(cfg, adamw(0.01)), Error);  // no layers
  cfg.layers = {1};
  cfg.task = probe::Task::Token;
  cfg.num_labels = 1;
  try {
    probe::Probes p(cfg, adamw(0.01));
    FAIL() << "one label accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at least 2 labels"), std::string::npos) << e.what();
  }
  cfg.num_labels = 3;
  cfg.layers = {7};
  probe::Probes p(cfg, adamw(0.01));
  auto enc = tiny_encoder();
  try {
    p.scores(*enc, tagging_batch());
    FAIL() << "layer 7 of a 3-block encoder accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 7 does not exist"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0 (embeddings) to 3"), std::string::npos) << e.what();
  }
}

TEST(Probe, TokenScoresMatchScikitLearn) {
  // gold 0 0 1 2, predicted 0 1 1 1: accuracy 2/4; class 0 P 1/1 R 1/2 F 2/3, class 1 P 1/3 R 1/1 F 1/2,
  // class 2 P 0 R 0 F 0 -> macro (2/3 + 1/2 + 0) / 3.
  auto s = probe::token_scores({0, 0, 1, 2}, {0, 1, 1, 1});
  EXPECT_DOUBLE_EQ(s.at("accuracy"), 0.5);
  EXPECT_NEAR(s.at("macro_f1"), (2.0 / 3 + 0.5) / 3, 1e-12);
  // A class only predicted counts in the macro average (sklearn's label set is gold and predicted).
  s = probe::token_scores({0, 0}, {0, 3});
  EXPECT_NEAR(s.at("macro_f1"), (2.0 / 3 + 0.0) / 2, 1e-12);
  EXPECT_THROW(probe::token_scores({0}, {0, 1}), Error);
}

TEST(ProbePlot, OneLinePerEncoderAndOnePointPerLayerInEveryPanel) {
  std::vector<plot::Panel> panels(2);
  for (int k = 0; k < 2; ++k) {
    panels[k].title = k == 0 ? "Exact match" : "F1";
    panels[k].x_label = "layer";
    panels[k].y_label = "%";
    for (const char* name : {"pretrain", "fine<tuned>"}) {
      plot::Series s;
      s.name = name;
      for (int layer = 1; layer <= 4; ++layer) s.points.emplace_back(layer, 10.0 * layer + k);
      panels[k].series.push_back(s);
    }
  }
  const std::string svg = plot::line_plot_svg("Span probes & layers", panels, true);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("Span probes &amp; layers"), std::string::npos);
  EXPECT_EQ(svg.find("fine<tuned>"), std::string::npos);  // escaped
  std::regex poly("<polyline class=\"series\" data-name=\"([^\"]*)\"[^>]*points=\"([^\"]*)\"");
  std::vector<std::string> names;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), poly); it != std::sregex_iterator(); ++it) {
    names.push_back((*it)[1]);
    const std::string pts = (*it)[2];
    EXPECT_EQ(std::count(pts.begin(), pts.end(), ','), 4) << pts;  // four (x,y) points
  }
  EXPECT_EQ(names, (std::vector<std::string>{"pretrain", "fine&lt;tuned&gt;", "pretrain", "fine&lt;tuned&gt;"}));
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  EXPECT_EQ(circles, 2u * 2u * 4u);  // a marker per point
  // Higher values are drawn higher (smaller y): layer 4's point above layer 1's.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, poly));
  const std::string pts = m[2];
  const double y_first = std::stod(pts.substr(pts.find(',') + 1));
  const double y_last = std::stod(pts.substr(pts.rfind(',') + 1));
  EXPECT_LT(y_last, y_first);
}

// The stage's default optimizer is the reference's (probe.py: transformers.AdamW(lr 3e-5, eps 1e-8, no weight
// decay, correct_bias=False)), as `runner check --print` resolves it for a probe stage that names none.
TEST(ProbeStage, DefaultOptimizerIsTheReferencesAdamWWithoutBiasCorrection) {
  sh_test::TempFolder tmp;
  const std::string src = STAGEHAND_SOURCE_DIR;
  sh_test::write_text(
      tmp / "p.yaml",
      fmt::format("name: probe-default\nstages:\n  probes:\n    kind: probe\n    task: span\n"
                  "    encoders: [{{type: hf, path: {0}/tests/data/hf-bert-tiny}}]\n"
                  "    data: {{type: squad, train: {0}/data/squad/public_domain/train-v2.0.json,\n"
                  "           tokenizer: {{type: wordpiece, vocab: {0}/tests/data/hf-bert-tiny/vocab.txt}}}}\n",
                  src));
  const auto r = sh_test::runner("check --print p.yaml", tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const size_t at = r.output.find("    optimizer:\n");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string block = r.output.substr(at, r.output.find("\n    clip_norm", at) - at);
  for (const char* line : {"type: adamw\n", "lr: 3.0e-5\n", "weight_decay: 0\n", "eps: 1.0e-8\n",
                           "bias_correction: false\n"})
    EXPECT_NE(block.find(line), std::string::npos) << line << " not in\n" << block;
}
