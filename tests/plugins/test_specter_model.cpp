// SPDX-License-Identifier: Apache-2.0
// SPECTER and Multi²SPE on the model side, loaded from their plugins as the runner loads them:
//  - multifacet_transformer: facet tokens go right after [CLS]; with identity init and "alternate" the facet states
//    leaving a facet layer are exactly zero at step 0 (as in the reference); without facets it is the plain
//    encoder; facet layers and the output layers (alternate, tanh) equal the formulas applied by hand to the named
//    weights; spec() rebuilds it; the base encoder's weights are the start;
//  - embedder: query/pos/neg embeddings, facets summed at inference only;
//  - triplet (SPECTER) and multifacet_triplet (every loss type, distance and facet reduction, all-zero facets,
//    summing, weights) against values worked out by hand for small tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "support/test_support.h"
#include "stagehand/encoder.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/model.h"
#include "stagehand/registry.h"

using namespace stagehand;
using torch::Tensor;

namespace {

using sh_test::error_of;

Registry& registry() {
  static Registry* reg = [] {
    auto* r = new Registry;
    static PluginLoader loader(*r);
    for (const char* name : {"encoder_transformer", "model_embedder", "loss_triplet"})
      loader.load(std::string(STAGEHAND_PLUGIN_DIR) + "/" + name + ".so", "test");
    return r;
  }();
  return *reg;
}

BuildContext context(uint64_t seed = 1) {
  BuildContext ctx;
  ctx.registry = &registry();
  ctx.seed = seed;
  return ctx;
}

template <class T>
std::shared_ptr<T> make(const std::string& yaml, uint64_t seed = 1) {
  return registry().create<T>(parse_yaml(yaml, "test"), context(seed));
}

const char* kBase =
    "{type: transformer, vocab_size: 50, hidden_size: 16, num_layers: 3, num_heads: 2, intermediate_size: 32, "
    "max_positions: 32, hidden_dropout: 0, attention_dropout: 0}";

std::string multifacet(const std::string& options) {
  return "{type: multifacet_transformer, base: " + std::string(kBase) + ", " + options + "}";
}

EncoderInput input() {
  EncoderInput in;
  in.input_ids = torch::tensor({{1, 7, 8, 9, 4, 0}, {1, 10, 11, 4, 0, 0}}, torch::kLong);
  in.attention_mask = torch::tensor({{1, 1, 1, 1, 1, 0}, {1, 1, 1, 1, 0, 0}}, torch::kLong);
  return in;
}

Tensor param(Encoder& e, const std::string& name) {
  auto p = e.named_parameters(true);
  const Tensor* t = p.find(name);
  EXPECT_NE(t, nullptr) << name;
  return t ? *t : Tensor();
}

bool close(const Tensor& a, const Tensor& b, double tol = 1e-5) {
  return a.sizes() == b.sizes() && torch::allclose(a, b, tol, tol);
}

// ------------------------------------------------------------------------------------------------ encoder

TEST(MultifacetEncoder, WithoutFacetsItIsThePlainEncoder) {
  auto plain = make<Encoder>(kBase, 7);
  auto mf = make<Encoder>(multifacet("num_facets: 1"), 7);
  plain->eval();
  mf->eval();
  auto a = plain->encode(input()), b = mf->encode(input());
  ASSERT_EQ(a.hidden_states.size(), b.hidden_states.size());
  for (size_t i = 0; i < a.hidden_states.size(); ++i) EXPECT_TRUE(torch::equal(a.hidden_states[i], b.hidden_states[i])) << i;
  // Nothing was added, so it describes itself as the plain transformer.
  EXPECT_EQ(mf->spec().at("type").as_string(), "transformer");
  EXPECT_EQ(mf->named_parameters().size(), plain->named_parameters().size());
}

TEST(MultifacetEncoder, FacetTokensFollowClsAndTheBaseWeightsAreTheStart) {
  auto plain = make<Encoder>(kBase, 7);
  auto mf = make<Encoder>(multifacet("num_facets: 3, facet_token_ids: [5, 6]"), 7);
  plain->eval();
  mf->eval();
  for (const auto& p : plain->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), param(*mf, p.key()))) << p.key();
  // The plain encoder on [CLS] 5 6 text... equals the multifacet one on [CLS] text...
  EncoderInput manual;
  manual.input_ids = torch::tensor({{1, 5, 6, 7, 8, 9, 4, 0}, {1, 5, 6, 10, 11, 4, 0, 0}}, torch::kLong);
  manual.attention_mask = torch::tensor({{1, 1, 1, 1, 1, 1, 1, 0}, {1, 1, 1, 1, 1, 1, 0, 0}}, torch::kLong);
  auto a = plain->encode(manual), b = mf->encode(input());
  EXPECT_TRUE(close(a.last(), b.last()));
  EXPECT_TRUE(torch::equal(b.attention_mask, manual.attention_mask));
  // pool("facets") without output layers: the states at positions 0..2.
  EXPECT_TRUE(close(mf->pool(b, "facets"), a.last().narrow(1, 0, 3)));
}

