// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared between hf_checkpoint.cpp and hf_heads.cpp; not part of the SDK's interface.
#include <map>
#include <memory>
#include <string>

#include "stagehand/sdk/hf_checkpoint.h"

namespace stagehand::hf {

/// A direct submodule of `model` by name, or nullptr.
std::shared_ptr<torch::nn::Module> child_of(torch::nn::Module& model, const std::string& name);

/// Model tensor name -> checkpoint name for the head `model_spec` describes, where the name differs from the
/// model's own (a classifier's): classifier_head_names, or, `as_saved` with a BertForPreTraining /
/// AlbertForPreTraining checkpoint, its next-sentence / sentence-order head.
std::map<std::string, std::string> head_names_for(const Checkpoint& checkpoint, const ConfigNode& model_spec,
                                                  bool as_saved);

}  // namespace stagehand::hf
