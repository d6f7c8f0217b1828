// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the text_classification dataset and its plan facts share: the reading settings from the options, the classes
// (from `labels` or from the train file's records), and the fact function itself. Without LibTorch: built into the
// plugin and into its facts companion (stagehand/facts_companion.h), which `runner check` opens instead of the plugin.
#include <string>
#include <vector>

#include <stagehand/registry.h>
#include <stagehand/schema.h>

#include "text_records.h"

namespace stagehand::text_classification {

/// How the files are read, from the options.
text_records::Settings settings_from(const Options& o);
/// The `labels` option as the classes: lowercased with lowercase_labels, each listed once (else an error at it).
std::vector<std::string> fixed_labels_of(const Options& o, const text_records::Settings& s);
/// The classes learnt from the train file's records: their labels, sorted (numerically when all are integers).
std::vector<std::string> labels_of_records(const std::vector<text_records::Record>& records);
/// What planning knows before any data is built (`runner check`): num_labels beside the tokenizer's facts.
PlanFacts facts(const Options& o, const FactLookup& lookup);

}  // namespace stagehand::text_classification
