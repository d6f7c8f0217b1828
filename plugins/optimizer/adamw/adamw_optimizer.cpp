// SPDX-License-Identifier: Apache-2.0
// Optimizer `adamw`: Adam with decoupled weight decay, in the two forms the reproduced methods train with.
//   bias_correction: true   torch::optim::AdamW (torch.optim.AdamW): moments divided by 1 - beta^t.
//   bias_correction: false  ELECTRA's AdamWeightDecayOptimizer and BERT's BertAdam (DSE, SPECTER's `bert_adam`;
//                           transformers.AdamW(correct_bias=False) with no weight decay):
//                             m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//                             update = m / (sqrt(v) + eps) + wd p  (wd only where decay applies);  p -= lr update.
// The defaults are ELECTRA's fine-tuning ones: weight decay 0.01 and eps 1e-6, no decay on biases and LayerNorm.
#include <torch/optim/adamw.h>

#include <stagehand/plugin.h>

#include <stagehand/sdk/torch_optimizer.h>

namespace stagehand {
namespace {

/// torch's AdamW with the update of the references without bias correction. It keeps AdamW's state (step, m, v)
/// and options, so saving and loading are AdamW's own.
class UncorrectedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  torch::Tensor step(LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      torch::AutoGradMode enable_grad(true);
      loss = closure();
    }
    for (auto& group : param_groups_) {
      const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
      const double beta1 = std::get<0>(o.betas());
      const double beta2 = std::get<1>(o.betas());
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        const torch::Tensor& g = p.grad();
        auto& st = state_of(p);
        st.step(st.step() + 1);
        st.exp_avg().mul_(beta1).add_(g, 1.0 - beta1);
        st.exp_avg_sq().mul_(beta2).addcmul_(g, g, 1.0 - beta2);
        // One temporary per tensor, as torch's AdamW: sqrt(v) + eps, then m divided by it in place.
        torch::Tensor update = st.exp_avg_sq().sqrt().add_(o.eps());
        torch::div_out(update, st.exp_avg(), update);
        if (o.weight_decay() != 0) update.add_(p, o.weight_decay());
        p.add_(update, -o.lr());
      }
    }
    return loss;
  }

 private:
  torch::optim::AdamWParamState& state_of(const torch::Tensor& p) {
    // The key torch's optimizers use, so that a loaded state is found.
    const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
    auto it = state_.find(key);
    if (it == state_.end()) {
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      it = state_.emplace(key, std::move(s)).first;
    }
    return static_cast<torch::optim::AdamWParamState&>(*it->second);
  }
};

std::shared_ptr<Optimizer> make_adamw(const Options& o) {
  const std::string owner = "optimizer/adamw";
  const auto [beta1, beta2] = sdk::read_betas(o.get<std::vector<double>>("betas"), owner);
  const double weight_decay = o.get<double>("weight_decay");
  const double eps = o.get<double>("eps");
  const bool amsgrad = o.get<bool>("amsgrad");
  const bool corrected = o.get<bool>("bias_correction");
  SH_CHECK(corrected || !amsgrad,
           "{}: amsgrad true with bias_correction false; expected one of them: the uncorrected update (ELECTRA, "
           "BertAdam) has no AMSGrad variant",
           owner);
  auto make = [=](double lr, bool decay) {
    return torch::optim::AdamWOptions(lr)
        .betas({beta1, beta2})
        .eps(eps)
        .weight_decay(decay ? weight_decay : 0.0)
        .amsgrad(amsgrad);
  };
  const double lr = o.get<double>("lr");
  const bool exclude = o.get<bool>("exclude_from_decay");
  if (!corrected)
    return std::make_shared<sdk::TorchOptimizer<UncorrectedAdamW, torch::optim::AdamWOptions>>(
        "adamw", lr, exclude, make);
  return std::make_shared<sdk::TorchOptimizer<torch::optim::AdamW, torch::optim::AdamWOptions>>(
      "adamw", lr, exclude, make);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::ConfigNode;
  registrar
      .add<stagehand::Optimizer>(
          "adamw",
          "AdamW (decoupled weight decay): torch::optim::AdamW, or without bias correction as ELECTRA and BertAdam",
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
              .opt("bias_correction", true,
                   "true: torch's AdamW (moments divided by 1 - beta^t); false: ELECTRA's AdamWeightDecayOptimizer "
                   "and BERT's BertAdam, m / (sqrt(v) + eps) + wd p without correction")
              .opt("amsgrad", false, "use the AMSGrad variant (bias_correction true only)")
              .opt("exclude_from_decay", true, "no weight decay on biases and LayerNorm/norm parameters"),
          [](const stagehand::Options& o) { return stagehand::make_adamw(o); })
      .with_example(stagehand::parse_yaml("{type: adamw, lr: 5.0e-4}", "example"));
}
