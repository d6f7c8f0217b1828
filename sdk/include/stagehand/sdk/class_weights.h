// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Class weights from the training labels: `class_weights: balanced` of a classification loss (and the `baseline`
/// stage's `class_weight: balanced`), defined as scikit-learn's compute_class_weight("balanced", classes, y):
/// weight_c = n_samples / (n_classes * count_c), so that every class carries the same total weight.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <stagehand/config.h>
#include <stagehand/dataset.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

/// n / (K * counts[c]) for each of the K classes, n the sum of the counts. A class with no example has no balanced
/// weight (scikit-learn refuses too): an error naming it (`names[c]` when given) and `what` (e.g. "the 'train'
/// split").
STAGEHAND_SDK_API std::vector<double> balanced_class_weights(const std::vector<int64_t>& counts,
                                                             const std::vector<std::string>& names = {},
                                                             const std::string& what = "the labels");

/// Examples per class id 0..num_classes-1 in `split` of `data`, read from its batches' `labels_key` tensor (any
/// shape: token labels count each token); labels equal to `ignore_index` are not counted, any other label outside
/// [0, num_classes) is an error.
STAGEHAND_SDK_API std::vector<int64_t> class_counts(const Dataset& data, const std::string& split, int64_t num_classes,
                                                    const std::string& labels_key = "labels",
                                                    int64_t ignore_index = -100);

/// Whether `spec` (a component spec, searched through its nested maps and lists) has `class_weights: balanced`.
STAGEHAND_SDK_API bool wants_balanced_class_weights(const ConfigNode& spec);

/// A copy of `spec` in which every `class_weights: balanced` is the list `weights` (each value keeps the location of
/// the word `balanced`, so that errors about it still point at the pipeline).
STAGEHAND_SDK_API ConfigNode with_class_weights(const ConfigNode& spec, const std::vector<double>& weights);

}  // namespace stagehand::sdk
