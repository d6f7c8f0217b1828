// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The Trainer: the training loop of the `train` stage, for any stage kind that trains a model. A stage builds the
/// parts (data, model, loss, optimizer, schedule, evaluators, and optionally what each batch needs beyond the data,
/// such as a teacher's logits) and hands them over with the loop's options; the Trainer runs
///
///   setup     parameter groups (freezing, no decay on biases and norms, layer-wise lr decay), data-parallel start
///   train()   resume from the newest checkpoint, then per step: gradient accumulation over micro-batches (bf16
///             autocast when asked), the ranks' sums, a non-finite loss check, clipping, the optimizer step at
///             base lr x schedule, progress and metrics, evaluation with model selection and early stopping,
///             checkpoints; a stop signal checkpoints and throws Interrupted
///   finish()  the best model (select_best), model.pt / encoder.pt and what the stage provides, the final metrics
///             (steps, train_loss, best_step, <split>.<metric> on the evaluation and test splits), timings.
///
/// Each phase is a part of its own (param_groups.h, micro_batches.h, accumulation.h, checkpointing.h,
/// model_selection.h, evaluation.h, progress.h, prefetcher.h, teacher.h) that a stage can also use on its own.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <stagehand/dataset.h>
#include <stagehand/distributed.h>
#include <stagehand/model.h>
#include <stagehand/optim.h>
#include <stagehand/schema.h>
#include <stagehand/stage.h>

#include "stagehand/sdk/export.h"
#include "stagehand/sdk/train/checkpointing.h"
#include "stagehand/sdk/train/evaluation.h"
#include "stagehand/sdk/train/micro_batches.h"
#include "stagehand/sdk/train/model_selection.h"
#include "stagehand/sdk/train/param_groups.h"
#include "stagehand/sdk/train/progress.h"

namespace stagehand::sdk::train {

class Prefetcher;

/// The loop's options, as the `train` stage names them (trainer_schema()).
struct STAGEHAND_SDK_API TrainerOptions {
  std::optional<int64_t> steps;  ///< optimizer steps; else from epochs
  double epochs = 1.0;
  int64_t batch_size = 32;  ///< examples per micro-batch (over every rank)
  int64_t grad_accum = 1;   ///< micro-batches per optimizer step
  std::optional<int64_t> eval_batch_size;
  double clip_norm = 1.0;  ///< 0: off
  bool clip_per_tensor = false;
  ParamGroupOptions params;  ///< freeze, layerwise_lr_decay (exclude_bias_and_norm comes from the optimizer)
  bool bf16 = false;
  std::optional<int64_t> eval_every;        ///< default: once per epoch
  std::optional<int64_t> checkpoint_every;  ///< default: min(eval_every, 500)
  int keep_checkpoints = 2;
  int64_t log_every = 10;
  bool select_best = true;
  int64_t early_stopping_patience = 0;
  std::string train_split = "train", eval_split = "validation", test_split = "test";

  /// Reads the options of trainer_schema() from a stage's options.
  static TrainerOptions from(const Options& options);
};

/// The loop's options (steps, epochs, batch_size, grad_accum, ..., test_split) with their defaults and docs, to
/// extend a stage kind's schema with: Schema().component(...)....extend(trainer_schema()).
STAGEHAND_SDK_API Schema trainer_schema();

class STAGEHAND_SDK_API Trainer {
 public:
  struct Parts {
    std::shared_ptr<Dataset> data;
    std::shared_ptr<Model> model;
    std::shared_ptr<Loss> loss;
    std::shared_ptr<Optimizer> optimizer;
    std::shared_ptr<Scheduler> scheduler;
    std::vector<std::shared_ptr<Evaluator>> evaluators;  ///< the first one's primary metric selects the model
    std::function<void(Batch&)> prepare;  ///< adds what the loss needs beyond the data (Teacher::prepare); optional
  };

  /// Checks that the training split exists and has examples (call early, before building a model).
  static void check_data(const Dataset& data, const TrainerOptions& options);

  /// Gives the evaluators the data's labels, hands the parameter groups to the optimizer, starts every rank from
  /// rank 0's weights, works out the schedule and says what will train.
  Trainer(StageContext& ctx, Parts parts, TrainerOptions options);
  ~Trainer();

  /// Resumes and trains to the last step or to early stopping. Throws Interrupted (after a checkpoint) on a stop
  /// signal, stagehand::Error on a non-finite loss.
  void train();
  /// Selects the best model, writes model.pt (and encoder.pt), provides "model" (and "encoder"), records the final
  /// metrics and the timings. With several ranks, rank 0 writes.
  void finish();

  Model& model() { return *parts_.model; }
  const Evaluation& evaluation() const { return eval_; }
  const ModelSelector& selector() const { return selector_; }
  int64_t step() const { return step_; }
  int64_t total_steps() const { return total_; }

 private:
  void describe(int64_t steps_per_epoch) const;
  bool train_step(Prefetcher& prefetch);
  void check_finite(double loss) const;
  void evaluate();
  void select_best();
  void save_outputs();
  void final_metrics();
  void record_timings() const;
  void broadcast_weights();

  StageContext& ctx_;
  Parts parts_;
  TrainerOptions o_;
  ParamGroups groups_;
  std::unique_ptr<dist::GradientReducer> reducer_;
  MicroBatches batches_;
  int64_t total_ = 0, eval_every_ = 0, ckpt_every_ = 0;
  bool can_eval_ = false;
  Evaluation eval_;
  ModelSelector selector_;
  Checkpointer checkpoints_;
  std::unique_ptr<TrainLog> log_;
  int64_t step_ = 0, first_step_ = 0;
  double last_loss_;
  bool stopped_early_ = false;
};

}  // namespace stagehand::sdk::train
