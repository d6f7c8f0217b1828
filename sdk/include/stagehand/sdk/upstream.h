// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Models and encoders a stage reads: from an upstream stage (by its name) or from a spec written in place, such as
/// `{type: hf, path: FOLDER}`, a released checkpoint used with no training stage in between. One way for every
/// stage kind that embeds, probes, evaluates or predicts with a model another stage made.
#include <memory>
#include <string>

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

}  // namespace stagehand::sdk
