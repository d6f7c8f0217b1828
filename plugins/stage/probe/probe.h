// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Per-layer probes on a frozen encoder (McGuire & Bhardwaj's softmax-regression probes): for every chosen layer
/// i, a small head reads hidden_states[i] and nothing else. The encoder runs once per batch without gradient; its
/// states go to every layer's head; each head has its own optimizer and its own gradient-norm clipping.
///   span   two heads per layer, start and end: score_t = w . dropout(h_t) + b (w ~ N(0, init_std), b = 0), a
///          softmax over the positions of the sequence; loss (CE(start) + CE(end)) / 2. Padding positions get no
///          probability (the reference pads every sequence to 384 and lets the padding in; we pad to the batch's
///          longest sequence, and masking the padding keeps a probe's scores independent of the batch).
///   token  one head per layer, Linear(H, C) on dropout(h_t), cross-entropy over the tokens whose label is not
///          -100 (a word's first sub-token).
/// Compiled into the `probe` stage plugin and into its test (tests/plugins/test_probe.cpp).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <stagehand/batch.h>
#include <stagehand/encoder.h>
#include <stagehand/optim.h>

namespace stagehand::probe {

enum class Task { Span, Token };

struct Config {
  Task task = Task::Span;
  std::vector<int64_t> layers;  ///< indices into EncoderOutput::hidden_states (0 = embeddings, i = block i)
  int64_t hidden_size = 0;
  int64_t num_labels = 0;  ///< token probes: classes
  double dropout = 0.1;
  double init_std = 0.02;
  double clip_norm = 1.0;  ///< per head; 0: off
};

/// The encoder's input tensors of a batch (input_ids, attention_mask, token_type_ids when present).
EncoderInput encoder_input(const Batch& batch);

class Probes {
 public:
  /// `make_optimizer` is called once per head (two per layer for span probes, one for token probes).
  Probes(Config config, const std::function<std::shared_ptr<Optimizer>()>& make_optimizer);

  const Config& config() const { return config_; }
  /// Every head as one module, parameters named "layer_<i>.start.weight", "layer_<i>.end.bias", "layer_<i>.tag.*".
  torch::nn::Module& module() { return *root_; }
  /// The heads' learning rate is the optimizers' base rate times `lr_factor`.
  void set_lr_factor(double f) { lr_factor_ = f; }

  /// Hidden states of the chosen layers for a batch: the encoder runs once, in whatever mode it is in, without
  /// gradient.
  std::vector<torch::Tensor> features(Encoder& encoder, const Batch& batch) const;
  /// One update of every head on `batch`; returns each layer's loss (in `layers` order).
  std::vector<double> train_step(Encoder& encoder, const Batch& batch);
  /// Per layer, for span probes {start (B, T), end (B, T)} and for token probes {logits (B, T, C)}; no dropout,
  /// no gradient. Padding positions of span scores are -inf.
  std::vector<std::vector<torch::Tensor>> scores(Encoder& encoder, const Batch& batch);

 private:
  struct Head {
    torch::nn::Linear linear{nullptr};
    std::shared_ptr<Optimizer> optimizer;
  };
  std::vector<torch::Tensor> layer_scores(size_t layer, const torch::Tensor& h, const torch::Tensor& mask,
                                          bool train);

  Config config_;
  std::shared_ptr<torch::nn::Module> root_;
  std::vector<std::vector<Head>> heads_;  ///< per layer: {start, end} or {tag}
  double lr_factor_ = 1.0;
};

/// Token-probe scores of gold and predicted class ids (same length): "accuracy" and "macro_f1", as scikit-learn's
/// accuracy_score and f1_score(average="macro", zero_division=0), the classes being those in gold or predicted.
/// Both are fractions (0..1), as the `classification` evaluator reports them.
std::map<std::string, double> token_scores(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted);

}  // namespace stagehand::probe
