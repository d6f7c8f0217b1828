// SPDX-License-Identifier: Apache-2.0
#include "probe.h"

#include <torch/nn/functional/dropout.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/init.h>
#include <torch/nn/utils/clip_grad.h>

#include <array>
#include <limits>

#include <stagehand/nn.h>

namespace stagehand::probe {

namespace F = torch::nn::functional;
using torch::Tensor;

EncoderInput encoder_input(const Batch& batch) {
  EncoderInput in;
  in.input_ids = batch.at("input_ids");
  in.attention_mask = batch.at("attention_mask");
  if (batch.has("token_type_ids")) in.token_type_ids = batch.at("token_type_ids");
  return in;
}

Probes::Probes(Config config, const std::function<std::shared_ptr<Optimizer>()>& make_optimizer)
    : config_(std::move(config)), root_(std::make_shared<torch::nn::Module>("Probes")) {
  SH_CHECK(!config_.layers.empty(), "probe: no layers to probe");
  SH_CHECK(config_.hidden_size > 0, "probe: hidden size {} must be positive", config_.hidden_size);
  SH_CHECK(config_.task == Task::Span || config_.num_labels >= 2,
           "probe: token probes need at least 2 labels, the data has {}", config_.num_labels);
  torch::NoGradGuard no_grad;
  for (int64_t layer : config_.layers) {
    auto holder = root_->register_module("layer_" + std::to_string(layer), std::make_shared<torch::nn::Module>());
    std::vector<Head> heads;
    const std::vector<std::pair<std::string, int64_t>> shapes =
        config_.task == Task::Span ? std::vector<std::pair<std::string, int64_t>>{{"start", 1}, {"end", 1}}
                                   : std::vector<std::pair<std::string, int64_t>>{{"tag", config_.num_labels}};
    for (const auto& [name, out] : shapes) {
      Head h;
      h.linear = holder->register_module(name, torch::nn::Linear(config_.hidden_size, out));
      torch::nn::init::normal_(h.linear->weight, 0.0, config_.init_std);
      torch::nn::init::zeros_(h.linear->bias);
      h.optimizer = make_optimizer();
      std::vector<NamedParameter> params;
      for (const auto& p : h.linear->named_parameters()) {
        NamedParameter np;
        np.name = fmt::format("layer_{}.{}.{}", layer, name, p.key());
        np.tensor = p.value();
        np.decay = !(h.optimizer->exclude_bias_and_norm_from_decay() && p.key() == "bias");
        params.push_back(np);
      }
      h.optimizer->setup(params);
      heads.push_back(std::move(h));
    }
    heads_.push_back(std::move(heads));
  }
}

std::vector<Tensor> Probes::features(Encoder& encoder, const Batch& batch) const {
  torch::NoGradGuard no_grad;
  EncoderOutput out = encoder.encode(encoder_input(batch));
  std::vector<Tensor> states;
  for (int64_t layer : config_.layers) {
    SH_CHECK(layer >= 0 && layer < static_cast<int64_t>(out.hidden_states.size()),
             "probe: layer {} does not exist; the encoder gives layers 0 (embeddings) to {}", layer,
             out.hidden_states.size() - 1);
    states.push_back(out.hidden_states[static_cast<size_t>(layer)].detach());
  }
  return states;
}

std::vector<Tensor> Probes::layer_scores(size_t layer, const Tensor& h, const Tensor& mask, bool train) {
  std::vector<Tensor> out;
  for (auto& head : heads_[layer]) {
    // Each head draws its own dropout mask, as each of the reference's probes is its own module.
    Tensor x = stagehand::nn::dropout(h, config_.dropout, train);
    Tensor s = head.linear(x);
    if (config_.task == Task::Span)
      s = s.squeeze(-1).masked_fill(mask.eq(0), -std::numeric_limits<float>::infinity());
    out.push_back(s);
  }
  return out;
}

std::vector<double> Probes::train_step(Encoder& encoder, const Batch& batch) {
  // A token batch without one labelled token (every word cut by max_length) has no loss to learn from; a mean
  // over nothing would be NaN and poison every head.
  if (config_.task == Task::Token && batch.at("labels").ne(-100).sum().item<int64_t>() == 0)
    return std::vector<double>(heads_.size(), 0.0);
  std::vector<Tensor> states = features(encoder, batch);
  const Tensor& mask = batch.at("attention_mask");
  Tensor total;
  std::vector<Tensor> losses;
  for (size_t l = 0; l < heads_.size(); ++l) {
    for (auto& head : heads_[l]) head.optimizer->zero_grad();
    std::vector<Tensor> s = layer_scores(l, states[l], mask, /*train=*/true);
    Tensor loss;
    if (config_.task == Task::Span) {
      loss = (F::cross_entropy(s[0], batch.at("start_positions")) + F::cross_entropy(s[1], batch.at("end_positions"))) / 2;
    } else {
      const Tensor& labels = batch.at("labels");
      loss = F::cross_entropy(s[0].reshape({-1, config_.num_labels}), labels.reshape({-1}),
                              F::CrossEntropyFuncOptions().ignore_index(-100));
    }
    losses.push_back(loss.detach());
    // The heads share no parameter and read detached states: one backward over the sum gives every head
    // exactly the gradient of its own layer's loss.
    total = total.defined() ? total + loss : loss;
  }
  total.backward();
  std::vector<double> out;
  for (size_t l = 0; l < heads_.size(); ++l) {
    for (auto& head : heads_[l]) {
      if (config_.clip_norm > 0) torch::nn::utils::clip_grad_norm_(head.linear->parameters(), config_.clip_norm);
      head.optimizer->step(head.optimizer->base_lr() * lr_factor_);
    }
    out.push_back(losses[l].item<double>());
  }
  return out;
}

std::vector<std::vector<Tensor>> Probes::scores(Encoder& encoder, const Batch& batch) {
  std::vector<Tensor> states = features(encoder, batch);
  torch::NoGradGuard no_grad;
  std::vector<std::vector<Tensor>> out;
  for (size_t l = 0; l < heads_.size(); ++l) out.push_back(layer_scores(l, states[l], batch.at("attention_mask"), false));
  return out;
}

std::map<std::string, double> token_scores(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted) {
  SH_CHECK(gold.size() == predicted.size(), "probe: {} gold labels but {} predictions", gold.size(), predicted.size());
  std::map<int64_t, std::array<double, 3>> counts;  // class -> {true positives, predicted, gold}
  double correct = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    counts[gold[i]][2] += 1;
    counts[predicted[i]][1] += 1;
    if (gold[i] == predicted[i]) {
      counts[gold[i]][0] += 1;
      correct += 1;
    }
  }
  double f1_sum = 0;
  for (const auto& [c, n] : counts) {
    const double p = n[1] > 0 ? n[0] / n[1] : 0, r = n[2] > 0 ? n[0] / n[2] : 0;
    f1_sum += p + r > 0 ? 2 * p * r / (p + r) : 0;
  }
  return {{"accuracy", gold.empty() ? 0.0 : correct / static_cast<double>(gold.size())},
          {"macro_f1", counts.empty() ? 0.0 : f1_sum / static_cast<double>(counts.size())}};
}

}  // namespace stagehand::probe
