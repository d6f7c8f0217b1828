// SPDX-License-Identifier: Apache-2.0
// A custom loss in one file: focal loss (Lin et al., 2017), FL = -(1 - p_t)^gamma * log(p_t), averaged over the
// batch. Built out of tree against the installed stagehand and used by name: loss: {type: focal, gamma: 2}.
#include <stagehand/model.h>
#include <stagehand/plugin.h>

namespace {

class FocalLoss final : public stagehand::Loss {
 public:
  explicit FocalLoss(const stagehand::Options& o) : gamma_(o.get<double>("gamma")) {}

  torch::Tensor compute(const stagehand::Batch& outputs, const stagehand::Batch& batch,
                        std::map<std::string, torch::Tensor>& parts) override {
    const torch::Tensor& logits = outputs.at("logits");  // (B, C)
    const torch::Tensor& labels = batch.at("labels");    // (B)
    torch::Tensor log_pt = torch::log_softmax(logits.to(torch::kFloat32), -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1);
    parts["accuracy"] = (logits.argmax(-1) == labels).to(torch::kFloat32).mean().detach();
    return (-(1 - log_pt.exp()).pow(gamma_) * log_pt).mean();
  }

 private:
  double gamma_;
};

}  // namespace

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Loss>(
      "focal", "focal loss: cross-entropy down-weighting easy examples by (1 - p_t)^gamma",
      stagehand::Schema().opt("gamma", 2.0, "focusing parameter; 0 gives plain cross-entropy").min(0),
      [](const stagehand::Options& o) { return std::make_shared<FocalLoss>(o); });
}
