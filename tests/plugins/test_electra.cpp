// SPDX-License-Identifier: Apache-2.0
// ELECTRA pretraining (model `electra`, loss `electra`): masking statistics, the corruption rule, gradient
// isolation of the generator, shared embeddings, the generator's derived architecture, the loss arithmetic, and
// a short pretraining run through the runner whose discriminator is then fine-tuned.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <sstream>

#include <torch/types.h>

#include "support/test_support.h"
#include "plugin/loader.h"
#include "stagehand/encoder.h"
#include "stagehand/engine.h"
#include "stagehand/model.h"

using namespace stagehand;
using namespace sh_test;

namespace {

constexpr int64_t kPad = 0, kCls = 2, kSep = 3, kMask = 4;

class ElectraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* p : {"encoder_transformer", "model_electra", "loss_electra"})
      loader_.load(fmt::format("{}/{}.so", STAGEHAND_PLUGIN_DIR, p));
  }
  std::shared_ptr<Model> model(int64_t vocab, const std::string& extra = "", int64_t max_length = 128) {
    BuildContext ctx;
    ctx.registry = &registry_;
    ctx.seed = 11;
    std::string yaml = fmt::format(
        "{{type: electra, mask_id: {}, pad_id: {}, cls_id: {}, sep_id: {}, max_length: {} {}, encoder: {{type: "
        "transformer, vocab_size: {}, hidden_size: 64, embedding_size: 32, num_layers: 2, num_heads: 2, "
        "intermediate_size: 128, max_positions: 256}}}}",
        kMask, kPad, kCls, kSep, max_length, extra, vocab);
    return registry_.create<Model>(parse_yaml(yaml, "test"), ctx);
  }
  std::shared_ptr<Loss> loss(const std::string& yaml = "{type: electra}") {
    BuildContext ctx;
    ctx.registry = &registry_;
    return registry_.create<Loss>(parse_yaml(yaml, "test"), ctx);
  }
  /// [CLS] w... [SEP] then padding; row r has `lengths[r]` real tokens. Words are drawn from [5, vocab).
  static Batch batch(const std::vector<int64_t>& lengths, int64_t t, int64_t vocab, uint64_t seed) {
    const int64_t b = static_cast<int64_t>(lengths.size());
    auto gen = at::detail::createCPUGenerator(seed);
    torch::Tensor ids = at::randint(5, vocab, {b, t}, gen, torch::TensorOptions().dtype(torch::kLong));
    torch::Tensor mask = torch::zeros({b, t}, torch::kLong);
    for (int64_t r = 0; r < b; ++r) {
      const int64_t n = lengths[r];
      ids[r][0] = kCls;
      ids[r][n - 1] = kSep;
      for (int64_t j = n; j < t; ++j) ids[r][j] = kPad;
      mask[r].narrow(0, 0, n).fill_(1);
    }
    Batch out;
    out.set("input_ids", ids);
    out.set("attention_mask", mask);
    out.set("token_type_ids", torch::zeros({b, t}, torch::kLong));
    return out;
  }
  Registry registry_;
  PluginLoader loader_{registry_};
};

TEST_F(ElectraTest, MaskingCountsSplitAndNeverSpecialTokens) {
  auto m = model(1000);
  m->train();
  torch::manual_seed(3);
  // Real lengths 10, 40, 128 (capped at 19 predictions), 3 (one candidate) and 2 (no candidate at all).
  const std::vector<int64_t> lengths = {10, 40, 128, 3, 2};
  int64_t chosen = 0, became_mask = 0;
  for (int round = 0; round < 60; ++round) {
    Batch b = batch(lengths, 128, 1000, 100 + round);
    Batch out = m->forward(b);
    const auto ids = b.at("input_ids");
    const auto masked = out.at("masked");
    const auto gen_in = out.at("generator_input_ids");
    for (size_t r = 0; r < lengths.size(); ++r) {
      const int64_t candidates = std::max<int64_t>(0, lengths[r] - 2);
      const int64_t expect =
          candidates == 0 ? 0 : std::min<int64_t>(19, std::max<int64_t>(1, std::nearbyint(0.15 * candidates)));
      EXPECT_EQ(masked[r].sum().item<int64_t>(), expect) << "row " << r << " round " << round;
    }
    // Never [CLS], [SEP] or padding.
    auto special = ids.eq(kCls) | ids.eq(kSep) | ids.eq(kPad);
    EXPECT_FALSE((masked & special).any().item<bool>());
    // Unmasked positions are untouched; masked ones are [MASK] or the original token, never anything else.
    EXPECT_TRUE(gen_in.masked_select(masked.logical_not()).equal(ids.masked_select(masked.logical_not())));
    auto at_masked = gen_in.masked_select(masked);
    auto orig = ids.masked_select(masked);
    EXPECT_TRUE((at_masked.eq(kMask) | at_masked.eq(orig)).all().item<bool>());
    chosen += masked.sum().item<int64_t>();
    became_mask += at_masked.eq(kMask).sum().item<int64_t>();
  }
  // 60 rounds x (1 + 6 + 19 + 1) = 1620 masked positions; 85% of them [MASK]: binomial sd ~ 0.009.
  EXPECT_EQ(chosen, 60 * (1 + 6 + 19 + 1));
  const double share = static_cast<double>(became_mask) / static_cast<double>(chosen);
  EXPECT_NEAR(share, 0.85, 0.035);
}

