// SPDX-License-Identifier: Apache-2.0
#pragma once
// Warmup and argument checks shared by the schedules. Header-only because every schedule is its own plugin.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include <stagehand/error.h>
#include <stagehand/schema.h>

namespace stagehand::scheduler_common {

inline void check_step(int64_t step, int64_t total, const std::string& owner) {
  SH_CHECK(step >= 0 && total >= 1, "{}: factor(step {}, total {}); expected step >= 0 and total >= 1", owner, step,
           total);
}

/// The warmup options every warming schedule declares. `default_rounding` is how the reference the schedule
/// follows turns warmup_fraction x total into a length: "ceil" (the Hugging Face Trainer's warmup_ratio), "floor"
/// (Python's int(), as Multi²SPE) or "none" (ELECTRA's TF code keeps the fraction of a step).
inline Schema& warmup_options(Schema& s, double default_fraction, const std::string& default_rounding = "ceil") {
  return s.optional("warmup_steps", OptionType::Int, "steps of linear warmup from 0; null: warmup_fraction of total")
      .min(0)
      .opt("warmup_fraction", default_fraction,
           "warmup length as a fraction of the total steps (when warmup_steps is null)")
      .min(0)
      .max(1)
      .choice("warmup_rounding", default_rounding, {"ceil", "floor", "none"},
              "warmup_fraction x total rounded up (HF Trainer), down (Python int(), Multi²SPE) or not at all "
              "(ELECTRA)");
}

/// Warmup length as options give it: `warmup_steps`, or warmup_fraction x total rounded as `warmup_rounding` says.
/// Rounding up keeps a slack for products such as 0.07 * 100 = 7.000000000000001 (7 steps, not 8).
class Warmup {
 public:
  explicit Warmup(const Options& o)
      : steps_(o.has("warmup_steps") ? std::optional<int64_t>(o.get<int64_t>("warmup_steps")) : std::nullopt),
        fraction_(o.get<double>("warmup_fraction")),
        rounding_(parse_rounding(o.get<std::string>("warmup_rounding"))) {}
  /// The warmup length in steps; a fraction of a step only with warmup_rounding none.
  double length(int64_t total) const {
    if (steps_) return static_cast<double>(*steps_);
    const double exact = fraction_ * static_cast<double>(total);
    switch (rounding_) {
      case Rounding::kCeil: return std::ceil(exact - 1e-9);
      case Rounding::kFloor: return std::floor(exact);
      case Rounding::kNone: break;
    }
    return exact;
  }
  /// min(1, step / warmup), 1 without warmup.
  double factor(int64_t step, int64_t total) const {
    const double w = length(total);
    return w > 0 ? std::min(1.0, static_cast<double>(step) / w) : 1.0;
  }

 private:
  enum class Rounding { kCeil, kFloor, kNone };
  static Rounding parse_rounding(const std::string& r) {
    return r == "ceil" ? Rounding::kCeil : r == "floor" ? Rounding::kFloor : Rounding::kNone;
  }
  std::optional<int64_t> steps_;
  double fraction_;
  Rounding rounding_;
};

}  // namespace stagehand::scheduler_common
