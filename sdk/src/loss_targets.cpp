// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/loss_targets.h"

#include <stagehand/error.h>

namespace stagehand::sdk {

std::string shape(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

const torch::Tensor& find_tensor(const Batch& outputs, const Batch& batch, const std::string& name,
                                 const std::string& owner, const std::string& option) {
  if (outputs.has(name)) return outputs.at(name);
  if (batch.has(name)) return batch.at(name);
  std::string have;
  for (const auto& [k, v] : outputs.tensors()) have += (have.empty() ? "outputs: " : ", ") + k;
  for (const auto& [k, v] : batch.tensors()) have += (have.empty() ? "batch: " : "; batch: ") + k;
  throw Error(fmt::format("{}: no tensor '{}' in the model outputs or the batch (have {}); expected the tensor "
                          "named by option '{}': set '{}' to one of these or use a model/dataset that produces it",
                          owner, name, have.empty() ? "nothing" : have, option, option));
}

std::pair<torch::Tensor, torch::Tensor> flatten_class_targets(const torch::Tensor& logits, const torch::Tensor& labels,
                                                              const std::string& owner) {
  SH_CHECK(logits.dim() >= 2, "{}: logits have shape {}; expected (N, C) or (B, T, C) class scores", owner,
           shape(logits));
  SH_CHECK(!labels.is_floating_point() && !labels.is_complex() && labels.scalar_type() != torch::kBool,
           "{}: labels have dtype {}; expected integer class ids (int64); for float targets use a regression "
           "loss (e.g. loss/distillation with task: mse)",
           owner, std::string(c10::toString(labels.scalar_type())));
  const int64_t classes = logits.size(-1);
  SH_CHECK(labels.numel() * classes == logits.numel(),
           "{}: logits of shape {} do not match labels of shape {}; expected logits = labels' shape + (C)", owner,
           shape(logits), shape(labels));
  return {logits.reshape({-1, classes}), labels.reshape({-1}).to(torch::kLong)};
}

torch::Tensor accuracy(const torch::Tensor& logits, const torch::Tensor& labels, int64_t ignore_index) {
  torch::NoGradGuard no_grad;
  auto keep = labels != ignore_index;
  auto correct = (logits.argmax(-1) == labels).logical_and(keep).sum().to(torch::kDouble);
  auto n = keep.sum().to(torch::kDouble);
  return torch::where(n > 0, correct / n.clamp_min(1), torch::zeros_like(n)).to(torch::kFloat);
}

}  // namespace stagehand::sdk