TEST_F(ElectraTest, MaxPredictionsFollowsElectrasFormula) {
  // int((0.15 + 0.005) * 128) = 19; at 512 it is 79; mask_prob 0.25 at 128 gives int(32.64) = 32.
  EXPECT_EQ(model(100, "", 128)->spec().at("max_predictions").as_int(), 19);
  EXPECT_EQ(model(100, "", 512)->spec().at("max_predictions").as_int(), 79);
  EXPECT_EQ(model(100, ", mask_prob: 0.25", 128)->spec().at("max_predictions").as_int(), 32);
}

TEST_F(ElectraTest, ReplacedOnlyWhereTheSampleDiffers) {
  // A 12-id vocabulary: the generator's samples often equal the original token.
  auto m = model(12);
  m->train();
  torch::manual_seed(5);
  int64_t same = 0, differ = 0;
  for (int round = 0; round < 20; ++round) {
    Batch b = batch({30, 30, 30, 30}, 30, 12, 7 + round);
    Batch out = m->forward(b);
    auto ids = b.at("input_ids");
    auto fake = out.at("fake_input_ids");
    auto masked = out.at("masked");
    auto labels = out.at("rtd_labels");
    // Outside the masked positions the discriminator sees the original text.
    EXPECT_TRUE(fake.masked_select(masked.logical_not()).equal(ids.masked_select(masked.logical_not())));
    auto expected = (masked & fake.ne(ids)).to(torch::kFloat);
    EXPECT_TRUE(labels.equal(expected));
    same += (masked & fake.eq(ids)).sum().item<int64_t>();
    differ += (masked & fake.ne(ids)).sum().item<int64_t>();
  }
  EXPECT_GT(same, 0) << "the test needs samples equal to the original to mean anything";
  EXPECT_GT(differ, 0);
}

