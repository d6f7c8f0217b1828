// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Summaries of repeated measurements (a metric over trials), as the Bio-ELECTRA papers report them.
#include <cstddef>
#include <string>
#include <vector>

#include "stagehand/export.h"

namespace stagehand {

/// Mean, standard deviation, min and max of repeated measurements (e.g. a metric over trials). The standard
/// deviation is the population one (numpy's np.std default), as the Bio-ELECTRA reports compute it.
struct STAGEHAND_API Summary {
  size_t n = 0;
  double mean = 0, std = 0, min = 0, max = 0;
};
STAGEHAND_API Summary summarize(const std::vector<double>& values);
/// "78.33 (0.41)": mean and standard deviation with `decimals` digits, both times 100 when `percent`.
STAGEHAND_API std::string format_mean_std(const Summary& s, bool percent, int decimals = 2);

}  // namespace stagehand
