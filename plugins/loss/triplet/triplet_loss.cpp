// SPDX-License-Identifier: Apache-2.0
// Triplet objectives over query / positive / negative embeddings (the `embedder` model's query.embeddings,
// pos.embeddings, neg.embeddings, or query.facets ... with facets).
//
// Loss `triplet`: SPECTER's loss, torch.nn.TripletMarginLoss(margin, p): mean over the batch of
//   max(0, d(q, p) - d(q, n) + margin),  d(x, y) = || x - y + eps ||_p  (F.pairwise_distance, eps 1e-6).
//
// Loss `multifacet_triplet`: Multi²SPE's MultiFacetTripletLoss list (train.py, its README's --loss_config). Each
// entry of `losses` computes, for every example, a value d for (query, pos) and for (query, neg):
//   facets Q (B, Kq, H), P (B, Kp, H); with sum_into_single_embeddings each is first summed to K = 1;
//   distance dot: Q P^T (B, Kq, Kp) (a similarity); l2: the L2 distances (torch.cdist);
//   facet vectors that are all zero are left out, and the Kq x Kp values are reduced with
//   reduction_multifacet max | min | mean | logsumexp (an example without any non-zero facet pair gets 0);
// then, with s = d for dot and s = -d for l2 (higher s = closer):
//   bce        softplus(s_neg - s_pos)          (= cross-entropy of logits [d_neg, d_pos] with target 1)
//   margin     max(0, s_neg - s_pos + margin)   (= max(0, d_pos - d_neg + margin) for l2)
//   simple_ce  -log sigmoid(s_pos) - log sigmoid(-s_neg)
// averaged (reduction mean) or summed over the batch; the total is sum_i weight_i * loss_i.
// Deliberate fix of a quirk of the reference [Q]: it applies the formulas to the raw d for both distances, which
// inverts margin with dot and bce/simple_ce with l2. For the combinations the reference actually uses (bce with
// dot, margin with l2) the two agree exactly.
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/functional/distance.h>
#include <torch/types.h>

#include <fmt/format.h>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/loss_targets.h>

namespace stagehand {
namespace {

using torch::Tensor;
namespace F = torch::nn::functional;

/// (B, H) or (B, K, H) -> (B, K, H).
Tensor as_facets(const Tensor& t, const std::string& owner, const std::string& name) {
  SH_CHECK(t.dim() == 2 || t.dim() == 3, "{}: '{}' must be (batch, hidden) or (batch, facets, hidden), got {} dims",
           owner, name, t.dim());
  return t.dim() == 2 ? t.unsqueeze(1) : t;
}

class TripletLoss : public Loss {
 public:
  explicit TripletLoss(const Options& o)
      : margin_(o.get<double>("margin")), p_(o.get<double>("p")), eps_(o.get<double>("eps")) {}

  Tensor compute(const Batch& outputs, const Batch& batch, std::map<std::string, Tensor>& parts) override {
    Tensor q = single(outputs, batch, "query"), p = single(outputs, batch, "pos"), n = single(outputs, batch, "neg");
    auto opts = F::PairwiseDistanceFuncOptions().p(p_).eps(eps_);
    Tensor d_pos = F::pairwise_distance(q, p, opts), d_neg = F::pairwise_distance(q, n, opts);
    parts["accuracy"] = (d_pos < d_neg).to(torch::kFloat).mean().detach();
    return at::relu(d_pos - d_neg + margin_).mean();
  }