TEST_F(ElectraTest, GeneratorAndDiscriminatorShareOneEmbeddingTensor) {
  auto m = model(100);
  auto params = m->named_parameters(true);
  for (const char* name : {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                           "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                           "embeddings.LayerNorm.bias"}) {
    const auto* d = params.find(std::string("encoder.") + name);
    const auto* g = params.find(std::string("generator.") + name);
    ASSERT_TRUE(d && g) << name;
    EXPECT_EQ(d->unsafeGetTensorImpl(), g->unsafeGetTensorImpl()) << name;
  }
  // Each network keeps its own projection from the embedding width: 32 -> 64 and 32 -> 16.
  ASSERT_TRUE(params.find("encoder.embeddings_project.weight"));
  ASSERT_TRUE(params.find("generator.embeddings_project.weight"));
  EXPECT_EQ(params["encoder.embeddings_project.weight"].sizes(), (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(params["generator.embeddings_project.weight"].sizes(), (std::vector<int64_t>{16, 32}));
  // An update through one is seen by the other.
  {
    torch::NoGradGuard ng;
    params["encoder.embeddings.word_embeddings.weight"][7][0].fill_(42.0);
  }
  EXPECT_EQ(params["generator.embeddings.word_embeddings.weight"][7][0].item<double>(), 42.0);
}

TEST_F(ElectraTest, GeneratorArchitectureIsDerivedAsElectraDoes) {
  auto spec = model(100)->spec();
  const auto& g = spec.at("generator");
  EXPECT_EQ(g.at("hidden_size").as_int(), 16);        // round(64 * 0.25)
  EXPECT_EQ(g.at("num_layers").as_int(), 2);          // round(2 * 1.0)
  EXPECT_EQ(g.at("intermediate_size").as_int(), 64);  // 4 * 16
  EXPECT_EQ(g.at("num_heads").as_int(), 1);           // max(1, 16 / 64)
  EXPECT_EQ(g.at("embedding_size").as_int(), 32);     // the shared tables' width
  auto base = model(100, ", generator_size: 1.0, generator_layers: 0.5")->spec().at("generator");
  EXPECT_EQ(base.at("hidden_size").as_int(), 64);
  EXPECT_EQ(base.at("num_layers").as_int(), 1);
  EXPECT_EQ(base.at("intermediate_size").as_int(), 256);
  EXPECT_EQ(base.at("num_heads").as_int(), 1);
}

TEST_F(ElectraTest, DiscriminatorLossSendsNoGradientIntoTheGenerator) {
  auto m = model(100);
  m->train();
  torch::manual_seed(9);
  Batch b = batch({20, 16, 9}, 20, 100, 1);
  Batch out = m->forward(b);
  std::map<std::string, torch::Tensor> parts;
  auto rtd_only = loss("{type: electra, generator_weight: 0.0, discriminator_weight: 1.0}");
  rtd_only->compute(out, b, parts).backward();
  std::set<const void*> shared;
  for (const auto& p : m->named_parameters(true))
    if (p.key().rfind("encoder.embeddings.", 0) == 0) shared.insert(p.value().unsafeGetTensorImpl());
  int64_t generator_tensors = 0;
  for (const auto& p : m->named_parameters(true)) {
    const std::string& k = p.key();
    const bool generator_only = (k.rfind("generator.", 0) == 0 || k.rfind("generator_", 0) == 0) &&
                                !shared.count(p.value().unsafeGetTensorImpl());
    if (generator_only) {
      ++generator_tensors;
      EXPECT_TRUE(!p.value().grad().defined() || p.value().grad().abs().sum().item<double>() == 0.0) << k;
    }
  }
  EXPECT_GT(generator_tensors, 10);
  // The discriminator and the shared embeddings do learn from it.
  auto params = m->named_parameters(true);
  EXPECT_GT(params["discriminator_predictions.dense.weight"].grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(params["encoder.embeddings.word_embeddings.weight"].grad().abs().sum().item<double>(), 0.0);

  // The generator's own loss does reach the generator.
  m->zero_grad();
  Batch out2 = m->forward(b);
  loss("{type: electra, generator_weight: 1.0, discriminator_weight: 0.0}")->compute(out2, b, parts).backward();
  EXPECT_GT(params["generator_predictions.dense.weight"].grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(params["generator.encoder.layer.0.attention.self.query.weight"].grad().abs().sum().item<double>(), 0.0);
}

TEST_F(ElectraTest, LossIsOneTimesMlmPlusFiftyTimesWeightedBce) {
  Batch out;
  // MLM: two masked positions over 3 ids.
  out.set("mlm_logits", torch::tensor({{2.0, 0.0, 0.0}, {0.0, 1.0, 0.0}}));
  out.set("mlm_labels", torch::tensor({0L, 2L}));
  // RTD over a (1, 3) batch whose last token is padding.
  out.set("rtd_logits", torch::tensor({{0.0, 2.0, 5.0}}));
  out.set("rtd_labels", torch::tensor({{0.0, 1.0, 1.0}}));
  out.set("rtd_weights", torch::tensor({{1.0, 1.0, 0.0}}));
  std::map<std::string, torch::Tensor> parts;
  double got = loss()->compute(out, Batch(), parts).item<double>();
  auto ce = [](std::vector<double> z, int y) {
    double s = 0;
    for (double v : z) s += std::exp(v);
    return std::log(s) - z[y];
  };
  const double mlm = (ce({2, 0, 0}, 0) + ce({0, 1, 0}, 2)) / 2;
  // BCE(0, 0) = log 2; BCE(2, 1) = log(1 + e^-2); the padded position does not count.
  const double rtd = (std::log(2.0) + std::log1p(std::exp(-2.0))) / 2;
  EXPECT_NEAR(parts["mlm"].item<double>(), mlm, 1e-6);
  EXPECT_NEAR(parts["rtd"].item<double>(), rtd, 1e-6);
  EXPECT_NEAR(got, mlm + 50 * rtd, 1e-5);
  EXPECT_NEAR(parts["replaced"].item<double>(), 0.5, 1e-9);
  // Logit 0 is not > 0, so "original" (right); logit 2 says "replaced" (right); padding does not count.
  EXPECT_NEAR(parts["rtd_accuracy"].item<double>(), 1.0, 1e-9);
}

TEST_F(ElectraTest, PublishedPresetsResolveToThePapersHyperparameters) {
  TempFolder dir;
  const std::string presets = std::string(STAGEHAND_SOURCE_DIR) + "/pipelines/presets";
  write_text(dir / "corpus.txt", "a line of text\n");
  for (const char* size : {"small", "base"}) {
    write_text(dir / "p.yaml", fmt::format(R"(name: presets
stages:
  pretrain:
    include: {presets}/electra-{size}-pretrain.yaml
    data: {{type: text_corpus, files: [corpus.txt], tokenizer: {{type: wordpiece, vocab: {vocab}}}, max_length: 128}}
)",
                                           fmt::arg("presets", presets), fmt::arg("size", size),
                                           fmt::arg("vocab", std::string(STAGEHAND_TEST_DATA) +
                                                                 "/tokenizers/bert-base-uncased-vocab.txt")));
    auto r = runner("check --print p.yaml", dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const ConfigNode root = parse_yaml(r.output.substr(r.output.find("name: ")), "printed");
    const ConfigNode* st = root.find_path("stages.pretrain");
    ASSERT_TRUE(st) << r.output;
    const bool small = std::string(size) == "small";
    EXPECT_EQ(st->find_path("model.encoder.preset")->as_string(), small ? "electra-small" : "electra-base");
    EXPECT_NEAR(st->find_path("model.generator_size")->as_double(), small ? 0.25 : 1.0 / 3, 1e-9);
    EXPECT_DOUBLE_EQ(st->find_path("optimizer.lr")->as_double(), small ? 5e-4 : 2e-4);
    EXPECT_DOUBLE_EQ(st->find_path("optimizer.eps")->as_double(), 1e-6);
    EXPECT_DOUBLE_EQ(st->find_path("optimizer.weight_decay")->as_double(), 0.01);
    EXPECT_EQ(st->find_path("scheduler.warmup_steps")->as_int(), 10000);
    EXPECT_EQ(st->find_path("batch_size")->as_int(), small ? 128 : 256);
    EXPECT_EQ(st->find_path("steps")->as_int(), small ? 1000000 : 766000);
    EXPECT_DOUBLE_EQ(st->find_path("loss.discriminator_weight")->as_double(), 50.0);
    EXPECT_DOUBLE_EQ(st->find_path("clip_norm")->as_double(), 1.0);
  }
  // The small preset builds ELECTRA-Small: a 64-wide, 1-head generator with FFN 256, 19 predictions at 128.
  BuildContext ctx;
  ctx.registry = &registry_;
  auto m = registry_.create<Model>(
      parse_yaml("{type: electra, mask_id: 103, pad_id: 0, cls_id: 101, sep_id: 102, max_length: 128, encoder: "
                 "{type: transformer, preset: electra-small, vocab_size: 30522}}",
                 "test"),
      ctx);
  const ConfigNode spec = m->spec();
  EXPECT_EQ(spec.find_path("generator.hidden_size")->as_int(), 64);
  EXPECT_EQ(spec.find_path("generator.num_heads")->as_int(), 1);
  EXPECT_EQ(spec.find_path("generator.intermediate_size")->as_int(), 256);
  EXPECT_EQ(spec.find_path("generator.num_layers")->as_int(), 12);
  EXPECT_EQ(spec.find_path("encoder.embedding_size")->as_int(), 128);
  EXPECT_EQ(spec.at("max_predictions").as_int(), 19);
}

TEST_F(ElectraTest, PretrainsThroughTheRunnerAndFineTunesTheDiscriminator) {
  TempFolder dir;
  std::string corpus = read_text(fs::path(STAGEHAND_TEST_DATA) / "corpora" / "moby_dick_excerpt.txt");
  write_text(dir / "corpus.txt", corpus);
  std::string jsonl;
  for (int i = 0; i < 64; ++i)
    jsonl += fmt::format("{{\"text\": \"{}\", \"label\": \"{}\"}}\n",
                         i % 2 ? "the whale swam in the sea" : "the captain stood on deck", i % 2 ? "sea" : "ship");
  write_text(dir / "cls.jsonl", jsonl);
  write_text(dir / "p.yaml", fmt::format(R"(name: electra_tiny
seed: 3
threads: {{intra_op: 1, blas: 1}}
stages:
  pretrain:
    kind: train
    data: {{type: text_corpus, files: [corpus.txt], tokenizer: {{type: wordpiece, vocab: {vocab}}}, max_length: 32}}
    model:
      type: electra
      encoder: {{type: transformer, hidden_size: 64, embedding_size: 32, num_layers: 2, num_heads: 2,
                intermediate_size: 128, max_positions: 32}}
    loss: {{type: electra}}
    optimizer: {{type: adamw, lr: 5.0e-4, eps: 1.0e-6, weight_decay: 0.01}}
    scheduler: {{type: linear, warmup_steps: 2}}
    batch_size: 8
    steps: 6
  finetune:
    kind: train
    data: {{type: text_classification, train: cls.jsonl, validation: cls.jsonl, tokenizer: {{type: wordpiece, vocab: {vocab}}}, max_length: 16}}
    model: {{type: classifier, encoder: pretrain, pooling: cls}}
    loss: {{type: cross_entropy}}
    evaluators: [{{type: classification}}]
    layerwise_lr_decay: 0.8
    batch_size: 8
    steps: 4
)",
                                          fmt::arg("vocab", std::string(STAGEHAND_TEST_DATA) +
                                                                "/tokenizers/bert-base-uncased-vocab.txt")));
  auto r = runner("run p.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path run = dir / "runs" / "electra_tiny" / "latest";
  // Pretraining optimised ELECTRA's two losses: every logged step has the generator's MLM loss and the
  // discriminator's replaced-token loss, finite, and a share of replaced tokens in (0, 0.2] (15% are masked; some
  // of the generator's samples equal the original).
  int64_t logged = 0;
  std::istringstream curves(read_text(run / "metrics.jsonl"));
  for (std::string line; std::getline(curves, line);) {
    if (line.find("\"stage\":\"pretrain\"") == std::string::npos || line.find("\"rtd\"") == std::string::npos) continue;
    ++logged;
    for (const char* part : {"mlm", "rtd", "replaced"}) {
      const size_t at = line.find(fmt::format("\"{}\":", part));
      ASSERT_NE(at, std::string::npos) << part << " missing from " << line;
      const double v = std::stod(line.substr(at + std::string(part).size() + 3));
      EXPECT_TRUE(std::isfinite(v)) << line;
      if (std::string(part) == "replaced") EXPECT_TRUE(v > 0 && v <= 0.2) << line;  // 15% of the tokens are masked
    }
  }
  EXPECT_GT(logged, 0) << "no pretraining step logged its loss parts";
  // The encoder that pretraining hands on is the discriminator (hidden 64 over 32-wide embeddings; the generator is
  // narrower, so its weights would not load), and fine-tuning starts from it: after 4 small steps the fine-tuned
  // encoder's word embeddings are still far closer to the pretrained ones than a fresh initialisation is.
  BuildContext ctx;
  ctx.registry = &registry_;
  const std::string spec =
      "{type: transformer, vocab_size: 30522, hidden_size: 64, embedding_size: 32, num_layers: 2, num_heads: 2, "
      "intermediate_size: 128, max_positions: 32}";
  auto pre = registry_.create<Encoder>(parse_yaml(spec, "test"), ctx);
  auto tuned = registry_.create<Encoder>(parse_yaml(spec, "test"), ctx);
  ctx.seed = 99;
  auto fresh = registry_.create<Encoder>(parse_yaml(spec, "test"), ctx);
  ASSERT_NO_THROW(load_weights(run / "stages" / "pretrain" / "encoder.pt", *pre));
  ASSERT_NO_THROW(load_weights(run / "stages" / "finetune" / "model.pt", *tuned, "encoder"));
  auto embeddings = [](Encoder& e) {
    for (const auto& p : e.named_parameters())
      if (p.key().find("word_embeddings") != std::string::npos) return p.value().detach().clone();
    ADD_FAILURE() << "no word_embeddings parameter";
    return torch::Tensor();
  };
  const torch::Tensor e_pre = embeddings(*pre), e_tuned = embeddings(*tuned), e_fresh = embeddings(*fresh);
  const double moved = (e_tuned - e_pre).norm().item<double>(), apart = (e_fresh - e_pre).norm().item<double>();
  EXPECT_GT(apart, 0);
  EXPECT_LT(moved, 0.1 * apart) << "fine-tuning moved the embeddings by " << moved << "; a fresh init is " << apart
                                << " away: did fine-tuning start from the discriminator?";
  auto record = load_yaml_file(run / "record.yaml");
  const auto& metrics = record.at("stages").at("finetune").at("metrics");
  EXPECT_TRUE(metrics.has("validation.accuracy")) << to_yaml(metrics);
}

}  // namespace
