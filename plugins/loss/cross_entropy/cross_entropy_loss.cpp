// SPDX-License-Identifier: Apache-2.0
// Loss `cross_entropy`: softmax cross-entropy of class logits against integer labels, with torch's label
// smoothing, class weights and ignore_index. Token-level targets ((B, T, C) logits, (B, T) labels) work too.
#include <torch/nn/functional/loss.h>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/loss_targets.h>

namespace stagehand {
namespace {

namespace F = torch::nn::functional;

// class_weights: null, a list of weights >= 0 (one per class), or `balanced`, which the training stage replaces by
// n / (classes * count_c) of its training split (sdk/class_weights.h) before it builds the loss. Errors point at the
// option; with num_labels known (filled from the data at planning, runner check, and again from the built data),
// the list's length is checked against it.
std::vector<double> read_class_weights(const Options& o, bool planning = false) {
  if (!o.has("class_weights")) return {};
  const ConfigNode& n = o.node("class_weights");
  if (n.is_scalar() && n.text() == "balanced" && planning) return {};
  if (n.is_scalar() && n.text() == "balanced")
    fail_at(n.location(),
            "loss/cross_entropy: class_weights is 'balanced', which the stage that trains replaces by weights from its "
            "training labels; this loss was built without that (a `train` stage does it); give a list of weights");
  if (!n.is_sequence())
    fail_at(n.location(), "loss/cross_entropy: class_weights is {}; expected a list of numbers (one weight per class), "
            "'balanced', or null", n.is_scalar() ? "'" + n.text() + "'" : std::string(n.type_name()));
  SH_CHECK(n.size() > 0, "loss/cross_entropy: option 'class_weights' is an empty list; expected one weight per class, "
           "'balanced', or null for none");
  std::vector<double> weights;
  for (const auto& item : n.items()) {
    if (!item.is_scalar() || !item.is_double())
      fail_at(item.location(), "loss/cross_entropy: class_weights has {}; expected numbers",
              item.is_scalar() ? "'" + item.text() + "'" : std::string(item.type_name()));
    if (!(item.as_double() >= 0))
      fail_at(item.location(), "loss/cross_entropy: option 'class_weights' has {}; expected weights >= 0",
              item.as_double());
    weights.push_back(item.as_double());
  }
  if (o.has("num_labels") && static_cast<int64_t>(weights.size()) != o.get<int64_t>("num_labels")) {
    const ConfigNode& k = o.node("num_labels");
    // Filled: "<from the dataset 'text_classification'>" (planning) or "<from the data>" (the built data's hints).
    const std::string from = k.location().file.rfind("<from ", 0) == 0
                                 ? "num_labels from " + k.location().file.substr(6, k.location().file.size() - 7)
                                 : "num_labels written at " + k.location().str();
    fail_at(n.location(), "loss/cross_entropy: class_weights has {} weight(s) but there are {} classes ({}); give "
            "one weight per class, in the order of the data's labels, or write class_weights: balanced",
            weights.size(), o.get<int64_t>("num_labels"), from);
  }
  return weights;
}

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(const Options& o)
      : logits_(o.get<std::string>("logits")),
        labels_(o.get<std::string>("labels")),
        label_smoothing_(o.get<double>("label_smoothing")),
        ignore_index_(o.get<int64_t>("ignore_index")),
        class_weights_(read_class_weights(o)) {}

  torch::Tensor compute(const Batch& outputs, const Batch& batch,
                        std::map<std::string, torch::Tensor>& parts) override {
    static const std::string kOwner = "loss/cross_entropy";
    auto [logits, labels] = sdk::flatten_class_targets(
        sdk::find_tensor(outputs, batch, logits_, kOwner, "logits"),
        sdk::find_tensor(outputs, batch, labels_, kOwner, "labels"), kOwner);
    auto opts = F::CrossEntropyFuncOptions().ignore_index(ignore_index_).label_smoothing(label_smoothing_);
    if (!class_weights_.empty()) {
      SH_CHECK(static_cast<int64_t>(class_weights_.size()) == logits.size(1),
               "loss/cross_entropy: option 'class_weights' has {} weights but the logits have {} classes; expected "
               "one weight per class",
               class_weights_.size(), logits.size(1));
      opts.weight(torch::tensor(class_weights_, torch::TensorOptions().dtype(torch::kDouble))
                      .to(logits.device(), logits.scalar_type()));
    }
    parts["accuracy"] = sdk::accuracy(logits, labels, ignore_index_);
    // torch's mean over zero kept labels is 0/0; a batch with nothing to predict contributes nothing instead.
    if (!(labels != ignore_index_).any().item<bool>()) return logits.sum() * 0.0;
    return F::cross_entropy(logits, labels, opts);
  }

 private:
  std::string logits_, labels_;
  double label_smoothing_;
  int64_t ignore_index_;
  std::vector<double> class_weights_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar.add<stagehand::Loss>(
      "cross_entropy", "softmax cross-entropy of class logits vs integer labels (label smoothing, class weights)",
      stagehand::Schema()
          .opt("logits", std::string("logits"), "name of the (B, C) or (B, T, C) logits tensor in the model outputs")
          .opt("labels", std::string("labels"), "name of the integer label tensor (outputs first, then the batch)")
          .opt("label_smoothing", 0.0, "mass spread uniformly over all classes, as torch's cross_entropy")
          .min(0)
          .max(1)
          .add([] {
            stagehand::OptionSpec spec;
            spec.name = "class_weights";
            spec.type = OptionType::Any;
            spec.nullable = true;
            spec.doc = "per-class weights as torch's weight argument: a list of numbers >= 0, one per class in the "
                       "order of the data's labels; or 'balanced': n_samples / (n_classes * count_c) over the "
                       "training split (scikit-learn's compute_class_weight), worked out by the train stage; null: "
                       "all 1. A list's length is checked against num_labels (runner check, when the data's classes "
                       "are known before it is built)";
            return spec;
          }())
          .optional("num_labels", OptionType::Int,
                    "the number of classes, filled from the data (leave it unset): class_weights must have as many")
          .min(1)
          .opt("ignore_index", int64_t{-100}, "labels with this value are skipped (padding, unlabelled tokens)"),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::CrossEntropyLoss>(o); })
      // No fact of its own: planning runs this once num_labels is filled, so class_weights is checked at runner check.
      .with_facts([](const stagehand::Options& o, const stagehand::FactLookup&) {
        stagehand::read_class_weights(o, /*planning=*/true);
        return stagehand::PlanFacts{};
      });
}
