// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/classification_table.h"

#include <cmath>

#include <fmt/format.h>

namespace stagehand::sdk {

size_t add_per_class_f1(ResultsTable& table, const std::string& column, const std::vector<std::string>& labels,
                        const std::vector<std::map<std::string, double>>& runs, const std::string& prefix) {
  size_t added = 0;
  for (const auto& label : labels) {
    std::vector<double> values;
    for (const auto& m : runs)
      if (auto it = m.find(prefix + "f1." + label); it != m.end()) values.push_back(it->second);
    if (values.empty()) continue;
    table.set("f1." + label, column, values);
    ++added;
  }
  return added;
}

std::string confusion_markdown(const std::vector<std::string>& labels,
                               const std::vector<std::map<std::string, double>>& runs, const std::string& prefix) {
  bool any = false;
  std::vector<std::vector<int64_t>> counts(labels.size(), std::vector<int64_t>(labels.size(), 0));
  for (size_t a = 0; a < labels.size(); ++a)
    for (size_t b = 0; b < labels.size(); ++b)
      for (const auto& m : runs)
        if (auto it = m.find(prefix + "confusion." + labels[a] + "." + labels[b]); it != m.end()) {
          counts[a][b] += static_cast<int64_t>(std::llround(it->second));
          any = true;
        }
  if (!any) return "";
  std::string md = "| true \\ predicted |";
  std::string rule = "|---|";
  for (const auto& l : labels) {
    md += " " + l + " |";
    rule += "---|";
  }
  md += "\n" + rule + "\n";
  for (size_t a = 0; a < labels.size(); ++a) {
    md += "| " + labels[a] + " |";
    for (size_t b = 0; b < labels.size(); ++b) md += fmt::format(" {} |", counts[a][b]);
    md += "\n";
  }
  return md;
}

}  // namespace stagehand::sdk
