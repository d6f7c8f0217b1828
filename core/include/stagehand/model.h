// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Models, heads, losses and evaluators: the trainable parts of a train stage and what judges them.
///
/// A model is a torch::nn::Module that maps a Batch to named outputs. Parameter names are stable (they are the
/// checkpoint format); the encoder inside a model is registered as the submodule "encoder" so that `init:` can
/// load an encoder from any earlier stage.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "stagehand/batch.h"
#include "stagehand/config.h"
#include "stagehand/encoder.h"
#include "stagehand/export.h"

namespace stagehand {

class STAGEHAND_API Model : public torch::nn::Module {
 public:
  static constexpr const char* kKind = "model";
  ~Model() override;
  /// Runs the model; returns its outputs (e.g. "logits" (B, C)). In training mode it may also return
  /// intermediate tensors a loss needs (documented per model).
  virtual Batch forward(const Batch& batch) = 0;
  /// The main encoder (registered as submodule "encoder"), or nullptr.
  virtual std::shared_ptr<Encoder> encoder() = 0;
  /// The spec that rebuilds this model's architecture (every option resolved).
  virtual ConfigNode spec() const = 0;
};

/// A head maps encoder features to task outputs, e.g. an MLP classifier over a pooled vector.
class STAGEHAND_API Head : public torch::nn::Module {
 public:
  static constexpr const char* kKind = "head";
  ~Head() override;
  /// (B, in_features) -> (B, out_features), or (B, T, in) -> (B, T, out) for token heads.
  virtual torch::Tensor forward(const torch::Tensor& features) = 0;
};

/// A training objective. It reads the model's outputs and the batch (labels, teacher outputs) and returns a
/// scalar; it may report named parts (e.g. {"mlm": ..., "rtd": ...}) for logging.
class STAGEHAND_API Loss : public torch::nn::Module {
 public:
  static constexpr const char* kKind = "loss";
  ~Loss() override;
  virtual torch::Tensor compute(const Batch& outputs, const Batch& batch, std::map<std::string, torch::Tensor>& parts) = 0;
};

/// Accumulates predictions over evaluation batches and computes metrics.
class STAGEHAND_API Evaluator {
 public:
  static constexpr const char* kKind = "evaluator";
  virtual ~Evaluator();
  /// Label names (index = class id), given before the first batch when the dataset has them.
  virtual void set_labels(const std::vector<std::string>& labels) {}
  virtual void reset() = 0;
  virtual void add(const Batch& outputs, const Batch& batch) = 0;
  /// Metric name -> value, names people know ("accuracy", "macro_f1", "f1", ...).
  virtual std::map<std::string, double> compute() const = 0;
  /// The metric used for model selection and early stopping, and whether higher is better.
  virtual std::string primary_metric() const = 0;
  virtual bool higher_is_better() const { return true; }
};

/// Fills options of a spec from the data's `hints` (a classifier's `num_labels`, an encoder's `vocab_size` from the
/// tokenizer), recursively through nested component specs whose schemas declare an option of that name: an
/// option nobody wrote (absent, null, a default, a value planning derived) takes the hint, one the user wrote
/// must equal it (else an Error). See fill_facts. Returns the filled copy.
STAGEHAND_API ConfigNode fill_hints(const ConfigNode& spec, const std::string& kind,
                                    const std::map<std::string, int64_t>& hints, const class Registry& registry);

}  // namespace stagehand
