// SPDX-License-Identifier: Apache-2.0
// `runner runs`: a table of the runs under a runs folder, or several runs side by side (runs.cpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stagehand {

struct RunsOptions {
  std::string runs_dir = "runs";
  std::vector<std::string> pipelines;  ///< names or pipeline files; empty: every pipeline
  std::vector<std::string> metrics;    ///< "stage.metric" columns (a bare "metric" takes the first stage that has it)
  std::string sort = "started";        ///< a column: id, pipeline, started, status, seconds, commit, or a metric
  bool descending = false;
  std::string format = "md";           ///< md, csv or json
  std::vector<std::string> compare;    ///< run ids or run folders / records: side by side instead of the table
  int limit = 0;                       ///< the last N rows after sorting; 0: all
};

/// Prints the table; returns the exit code.
int cmd_runs(const RunsOptions& options);

/// What `runner runs` is made of, for other commands (`runner sweep` ends with a table of its runs).
namespace runs {
/// The summary of the run in `dir` (summary.json, or record.yaml for a run recorded before summaries), or null when
/// the folder holds no run.
nlohmann::json read_summary(const std::filesystem::path& dir);
/// A metric of a run: "stage.metric", or a bare "metric" from the first stage (in record order) that has it; null
/// when absent.
nlohmann::json metric_of(const nlohmann::json& summary, const std::string& key);
/// A value as table text ("" for null; numbers with 4 significant digits).
std::string text(const nlohmann::json& value);
using Table = std::vector<std::vector<std::string>>;  ///< the first row is the header
/// As a Markdown table ("md"), CSV or a JSON list of objects.
void print(const Table& table, const std::string& format);
}  // namespace runs

}  // namespace stagehand
