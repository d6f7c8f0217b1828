// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/trainer.h"

#include <cmath>
#include <csignal>

#include <fmt/format.h>
#include <torch/utils.h>

#include <stagehand/checkpoint.h>
#include <stagehand/engine.h>
#include <stagehand/error.h>
#include <stagehand/files.h>
#include <stagehand/seed.h>

#include "stagehand/sdk/train/accumulation.h"
#include "stagehand/sdk/train/clip_gradients.h"
#include "stagehand/sdk/train/prefetcher.h"

namespace stagehand::sdk::train {

namespace fs = std::filesystem;

namespace {

// The micro-batches of the training split, for this rank; the split is checked first.
MicroBatches micro_batches(StageContext& ctx, const Trainer::Parts& p, const TrainerOptions& o) {
  Trainer::check_data(*p.data, o);
  const dist::World& world = dist::world();
  return MicroBatches(p.data->size(o.train_split), o.batch_size, o.grad_accum, derive_seed(ctx.seed(), "data"),
                      world.rank, world.world_size);
}

}  // namespace

void Trainer::check_data(const Dataset& data, const TrainerOptions& o) {
  SH_CHECK(data.has_split(o.train_split), "the dataset has no '{}' split (it has: {})", o.train_split,
           fmt::join(data.splits(), ", "));
  SH_CHECK(data.size(o.train_split) > 0, "the '{}' split of the dataset is empty; check the data files", o.train_split);
}

Trainer::Trainer(StageContext& ctx, Parts parts, TrainerOptions options)
    : ctx_(ctx),
      parts_(std::move(parts)),
      o_(std::move(options)),
      batches_(micro_batches(ctx, parts_, o_)),
      eval_(ctx, parts_.data, parts_.evaluators, o_.eval_batch_size.value_or(o_.batch_size), parts_.loss.get(),
            parts_.prepare),
      selector_(ModelSelector::for_evaluators(parts_.evaluators, o_.early_stopping_patience,
                                              ctx.output_dir() / "best.pt")),
      checkpoints_(ctx, ctx.output_dir() / "checkpoints", o_.keep_checkpoints),
      last_loss_(NAN) {
  // Label names now, so that an evaluator option naming a label that does not exist fails before training.
  for (auto& e : parts_.evaluators) e->set_labels(parts_.data->labels());
  ParamGroupOptions po = o_.params;
  po.exclude_bias_and_norm = parts_.optimizer->exclude_bias_and_norm_from_decay();
  groups_ = build_param_groups(*parts_.model, po);
  parts_.optimizer->setup(groups_.params);
  // Data-parallel: every rank starts from rank 0's weights and draws its own dropout (rank 0 keeps the stage's
  // random stream, so one rank is exactly a single-process run).
  const dist::World& world = dist::world();
  if (dist::active()) {
    broadcast_weights();
    if (world.rank != 0) torch::manual_seed(derive_seed(ctx.seed(), fmt::format("rank-{}", world.rank)));
  }
  reducer_ = std::make_unique<dist::GradientReducer>(groups_.trainable);
  const int64_t steps_per_epoch = batches_.steps_per_epoch();
  total_ = batches_.total_steps(o_.steps, o_.epochs);
  SH_CHECK(total_ > 0, "the stage would train for 0 steps; set steps or epochs");
  eval_every_ = o_.eval_every.value_or(steps_per_epoch);
  ckpt_every_ = o_.checkpoint_every.value_or(std::min<int64_t>(eval_every_, 500));
  can_eval_ = eval_.has(o_.eval_split);
  SH_CHECK(o_.batch_size >= world.world_size,
           "batch_size {} is smaller than the {} data-parallel ranks; batch_size is the whole batch, divided among the "
           "ranks: give at least {}",
           o_.batch_size, world.world_size, world.world_size);
  describe(steps_per_epoch);
}

Trainer::~Trainer() = default;

// Rank 0's parameters and buffers to every rank.
void Trainer::broadcast_weights() {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> state;
  for (auto& p : parts_.model->parameters()) state.push_back(p.data());
  for (auto& b : parts_.model->buffers()) state.push_back(b);
  dist::broadcast(state);
}

void Trainer::describe(int64_t steps_per_epoch) const {
  const dist::World& world = dist::world();
  if (dist::active())
    ctx_.info(fmt::format("data-parallel: {} ranks ({}), {} examples per rank per micro-batch", world.world_size,
                          world.backend, o_.batch_size / world.world_size));
  ctx_.info(fmt::format("{} examples, batch {} x {} accumulation, {} steps ({} per epoch), {} trainable tensors "
                        "({:.2f} M values), {} frozen, {}",
                        parts_.data->size(o_.train_split), o_.batch_size, o_.grad_accum, total_, steps_per_epoch,
                        groups_.params.size(), groups_.values / 1e6, groups_.frozen,
                        o_.bf16 ? "bf16 autocast" : "fp32"));
}

void Trainer::train() {
  checkpoints_.restore(*parts_.model, *parts_.optimizer, step_, selector_.state(), total_);
  Prefetcher prefetch([this](int64_t k) { return batches_.batch(*parts_.data, o_.train_split, k); },
                      step_ * o_.grad_accum, 4);
  first_step_ = step_;
  parts_.model->train();
  log_ = std::make_unique<TrainLog>(ctx_, total_, o_.log_every);
  while (step_ < total_)
    if (!train_step(prefetch)) break;
  log_->finish();
}

bool Trainer::train_step(Prefetcher& prefetch) {
  parts_.optimizer->zero_grad();
  const bool dp = dist::active();
  auto next = [&](int64_t a) {
    MicroBatch mb{prefetch.get(), batches_.weight(step_ * o_.grad_accum + a)};
    if (parts_.prepare) parts_.prepare(mb.batch);
    return mb;
  };
  StepStats s = accumulate_gradients({o_.grad_accum, o_.bf16, dp}, next, model_loss(*parts_.model, *parts_.loss),
                                     reducer_.get());
  s.stop = ctx_.stop_requested();
  if (dp) sum_over_ranks(s, *reducer_);
  log_->add_tokens(s.tokens);
  check_finite(s.loss);
  clip_gradients(groups_.trainable, o_.clip_norm, o_.clip_per_tensor);
  const double lr = parts_.optimizer->base_lr() * parts_.scheduler->factor(step_, total_);
  parts_.optimizer->step(lr);
  ++step_;
  last_loss_ = s.loss;
  log_->step(step_, s, lr);
  if (can_eval_ && (step_ % eval_every_ == 0 || step_ == total_)) evaluate();
  // One process looks at the signal now (after the evaluation); several ranks stop at the step they agreed on.
  if (dp ? s.stop : ctx_.stop_requested()) {
    checkpoints_.save(*parts_.model, *parts_.optimizer, step_, selector_.state());
    log_->finish();
    throw Interrupted(ctx_.stop_signal() != 0 ? ctx_.stop_signal() : SIGTERM);
  }
  if (step_ % ckpt_every_ == 0 || step_ == total_ || stopped_early_)
    checkpoints_.save(*parts_.model, *parts_.optimizer, step_, selector_.state());
  return !stopped_early_;
}

void Trainer::check_finite(double loss) const {
  if (std::isfinite(loss)) return;
  const auto last = checkpoints_.newest_step();
  throw Error(fmt::format("the loss became {} at step {}; training stopped{}. Lower the learning rate or check the data",
                          loss, step_ + 1,
                          last ? fmt::format(" (the last good checkpoint, step {}, is kept)", *last) : ""));
}

void Trainer::evaluate() {
  const auto m = eval_.run(*parts_.model, o_.eval_split);
  eval_.log_values(step_, m);
  const bool improved = selector_.observe(step_, m, *parts_.model, dist::world().rank == 0);
  eval_.log_line(step_, m, improved);
  Evaluation::check_ranks_agree(selector_.metric(), selector_.score(m), step_);
  if (selector_.patience_exhausted()) {
    ctx_.info(fmt::format("early stopping: no better {} in {} evaluations", selector_.metric(),
                          o_.early_stopping_patience));
    stopped_early_ = true;
  }
}

void Trainer::finish() {
  // With several ranks, rank 0 (which kept best.pt) sends the selected weights to the others, all share the final
  // evaluation, and rank 0 alone writes.
  select_best();
  save_outputs();
  final_metrics();
  record_timings();
}

void Trainer::select_best() {
  const Selection& s = selector_.state();
  if (!o_.select_best || s.best_step < 0) return;
  if (dist::world().rank == 0 && selector_.load_best(*parts_.model))
    ctx_.info(fmt::format("selected the model of step {} ({} {:.4f})", s.best_step, selector_.metric(), s.best));
  if (dist::active()) broadcast_weights();
}

void Trainer::save_outputs() {
  if (dist::world().rank != 0) return;
  Model& model = *parts_.model;
  save_weights(ctx_.output_dir() / "model.pt", model);
  write_file_atomic(ctx_.output_dir() / "model.yaml", to_yaml(model.spec()));
  ctx_.provide("model", saved_spec(model.spec(), "model.pt"));
  if (auto enc = model.encoder()) {
    save_weights(ctx_.output_dir() / "encoder.pt", *enc);
    ctx_.provide("encoder", saved_spec(enc->spec(), "encoder.pt"));
  }
  // The label names of the training data, in the model's output order (export_hf writes them as id2label).
  if (const auto names = parts_.data->labels(); !names.empty()) {
    std::vector<ConfigNode> items;
    for (const auto& n : names) items.push_back(ConfigNode::of(n));
    ctx_.provide("labels", ConfigNode::map({{"type", ConfigNode::of("labels")},
                                            {"names", ConfigNode::sequence(std::move(items))}}));
  }
  // Checkpoints served the run; the stage's output is the model.
  checkpoints_.remove();
  selector_.remove_file();
}

void Trainer::final_metrics() {
  const bool writes = dist::world().rank == 0;
  if (writes) {
    ctx_.metric("steps", static_cast<double>(step_));
    ctx_.metric("train_loss", last_loss_);
    // Only a selected model has a best step: with select_best false the last step's weights are kept, and a
    // best_step would name a step whose weights the output does not hold.
    if (o_.select_best && selector_.state().best_step >= 0)
      ctx_.metric("best_step", static_cast<double>(selector_.state().best_step));
  }
  for (const std::string& split : {o_.eval_split, o_.test_split}) {
    if (!eval_.has(split)) continue;
    const auto m = eval_.run(*parts_.model, split);
    if (writes)
      for (const auto& [k, v] : m) ctx_.metric(split + "." + k, v);
  }
}

void Trainer::record_timings() const {
  if (dist::world().rank != 0 || !log_) return;
  log_->record_timings();
  if (!dist::active()) return;
  const double secs = log_->seconds();
  ctx_.timing("ranks", static_cast<double>(dist::world().world_size));
  ctx_.timing("allreduce_seconds", reducer_->seconds());
  if (secs > 0) ctx_.timing("allreduce_share", reducer_->seconds() / secs);
  const int64_t steps_here = step_ - first_step_;
  if (steps_here > 0)
    ctx_.timing("allreduce_overlapped", static_cast<double>(reducer_->overlapped()) /
                                            static_cast<double>(steps_here * static_cast<int64_t>(reducer_->buckets())));
}

}  // namespace stagehand::sdk::train
