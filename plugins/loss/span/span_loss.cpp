// SPDX-License-Identifier: Apache-2.0
// Loss `span`: extractive QA's objective as Hugging Face's *ForQuestionAnswering computes it: the mean of the
// cross-entropy of the start scores against start_positions and of the end scores against end_positions, each a
// softmax over the sequence's positions. Unanswerable questions (and answers outside a doc-stride window) point
// at position 0, [CLS]. Positions beyond the sequence are clamped to its length and ignored, as Hugging Face
// does.
//   reads  outputs start_logits, end_logits (B, T); batch start_positions, end_positions (B) int64
//   parts  start, end
#include <fmt/ranges.h>
#include <torch/nn/functional/loss.h>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

namespace stagehand {
namespace {

namespace F = torch::nn::functional;
using torch::Tensor;

class SpanLoss : public Loss {
 public:
  Tensor compute(const Batch& outputs, const Batch& batch, std::map<std::string, Tensor>& parts) override {
    const Tensor& s = outputs.at("start_logits");
    const Tensor& e = outputs.at("end_logits");
    SH_CHECK(s.dim() == 2 && e.sizes() == s.sizes(),
             "loss/span: start_logits and end_logits must both be (B, T); got ({}) and ({})", fmt::join(s.sizes(), ", "),
             fmt::join(e.sizes(), ", "));
    const int64_t t = s.size(1);
    auto options = F::CrossEntropyFuncOptions().ignore_index(t);
    Tensor start = F::cross_entropy(s, batch.at("start_positions").clamp(0, t), options);
    Tensor end = F::cross_entropy(e, batch.at("end_positions").clamp(0, t), options);
    parts["start"] = start.detach();
    parts["end"] = end.detach();
    return (start + end) / 2;
  }
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Loss>(
      "span", "extractive QA: (CE(start) + CE(end)) / 2 over the positions (Hugging Face's QA loss)",
      stagehand::Schema(), [](const stagehand::Options&) { return std::make_shared<stagehand::SpanLoss>(); });
}
