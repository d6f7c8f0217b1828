// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/masking.h"

namespace stagehand::sdk {

using torch::Tensor;

Tensor mask_candidates(const Tensor& ids, const Tensor& attention_mask, const std::vector<int64_t>& specials) {
  Tensor candidate =
      attention_mask.defined() ? attention_mask.ne(0) : at::ones_like(ids, ids.options().dtype(torch::kBool));
  for (int64_t s : specials) candidate = candidate & ids.ne(s);
  return candidate;
}

Masked bert_mask(const Tensor& ids, const Tensor& attention_mask, const BertMasking& m,
                 c10::optional<at::Generator> gen) {
  const int64_t b = ids.size(0), t = ids.size(1);
  const auto cpu = torch::TensorOptions().dtype(torch::kFloat).device(torch::kCPU);
  Tensor u_select = at::rand({b, t}, gen, cpu).to(ids.device());
  Tensor u_fallback = at::rand({b, t}, gen, cpu).to(ids.device());
  Tensor u_action = at::rand({b, t}, gen, cpu).to(ids.device());
  Tensor random_ids =
      at::randint(m.random_low, m.random_high, {b, t}, gen, cpu.dtype(torch::kLong)).to(ids.device()).to(ids.dtype());

  Tensor candidate = mask_candidates(ids, attention_mask, m.specials);
  Tensor selected = candidate & u_select.lt(m.mask_prob);
  if (m.mask_prob > 0) {
    // A sequence with nothing masked contributes no loss; give it one candidate chosen uniformly at random.
    Tensor needs = candidate.any(1) & selected.any(1).logical_not();  // (B)
    Tensor pick = u_fallback.masked_fill(candidate.logical_not(), -1.0).argmax(1);  // (B)
    Tensor one = at::arange(t, ids.options()).unsqueeze(0).eq(pick.unsqueeze(1)) & needs.unsqueeze(1);
    selected = selected | one;
  }
  Tensor to_mask = selected & u_action.lt(m.replace_mask);
  Tensor to_random = selected & u_action.ge(m.replace_mask) & u_action.lt(m.replace_mask + m.replace_random);
  Tensor out = ids.masked_fill(to_mask, m.mask_id);
  out = at::where(to_random, random_ids, out);
  return {out, selected};
}

Masked electra_mask(const Tensor& ids, const Tensor& attention_mask, const ElectraMasking& m,
                    c10::optional<at::Generator> gen) {
  const int64_t b = ids.size(0), t = ids.size(1);
  const auto cpu = torch::TensorOptions().dtype(torch::kFloat).device(torch::kCPU);
  Tensor u_pick = at::rand({b, t}, gen, cpu).to(ids.device());
  Tensor u_action = at::rand({b, t}, gen, cpu).to(ids.device());

  Tensor candidate = mask_candidates(ids, attention_mask, m.specials);
  Tensor count = candidate.sum(1).to(torch::kDouble);  // (B)
  // Python's round() and torch.round both round half to even.
  Tensor n = at::round(count * m.mask_prob).clamp(1, static_cast<double>(m.max_predictions)).to(torch::kLong);
  n = at::where(count.gt(0), n, at::zeros_like(n));
  // n distinct positions uniformly among the candidates: the n smallest of independent uniform keys.
  Tensor keys = u_pick.masked_fill(candidate.logical_not(), 2.0);
  Tensor rank = keys.argsort(int64_t{1}, false).argsort(int64_t{1}, false);  // rank of each key within its row
  Tensor selected = candidate & rank.lt(n.unsqueeze(1));
  Tensor to_mask = selected & u_action.lt(m.replace_mask);
  return {ids.masked_fill(to_mask, m.mask_id), selected};
}

}  // namespace stagehand::sdk
