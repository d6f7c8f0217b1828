// SPDX-License-Identifier: Apache-2.0
// Evaluator `ner`: entity-level exact-match precision, recall and F1, as seqeval's default mode (its
// precision_score / recall_score / f1_score and classification_report without mode="strict"), which equals
// conlleval's scores for BIO tags.
//
// Every word gets a predicted tag: the argmax of the logits at its first sub-token (`word_starts`). A word that
// truncation left without a sub-token (word_starts -1) is predicted "O", so truncation costs recall, honestly,
// instead of dropping gold entities from the count. Gold tags come from `word_labels` (-1 = padding).
// Sentences are joined with an "O" between them (so no entity crosses a sentence), entities are read from the
// gold and the predicted tags with the chunk rules of stagehand/sdk/tag_scheme.h (BIO, IOB1, BIOES alike: a BIOES-trained
// model is scored on its own predicted tags with the same rules), and an entity is (type, first word, last word).
//   precision = |gold ∩ pred| / |pred|,  recall = |gold ∩ pred| / |gold|,  f1 = 2PR / (P + R)
// micro-averaged over types, 0 where a denominator is 0. Per type: precision.<type>, recall.<type>, f1.<type>
// and support.<type> (gold entities), for every type of the label set ("_" names the anonymous type of untyped
// B/I tags, as in seqeval). accuracy is the fraction of words whose predicted tag equals the gold tag; entities
// and predicted_entities count the gold and predicted entities.
#include <algorithm>
#include <map>
#include <set>

#include <torch/types.h>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/tag_scheme.h>

namespace stagehand {
namespace {

const std::string kOwner = "evaluator/ner";

double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

class NerEvaluator : public Evaluator {
 public:
  explicit NerEvaluator(const Options& o)
      : logits_(o.get<std::string>("logits")),
        word_starts_(o.get<std::string>("word_starts")),
        word_labels_(o.get<std::string>("word_labels")),
        primary_(o.get<std::string>("primary")) {
    static const std::set<std::string> kGlobal = {"f1", "precision", "recall", "accuracy"};
    const bool per_type = primary_.rfind("f1.", 0) == 0 || primary_.rfind("precision.", 0) == 0 ||
                          primary_.rfind("recall.", 0) == 0;
    SH_CHECK(kGlobal.count(primary_) || per_type,
             "{}: option 'primary' is '{}'; expected f1, precision, recall, accuracy, or a per-type f1.<type> / "
             "precision.<type> / recall.<type>",
             kOwner, primary_);
  }

  void set_labels(const std::vector<std::string>& labels) override {
    tags_.clear();
    outside_ = -1;
    types_.clear();
    for (size_t i = 0; i < labels.size(); ++i) {
      ner::Tag t;
      SH_CHECK(ner::parse_tag(labels[i], t),
               "{}: label {} is '{}', which is not a chunk tag; expected O, B-<type>, I-<type>, E-<type>, S-<type> "
               "or untyped B, I, E, S (a token_classification dataset gives such labels)",
               kOwner, i, labels[i]);
      if (t.prefix == 'O') outside_ = static_cast<int64_t>(i);
      else types_.insert(t.type);
      tags_.push_back(std::move(t));
    }
    SH_CHECK(outside_ >= 0, "{}: the labels ({}) have no 'O'; entity scoring needs the outside tag", kOwner,
             fmt::join(labels, ", "));
  }

  void reset() override {
    gold_.clear();
    pred_.clear();
    sentence_ends_.clear();
  }

  void add(const Batch& outputs, const Batch& batch) override {
    SH_CHECK(!tags_.empty(),
             "{}: no label names; the train and evaluate stages give the dataset's labels (use a "
             "token_classification dataset), or call set_labels first",
             kOwner);
    SH_CHECK(outputs.has(logits_), "{}: the model outputs have no '{}'; expected (B, T, C) token logits (option "
             "'logits' names the output)", kOwner, logits_);
    for (const auto& name : {word_starts_, word_labels_})
      SH_CHECK(batch.has(name),
               "{}: the batch has no '{}'; expected (B, W) word tensors as a token_classification dataset makes them "
               "(options 'word_starts' and 'word_labels' name them)",
               kOwner, name);
    torch::NoGradGuard no_grad;
    // float32 first: under bf16 autocast the logits arrive as bfloat16, which not every CPU argmax kernel takes.
    torch::Tensor logits = outputs.at(logits_).detach().to(torch::kCPU, torch::kFloat32);
    torch::Tensor starts = batch.at(word_starts_).detach().to(torch::kCPU).to(torch::kLong).contiguous();
    torch::Tensor gold = batch.at(word_labels_).detach().to(torch::kCPU).to(torch::kLong).contiguous();
    SH_CHECK(logits.dim() == 3, "{}: '{}' has shape ({}); expected (B, T, C) token logits", kOwner, logits_,
             fmt::join(logits.sizes(), ", "));
    SH_CHECK(starts.dim() == 2 && gold.sizes() == starts.sizes() && starts.size(0) == logits.size(0),
             "{}: '{}' ({}) and '{}' ({}) must both be (B, W) with the logits' B = {}", kOwner, word_starts_,
             fmt::join(starts.sizes(), ", "), word_labels_, fmt::join(gold.sizes(), ", "), logits.size(0));
    const int64_t num_tags = static_cast<int64_t>(tags_.size());
    SH_CHECK(logits.size(2) == num_tags, "{}: the logits have {} classes but there are {} labels ({}); the model's "
             "num_labels must match the dataset", kOwner, logits.size(2), num_tags, label_list());
    torch::Tensor argmax = logits.argmax(-1).to(torch::kLong).contiguous();  // (B, T)
    const int64_t b = starts.size(0), w = starts.size(1), t = argmax.size(1);
    const int64_t* s_p = starts.data_ptr<int64_t>();
    const int64_t* g_p = gold.data_ptr<int64_t>();
    const int64_t* a_p = argmax.data_ptr<int64_t>();
    for (int64_t r = 0; r < b; ++r) {
      for (int64_t k = 0; k < w; ++k) {
        const int64_t g = g_p[r * w + k];
        if (g < 0) continue;  // padding
        SH_CHECK(g < num_tags, "{}: gold label id {} is out of range for the {} labels", kOwner, g, num_tags);
        const int64_t s = s_p[r * w + k];
        SH_CHECK(s < t, "{}: word start {} is past the {} token positions of the logits", kOwner, s, t);
        gold_.push_back(static_cast<int32_t>(g));
        pred_.push_back(static_cast<int32_t>(s < 0 ? outside_ : a_p[r * t + s]));
      }
      sentence_ends_.push_back(gold_.size());
    }
  }

