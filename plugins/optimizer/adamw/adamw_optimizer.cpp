// SPDX-License-Identifier: Apache-2.0
// Optimizer `adamw`: torch::optim::AdamW (decoupled weight decay). The defaults are ELECTRA's fine-tuning ones:
// weight decay 0.01 and eps 1e-6, no decay on biases and LayerNorm.
#include <torch/optim/adamw.h>

#include <stagehand/plugin.h>

#include "../common/torch_optimizer.h"

namespace stagehand {
namespace {

std::shared_ptr<Optimizer> make_adamw(const Options& o) {
  const std::string owner = "optimizer/adamw";
  const auto [beta1, beta2] = optimizer_common::read_betas(o.get<std::vector<double>>("betas"), owner);
  const double weight_decay = o.get<double>("weight_decay");
  const double eps = o.get<double>("eps");
  const bool amsgrad = o.get<bool>("amsgrad");
  auto make = [=](double lr, bool decay) {
    return torch::optim::AdamWOptions(lr)
        .betas({beta1, beta2})
        .eps(eps)
        .weight_decay(decay ? weight_decay : 0.0)
        .amsgrad(amsgrad);
  };
  return std::make_shared<optimizer_common::TorchOptimizer<torch::optim::AdamW, torch::optim::AdamWOptions>>(
      "adamw", o.get<double>("lr"), o.get<bool>("exclude_from_decay"), make);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::ConfigNode;
  registrar
      .add<stagehand::Optimizer>(
          "adamw", "AdamW (decoupled weight decay), LibTorch's torch::optim::AdamW",
          stagehand::Schema()
              .required("lr", stagehand::OptionType::Float, "base learning rate (peak of the schedule), e.g. 5e-4")
              .min(0)
              .opt("weight_decay", 0.01, "decoupled weight decay of the parameters that decay")
              .min(0)
              .list("betas", stagehand::OptionType::Float,
                    ConfigNode::sequence({ConfigNode::of(0.9), ConfigNode::of(0.999)}),
                    "Adam's (beta1, beta2) moving-average coefficients")
              .opt("eps", 1e-6, "added to the denominator (1e-6 as ELECTRA)")
              .min(0)
              .opt("amsgrad", false, "use the AMSGrad variant")
              .opt("exclude_from_decay", true, "no weight decay on biases and LayerNorm/norm parameters"),
          [](const stagehand::Options& o) { return stagehand::make_adamw(o); })
      .with_example(stagehand::parse_yaml("{type: adamw, lr: 5.0e-4}", "example"));
}
