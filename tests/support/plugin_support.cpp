// SPDX-License-Identifier: Apache-2.0
#include "support/plugin_support.h"

#include "plugin/loader.h"

namespace sh_test {

stagehand::Registry* load_plugins(std::initializer_list<const char*> names) {
  auto* registry = new stagehand::Registry;
  auto* loader = new stagehand::PluginLoader(*registry);
  for (const char* name : names) loader->load(std::string(STAGEHAND_PLUGIN_DIR) + "/" + name + ".so", "test");
  return registry;
}

stagehand::BuildContext build_context(stagehand::Registry& registry, uint64_t seed) {
  stagehand::BuildContext ctx;
  ctx.registry = &registry;
  ctx.seed = seed;
  return ctx;
}

}  // namespace sh_test
