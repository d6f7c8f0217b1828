// SPDX-License-Identifier: Apache-2.0
#pragma once
// The loss's class_weights option, read and checked against num_labels. Without LibTorch: built into the plugin and
// into its facts companion (stagehand/facts_companion.h), so that `runner check` checks the weights without opening
// the plugin.
#include <vector>

#include <stagehand/registry.h>
#include <stagehand/schema.h>

namespace stagehand::cross_entropy {

/// The weights, or none. With `planning`, 'balanced' reads as none (the train stage computes it later).
std::vector<double> read_class_weights(const Options& o, bool planning = false);
/// No fact of its own: planning runs it once num_labels is filled, so that class_weights is checked at runner check.
PlanFacts facts(const Options& o, const FactLookup& lookup);

}  // namespace stagehand::cross_entropy
