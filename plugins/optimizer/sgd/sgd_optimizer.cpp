// SPDX-License-Identifier: Apache-2.0
// Optimizer `sgd`: torch::optim::SGD with optional (Nesterov) momentum and L2 weight decay.
#include <torch/optim/sgd.h>

#include <stagehand/plugin.h>

#include <stagehand/sdk/torch_optimizer.h>

namespace stagehand {
namespace {

std::shared_ptr<Optimizer> make_sgd(const Options& o) {
  const double weight_decay = o.get<double>("weight_decay");
  const double momentum = o.get<double>("momentum");
  const double dampening = o.get<double>("dampening");
  const bool nesterov = o.get<bool>("nesterov");
  SH_CHECK(!nesterov || (momentum > 0 && dampening == 0),
           "optimizer/sgd: nesterov: true with momentum {} and dampening {}; expected momentum > 0 and dampening 0",
           momentum, dampening);
  auto make = [=](double lr, bool decay) {
    return torch::optim::SGDOptions(lr)
        .momentum(momentum)
        .dampening(dampening)
        .weight_decay(decay ? weight_decay : 0.0)
        .nesterov(nesterov);
  };
  return std::make_shared<sdk::TorchOptimizer<torch::optim::SGD, torch::optim::SGDOptions>>(
      "sgd", o.get<double>("lr"), o.get<bool>("exclude_from_decay"), make);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar
      .add<stagehand::Optimizer>(
          "sgd", "stochastic gradient descent with momentum, LibTorch's torch::optim::SGD",
          stagehand::Schema()
              .required("lr", stagehand::OptionType::Float, "base learning rate (peak of the schedule), e.g. 0.1")
              .min(0)
              .opt("momentum", 0.0, "momentum factor (0: plain SGD)")
              .min(0)
              .opt("dampening", 0.0, "dampening of the momentum")
              .min(0)
              .opt("nesterov", false, "Nesterov momentum (needs momentum > 0 and dampening 0)")
              .opt("weight_decay", 0.0, "L2 penalty added to the gradient of the parameters that decay")
              .min(0)
              .opt("exclude_from_decay", true, "no weight decay on biases and LayerNorm/norm parameters"),
          [](const stagehand::Options& o) { return stagehand::make_sgd(o); })
      .with_example(stagehand::parse_yaml("{type: sgd, lr: 0.1}", "example"));
}