 private:
  static Tensor single(const Batch& outputs, const Batch& batch, const std::string& who) {
    const std::string name = who + ".embeddings";
    Tensor t = sdk::find_tensor(outputs, batch, name, "loss/triplet", who);
    if (t.dim() == 3) {
      SH_CHECK(t.size(1) == 1,
               "loss/triplet: '{}' has {} facets per example; this loss compares one vector per paper: use "
               "multifacet_triplet, or sum the facets",
               name, t.size(1));
      t = t.squeeze(1);
    }
    SH_CHECK(t.dim() == 2, "loss/triplet: '{}' must be (batch, hidden), got {} dims", name, t.dim());
    return t;
  }
  double margin_, p_, eps_;
};

struct Entry {
  std::string name;
  double weight = 1.0;
  std::string loss_type = "bce";
  double margin = 1.0;
  std::string distance = "dot";
  std::string reduction = "mean";
  std::string reduction_multifacet = "max";
  bool sum = false;
};

std::string entry_string(const ConfigNode& n, const char* key, const std::string& fallback,
                         const std::vector<std::string>& choices, const std::string& where) {
  const ConfigNode* v = n.find(key);
  if (!v || v->is_null()) return fallback;
  std::string s = v->as_string();
  bool ok = choices.empty();
  for (const auto& c : choices) ok = ok || c == s;
  if (!ok)
    SH_FAIL_AT(v->location(), "loss/multifacet_triplet: {} has {}: '{}'; expected one of {}", where, key, s,
               fmt::join(choices, " | "));
  return s;
}

class MultifacetTripletLoss : public Loss {
 public:
  explicit MultifacetTripletLoss(const Options& o) {
    const ConfigNode& list = o.node("losses");
    SH_CHECK(list.is_sequence() && list.size() > 0,
             "loss/multifacet_triplet: `losses` must be a non-empty list of entries such as {{name: original, "
             "weight: 0.9, loss_type: bce, distance: dot, reduction_multifacet: max, "
             "sum_into_single_embeddings: true}}");
    static const std::vector<std::string> kKeys = {"name", "weight", "loss_type", "margin", "distance", "reduction",
                                                   "reduction_multifacet", "sum_into_single_embeddings",
                                                   "use_target_token_embs", "reduction_multifacet_target"};
    for (size_t i = 0; i < list.size(); ++i) {
      const ConfigNode& n = list.items()[i];
      const std::string where = fmt::format("entry {}", i + 1);
      SH_CHECK(n.is_map(), "loss/multifacet_triplet: {} of `losses` must be a map, got a {}", where, n.type_name());
      for (const auto& [key, value] : n.entries()) {
        bool known = false;
        for (const auto& k : kKeys) known = known || k == key;
        if (!known)
          SH_FAIL_AT(value.location(), "loss/multifacet_triplet: {} has an unknown key '{}'; known keys: {}", where,
                     key, fmt::join(kKeys, ", "));
      }
      Entry e;
      e.name = entry_string(n, "name", fmt::format("loss{}", i + 1), {}, where);
      if (const ConfigNode* w = n.find("weight"); w && !w->is_null()) e.weight = w->as_double();
      if (const ConfigNode* m = n.find("margin"); m && !m->is_null()) e.margin = m->as_double();
      e.loss_type = entry_string(n, "loss_type", "bce", {"bce", "margin", "simple_ce"}, where);
      e.distance = entry_string(n, "distance", "dot", {"dot", "l2", "l2-norm"}, where);
      if (e.distance == "l2-norm") e.distance = "l2";  // the reference's spelling
      e.reduction = entry_string(n, "reduction", "mean", {"mean", "sum"}, where);
      e.reduction_multifacet =
          entry_string(n, "reduction_multifacet", "max", {"max", "min", "mean", "logsumexp"}, where);
      if (const ConfigNode* s = n.find("sum_into_single_embeddings"); s && !s->is_null()) e.sum = s->as_bool();
      if (const ConfigNode* t = n.find("use_target_token_embs"); t && !t->is_null() && t->as_bool())
        SH_FAIL_AT(t->location(),
                   "loss/multifacet_triplet: use_target_token_embs: true is not supported (the README's setup "
                   "uses false); remove it");
      if (const ConfigNode* t = n.find("reduction_multifacet_target"); t && !t->is_null())
        SH_FAIL_AT(t->location(),
                   "loss/multifacet_triplet: reduction_multifacet_target is not supported; the flattened "
                   "reduction_multifacet over all facet pairs (the README's setup) is");
      for (const auto& other : entries_)
        SH_CHECK(other.name != e.name, "loss/multifacet_triplet: two entries are named '{}'; names must differ",
                 e.name);
      entries_.push_back(e);
    }
  }

  Tensor compute(const Batch& outputs, const Batch& batch, std::map<std::string, Tensor>& parts) override {
    Tensor q = facets(outputs, batch, "query"), p = facets(outputs, batch, "pos"), n = facets(outputs, batch, "neg");
    Tensor total;
    for (const auto& e : entries_) {
      Tensor qq = e.sum ? q.sum(1, true) : q, pp = e.sum ? p.sum(1, true) : p, nn = e.sum ? n.sum(1, true) : n;
      Tensor d_pos = reduce(pair_values(qq, pp, e.distance), e.reduction_multifacet);
      Tensor d_neg = reduce(pair_values(qq, nn, e.distance), e.reduction_multifacet);
      Tensor s_pos = e.distance == "dot" ? d_pos : -d_pos, s_neg = e.distance == "dot" ? d_neg : -d_neg;
      Tensor per;
      if (e.loss_type == "bce") {
        per = at::softplus(s_neg - s_pos);
      } else if (e.loss_type == "margin") {
        per = at::relu(s_neg - s_pos + e.margin);
      } else {
        per = -at::log_sigmoid(s_pos) - at::log_sigmoid(-s_neg);
      }
      Tensor l = e.reduction == "mean" ? per.mean() : per.sum();
      parts[e.name] = l.detach();
      total = total.defined() ? total + e.weight * l : e.weight * l;
    }
    return total;
  }

