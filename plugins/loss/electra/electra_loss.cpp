// SPDX-License-Identifier: Apache-2.0
// Loss `electra`: ELECTRA's pretraining objective, generator_weight * L_MLM + discriminator_weight * L_RTD
// (1 and 50 in the paper), over the outputs of the `electra` model:
//   L_MLM = mean cross-entropy of mlm_logits (M, V) against mlm_labels (M) over the masked positions;
//   L_RTD = sum_t w_t * BCEWithLogits(rtd_logits_t, rtd_labels_t) / sum_t w_t, w = rtd_weights (1 on every
//           real token, [CLS] and [SEP] included, 0 on padding), as _get_discriminator_output computes it.
// Parts logged: mlm, rtd, mlm_accuracy, rtd_accuracy (sign of the logit vs the label over real tokens) and
// replaced (the fraction of real tokens the generator replaced; it rises towards the masking rate as the
// generator gets worse and falls as it learns).
#include <torch/nn/functional/loss.h>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/loss_targets.h>

namespace stagehand {
namespace {

namespace F = torch::nn::functional;

class ElectraLoss : public Loss {
 public:
  explicit ElectraLoss(const Options& o)
      : gen_weight_(o.get<double>("generator_weight")), disc_weight_(o.get<double>("discriminator_weight")) {}

  torch::Tensor compute(const Batch& outputs, const Batch& batch,
                        std::map<std::string, torch::Tensor>& parts) override {
    static const std::string kOwner = "loss/electra";
    using sdk::find_tensor;
    const auto& mlm_logits = find_tensor(outputs, batch, "mlm_logits", kOwner, "mlm_logits");
    const auto& mlm_labels = find_tensor(outputs, batch, "mlm_labels", kOwner, "mlm_labels");
    const auto& rtd_logits = find_tensor(outputs, batch, "rtd_logits", kOwner, "rtd_logits");
    const auto& rtd_labels = find_tensor(outputs, batch, "rtd_labels", kOwner, "rtd_labels");
    const auto& weights = find_tensor(outputs, batch, "rtd_weights", kOwner, "rtd_weights");
    SH_CHECK(rtd_logits.sizes() == rtd_labels.sizes() && rtd_logits.sizes() == weights.sizes(),
             "loss/electra: rtd_logits {}, rtd_labels {} and rtd_weights {} must have the same shape; use the "
             "electra model's outputs",
             sdk::shape(rtd_logits), sdk::shape(rtd_labels), sdk::shape(weights));

    torch::Tensor mlm = mlm_labels.numel() > 0 ? F::cross_entropy(mlm_logits.to(torch::kFloat), mlm_labels)
                                               : mlm_logits.sum() * 0.0;
    torch::Tensor w = weights.to(torch::kFloat);
    torch::Tensor per_token = F::binary_cross_entropy_with_logits(
        rtd_logits.to(torch::kFloat), rtd_labels.to(torch::kFloat),
        F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
    torch::Tensor denom = w.sum().clamp_min(1.0);
    torch::Tensor rtd = (per_token * w).sum() / denom;

    {
      torch::NoGradGuard ng;
      parts["mlm"] = mlm.detach();
      parts["rtd"] = rtd.detach();
      if (mlm_labels.numel() > 0) parts["mlm_accuracy"] = sdk::accuracy(mlm_logits, mlm_labels, -100);
      torch::Tensor correct = (rtd_logits.gt(0).to(torch::kFloat) == rtd_labels.to(torch::kFloat)).to(torch::kFloat);
      parts["rtd_accuracy"] = (correct * w).sum() / denom;
      parts["replaced"] = (rtd_labels.to(torch::kFloat) * w).sum() / denom;
    }
    return gen_weight_ * mlm + disc_weight_ * rtd;
  }

 private:
  double gen_weight_, disc_weight_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Loss>(
      "electra",
      "ELECTRA: generator_weight x MLM cross-entropy + discriminator_weight x replaced-token-detection BCE",
      stagehand::Schema()
          .opt("generator_weight", 1.0, "weight of the generator's masked-language-model loss (ELECTRA: 1)")
          .min(0)
          .opt("discriminator_weight", 50.0, "weight of the discriminator's replaced-token-detection loss (ELECTRA: 50)")
          .min(0),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::ElectraLoss>(o); });
}
