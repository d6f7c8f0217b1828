// SPDX-License-Identifier: Apache-2.0
// Head `mlp`: a feed-forward classifier/regressor over encoder features, the options of the SPECTER
// classifier. Layers (each hidden width, then the output):
//   dropout -> linear -> [BatchNorm1d] -> activation        (hidden layers)
//   dropout -> linear                                       (output layer)
// Parameters: "layers.<i>.weight|bias" (one per linear, output last), "norms.<i>.*" (BatchNorm of hidden i).
//
// Linear and BatchNorm are small modules of our own: torch::nn::Linear initialises itself from the global RNG
// in its constructor, and a head must be initialised from its build seed without drawing from the global RNG
// (which the train stage checkpoints for exact resume).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <fmt/format.h>

#include <stagehand/model.h>
#include <stagehand/nn.h>
#include <stagehand/plugin.h>

namespace stagehand {
namespace {

using torch::Tensor;

constexpr double kInitStd = 0.02;
constexpr double kBatchNormEps = 1e-5;
constexpr double kBatchNormMomentum = 0.1;

enum class Activation { Relu, Tanh, Sigmoid, Gelu };

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::Relu;
  if (name == "tanh") return Activation::Tanh;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "gelu") return Activation::Gelu;
  fail("head 'mlp': activation '{}' is not one of relu | tanh | sigmoid | gelu", name);
}

Tensor activate(const Tensor& x, Activation a) {
  switch (a) {
    case Activation::Relu: return at::relu(x);
    case Activation::Tanh: return at::tanh(x);
    case Activation::Sigmoid: return at::sigmoid(x);
    case Activation::Gelu: return at::gelu(x);
  }
  return x;
}


using Dense = nn::Dense;  // stagehand/nn.h
using DenseImpl = nn::DenseImpl;

/// BatchNorm1d over (N, C) with torch::nn::BatchNorm1d's parameter and buffer names.
class BatchNormImpl : public torch::nn::Module {
 public:
  explicit BatchNormImpl(int64_t width) {
    weight = register_parameter("weight", torch::ones({width}));
    bias = register_parameter("bias", torch::zeros({width}));
    running_mean = register_buffer("running_mean", torch::zeros({width}));
    running_var = register_buffer("running_var", torch::ones({width}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  }
  Tensor forward(const Tensor& x) {
    if (is_training()) {
      SH_CHECK(x.size(0) > 1,
               "head 'mlp': batch_norm needs more than one example per batch in training mode, got {}; use a "
               "larger batch or batch_norm: false",
               x.size(0));
      torch::NoGradGuard no_grad;
      num_batches_tracked.add_(1);
    }
    return at::batch_norm(x, weight, bias, running_mean, running_var, is_training(), kBatchNormMomentum,
                          kBatchNormEps, /*cudnn_enabled=*/true);
  }
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};
TORCH_MODULE(BatchNorm);

struct MlpConfig {
  int64_t in_features = 0;
  int64_t out_features = 0;
  std::vector<int64_t> hidden;
  std::string activation = "tanh";
  double dropout = 0.1;
  bool batch_norm = false;
};

MlpConfig read_config(const Options& o) {
  MlpConfig c;
  SH_CHECK(o.has("in_features"),
           "head 'mlp': in_features is not set; a model fills it with its encoder's hidden size, so set it only "
           "when building the head on its own (e.g. in_features: 256)");
  SH_CHECK(o.has("out_features"),
           "head 'mlp': out_features is not set; a classifier fills it with num_labels, so set it only when "
           "building the head on its own (e.g. out_features: 2)");
  c.in_features = o.get<int64_t>("in_features");
  c.out_features = o.get<int64_t>("out_features");
  c.hidden = o.get<std::vector<int64_t>>("hidden");
  c.activation = o.get<std::string>("activation");
  c.dropout = o.get<double>("dropout");
  c.batch_norm = o.get<bool>("batch_norm");
  return c;
}

class MlpHead : public Head {
 public:
  MlpHead(MlpConfig c, uint64_t seed) : cfg_(std::move(c)), activation_(parse_activation(cfg_.activation)) {
    torch::nn::ModuleList layers, norms;
    int64_t width = cfg_.in_features;
    for (int64_t h : cfg_.hidden) {
      dense_.push_back(Dense(width, h));
      layers->push_back(dense_.back());
      if (cfg_.batch_norm) {
        norms_.push_back(BatchNorm(h));
        norms->push_back(norms_.back());
      }
      width = h;
    }
    dense_.push_back(Dense(width, cfg_.out_features));
    layers->push_back(dense_.back());
    register_module("layers", layers);
    if (cfg_.batch_norm) register_module("norms", norms);

    torch::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(seed);
    for (auto& d : dense_) {
      d->weight.normal_(0.0, kInitStd, gen);
      d->bias.zero_();
    }
  }

  Tensor forward(const Tensor& features) override {
    SH_CHECK(features.defined() && features.dim() >= 1 && features.size(-1) == cfg_.in_features,
             "head 'mlp': expected features whose last dimension is in_features = {}, got shape ({}); the "
             "encoder's hidden size and the head's in_features disagree",
             cfg_.in_features, features.defined() ? fmt::format("{}", fmt::join(features.sizes(), ", ")) : "");
    // Every layer works on rows, so (B, T, in) is flattened to (B*T, in); BatchNorm then sees one row per token.
    std::vector<int64_t> out_shape(features.sizes().begin(), features.sizes().end());
    out_shape.back() = cfg_.out_features;
    Tensor x = features.reshape({-1, cfg_.in_features});
    const bool train = is_training();
    for (size_t i = 0; i < dense_.size(); ++i) {
      if (cfg_.dropout > 0) x = stagehand::nn::dropout(x, cfg_.dropout, train);
      x = dense_[i](x);
      if (i + 1 == dense_.size()) break;
      if (cfg_.batch_norm) x = norms_[i](x);
      x = activate(x, activation_);
    }
    return x.reshape(out_shape);
  }

 private:
  MlpConfig cfg_;
  Activation activation_;
  std::vector<Dense> dense_;  // typed access to the modules registered under "layers"
  std::vector<BatchNorm> norms_;
};

Schema mlp_schema() {
  return Schema()
      .optional("in_features", OptionType::Int, "input width (a model fills it with its encoder's hidden size)")
      .min(1)
      .optional("out_features", OptionType::Int, "output width (a classifier fills it with num_labels)")
      .min(1)
      .list("hidden", OptionType::Int, ConfigNode::sequence(),
            "widths of the hidden layers, e.g. [256, 256] for 2 layers of 256 units; [] is a single linear layer")
      .min(1)
      .choice("activation", "tanh", {"relu", "tanh", "sigmoid", "gelu"}, "activation after each hidden layer")
      .opt("dropout", 0.1, "dropout probability before each linear layer (training only)")
      .min(0)
      .max(0.99)
      .opt("batch_norm", false, "BatchNorm1d after each hidden linear layer, before its activation");
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  registrar
      .add<Head>("mlp",
                 "feed-forward head: dropout/linear layers with an activation (optionally BatchNorm) between them",
                 mlp_schema(),
                 [](const Options& o, const BuildContext& ctx) {
                   return std::make_shared<MlpHead>(read_config(o), ctx.seed);
                 })
      .with_example(parse_yaml("{type: mlp, in_features: 16, out_features: 3, hidden: [8]}", "<mlp example>"));
}
