// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/accumulation.h"

#include <vector>

#include <stagehand/nn.h>

namespace stagehand::sdk::train {

LossFn model_loss(Model& model, Loss& loss) {
  return [&model, &loss](const Batch& b, std::map<std::string, torch::Tensor>& parts) {
    Batch out = model.forward(b);
    return loss.compute(out, b, parts);
  };
}

StepStats accumulate_gradients(const Accumulation& a, const std::function<MicroBatch(int64_t)>& next,
                               const LossFn& loss, dist::GradientReducer* reducer) {
  StepStats s;
  const bool dp = a.data_parallel;
  const int64_t accum = a.micro_batches;
  for (int64_t i = 0; i < accum; ++i) {
    MicroBatch mb = next(i);
    const double weight = dp ? mb.weight : 1.0;
    if (weight > 0) s.tokens += mb.batch.tokens();
    torch::Tensor l;
    std::map<std::string, torch::Tensor> parts;
    {
      nn::Bf16Autocast ac(a.bf16);
      l = loss(mb.batch, parts);
    }
    if (dp) {
      // Summed over the ranks, the weighted losses make the whole micro-batch's mean loss.
      l = l.to(torch::kFloat32) * (weight / static_cast<double>(accum));
    } else {
      l = l.to(torch::kFloat32) / static_cast<double>(accum);
    }
    // The last micro-batch's backward pass starts each bucket's all-reduce as soon as its gradients are in.
    if (dp && i == accum - 1 && reducer) reducer->arm();
    l.backward();
    s.loss += l.item<double>();
    for (const auto& [k, v] : parts) s.parts[k] += v.item<double>() * (dp ? weight : 1.0) / static_cast<double>(accum);
  }
  return s;
}

void sum_over_ranks(StepStats& s, dist::GradientReducer& reducer) {
  reducer.reduce();
  std::vector<double> v{s.loss, static_cast<double>(s.tokens), s.stop ? 1.0 : 0.0};
  for (const auto& [k, x] : s.parts) v.push_back(x);
  dist::all_reduce_sum(v);
  s.loss = v[0];
  s.tokens = static_cast<int64_t>(v[1]);
  s.stop = v[2] > 0;
  size_t i = 3;
  for (auto& [k, x] : s.parts) x = v[i++];
}

}  // namespace stagehand::sdk::train
