// SPDX-License-Identifier: Apache-2.0
// Loss `mlm`: masked-language-model cross-entropy. A model either gathers the masked positions itself and
// returns `mlm_logits` (M, V) with matching `mlm_labels` (M), or returns (B, T, V) logits against (B, T) labels
// with ignore_index at the unmasked positions; both take the same path.
#include <torch/nn/functional/loss.h>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/loss_targets.h>

namespace stagehand {
namespace {

namespace F = torch::nn::functional;

class MlmLoss : public Loss {
 public:
  explicit MlmLoss(const Options& o)
      : logits_(o.get<std::string>("logits")),
        labels_(o.get<std::string>("labels")),
        label_smoothing_(o.get<double>("label_smoothing")),
        ignore_index_(o.get<int64_t>("ignore_index")) {}

  torch::Tensor compute(const Batch& outputs, const Batch& batch,
                        std::map<std::string, torch::Tensor>& parts) override {
    static const std::string kOwner = "loss/mlm";
    auto [logits, labels] = sdk::flatten_class_targets(
        sdk::find_tensor(outputs, batch, logits_, kOwner, "logits"),
        sdk::find_tensor(outputs, batch, labels_, kOwner, "labels"), kOwner);
    parts["mlm_accuracy"] = sdk::accuracy(logits, labels, ignore_index_);
    // A batch in which nothing was masked (possible with tiny batches) must not turn the loss into 0/0.
    if (!(labels != ignore_index_).any().item<bool>()) return logits.sum() * 0.0;
    return F::cross_entropy(
        logits, labels, F::CrossEntropyFuncOptions().ignore_index(ignore_index_).label_smoothing(label_smoothing_));
  }

 private:
  std::string logits_, labels_;
  double label_smoothing_;
  int64_t ignore_index_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Loss>(
      "mlm", "masked-language-model cross-entropy over the masked positions; reports mlm_accuracy",
      stagehand::Schema()
          .opt("logits", std::string("mlm_logits"), "name of the (M, V) or (B, T, V) vocabulary logits output")
          .opt("labels", std::string("mlm_labels"),
               "name of the (M) or (B, T) original token ids (model outputs first, then the batch)")
          .opt("label_smoothing", 0.0, "mass spread uniformly over the vocabulary, as torch's cross_entropy")
          .min(0)
          .max(1)
          .opt("ignore_index", int64_t{-100}, "label value of positions that were not masked"),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::MlmLoss>(o); });
}
