// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Models and encoders a stage reads: from an upstream stage (by its name) or from a spec written in place, such as
/// `{type: hf, path: FOLDER}`, a released checkpoint used with no training stage in between. One way for every
/// stage kind that embeds, probes, evaluates or predicts with a model another stage made.
#include <memory>
#include <string>
#include <vector>

#include <stagehand/config.h>
#include <stagehand/encoder.h>
#include <stagehand/model.h>
#include <stagehand/stage.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

/// A model or an encoder to use frozen (eval mode, no parameter requires a gradient).
struct STAGEHAND_SDK_API Frozen {
  std::shared_ptr<Model> model;      ///< set when the source is a model (then `encoder` is the model's)
  std::shared_ptr<Encoder> encoder;  ///< the encoder; null for a model without one
  std::string label;                 ///< for tables and plots: the stage name, or "hf:<folder name>" for a spec
};

/// What a source must give.
enum class Need { Model, Encoder };

/// The source that `ref` names: the name of an upstream stage of `ctx`'s stage (its model, or for an encoder the
/// encoder it provides, else its model's encoder) or a component spec written in place (a model spec for
/// Need::Model, an encoder spec for Need::Encoder). `purpose` starts every error ("probe", "embed", ...), which
/// says what the stage provides and what was needed.
STAGEHAND_SDK_API Frozen frozen_source(StageContext& ctx, const ConfigNode& ref, Need need, const std::string& purpose);

/// The frozen model of the upstream stage named `stage` (frozen_source with Need::Model).
STAGEHAND_SDK_API std::shared_ptr<Model> frozen_model(StageContext& ctx, const std::string& stage,
                                                      const std::string& purpose = "teacher");

/// The label of a source in tables: a stage's name, or for a spec "<type>:<last part of its path>" (e.g.
/// "hf:bert-base-uncased"), or just its type.
STAGEHAND_SDK_API std::string source_label(const ConfigNode& ref);

/// The class names a model written in place gives its outputs, in output order: for `{type: hf, path: FOLDER}`,
/// FOLDER/config.json's id2label ordered by id (hf::label_names). Empty for a stage name (its classes are those of
/// the data it was trained on), for other specs, and for a folder without id2label.
STAGEHAND_SDK_API std::vector<std::string> source_label_names(const ConfigNode& ref);

/// Checks that a model written in place (`ref`, a spec; a stage name passes) scores the dataset's classes: its
/// label names (source_label_names) must be `data_labels`, in the same order, since output j is read as the
/// dataset's class j; without names, its spec's num_labels (when `model` is given and has one) must be their number.
/// Throws one line at `ref`'s file:line:col, `purpose` first, naming both lists and the fix. Nothing is checked when
/// the dataset has no label names.
STAGEHAND_SDK_API void check_source_labels(const ConfigNode& ref, const std::vector<std::string>& data_labels,
                                           const std::string& purpose, const Model* model = nullptr);

}  // namespace stagehand::sdk