  std::map<std::string, double> compute() const override {
    std::map<std::string, double> m;
    // Entities per sentence (positions numbered over the whole split, so that equal spans of different
    // sentences differ), as if sentences were joined with an O between them.
    std::vector<ner::Chunk> gold_chunks, pred_chunks;
    std::vector<ner::Tag> g_tags, p_tags;
    size_t start = 0;
    int64_t correct = 0;
    for (size_t end : sentence_ends_) {
      g_tags.clear();
      p_tags.clear();
      for (size_t i = start; i < end; ++i) {
        g_tags.push_back(tags_[static_cast<size_t>(gold_[i])]);
        p_tags.push_back(tags_[static_cast<size_t>(pred_[i])]);
        correct += gold_[i] == pred_[i];
      }
      ner::append_chunks(g_tags, static_cast<int64_t>(start), gold_chunks);
      ner::append_chunks(p_tags, static_cast<int64_t>(start), pred_chunks);
      start = end;
    }
    std::sort(gold_chunks.begin(), gold_chunks.end());
    std::sort(pred_chunks.begin(), pred_chunks.end());
    std::vector<ner::Chunk> both;
    std::set_intersection(gold_chunks.begin(), gold_chunks.end(), pred_chunks.begin(), pred_chunks.end(),
                          std::back_inserter(both));
    std::map<std::string, double> tp, n_gold, n_pred;
    for (const auto& type : types_) tp[type] = n_gold[type] = n_pred[type] = 0;
    for (const auto& c : both) tp[c.type] += 1;
    for (const auto& c : gold_chunks) n_gold[c.type] += 1;
    for (const auto& c : pred_chunks) n_pred[c.type] += 1;
    const double p = ratio(static_cast<double>(both.size()), static_cast<double>(pred_chunks.size()));
    const double r = ratio(static_cast<double>(both.size()), static_cast<double>(gold_chunks.size()));
    m["precision"] = p;
    m["recall"] = r;
    m["f1"] = ratio(2 * p * r, p + r);
    m["accuracy"] = ratio(static_cast<double>(correct), static_cast<double>(gold_.size()));
    m["entities"] = static_cast<double>(gold_chunks.size());
    m["predicted_entities"] = static_cast<double>(pred_chunks.size());
    for (const auto& [type, support] : n_gold) {
      const std::string name = ner::type_display(type);
      const double tp_t = tp[type];
      const double pt = ratio(tp_t, n_pred[type]), rt = ratio(tp_t, support);
      m["precision." + name] = pt;
      m["recall." + name] = rt;
      m["f1." + name] = ratio(2 * pt * rt, pt + rt);
      m["support." + name] = support;
    }
    return m;
  }

  std::string primary_metric() const override { return primary_; }

 private:
  std::string label_list() const {
    std::string s;
    for (const auto& t : tags_) s += (s.empty() ? "" : ", ") + ner::tag_name(t.prefix, t.type);
    return s;
  }

  std::string logits_, word_starts_, word_labels_, primary_;
  std::vector<ner::Tag> tags_;
  std::set<std::string> types_;
  int64_t outside_ = -1;
  std::vector<int32_t> gold_, pred_;
  std::vector<size_t> sentence_ends_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Evaluator>(
      "ner",
      "entity-level precision/recall/F1 (micro and per type) and word accuracy of tagged words, as seqeval/conlleval",
      stagehand::Schema()
          .opt("logits", std::string("logits"), "name of the (B, T, C) token logits in the model outputs")
          .opt("word_starts", std::string("word_starts"),
               "name of the (B, W) token position of each word's first sub-token (-1: truncated word, predicted O)")
          .opt("word_labels", std::string("word_labels"), "name of the (B, W) gold tag id of each word (-1: padding)")
          .opt("primary", std::string("f1"),
               "metric for model selection and early stopping: f1, precision, recall, accuracy, or f1.<type>, ..."),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::NerEvaluator>(o); });
}
