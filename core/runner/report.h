// SPDX-License-Identifier: Apache-2.0
// The HTML report of runs (report.cpp): one self-contained file (inline CSS, SVG and a few lines of script; no
// network, no CDN) with a run's results tables, its loss and metric curves per stage, the stage graph with each
// stage's status, the timings, the resolved configuration with where each value came from, and the plots stages
// wrote (the probe stage's layers.svg). Every run writes runs/<pipeline>/<id>/report.html when it ends;
// `runner report RUN...` writes it again, or one file for several runs side by side.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace stagehand {

struct ReportOptions {
  std::vector<std::string> runs;  ///< run ids (looked up under runs_dir), run folders or record.yaml files
  std::string output;             ///< the file to write; empty: <run>/report.html for one run, report.html for several
  std::string runs_dir = "runs";
};

/// `runner report`: writes the report and prints its path; returns the exit code.
int cmd_report(const ReportOptions& options);

/// Writes <run_dir>/report.html for the run in `run_dir` and returns its path. Throws stagehand::Error when the
/// folder holds no readable record.
std::filesystem::path write_run_report(const std::filesystem::path& run_dir);

}  // namespace stagehand
