// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/param_groups.h"

#include <cmath>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stagehand/error.h>

namespace stagehand::sdk::train {

bool no_decay_name(const std::string& n) {
  auto ends = [&](const std::string& s) { return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
  return ends(".bias") || ends("bias") || n.find("LayerNorm") != std::string::npos ||
         n.find("layer_norm") != std::string::npos || n.find("norm.") != std::string::npos;
}

int64_t param_depth(const std::string& n, int64_t layers) {
  if (n.rfind("encoder.", 0) != 0) return layers + 2;
  if (n.find(".embeddings") != std::string::npos || n.find("embeddings_project") != std::string::npos) return 0;
  auto p = n.find(".layer.");
  if (p != std::string::npos) {
    try {
      return std::stoll(n.substr(p + 7)) + 1;
    } catch (...) {
    }
  }
  return layers + 1;
}

double layerwise_lr_scale(const std::string& name, int64_t layers, double decay) {
  return decay == 1.0 ? 1.0 : std::pow(decay, static_cast<double>(layers + 2 - param_depth(name, layers)));
}

ParamGroups build_param_groups(Model& model, const ParamGroupOptions& options) {
  const int64_t layers = model.encoder() ? model.encoder()->num_layers() : 0;
  ParamGroups out;
  std::set<const void*> seen;
  for (auto& p : model.named_parameters(true)) {
    if (!seen.insert(p.value().unsafeGetTensorImpl()).second) continue;
    bool frozen = false;
    for (const auto& f : options.freeze)
      if (p.key() == f || p.key().rfind(f + ".", 0) == 0) frozen = true;
    if (frozen) {
      p.value().set_requires_grad(false);
      ++out.frozen;
      continue;
    }
    if (!p.value().requires_grad()) continue;
    NamedParameter np;
    np.name = p.key();
    np.tensor = p.value();
    np.decay = !(options.exclude_bias_and_norm && no_decay_name(p.key()));
    np.lr_scale = layerwise_lr_scale(p.key(), layers, options.layerwise_lr_decay);
    out.params.push_back(np);
    out.trainable.push_back(p.value());
    out.values += p.value().numel();
  }
  SH_CHECK(!out.params.empty(), "nothing to train: every parameter is frozen (freeze: {})",
           fmt::join(options.freeze, ", "));
  return out;
}

}  // namespace stagehand::sdk::train
