// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/warmup.h"

#include <algorithm>
#include <cmath>

#include <stagehand/error.h>

namespace stagehand::sdk {

void check_step(int64_t step, int64_t total, const std::string& owner) {
  SH_CHECK(step >= 0 && total >= 1, "{}: factor(step {}, total {}); expected step >= 0 and total >= 1", owner, step,
           total);
}

Schema& warmup_options(Schema& s, double default_fraction, const std::string& default_rounding) {
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

Warmup::Warmup(const Options& o)
    : steps_(o.has("warmup_steps") ? std::optional<int64_t>(o.get<int64_t>("warmup_steps")) : std::nullopt),
      fraction_(o.get<double>("warmup_fraction")),
      rounding_(parse_rounding(o.get<std::string>("warmup_rounding"))) {}

double Warmup::length(int64_t total) const {
  if (steps_) return static_cast<double>(*steps_);
  const double exact = fraction_ * static_cast<double>(total);
  switch (rounding_) {
    case Rounding::kCeil: return std::ceil(exact - 1e-9);
    case Rounding::kFloor: return std::floor(exact);
    case Rounding::kNone: break;
  }
  return exact;
}

double Warmup::factor(int64_t step, int64_t total) const {
  const double w = length(total);
  return w > 0 ? std::min(1.0, static_cast<double>(step) / w) : 1.0;
}

Warmup::Rounding Warmup::parse_rounding(const std::string& r) {
  return r == "ceil" ? Rounding::kCeil : r == "floor" ? Rounding::kFloor : Rounding::kNone;
}

}  // namespace stagehand::sdk
