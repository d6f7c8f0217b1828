// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A teacher for distillation: its logits join every batch as "teacher.logits" (float32, (B, width)), in training
/// and in evaluation, since losses read them in both. The logits come from a live model of an upstream stage
/// (frozen: eval mode, no gradients) or from predict stages that wrote them once, looked up by example id
/// (DSE's logits file).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

#include <stagehand/batch.h>
#include <stagehand/model.h>
#include <stagehand/stage.h>

#include "stagehand/sdk/export.h"
#include "stagehand/sdk/upstream.h"

namespace stagehand::sdk::train {

/// A teacher's logits by example id.
struct STAGEHAND_SDK_API LogitsById {
  std::unordered_map<std::string, std::vector<float>> rows;
  int64_t width = 0;
  std::string sources;  ///< for messages: where the logits came from
  /// (B, width) float32 logits of the batch's examples, in batch order. Throws naming an id without logits.
  torch::Tensor lookup(const std::vector<std::string>& ids) const;
  /// One example's row; `where` (file and line or row) names it in errors. Rows must have one width and an id
  /// seen twice must have the same row.
  void add(const std::string& id, std::vector<float> row, const std::string& where);
  /// Every row of a predict stage's file: predictions.jsonl ({"id": ..., "logits": [...]} lines) or a LibTorch
  /// archive (tensor "logits", one row per example) with its ids one per line in <stem>.ids.txt. The archive and
  /// the ids file must hold as many rows as ids.
  void add_file(const std::filesystem::path& file);
};

/// The logits provided (as "predictions") by the predict stages `stages`, upstream of the stage of `ctx`.
STAGEHAND_SDK_API LogitsById read_teacher_logits(StageContext& ctx, const std::vector<std::string>& stages);

/// The model that the upstream stage `stage` provides, frozen: eval mode, no parameter requires a gradient
/// (stagehand/sdk/upstream.h, where a stage finds every model and encoder it reads).
using sdk::frozen_model;

/// Where a batch's teacher.logits come from: a frozen model run on the batch (under bf16 autocast when asked) or
/// logits by example id, or nothing.
class STAGEHAND_SDK_API Teacher {
 public:
  Teacher() = default;
  static Teacher live(std::shared_ptr<Model> model, bool bf16);
  static Teacher cached(std::shared_ptr<const LogitsById> logits);
  /// The `teacher` (a stage) or `teacher_logits` (predict stages) option of the stage of `ctx`, at most one.
  static Teacher from_options(StageContext& ctx, bool bf16);

  explicit operator bool() const { return model_ != nullptr || logits_ != nullptr; }
  const std::shared_ptr<Model>& model() const { return model_; }
  /// Sets batch tensor "teacher.logits".
  void add_to(Batch& batch) const;
  /// add_to as a batch-preparation function (Trainer::Parts::prepare), or nullptr without a teacher.
  std::function<void(Batch&)> prepare() const;

 private:
  std::shared_ptr<Model> model_;
  std::shared_ptr<const LogitsById> logits_;
  bool bf16_ = false;
};

}  // namespace stagehand::sdk::train