TEST(MultifacetEncoder, IdentityAlternateFacetLayersGiveZeroFacetStatesAtStepZero) {
  auto mf = make<Encoder>(multifacet("num_facets: 3, add_extra_facet_layers_after: [0, 1], "
                                     "add_bert_layer_facet_layers_alternate: true, init_bert_layer_facet_layers: identity"));
  mf->eval();
  auto out = mf->encode(input());
  // hidden_states[l + 1] is block l's output, after its facet layer.
  for (int l : {0, 1}) {
    Tensor facets = out.hidden_states[l + 1].narrow(1, 0, 3);
    EXPECT_EQ(facets.abs().max().item<double>(), 0.0) << "block " << l;
    EXPECT_GT(out.hidden_states[l + 1].narrow(1, 3, 3).abs().max().item<double>(), 0.0);
  }
  // Block 2 has no facet layer: attention fills the facet positions again.
  EXPECT_GT(out.hidden_states[3].narrow(1, 0, 3).abs().max().item<double>(), 0.0);
  // Identity weights, zero biases.
  EXPECT_TRUE(torch::equal(param(*mf, "encoder.layer.0.extra_facet_layers.1.weight"), torch::eye(16)));
  EXPECT_EQ(param(*mf, "encoder.layer.1.extra_facet_layers.2.bias").abs().sum().item<double>(), 0.0);
}

TEST(MultifacetEncoder, FacetAndOutputLayersFollowTheFormulas) {
  // Facet layer after the last block (so the last hidden state shows it), normal init, not alternate; output layers
  // alternate with tanh. Compare with the plain encoder's states and the named weights.
  auto plain = make<Encoder>(kBase, 3);
  auto mf = make<Encoder>(multifacet("num_facets: 2, facet_token_ids: [5], add_extra_facet_layers_after: [2], "
                                     "init_bert_layer_facet_layers: normal, add_extra_facet_layers: true, "
                                     "add_extra_facet_layers_alternate: true, add_extra_facet_nonlinearity: true"),
                          3);
  plain->eval();
  mf->eval();
  EncoderInput manual;
  manual.input_ids = torch::tensor({{1, 5, 7, 8, 9, 4, 0}, {1, 5, 10, 11, 4, 0, 0}}, torch::kLong);
  manual.attention_mask = torch::tensor({{1, 1, 1, 1, 1, 1, 0}, {1, 1, 1, 1, 1, 0, 0}}, torch::kLong);
  Tensor h = plain->encode(manual).last();
  auto out = mf->encode(input());
  Tensor last = out.last();
  for (int n = 0; n < 2; ++n) {
    Tensor w = param(*mf, "encoder.layer.2.extra_facet_layers." + std::to_string(n) + ".weight");
    Tensor b = param(*mf, "encoder.layer.2.extra_facet_layers." + std::to_string(n) + ".bias");
    EXPECT_GT(w.std().item<double>(), 0.0);
    EXPECT_TRUE(close(last.select(1, n), h.select(1, n).matmul(w.t()) + b)) << n;
  }
  EXPECT_TRUE(close(last.narrow(1, 2, 5), h.narrow(1, 2, 5)));  // the text positions are untouched
  Tensor w0 = param(*mf, "extra_facet_layers.0.weight"), w1 = param(*mf, "extra_facet_layers.1.weight");
  Tensor mean = (w0 + w1) / 2;
  Tensor f = mf->pool(out, "facets");
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{2, 2, 16}));
  EXPECT_TRUE(close(f.select(1, 0), at::tanh(last.select(1, 0).matmul((w0 - mean).t()) + param(*mf, "extra_facet_layers.0.bias"))));
  EXPECT_TRUE(close(f.select(1, 1), at::tanh(last.select(1, 1).matmul((w1 - mean).t()) + param(*mf, "extra_facet_layers.1.bias"))));
}

