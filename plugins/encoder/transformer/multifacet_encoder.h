// SPDX-License-Identifier: Apache-2.0
#pragma once
// Encoder `multifacet_transformer` (multifacet_encoder.cpp has its description): a `transformer` with Multi²SPE's
// facets, built on TransformerEncoder.
#include <memory>

#include <stagehand/encoder.h>
#include <stagehand/plugin.h>
#include <stagehand/schema.h>

namespace stagehand::transformer {

/// The options of `multifacet_transformer`.
Schema multifacet_schema();
/// A `multifacet_transformer` from its options: its `base` (a plain transformer) built through the registry, the
/// facet layers added, the base's weights copied in.
std::shared_ptr<Encoder> make_multifacet(const Options& o, const BuildContext& ctx);

}  // namespace stagehand::transformer
