// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the plugin tests: a registry with plugins loaded from the build's plugin folder (as the runner
// loads them), components built from YAML, and the message of an expected error.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>

#include "core/helpers.h"
#include "stagehand/config.h"
#include "stagehand/error.h"
#include "stagehand/loader.h"
#include "stagehand/registry.h"

namespace sh_test {

/// A registry holding the plugins `names` (e.g. {"encoder_transformer", "optimizer_adamw"}). Call it once per test
/// program (from a function-local static): plugins stay loaded for the whole process.
inline stagehand::Registry* load_plugins(std::initializer_list<const char*> names) {
  auto* registry = new stagehand::Registry;
  auto* loader = new stagehand::PluginLoader(*registry);
  for (const char* name : names) loader->load(std::string(STAGEHAND_PLUGIN_DIR) + "/" + name + ".so", "test");
  return registry;
}

inline stagehand::BuildContext build_context(stagehand::Registry& registry, uint64_t seed = 1) {
  stagehand::BuildContext ctx;
  ctx.registry = &registry;
  ctx.seed = seed;
  return ctx;
}

/// Builds a component of kind T from a YAML spec.
template <class T>
std::shared_ptr<T> make_component(stagehand::Registry& registry, const std::string& yaml, uint64_t seed = 1) {
  return registry.create<T>(stagehand::parse_yaml(yaml, "test"), build_context(registry, seed));
}

}  // namespace sh_test
