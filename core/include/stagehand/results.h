// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Results tables: rows are metrics, columns are models or stages, and a cell holds one value or the values of
/// several trials, shown as "78.33 (0.41)" (mean and population standard deviation) the way the Bio-ELECTRA
/// papers report them. A ratio metric (F1, accuracy, precision, recall, MAP, nDCG... by name) whose values all lie
/// in [0, 1] is shown in percent.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "stagehand/export.h"

namespace stagehand {

/// Whether a metric is a ratio people read in percent (F1, accuracy, precision, recall, MAP, nDCG, MRR, AUC, EM),
/// judged by name: one of its dotted parts, or the last '_' word of one ("macro_f1"), is such a name.
STAGEHAND_API bool is_ratio_metric(const std::string& metric);

class STAGEHAND_API ResultsTable {
 public:
  explicit ResultsTable(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  /// Adds the value(s) of `metric` for `column` (several values: one per trial). Rows keep first-seen order.
  void set(const std::string& metric, const std::string& column, std::vector<double> values);
  /// A row of plain text cells (e.g. "examples/s"), shown as given and never scaled.
  void set_text_row(const std::string& label, std::vector<std::string> cells);
  bool empty() const { return rows_.empty() && text_rows_.empty(); }

  /// The text of one cell ("" when absent): "93.60", "78.33 (0.41)", or "0.1234" outside [0, 1].
  std::string cell(const std::string& metric, const std::string& column) const;
  /// A GitHub-flavoured Markdown table with a note on the percent rule when it applies.
  std::string markdown() const;
  /// CSV with unscaled numbers: metric, column, n, mean, std, min, max, then every value separated by ';'.
  std::string csv() const;

 private:
  bool percent(const std::string& metric) const;
  std::vector<std::string> columns_;
  std::vector<std::string> rows_;
  std::map<std::pair<std::string, std::string>, std::vector<double>> cells_;
  std::vector<std::pair<std::string, std::vector<std::string>>> text_rows_;
};

}  // namespace stagehand