  /// Values of every facet pair, (B, Kq, Kp), with a mask of the pairs whose facets are both non-zero.
  static std::pair<Tensor, Tensor> pair_values(const Tensor& a, const Tensor& b, const std::string& distance) {
    Tensor v = distance == "dot" ? at::bmm(a, b.transpose(1, 2)) : at::cdist(a, b);
    Tensor nz_a = a.abs().sum(-1) != 0, nz_b = b.abs().sum(-1) != 0;  // (B, Kq), (B, Kp)
    Tensor valid = nz_a.unsqueeze(2).logical_and(nz_b.unsqueeze(1));
    return {v, valid};
  }

  /// Reduces (B, Kq, Kp) over the valid pairs to (B); 0 where an example has none.
  static Tensor reduce(const std::pair<Tensor, Tensor>& vm, const std::string& how) {
    const int64_t b = vm.first.size(0);
    Tensor v = vm.first.reshape({b, -1}), valid = vm.second.reshape({b, -1});
    Tensor none = valid.logical_not().all(1, true);  // (B, 1)
    // Rows without a valid pair compute on zeros (finite, so no NaN reaches the gradient) and are zeroed after.
    v = at::where(none, at::zeros_like(v), v);
    valid = valid.logical_or(none);
    Tensor r;
    if (how == "max") {
      r = std::get<0>(v.masked_fill(valid.logical_not(), -std::numeric_limits<double>::infinity()).max(1));
    } else if (how == "min") {
      r = std::get<0>(v.masked_fill(valid.logical_not(), std::numeric_limits<double>::infinity()).min(1));
    } else if (how == "mean") {
      Tensor w = valid.to(v.scalar_type());
      r = (v * w).sum(1) / w.sum(1);
    } else {
      r = v.masked_fill(valid.logical_not(), -std::numeric_limits<double>::infinity()).logsumexp(1);
    }
    return at::where(none.squeeze(1), at::zeros_like(r), r);
  }

 private:
  static Tensor facets(const Batch& outputs, const Batch& batch, const std::string& who) {
    const std::string f = who + ".facets";
    if (outputs.has(f)) return as_facets(outputs.at(f), "loss/multifacet_triplet", f);
    const std::string name = who + ".embeddings";
    return as_facets(sdk::find_tensor(outputs, batch, name, "loss/multifacet_triplet", who),
                     "loss/multifacet_triplet", name);
  }
  std::vector<Entry> entries_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar.add<Loss>(
      "triplet",
      "SPECTER's triplet margin loss: mean max(0, ||q-p+eps||_p - ||q-n+eps||_p + margin) over query/pos/neg "
      "embeddings",
      Schema()
          .opt("margin", 1.0, "the margin (SPECTER: 1)")
          .min(0)
          .opt("p", 2.0, "the norm of the distance (SPECTER: 2, L2)")
          .min(1)
          .opt("eps", 1e-6, "added to the difference before the norm, as torch's pairwise_distance")
          .min(0),
      [](const Options& o) { return std::make_shared<TripletLoss>(o); });
  registrar
      .add<Loss>("multifacet_triplet",
                 "Multi²SPE's multi-facet triplet loss: a weighted list of bce | margin | simple_ce terms over dot or "
                 "L2 facet-pair values reduced by max | min | mean | logsumexp",
                 Schema().required("losses", OptionType::List,
                                   "entries {name, weight, loss_type: bce|margin|simple_ce, margin, distance: dot|l2, "
                                   "reduction: mean|sum, reduction_multifacet: max|min|mean|logsumexp, "
                                   "sum_into_single_embeddings: bool}, as Multi²SPE's --loss_config list"),
                 [](const Options& o) { return std::make_shared<MultifacetTripletLoss>(o); })
      .with_example(parse_yaml("{type: multifacet_triplet, losses: [{name: original, weight: 0.9, loss_type: bce, "
                               "distance: dot, reduction_multifacet: max, sum_into_single_embeddings: true}, "
                               "{name: no_sum, weight: 0.1, loss_type: bce, distance: dot, reduction_multifacet: max, "
                               "sum_into_single_embeddings: false}]}",
                               "<multifacet_triplet example>"));
}
