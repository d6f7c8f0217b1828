// SPDX-License-Identifier: Apache-2.0
#include "stagehand/results.h"

#include <algorithm>

#include <fmt/format.h>

#include <cmath>

#include "stagehand/summary.h"

namespace stagehand {

void ResultsTable::set(const std::string& metric, const std::string& column, std::vector<double> values) {
  if (std::find(rows_.begin(), rows_.end(), metric) == rows_.end()) rows_.push_back(metric);
  cells_[{metric, column}] = std::move(values);
}

void ResultsTable::set_text_row(const std::string& label, std::vector<std::string> cells) {
  text_rows_.emplace_back(label, std::move(cells));
}

bool is_ratio_metric(const std::string& metric) {
  static const char* kRatios[] = {"f1", "accuracy", "precision", "recall", "map", "ndcg", "mrr", "auc", "em"};
  size_t start = 0;
  while (start <= metric.size()) {
    size_t end = metric.find('.', start);
    if (end == std::string::npos) end = metric.size();
    std::string part = metric.substr(start, end - start);
    const size_t u = part.rfind('_');
    const std::string word = u == std::string::npos ? part : part.substr(u + 1);
    for (const char* r : kRatios)
      if (word == r || part == r) return true;
    start = end + 1;
  }
  return false;
}

bool ResultsTable::percent(const std::string& metric) const {
  if (!is_ratio_metric(metric)) return false;
  bool any = false;
  for (const auto& c : columns_) {
    auto it = cells_.find({metric, c});
    if (it == cells_.end()) continue;
    for (double v : it->second) {
      if (!(v >= 0.0 && v <= 1.0)) return false;
      any = true;
    }
  }
  return any;
}

std::string ResultsTable::cell(const std::string& metric, const std::string& column) const {
  auto it = cells_.find({metric, column});
  if (it == cells_.end() || it->second.empty()) return "";
  const bool pct = percent(metric);
  // Counts (examples, parameters, steps) are whole numbers in every run: shown as such.
  const bool whole = !pct && std::all_of(it->second.begin(), it->second.end(),
                                         [](double v) { return std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15; });
  if (whole && it->second.size() == 1) return fmt::format("{}", static_cast<int64_t>(it->second[0]));
  if (it->second.size() == 1) return pct ? fmt::format("{:.2f}", it->second[0] * 100) : fmt::format("{:.4f}", it->second[0]);
  return format_mean_std(summarize(it->second), pct, pct ? 2 : 4);
}

std::string ResultsTable::markdown() const {
  bool any_pct = false;
  for (const auto& r : rows_) any_pct = any_pct || percent(r);
  // The scale is said where the numbers are read: F1 0.9495 is shown as 94.95, "in %".
  std::string md = any_pct ? "| metric (ratios in %, 0-100) |" : "| metric |";
  std::string rule = "|---|";
  for (const auto& c : columns_) {
    md += " " + c + " |";
    rule += "---|";
  }
  md += "\n" + rule + "\n";
  bool any_trials = false;
  for (const auto& r : rows_) {
    md += "| " + r + " |";
    for (const auto& c : columns_) {
      auto it = cells_.find({r, c});
      if (it != cells_.end() && it->second.size() > 1) any_trials = true;
      md += " " + cell(r, c) + " |";
    }
    md += "\n";
  }
  for (const auto& [label, cells] : text_rows_) {
    md += "| " + label + " |";
    for (size_t i = 0; i < columns_.size(); ++i) md += " " + (i < cells.size() ? cells[i] : std::string()) + " |";
    md += "\n";
  }
  std::vector<std::string> notes;
  if (any_pct) notes.push_back("metrics in [0, 1] in percent");
  if (any_trials) notes.push_back("over trials: mean (standard deviation)");
  if (!notes.empty()) md += "\n(" + fmt::format("{}", fmt::join(notes, "; ")) + ")\n";
  return md;
}

std::string ResultsTable::csv() const {
  std::string out = "metric,column,n,mean,std,min,max,values\n";
  for (const auto& r : rows_) {
    for (const auto& c : columns_) {
      auto it = cells_.find({r, c});
      if (it == cells_.end() || it->second.empty()) continue;
      Summary s = summarize(it->second);
      std::vector<std::string> vs;
      for (double v : it->second) vs.push_back(fmt::format("{:.6g}", v));
      out += fmt::format("{},{},{},{:.6g},{:.6g},{:.6g},{:.6g},{}\n", r, c, s.n, s.mean, s.std, s.min, s.max,
                         fmt::join(vs, ";"));
    }
  }
  return out;
}

}  // namespace stagehand
