// SPDX-License-Identifier: Apache-2.0
#pragma once
// Planning with facts: what each stage's components will have (a tokenizer's vocabulary size), known from
// resolved options before anything runs, given to sibling components (an encoder's vocab_size from the data's
// tokenizer). Host-internal.
#include <vector>

#include "pipeline/pipeline.h"

namespace stagehand {

/// Fills, in every stage of `stages` (in dependency order), the options that follow from facts of sibling
/// components (see ComponentInfo::facts and fill_facts). Throws Error where a written value disagrees.
void apply_plan_facts(std::vector<StagePlan>& stages, const Registry& registry);

}  // namespace stagehand
