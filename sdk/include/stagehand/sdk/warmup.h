// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The warmup options every warming learning-rate schedule declares, the warmup length they give, and the argument
/// check of Scheduler::factor. Used by the scheduler plugins (bert_warmup_linear, constant, cosine, cyclic, linear,
/// linear_with_warmup, slanted_triangular).
#include <cstdint>
#include <optional>
#include <string>

#include <stagehand/schema.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

/// Fails unless step >= 0 and total >= 1; `owner` names the schedule in the message.
STAGEHAND_SDK_API void check_step(int64_t step, int64_t total, const std::string& owner);

/// Declares warmup_steps, warmup_fraction and warmup_rounding. `default_rounding` is how the reference the schedule
/// follows turns warmup_fraction x total into a length: "ceil" (the Hugging Face Trainer's warmup_ratio), "floor"
/// (Python's int(), as Multi²SPE) or "none" (ELECTRA's TF code keeps the fraction of a step).
STAGEHAND_SDK_API Schema& warmup_options(Schema& s, double default_fraction,
                                         const std::string& default_rounding = "ceil");

/// Warmup length as options give it: `warmup_steps`, or warmup_fraction x total rounded as `warmup_rounding` says.
/// Rounding up keeps a slack for products such as 0.07 * 100 = 7.000000000000001 (7 steps, not 8).
class STAGEHAND_SDK_API Warmup {
 public:
  explicit Warmup(const Options& o);
  /// The warmup length in steps; a fraction of a step only with warmup_rounding none.
  double length(int64_t total) const;
  /// min(1, step / warmup), 1 without warmup.
  double factor(int64_t step, int64_t total) const;

 private:
  enum class Rounding { kCeil, kFloor, kNone };
  static Rounding parse_rounding(const std::string& r);
  std::optional<int64_t> steps_;
  double fraction_;
  Rounding rounding_;
};

}  // namespace stagehand::sdk