TEST(MultifacetEncoder, SpecRebuildsTheArchitecture) {
  auto mf = make<Encoder>(multifacet("num_facets: 3, add_extra_facet_layers_after: [1], add_extra_facet_layers: true"));
  ConfigNode spec = mf->spec();
  EXPECT_EQ(spec.at("type").as_string(), "multifacet_transformer");
  EXPECT_EQ(spec.at("base").at("type").as_string(), "transformer");
  auto again = registry().create<Encoder>(spec, context(99));
  auto a = mf->named_parameters(), b = again->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) EXPECT_EQ(b.find(p.key())->sizes(), p.value().sizes()) << p.key();
}

TEST(MultifacetEncoder, BadOptionsAreNamed) {
  EXPECT_NE(error_of([] { make<Encoder>(multifacet("num_facets: 3, facet_token_ids: [5]")); })
                .find("facet_token_ids has 1 id(s) but num_facets 3 needs 2"),
            std::string::npos);
  EXPECT_NE(error_of([] { make<Encoder>(multifacet("num_facets: 2, facet_token_ids: [50]")); })
                .find("facet token id 50 is outside the vocabulary [0, 50)"),
            std::string::npos);
  EXPECT_NE(error_of([] { make<Encoder>(multifacet("add_extra_facet_layers_after: [3]")); })
                .find("has block 3 but the encoder has blocks 0..2"),
            std::string::npos);
  auto mf = make<Encoder>(multifacet("num_facets: 3"));
  EncoderInput in;
  in.input_ids = torch::ones({1, 31}, torch::kLong);
  EXPECT_NE(error_of([&] { mf->encode(in); }).find("set the dataset's max_length to at most 30"), std::string::npos);
}

// ------------------------------------------------------------------------------------------------ embedder

Batch triplet_batch() {
  Batch b;
  for (const char* p : {"query", "pos", "neg"}) {
    EncoderInput in = input();
    b.set(std::string(p) + ".input_ids", in.input_ids);
    b.set(std::string(p) + ".attention_mask", in.attention_mask);
  }
  return b;
}

TEST(Embedder, EmbedsEachTextAndSumsFacetsOnlyAtInference) {
  auto m = make<Model>("{type: embedder, pooling: facets, sum_into_single_embeddings: training_and_inference, "
                       "encoder: " + multifacet("num_facets: 3, add_extra_facet_layers: true") + "}");
  m->train();
  Batch out = m->forward(triplet_batch());
  for (const char* p : {"query", "pos", "neg"}) {
    EXPECT_EQ(out.at(std::string(p) + ".embeddings").sizes(), (std::vector<int64_t>{2, 3, 16})) << p;
    EXPECT_TRUE(torch::equal(out.at(std::string(p) + ".embeddings"), out.at(std::string(p) + ".facets")));
  }
  m->eval();
  out = m->forward(triplet_batch());
  EXPECT_EQ(out.at("query.embeddings").sizes(), (std::vector<int64_t>{2, 16}));
  EXPECT_TRUE(close(out.at("query.embeddings"), out.at("query.facets").sum(1)));

  auto cls = make<Model>(std::string("{type: embedder, pooling: cls, encoder: ") + kBase + "}");
  cls->eval();
  Batch single;
  single.set("input_ids", input().input_ids);
  single.set("attention_mask", input().attention_mask);
  Batch o = cls->forward(single);
  EXPECT_TRUE(close(o.at("embeddings"), cls->encoder()->encode(input()).last().select(1, 0)));
  EXPECT_NE(error_of([&] { cls->forward(Batch()); }).find("the batch has no input_ids"), std::string::npos);
}

// ------------------------------------------------------------------------------------------------ losses

double loss_of(const std::string& yaml, const Tensor& q, const Tensor& p, const Tensor& n,
               std::map<std::string, Tensor>* parts_out = nullptr) {
  auto loss = make<Loss>(yaml);
  Batch out;
  out.set("query.embeddings", q);
  out.set("pos.embeddings", p);
  out.set("neg.embeddings", n);
  std::map<std::string, Tensor> parts;
  double v = loss->compute(out, Batch(), parts).item<double>();
  if (parts_out) *parts_out = parts;
  return v;
}

