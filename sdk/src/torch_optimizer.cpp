// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/torch_optimizer.h"

namespace stagehand::sdk {

std::pair<double, double> read_betas(const std::vector<double>& b, const std::string& owner) {
  SH_CHECK(b.size() == 2 && b[0] >= 0 && b[0] < 1 && b[1] >= 0 && b[1] < 1,
           "{}: option 'betas' has {} value(s); expected two floats in [0, 1) such as [0.9, 0.999]", owner, b.size());
  return {b[0], b[1]};
}

}  // namespace stagehand::sdk
