// SPDX-License-Identifier: Apache-2.0
// Optimizer `adam`: torch::optim::Adam; its weight decay is the classic L2 term added to the gradient.
#include <torch/optim/adam.h>

#include <stagehand/plugin.h>

#include <stagehand/sdk/torch_optimizer.h>

namespace stagehand {
namespace {

std::shared_ptr<Optimizer> make_adam(const Options& o) {
  const std::string owner = "optimizer/adam";
  const auto [beta1, beta2] = sdk::read_betas(o.get<std::vector<double>>("betas"), owner);
  const double weight_decay = o.get<double>("weight_decay");
  const double eps = o.get<double>("eps");
  const bool amsgrad = o.get<bool>("amsgrad");
  auto make = [=](double lr, bool decay) {
    return torch::optim::AdamOptions(lr)
        .betas({beta1, beta2})
        .eps(eps)
        .weight_decay(decay ? weight_decay : 0.0)
        .amsgrad(amsgrad);
  };
  return std::make_shared<sdk::TorchOptimizer<torch::optim::Adam, torch::optim::AdamOptions>>(
      "adam", o.get<double>("lr"), o.get<bool>("exclude_from_decay"), make);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::ConfigNode;
  registrar
      .add<stagehand::Optimizer>(
          "adam", "Adam with L2 weight decay, LibTorch's torch::optim::Adam",
          stagehand::Schema()
              .required("lr", stagehand::OptionType::Float, "base learning rate (peak of the schedule), e.g. 1e-3")
              .min(0)
              .opt("weight_decay", 0.0, "L2 penalty added to the gradient of the parameters that decay")
              .min(0)
              .list("betas", stagehand::OptionType::Float,
                    ConfigNode::sequence({ConfigNode::of(0.9), ConfigNode::of(0.999)}),
                    "Adam's (beta1, beta2) moving-average coefficients")
              .opt("eps", 1e-8, "added to the denominator")
              .min(0)
              .opt("amsgrad", false, "use the AMSGrad variant")
              .opt("exclude_from_decay", true, "no weight decay on biases and LayerNorm/norm parameters"),
          [](const stagehand::Options& o) { return stagehand::make_adam(o); })
      .with_example(stagehand::parse_yaml("{type: adam, lr: 1.0e-3}", "example"));
}
