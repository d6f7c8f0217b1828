// SPDX-License-Identifier: Apache-2.0
// Test support for plugin tests: a registry with plugins loaded from the build's plugin folder (as the runner loads
// them) and components built from YAML.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "stagehand/config.h"
#include "stagehand/registry.h"
#include "support/test_support.h"

namespace sh_test {

/// A registry holding the plugins `names` (e.g. {"encoder_transformer", "optimizer_adamw"}). Call it once per test
/// program (from a function-local static): plugins stay loaded for the whole process.
stagehand::Registry* load_plugins(std::initializer_list<const char*> names);

stagehand::BuildContext build_context(stagehand::Registry& registry, uint64_t seed = 1);

/// A JSON list of equal-length integer lists (a fixture's input_ids, attention_mask, ...) as a (rows, width) int64
/// tensor.
torch::Tensor int_rows(const nlohmann::json& rows);

/// Builds a component of kind T from a YAML spec.
template <class T>
std::shared_ptr<T> make_component(stagehand::Registry& registry, const std::string& yaml, uint64_t seed = 1) {
  return registry.create<T>(stagehand::parse_yaml(yaml, "test"), build_context(registry, seed));
}

}  // namespace sh_test
