// SPDX-License-Identifier: Apache-2.0
// Conformance probe for encoders (`runner test-plugin`): same seed gives the same weights, outputs and
// gradients are finite, padding is masked, and a saved state loads back to identical outputs.
#include <map>
#include <sstream>

#include <torch/serialize.h>

#include "plugin/conformance.h"
#include "stagehand/encoder.h"

namespace stagehand {
namespace {

EncoderInput random_batch(const Encoder& enc, int64_t batch, int64_t len) {
  torch::manual_seed(7);
  EncoderInput in;
  in.input_ids = torch::randint(5, std::max<int64_t>(6, enc.vocab_size()), {batch, len}, torch::kLong);
  in.attention_mask = torch::ones({batch, len}, torch::kLong);
  in.attention_mask.index_put_({1, torch::indexing::Slice(len / 2, torch::indexing::None)}, 0);
  in.token_type_ids = torch::zeros({batch, len}, torch::kLong);
  return in;
}

void encoder_probe(const std::function<std::shared_ptr<void>()>& make, const BuildContext&, ConformanceReport& r) {
  auto a = std::static_pointer_cast<Encoder>(make());
  auto b = std::static_pointer_cast<Encoder>(make());
  bool same = true;
  auto pa = a->named_parameters(true), pb = b->named_parameters(true);
  if (pa.size() != pb.size()) same = false;
  for (const auto& p : pa) {
    const torch::Tensor* q = pb.find(p.key());
    if (!q || !torch::equal(p.value(), *q)) same = false;
  }
  if (same)
    r.pass("same seed, same result", fmt::format("{} parameter tensors identical", pa.size()));
  else
    r.fail("same seed, same result", "two encoders built with the same spec and seed have different weights");

  a->train();
  EncoderInput in = random_batch(*a, 2, 12);
  EncoderOutput out = a->encode(in);
  if (static_cast<int64_t>(out.hidden_states.size()) != a->num_layers() + 1)
    r.fail("outputs", fmt::format("{} hidden states for {} layers (expected layers + 1)", out.hidden_states.size(),
                                  a->num_layers()));
  else
    r.pass("outputs", fmt::format("{} hidden states of shape ({}, {}, {})", out.hidden_states.size(), 2, 12,
                                  a->hidden_size()));
  out.last().sum().backward();
  int64_t with_grad = 0, bad = 0;
  for (const auto& p : a->named_parameters(true)) {
    if (!p.value().grad().defined()) continue;
    ++with_grad;
    if (!torch::isfinite(p.value().grad()).all().item<bool>()) ++bad;
  }
  if (bad == 0 && with_grad > 0)
    r.pass("gradients finite", fmt::format("{} parameters received finite gradients", with_grad));
  else
    r.fail("gradients finite", fmt::format("{} of {} gradients not finite", bad, with_grad));

  // Padding must not change the states of real tokens.
  a->eval();
  torch::NoGradGuard ng;
  EncoderInput in2 = in;
  in2.input_ids = in.input_ids.clone();
  in2.input_ids.index_put_({1, torch::indexing::Slice(6, torch::indexing::None)}, 5);
  auto h1 = a->encode(in).last().index({1, torch::indexing::Slice(0, 6)});
  auto h2 = a->encode(in2).last().index({1, torch::indexing::Slice(0, 6)});
  if (torch::allclose(h1, h2, 1e-5, 1e-5))
    r.pass("padding masked", "changing padded tokens leaves real tokens' states unchanged");
  else
    r.fail("padding masked", "states of real tokens change when padded tokens change");

  // State round trip through LibTorch's archive format.
  std::stringstream buf;
  {
    torch::serialize::OutputArchive ar;
    a->save(ar);
    ar.save_to(buf);
  }
  auto c = std::static_pointer_cast<Encoder>(make());
  {
    auto params = c->named_parameters(true);
    for (auto& p : params) p.value().add_(1.0);  // make sure loading really overwrites
    torch::serialize::InputArchive ar;
    ar.load_from(buf);
    c->load(ar);
  }
  c->eval();
  if (torch::equal(a->encode(in).last(), c->encode(in).last()))
    r.pass("state round trip", "saved and loaded weights give identical outputs");
  else
    r.fail("state round trip", "an encoder loaded from a saved state gives different outputs");
}

}  // namespace

// Called once when the probe table is first built (see plugin/conformance.cpp).
void add_builtin_model_probes(std::map<std::string, ConformanceProbe>& probes) { probes["encoder"] = encoder_probe; }

}  // namespace stagehand
