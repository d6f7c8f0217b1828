// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A stagehand::Optimizer over a LibTorch optimizer, used by the optimizer plugins (adam, adamw, sgd). A template
/// over the LibTorch optimizer, so it lives in this header.
///
/// Parameters are grouped by (lr_scale, decay) in the order the groups first appear, so the layout depends only
/// on the parameter order: that is what lets `load` map a saved state onto a freshly built model. The state is
/// torch's own serialization plus a layout record that turns a mismatched resume into a clear error.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <stagehand/error.h>
#include <stagehand/optim.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

inline constexpr const char* kKindKey = "stagehand_optimizer";
inline constexpr const char* kLayoutKey = "stagehand_param_groups";

/// Reads `betas` as two floats in [0, 1); `owner` names the optimizer in the message.
STAGEHAND_SDK_API std::pair<double, double> read_betas(const std::vector<double>& b, const std::string& owner);

/// TorchOptimizer<torch::optim::AdamW, torch::optim::AdamWOptions>: `make(lr, decay)` returns the options of a
/// group with that learning rate and with or without weight decay.
template <class TorchOpt, class TorchOptions>
class TorchOptimizer : public Optimizer {
 public:
  using MakeOptions = std::function<TorchOptions(double lr, bool decay)>;

  TorchOptimizer(std::string name, double lr, bool exclude_bias_and_norm, MakeOptions make)
      : name_(std::move(name)), lr_(lr), exclude_(exclude_bias_and_norm), make_(std::move(make)) {}

  void setup(const std::vector<NamedParameter>& params) override {
    SH_CHECK(!optimizer_, "optimizer/{}: setup() was called twice; expected it once, before the first step", name_);
    SH_CHECK(!params.empty(), "optimizer/{}: setup() got no trainable parameters; expected at least one (is "
                              "everything frozen?)", name_);
    std::vector<std::vector<torch::Tensor>> tensors;
    for (const auto& p : params) {
      SH_CHECK(p.tensor.defined(), "optimizer/{}: parameter '{}' is an undefined tensor", name_, p.name);
      SH_CHECK(p.lr_scale >= 0, "optimizer/{}: parameter '{}' has lr_scale {}; expected >= 0", name_, p.name,
               p.lr_scale);
      size_t g = 0;
      while (g < scales_.size() && !(scales_[g] == p.lr_scale && decays_[g] == p.decay)) ++g;
      if (g == scales_.size()) {
        scales_.push_back(p.lr_scale);
        decays_.push_back(p.decay);
        tensors.emplace_back();
      }
      tensors[g].push_back(p.tensor);
    }
    std::vector<torch::optim::OptimizerParamGroup> groups;
    for (size_t g = 0; g < tensors.size(); ++g)
      groups.emplace_back(tensors[g], std::make_unique<TorchOptions>(make_(lr_ * scales_[g], decays_[g])));
    optimizer_ = std::make_unique<TorchOpt>(std::move(groups), make_(lr_, true));
  }

  double base_lr() const override { return lr_; }

  void step(double lr) override {
    require_setup("step");
    auto& groups = optimizer_->param_groups();
    for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(lr * scales_[g]);
    optimizer_->step();
  }

  void zero_grad() override {
    require_setup("zero_grad");
    optimizer_->zero_grad();
  }

  bool exclude_bias_and_norm_from_decay() const override { return exclude_; }

  void save(torch::serialize::OutputArchive& archive) const override {
    require_setup("save");
    archive.write(kKindKey, c10::IValue(name_));
    archive.write(kLayoutKey, layout());
    optimizer_->save(archive);
  }

  void load(torch::serialize::InputArchive& archive) override {
    require_setup("load");
    c10::IValue kind;
    SH_CHECK(archive.try_read(kKindKey, kind) && kind.isString(),
             "optimizer/{}: the saved state has no '{}' record; expected a state written by a stagehand optimizer",
             name_, kKindKey);
    SH_CHECK(kind.toStringRef() == name_,
             "optimizer/{}: the saved state is of optimizer '{}'; expected '{}': resume with the optimizer the run "
             "was started with",
             name_, kind.toStringRef(), name_);
    torch::Tensor saved;
    archive.read(kLayoutKey, saved);
    torch::Tensor now = layout();
    SH_CHECK(saved.sizes() == now.sizes() && torch::equal(saved, now),
             "optimizer/{}: the saved state has {} parameter group(s) of sizes {}, this run has {} of sizes {}; "
             "expected the same model, parameter order and lr_scale/decay rules as the run that saved it",
             name_, saved.size(0), sizes_string(saved), now.size(0), sizes_string(now));
    optimizer_->load(archive);
  }

 private:
  void require_setup(const char* what) const {
    SH_CHECK(optimizer_ != nullptr, "optimizer/{}: {}() before setup(); expected setup() with the parameters first",
             name_, what);
  }

  /// One row per group: number of tensors, number of elements, lr_scale, decay.
  torch::Tensor layout() const {
    const auto& groups = optimizer_->param_groups();
    auto t = torch::zeros({static_cast<int64_t>(groups.size()), 4}, torch::kDouble);
    for (size_t g = 0; g < groups.size(); ++g) {
      double numel = 0;
      for (const auto& p : groups[g].params()) numel += static_cast<double>(p.numel());
      auto row = t[static_cast<int64_t>(g)];
      row[0] = static_cast<double>(groups[g].params().size());
      row[1] = numel;
      row[2] = scales_[g];
      row[3] = decays_[g] ? 1.0 : 0.0;
    }
    return t;
  }

  static std::string sizes_string(const torch::Tensor& layout) {
    std::string s = "[";
    for (int64_t g = 0; g < layout.size(0); ++g)
      s += (g ? ", " : "") + std::to_string(static_cast<int64_t>(layout[g][0].item<double>()));
    return s + "]";
  }

  std::string name_;
  double lr_;
  bool exclude_;
  MakeOptions make_;
  std::vector<double> scales_;
  std::vector<bool> decays_;
  std::unique_ptr<TorchOpt> optimizer_;
};

}  // namespace stagehand::sdk
