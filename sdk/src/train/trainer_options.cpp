// SPDX-License-Identifier: Apache-2.0
// The loop's options: their schema (the `train` stage's, in its order) and their reading.
#include "stagehand/sdk/train/trainer.h"

namespace stagehand::sdk::train {

Schema trainer_schema() {
  return Schema()
      .optional("steps", OptionType::Int, "optimizer steps (default: from epochs)")
      .min(1)
      .opt("epochs", 1.0, "passes over the training split when steps is not given")
      .min(0)
      .opt("batch_size", int64_t{32}, "examples per micro-batch")
      .min(1)
      .opt("grad_accum", int64_t{1}, "micro-batches per optimizer step")
      .min(1)
      .optional("eval_batch_size", OptionType::Int, "batch size for evaluation (default: batch_size)")
      .opt("clip_norm", 1.0, "gradient-norm clipping (0: off)")
      .min(0)
      .choice("clip_mode", "global", {"global", "per_tensor"},
              "global: one norm over all gradients (torch's clip_grad_norm_); per_tensor: each tensor clipped on its "
              "own to clip_norm before the update (BertAdam's max_grad_norm, as DSE trains)")
      .opt("layerwise_lr_decay", 1.0, "lr x decay^(L+2-depth): embeddings 0, block i at i+1, heads L+2 (ELECTRA)")
      .min(0)
      .max(1)
      .list("freeze", OptionType::String, ConfigNode::sequence(),
            "parameter-name prefixes that do not train (e.g. encoder.embeddings)")
      .choice("precision", "fp32", {"fp32", "bf16"}, "bf16: autocast to bfloat16 with fp32 master weights")
      .optional("eval_every", OptionType::Int, "evaluate every N steps (default: once per epoch and at the end)")
      .min(1)
      .optional("checkpoint_every", OptionType::Int, "checkpoint every N steps (default: min(eval_every, 500))")
      .min(1)
      .opt("keep_checkpoints", int64_t{2}, "how many recent checkpoints to keep while training")
      .min(1)
      .opt("log_every", int64_t{10}, "log loss and lr to metrics.jsonl every N steps")
      .min(1)
      .opt("select_best", true, "finish with the weights of the best evaluation (if there was one)")
      .opt("early_stopping_patience", int64_t{0}, "stop after N evaluations without improvement (0: never)")
      .min(0)
      .opt("train_split", std::string("train"), "split to train on")
      .opt("eval_split", std::string("validation"), "split to evaluate on during training")
      .opt("test_split", std::string("test"), "split also evaluated at the end (if the dataset has it)");
}

namespace {
std::optional<int64_t> optional_int(const Options& o, const std::string& name) {
  if (!o.has(name)) return std::nullopt;
  return o.get<int64_t>(name);
}
}  // namespace

TrainerOptions TrainerOptions::from(const Options& o) {
  TrainerOptions t;
  t.steps = optional_int(o, "steps");
  t.epochs = o.get<double>("epochs");
  t.batch_size = o.get<int64_t>("batch_size");
  t.grad_accum = o.get<int64_t>("grad_accum");
  t.eval_batch_size = optional_int(o, "eval_batch_size");
  t.clip_norm = o.get<double>("clip_norm");
  t.clip_per_tensor = o.get<std::string>("clip_mode") == "per_tensor";
  t.params.freeze = o.get<std::vector<std::string>>("freeze");
  t.params.layerwise_lr_decay = o.get<double>("layerwise_lr_decay");
  t.bf16 = o.get<std::string>("precision") == "bf16";
  t.eval_every = optional_int(o, "eval_every");
  t.checkpoint_every = optional_int(o, "checkpoint_every");
  t.keep_checkpoints = static_cast<int>(o.get<int64_t>("keep_checkpoints"));
  t.log_every = o.get<int64_t>("log_every");
  t.select_best = o.get<bool>("select_best");
  t.early_stopping_patience = o.get<int64_t>("early_stopping_patience");
  t.train_split = o.get<std::string>("train_split");
  t.eval_split = o.get<std::string>("eval_split");
  t.test_split = o.get<std::string>("test_split");
  return t;
}

}  // namespace stagehand::sdk::train
