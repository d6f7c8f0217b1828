// SPDX-License-Identifier: Apache-2.0
#include "support/plugin_support.h"

#include <algorithm>
#include <stdexcept>

#include "plugin/loader.h"

namespace sh_test {

stagehand::Registry* load_plugins(std::initializer_list<const char*> names) {
  auto* registry = new stagehand::Registry;
  auto* loader = new stagehand::PluginLoader(*registry);
  for (const char* name : names) loader->load(std::string(STAGEHAND_PLUGIN_DIR) + "/" + name + ".so", "test");
  return registry;
}

torch::Tensor int_rows(const nlohmann::json& j) {
  const auto rows = j.get<std::vector<std::vector<int64_t>>>();
  torch::Tensor out = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows.at(0).size())},
                                   torch::kLong);
  auto* p = out.data_ptr<int64_t>();
  for (const auto& row : rows) {
    if (row.size() != rows[0].size()) throw std::invalid_argument("int_rows: rows of different lengths");
    p = std::copy(row.begin(), row.end(), p);
  }
  return out;
}

stagehand::BuildContext build_context(stagehand::Registry& registry, uint64_t seed) {
  stagehand::BuildContext ctx;
  ctx.registry = &registry;
  ctx.seed = seed;
  return ctx;
}

}  // namespace sh_test
