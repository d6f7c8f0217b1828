// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A batch is a set of named tensors. Datasets produce them, models add their outputs to a second one, losses
/// and evaluators read both. Names are a convention between components, documented per component:
///   input_ids, attention_mask, token_type_ids      (B, T) int64 — one text per example
///   a.input_ids, b.input_ids, ...                  siamese pairs (each text encoded alone)
///   query.*, pos.*, neg.*                          triplets
///   labels                                         (B) int64 class ids, (B) float targets, or (B, T) token labels
///   teacher.logits                                 a teacher's outputs, added by the train stage
///   logits, embeddings, hidden_states.N, ...       model outputs
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "stagehand/export.h"

namespace stagehand {

class STAGEHAND_API Batch {
 public:
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  /// Throws stagehand::Error naming the missing tensor and the ones present.
  const torch::Tensor& at(const std::string& name) const;
  void set(const std::string& name, torch::Tensor t) { tensors_[name] = std::move(t); }
  const std::map<std::string, torch::Tensor>& tensors() const { return tensors_; }
  std::map<std::string, torch::Tensor>& tensors() { return tensors_; }
  /// Example ids (dataset-specific strings, e.g. "train:17"); empty if the dataset has none.
  std::vector<std::string> ids;
  /// Number of examples.
  int64_t size() const;
  /// Number of real (non-padding) tokens over every `*attention_mask` tensor (for tokens/s).
  int64_t tokens() const;
  /// A copy with every tensor moved to `device`.
  Batch to(const torch::Device& device) const;
  /// A copy holding only the tensors whose names start with `prefix` + ".", with the prefix removed
  /// (e.g. "a." turns "a.input_ids" into "input_ids").
  Batch sub(const std::string& prefix) const;

 private:
  std::map<std::string, torch::Tensor> tensors_;
};

}  // namespace stagehand
