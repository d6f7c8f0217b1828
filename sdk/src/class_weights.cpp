// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/class_weights.h"

#include <numeric>

#include <stagehand/error.h>

namespace stagehand::sdk {

std::vector<double> balanced_class_weights(const std::vector<int64_t>& counts, const std::vector<std::string>& names,
                                           const std::string& what) {
  SH_CHECK(!counts.empty(), "balanced class weights: no classes; expected at least one");
  const int64_t n = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  std::vector<double> out;
  out.reserve(counts.size());
  for (size_t c = 0; c < counts.size(); ++c) {
    SH_CHECK(counts[c] > 0,
             "balanced class weights: class {} has no example in {}, so its weight n / (classes * count) is "
             "undefined; add examples of it, or give class_weights as a list of numbers (one per class)",
             c < names.size() ? "'" + names[c] + "'" : std::to_string(c), what);
    out.push_back(static_cast<double>(n) / (static_cast<double>(counts.size()) * static_cast<double>(counts[c])));
  }
  return out;
}

std::vector<int64_t> class_counts(const Dataset& data, const std::string& split, int64_t num_classes,
                                  const std::string& labels_key, int64_t ignore_index) {
  SH_CHECK(num_classes > 0, "class counts: {} classes; expected at least one", num_classes);
  std::vector<int64_t> counts(static_cast<size_t>(num_classes), 0);
  const int64_t size = data.size(split);
  constexpr int64_t kBatch = 256;
  for (int64_t start = 0; start < size; start += kBatch) {
    std::vector<int64_t> indices;
    for (int64_t i = start; i < std::min(size, start + kBatch); ++i) indices.push_back(i);
    const Batch b = data.batch(split, indices);
    SH_CHECK(b.has(labels_key), "class counts: the '{}' split's batches have no '{}' tensor of class ids", split,
             labels_key);
    const torch::Tensor labels = b.at(labels_key).to(torch::kCPU).to(torch::kLong).reshape({-1}).contiguous();
    const int64_t* p = labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < labels.numel(); ++i) {
      if (p[i] == ignore_index) continue;
      SH_CHECK(p[i] >= 0 && p[i] < num_classes, "class counts: the '{}' split has label {}; expected a class id in "
               "[0, {})", split, p[i], num_classes);
      ++counts[static_cast<size_t>(p[i])];
    }
  }
  return counts;
}

namespace {

bool is_balanced(const ConfigNode& v) { return v.is_scalar() && v.text() == "balanced"; }

void replace(ConfigNode& node, const std::vector<double>& weights) {
  if (node.is_sequence()) {
    for (auto& item : node.items()) replace(item, weights);
    return;
  }
  if (!node.is_map()) return;
  for (auto& [key, value] : node.entries()) {
    if (key == "class_weights" && is_balanced(value)) {
      std::vector<ConfigNode> items;
      for (double w : weights) items.push_back(ConfigNode::of(w, value.location()));
      value = ConfigNode::sequence(std::move(items), value.location());
    } else {
      replace(value, weights);
    }
  }
}

}  // namespace

bool wants_balanced_class_weights(const ConfigNode& spec) {
  if (spec.is_sequence()) {
    for (const auto& item : spec.items())
      if (wants_balanced_class_weights(item)) return true;
    return false;
  }
  if (!spec.is_map()) return false;
  for (const auto& [key, value] : spec.entries())
    if ((key == "class_weights" && is_balanced(value)) || wants_balanced_class_weights(value)) return true;
  return false;
}

ConfigNode with_class_weights(const ConfigNode& spec, const std::vector<double>& weights) {
  ConfigNode out = spec.clone();
  replace(out, weights);
  return out;
}

}  // namespace stagehand::sdk
