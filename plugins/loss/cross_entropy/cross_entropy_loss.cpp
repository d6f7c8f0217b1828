// SPDX-License-Identifier: Apache-2.0
// Loss `cross_entropy`: softmax cross-entropy of class logits against integer labels, with torch's label
// smoothing, class weights and ignore_index. Token-level targets ((B, T, C) logits, (B, T) labels) work too.
#include <torch/nn/functional/loss.h>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/loss_targets.h>

#include "class_weights_option.h"

namespace stagehand {
namespace {

namespace F = torch::nn::functional;

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(const Options& o)
      : logits_(o.get<std::string>("logits")),
        labels_(o.get<std::string>("labels")),
        label_smoothing_(o.get<double>("label_smoothing")),
        ignore_index_(o.get<int64_t>("ignore_index")),
        class_weights_(cross_entropy::read_class_weights(o)) {}

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
      .with_facts(stagehand::cross_entropy::facts);
}