TEST(TripletLoss, IsTorchsTripletMarginLoss) {
  // Example 1: q (0,0), p (3,4) -> d+ = ||(-3+e, -4+e)||, n (0,1) -> d- = ||(e, -1+e)||: loss = d+ - d- + 1.
  // Example 2: q (1,1), p (1,2), n (5,1): d+ ~ 1, d- ~ 4 -> 0.
  Tensor q = torch::tensor({{0.0, 0.0}, {1.0, 1.0}}, torch::kDouble);
  Tensor p = torch::tensor({{3.0, 4.0}, {1.0, 2.0}}, torch::kDouble);
  Tensor n = torch::tensor({{0.0, 1.0}, {5.0, 1.0}}, torch::kDouble);
  const double e = 1e-6;
  const double dp = std::hypot(-3 + e, -4 + e), dn = std::hypot(e, -1 + e);
  std::map<std::string, Tensor> parts;
  EXPECT_NEAR(loss_of("{type: triplet}", q, p, n, &parts), (dp - dn + 1.0 + 0.0) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(parts.at("accuracy").item<double>(), 0.5);
  EXPECT_NEAR(loss_of("{type: triplet, margin: 0.5, eps: 0}", q, p, n), (5.0 - 1.0 + 0.5) / 2, 1e-12);
  // One facet per example is accepted as (B, 1, H); more are an error naming the fix.
  EXPECT_NEAR(loss_of("{type: triplet, eps: 0}", q.unsqueeze(1), p.unsqueeze(1), n.unsqueeze(1)), (5.0 - 1.0 + 1.0) / 2,
              1e-12);
  EXPECT_NE(error_of([&] { loss_of("{type: triplet}", q.view({1, 2, 2}), p.view({1, 2, 2}), n.view({1, 2, 2})); })
                .find("use multifacet_triplet"),
            std::string::npos);
}

// One example, two facets of width 2. P's second facet is all zero (left out of every reduction).
//   Q = [(1,0), (0,1)], P = [(1,0), (0,0)], N = [(0,1), (2,0)]
// dot pairs (valid): Q.P -> {1, 0}; Q.N -> {0, 2, 1, 0}
// l2 pairs (valid):  Q-P -> {0, sqrt2}; Q-N -> {sqrt2, 1, 0, sqrt5}
Tensor fq() { return torch::tensor({{{1.0, 0.0}, {0.0, 1.0}}}, torch::kDouble); }
Tensor fp() { return torch::tensor({{{1.0, 0.0}, {0.0, 0.0}}}, torch::kDouble); }
Tensor fn() { return torch::tensor({{{0.0, 1.0}, {2.0, 0.0}}}, torch::kDouble); }

double mf_loss(const std::string& entry) {
  return loss_of("{type: multifacet_triplet, losses: [" + entry + "]}", fq(), fp(), fn());
}

double softplus(double x) { return std::log1p(std::exp(x)); }

TEST(MultifacetTripletLoss, DotReductionsWithBce) {
  const std::string e = "{loss_type: bce, distance: dot, reduction_multifacet: ";
  EXPECT_NEAR(mf_loss(e + "max}"), softplus(2.0 - 1.0), 1e-12);
  EXPECT_NEAR(mf_loss(e + "min}"), softplus(0.0 - 0.0), 1e-12);
  EXPECT_NEAR(mf_loss(e + "mean}"), softplus(0.75 - 0.5), 1e-12);
  const double lse_pos = std::log(std::exp(1.0) + 1.0), lse_neg = std::log(3.0 + std::exp(2.0) + std::exp(1.0) - 1.0);
  EXPECT_NEAR(mf_loss(e + "logsumexp}"), softplus(lse_neg - lse_pos), 1e-12);
}

TEST(MultifacetTripletLoss, L2WithMarginAndTheOtherTypes) {
  const double r2 = std::sqrt(2.0), r5 = std::sqrt(5.0);
  // margin on l2: max(0, d+ - d- + m)
  EXPECT_NEAR(mf_loss("{loss_type: margin, distance: l2, reduction_multifacet: max}"), std::max(0.0, r2 - r5 + 1.0), 1e-12);
  EXPECT_NEAR(mf_loss("{loss_type: margin, distance: l2-norm, margin: 0.5, reduction_multifacet: min}"), 0.5, 1e-12);
  EXPECT_NEAR(mf_loss("{loss_type: margin, distance: l2, reduction_multifacet: mean}"),
              std::max(0.0, r2 / 2 - (r2 + 1 + 0 + r5) / 4 + 1.0), 1e-12);
  // margin on dot (a similarity): max(0, s- - s+ + m)
  EXPECT_NEAR(mf_loss("{loss_type: margin, distance: dot, reduction_multifacet: max}"), 2.0 - 1.0 + 1.0, 1e-12);
  // bce on l2 scores s = -d
  EXPECT_NEAR(mf_loss("{loss_type: bce, distance: l2, reduction_multifacet: max}"), softplus(-r5 + r2), 1e-12);
  // simple_ce: -log sigmoid(s+) - log sigmoid(-s-) = softplus(-s+) + softplus(s-)
  EXPECT_NEAR(mf_loss("{loss_type: simple_ce, distance: dot, reduction_multifacet: mean}"), softplus(-0.5) + softplus(0.75),
              1e-12);
  EXPECT_NEAR(mf_loss("{loss_type: simple_ce, distance: l2, reduction_multifacet: min}"), softplus(0.0) + softplus(0.0),
              1e-12);
}

TEST(MultifacetTripletLoss, SummingWeightsAllZeroFacetsAndBatchReduction) {
  // Summed: q = (1,1), p = (1,0), n = (2,1): dot+ 1, dot- 3.
  EXPECT_NEAR(mf_loss("{loss_type: bce, distance: dot, sum_into_single_embeddings: true}"), softplus(2.0), 1e-12);
  // The README's list: 0.9 x summed + 0.1 x max over facet pairs, each reported by name.
  std::map<std::string, Tensor> parts;
  double total = loss_of(
      "{type: multifacet_triplet, losses: [{name: original, weight: 0.9, loss_type: bce, distance: dot, "
      "reduction_multifacet: max, sum_into_single_embeddings: true}, {name: no_sum, weight: 0.1, loss_type: bce, "
      "distance: dot, reduction_multifacet: max, sum_into_single_embeddings: false}]}",
      fq(), fp(), fn(), &parts);
  EXPECT_NEAR(total, 0.9 * softplus(2.0) + 0.1 * softplus(1.0), 1e-12);
  EXPECT_NEAR(parts.at("original").item<double>(), softplus(2.0), 1e-12);
  EXPECT_NEAR(parts.at("no_sum").item<double>(), softplus(1.0), 1e-12);
  // A query whose facets are all zero has no valid pair: both values are 0, bce = log 2 (and no NaN gradient).
  Tensor zq = torch::zeros({1, 2, 2}, torch::kDouble).requires_grad_(true);
  for (const char* red : {"max", "min", "mean", "logsumexp"}) {
    auto loss = make<Loss>(std::string("{type: multifacet_triplet, losses: [{loss_type: bce, distance: dot, "
                                       "reduction_multifacet: ") + red + "}]}");
    Batch out;
    out.set("query.embeddings", zq);
    out.set("pos.embeddings", fp());
    out.set("neg.embeddings", fn());
    std::map<std::string, Tensor> ps;
    Tensor l = loss->compute(out, Batch(), ps);
    EXPECT_NEAR(l.item<double>(), std::log(2.0), 1e-12) << red;
    l.backward();
    EXPECT_TRUE(torch::isfinite(zq.grad()).all().item<bool>()) << red;
    zq.grad().zero_();
  }
  // reduction over the batch: sum of two copies is twice the mean.
  Tensor q2 = at::cat({fq(), fq()}), p2 = at::cat({fp(), fp()}), n2 = at::cat({fn(), fn()});
  EXPECT_NEAR(loss_of("{type: multifacet_triplet, losses: [{reduction: sum}]}", q2, p2, n2), 2 * softplus(1.0), 1e-12);
  // Facets given apart from the embeddings (the embedder at inference) are what the loss reads.
  auto loss = make<Loss>("{type: multifacet_triplet, losses: [{}]}");
  Batch out;
  out.set("query.embeddings", fq().sum(1));
  out.set("query.facets", fq());
  out.set("pos.embeddings", fp());
  out.set("neg.embeddings", fn());
  std::map<std::string, Tensor> ps;
  EXPECT_NEAR(loss->compute(out, Batch(), ps).item<double>(), softplus(1.0), 1e-12);
}

TEST(MultifacetTripletLoss, BadEntriesAreNamed) {
  EXPECT_NE(error_of([] { make<Loss>("{type: multifacet_triplet, losses: [{loss_type: hinge}]}"); })
                .find("entry 1 has loss_type: 'hinge'; expected one of bce | margin | simple_ce"),
            std::string::npos);
  EXPECT_NE(error_of([] { make<Loss>("{type: multifacet_triplet, losses: [{weigth: 1}]}"); })
                .find("unknown key 'weigth'"),
            std::string::npos);
  EXPECT_NE(error_of([] { make<Loss>("{type: multifacet_triplet, losses: []}"); }).find("non-empty list"),
            std::string::npos);
  EXPECT_NE(error_of([] { make<Loss>("{type: multifacet_triplet, losses: [{name: a}, {name: a}]}"); })
                .find("two entries are named 'a'"),
            std::string::npos);
}

}  // namespace
