// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Pieces every training-type stage shares: weight files, evaluation loops, the deterministic data order.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "stagehand/dataset.h"
#include "stagehand/export.h"
#include "stagehand/model.h"
#include "stagehand/stage.h"

namespace stagehand {

/// Writes every parameter and buffer of `module` (flat, dotted names) to `file`, atomically with a checksum.
STAGEHAND_API void save_weights(const std::filesystem::path& file, torch::nn::Module& module);
/// Loads weights written by save_weights into `module`. Every parameter and buffer must be present with the
/// same shape (errors name the tensor and both shapes); with `prefix`, only keys under "<prefix>." are used
/// (e.g. "encoder" to take the encoder out of a whole model's weights). Returns the keys not used.
STAGEHAND_API std::vector<std::string> load_weights(const std::filesystem::path& file, torch::nn::Module& module,
                                                    const std::string& prefix = "");

/// The examples of epoch `epoch` in training order: a permutation of [0, n) that depends only on (seed, epoch).
STAGEHAND_API std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);

/// Runs `model` (eval mode, no gradient) over a split and returns the evaluators' metrics merged (prefixed by
/// nothing; evaluators should use distinct names), plus "loss" when a loss is given. `prepare`, when set, adds
/// to each batch what the loss needs beyond the data (e.g. a teacher's logits). Restores the model's training
/// mode afterwards.
STAGEHAND_API std::map<std::string, double> evaluate_split(Model& model, const Dataset& data, const std::string& split,
                                                           const std::vector<std::shared_ptr<Evaluator>>& evaluators,
                                                           int64_t batch_size, Loss* loss, StageContext* ctx,
                                                           const std::function<void(Batch&)>& prepare = nullptr);

/// Puts what the dataset skipped (its hint `skipped_records`, from `on_bad_record: skip`) in the stage's metrics
/// as `skipped_records`, so that the record says how much data the result rests on. Nothing when none was skipped.
STAGEHAND_API void record_skipped(StageContext& ctx, const Dataset& data);

/// evaluate_split on every rank of a data-parallel run at once: rank r runs the model over batches r, r + N, ...
/// of the split, and every rank feeds every batch (its inputs and the model's outputs, gathered from the rank that
/// ran it) to its evaluators in the single-process order, so the metrics are those of one process, exactly, on
/// every rank. In a single process it is evaluate_split. Not interruptible (the ranks must agree).
STAGEHAND_API std::map<std::string, double> evaluate_split_data_parallel(
    Model& model, const Dataset& data, const std::string& split,
    const std::vector<std::shared_ptr<Evaluator>>& evaluators, int64_t batch_size, Loss* loss,
    const std::function<void(Batch&)>& prepare = nullptr);

/// The spec of a trained model or encoder saved by a stage: `{type: saved, spec: <architecture>, weights: FILE}`.
STAGEHAND_API ConfigNode saved_spec(const ConfigNode& architecture, const std::string& weights_file);

}  // namespace stagehand
