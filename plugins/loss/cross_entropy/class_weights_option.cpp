// SPDX-License-Identifier: Apache-2.0
#include "class_weights_option.h"

#include <stagehand/error.h>
#include <stagehand/facts_companion.h>

namespace stagehand::cross_entropy {

// class_weights: null, a list of weights >= 0 (one per class), or `balanced`, which the training stage replaces by
// n / (classes * count_c) of its training split (sdk/class_weights.h) before it builds the loss. Errors point at the
// option; with num_labels known (filled from the data at planning, runner check, and again from the built data),
// the list's length is checked against it.
std::vector<double> read_class_weights(const Options& o, bool planning) {
  if (!o.has("class_weights")) return {};
  const ConfigNode& n = o.node("class_weights");
  if (n.is_scalar() && n.text() == "balanced" && planning) return {};
  if (n.is_scalar() && n.text() == "balanced")
    fail_at(n.location(),
            "loss/cross_entropy: class_weights is 'balanced', which the stage that trains replaces by weights from its "
            "training labels; this loss was built without that (a `train` stage does it); give a list of weights");
  if (!n.is_sequence())
    fail_at(n.location(), "loss/cross_entropy: class_weights is {}; expected a list of numbers (one weight per class), "
            "'balanced', or null", n.is_scalar() ? "'" + n.text() + "'" : std::string(n.type_name()));
  SH_CHECK(n.size() > 0, "loss/cross_entropy: option 'class_weights' is an empty list; expected one weight per class, "
           "'balanced', or null for none");
  std::vector<double> weights;
  for (const auto& item : n.items()) {
    if (!item.is_scalar() || !item.is_double())
      fail_at(item.location(), "loss/cross_entropy: class_weights has {}; expected numbers",
              item.is_scalar() ? "'" + item.text() + "'" : std::string(item.type_name()));
    if (!(item.as_double() >= 0))
      fail_at(item.location(), "loss/cross_entropy: option 'class_weights' has {}; expected weights >= 0",
              item.as_double());
    weights.push_back(item.as_double());
  }
  if (o.has("num_labels") && static_cast<int64_t>(weights.size()) != o.get<int64_t>("num_labels")) {
    const ConfigNode& k = o.node("num_labels");
    // Filled: "<from the dataset 'text_classification'>" (planning) or "<from the data>" (the built data's hints).
    const std::string from = k.location().file.rfind("<from ", 0) == 0
                                 ? "num_labels from " + k.location().file.substr(6, k.location().file.size() - 7)
                                 : "num_labels written at " + k.location().str();
    fail_at(n.location(), "loss/cross_entropy: class_weights has {} weight(s) but there are {} classes ({}); give "
            "one weight per class, in the order of the data's labels, or write class_weights: balanced",
            weights.size(), o.get<int64_t>("num_labels"), from);
  }
  return weights;
}

PlanFacts facts(const Options& o, const FactLookup&) {
  read_class_weights(o, /*planning=*/true);
  return {};
}

}  // namespace stagehand::cross_entropy

STAGEHAND_PLUGIN_FACTS(registrar) {
  stagehand::add_facts(registrar, "loss", "cross_entropy", stagehand::cross_entropy::facts);
}
