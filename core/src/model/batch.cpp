// SPDX-License-Identifier: Apache-2.0
#include "stagehand/batch.h"

#include "stagehand/dataset.h"
#include "stagehand/error.h"
#include "stagehand/model.h"
#include "stagehand/optim.h"
#include "stagehand/registry.h"

namespace stagehand {

const torch::Tensor& Batch::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    std::string have;
    for (const auto& [k, v] : tensors_) have += (have.empty() ? "" : ", ") + k;
    throw Error(fmt::format("the batch has no tensor '{}' (it has: {}); the dataset, model and loss of this stage "
                            "do not fit together",
                            name, have.empty() ? "none" : have));
  }
  return it->second;
}

int64_t Batch::size() const {
  if (!ids.empty()) return static_cast<int64_t>(ids.size());
  for (const auto& [k, v] : tensors_)
    if (v.defined() && v.dim() > 0) return v.size(0);
  return 0;
}

int64_t Batch::tokens() const {
  int64_t n = 0;
  for (const auto& [k, v] : tensors_) {
    const std::string suffix = "attention_mask";
    if (k.size() >= suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0)
      n += v.sum().item<int64_t>();
  }
  return n;
}

Batch Batch::to(const torch::Device& device) const {
  Batch b;
  b.ids = ids;
  for (const auto& [k, v] : tensors_) b.tensors_[k] = v.defined() ? v.to(device) : v;
  return b;
}

Batch Batch::sub(const std::string& prefix) const {
  Batch b;
  b.ids = ids;
  std::string p = prefix + ".";
  for (const auto& [k, v] : tensors_)
    if (k.rfind(p, 0) == 0) b.tensors_[k.substr(p.size())] = v;
  return b;
}

bool Dataset::has_split(const std::string& split) const {
  for (const auto& s : splits())
    if (s == split) return true;
  return false;
}

// Key functions: the type info of every interface lives in the core.
Dataset::~Dataset() = default;
Model::~Model() = default;
Head::~Head() = default;
Loss::~Loss() = default;
Evaluator::~Evaluator() = default;
Optimizer::~Optimizer() = default;
Scheduler::~Scheduler() = default;

ConfigNode fill_hints(const ConfigNode& spec, const std::string& kind, const std::map<std::string, int64_t>& hints,
                      const Registry& registry) {
  std::map<std::string, Fact> facts;
  for (const auto& [name, value] : hints) facts[name] = Fact{value, "the data"};
  return fill_facts(spec, kind, facts, registry, kind);
}

}  // namespace stagehand
