// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <stagehand/registry.h>

namespace stagehand::train {
void register_saved(PluginRegistrar& r);
}  // namespace stagehand::train
