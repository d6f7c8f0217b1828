// SPDX-License-Identifier: Apache-2.0
// Plugin `encoder_transformer`: the encoders `transformer` (transformer_encoder.h) and `multifacet_transformer`
// (multifacet_encoder.h).
#include <memory>

#include <stagehand/plugin.h>

#include "multifacet_encoder.h"
#include "transformer_encoder.h"

STAGEHAND_PLUGIN(registrar) {
  using namespace stagehand;
  using namespace stagehand::transformer;
  registrar
      .add<Encoder>("transformer",
                    "BERT-family post-LayerNorm Transformer encoder (BERT, ELECTRA) with Hugging Face parameter "
                    "names, so BERT/ELECTRA checkpoints load one to one",
                    transformer_schema(),
                    [](const Options& o, const BuildContext& ctx) {
                      return std::make_shared<TransformerEncoder>(resolve_config(o), ctx.seed);
                    })
      .with_example(parse_yaml("{type: transformer, preset: bert-tiny, vocab_size: 1000, max_positions: 128}",
                               "<transformer example>"));
  registrar
      .add<Encoder>("multifacet_transformer",
                    "Multi²SPE's multi-facet encoder: a transformer with K facet tokens after [CLS], per-facet "
                    "layers inside the stack and optional per-facet output layers; pool(\"facets\") gives (B, K, H)",
                    multifacet_schema(), make_multifacet)
      .with_example(parse_yaml("{type: multifacet_transformer, num_facets: 3, add_extra_facet_layers_after: [0], "
                               "add_bert_layer_facet_layers_alternate: true, add_extra_facet_layers: true, "
                               "add_extra_facet_nonlinearity: true, base: {type: transformer, preset: bert-tiny, "
                               "vocab_size: 1000, max_positions: 128}}",
                               "<multifacet_transformer example>"));
}
