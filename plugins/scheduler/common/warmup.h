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

/// The two warmup options every warming schedule declares.
inline Schema& warmup_options(Schema& s, double default_fraction) {
  return s.optional("warmup_steps", OptionType::Int, "steps of linear warmup from 0; null: warmup_fraction of total")
      .min(0)
      .opt("warmup_fraction", default_fraction,
           "warmup length as a fraction of the total steps (when warmup_steps is null)")
      .min(0)
      .max(1);
}

/// Warmup length as options give it: `warmup_steps`, or ceil(warmup_fraction x total) as the Hugging Face
/// Trainer rounds it (with slack for 0.07 * 100 = 7.000000000000001).
class Warmup {
 public:
  explicit Warmup(const Options& o)
      : steps_(o.has("warmup_steps") ? std::optional<int64_t>(o.get<int64_t>("warmup_steps")) : std::nullopt),
        fraction_(o.get<double>("warmup_fraction")) {}
  int64_t steps(int64_t total) const {
    if (steps_) return *steps_;
    return static_cast<int64_t>(std::ceil(fraction_ * static_cast<double>(total) - 1e-9));
  }
  /// min(1, step / warmup), 1 without warmup.
  double factor(int64_t step, int64_t total) const {
    const int64_t w = steps(total);
    return w > 0 ? std::min(1.0, static_cast<double>(step) / static_cast<double>(w)) : 1.0;
  }

 private:
  std::optional<int64_t> steps_;
  double fraction_;
};

}  // namespace stagehand::scheduler_common
