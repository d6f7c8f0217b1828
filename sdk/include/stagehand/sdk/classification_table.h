// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The classification rows of a results table beyond the headline metrics: per-class F1 (a ResultsTable row each)
/// and the confusion matrix (a table of its own: true classes down, predicted classes across, whole counts). Read
/// from the metric names of the `classification` evaluator (f1.<label>, confusion.<true>.<predicted>) with the
/// dataset's label names, so a label with a '.' in it is found too. Used by the `evaluate` and `baseline` stages.
#include <map>
#include <string>
#include <vector>

#include <stagehand/results.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

/// Adds a row "f1.<label>" for every label whose F1 `runs` hold (one map of metrics per trial, names under
/// `prefix`, e.g. "test." or ""), in label order. Returns how many rows it added.
STAGEHAND_SDK_API size_t add_per_class_f1(ResultsTable& table, const std::string& column,
                                          const std::vector<std::string>& labels,
                                          const std::vector<std::map<std::string, double>>& runs,
                                          const std::string& prefix = "");

/// The confusion matrix in `runs` as a Markdown table, rows the true class and columns the predicted one, each cell
/// the count summed over the runs (trials), written as a whole number. "" when the metrics hold no confusion
/// entries (the evaluator leaves them out above its confusion_max_classes).
STAGEHAND_SDK_API std::string confusion_markdown(const std::vector<std::string>& labels,
                                                 const std::vector<std::map<std::string, double>>& runs,
                                                 const std::string& prefix = "");

}  // namespace stagehand::sdk
