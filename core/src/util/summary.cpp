// SPDX-License-Identifier: Apache-2.0
#include "stagehand/summary.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace stagehand {

Summary summarize(const std::vector<double>& values) {
  Summary s;
  s.n = values.size();
  if (values.empty()) return s;
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(s.n);
  double sq = 0;
  for (double v : values) sq += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(sq / static_cast<double>(s.n));
  return s;
}

std::string format_mean_std(const Summary& s, bool percent, int decimals) {
  const double k = percent ? 100.0 : 1.0;
  return fmt::format("{:.{}f} ({:.{}f})", s.mean * k, decimals, s.std * k, decimals);
}

}  // namespace stagehand
