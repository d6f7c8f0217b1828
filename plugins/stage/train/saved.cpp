// SPDX-License-Identifier: Apache-2.0
// `model/saved` and `encoder/saved`: what a training stage provides to later stages. The spec holds the
// architecture and the weight file: {type: saved, spec: {type: classifier, ...}, weights: model.pt}.
#include <stagehand/engine.h>
#include <stagehand/registry.h>

#include "train_plugin.h"

namespace stagehand::train {

namespace {
Schema saved_schema(const std::string& what) {
  return Schema()
      .required("spec", OptionType::Map, "the " + what + "'s architecture: a spec with type and every option")
      .path("weights", "weight file written by save_weights (relative to the stage folder that wrote it)");
}
}  // namespace

void register_saved(PluginRegistrar& r) {
  r.add<Model>("saved", "a trained model written by an earlier stage (architecture + weights)", saved_schema("model"),
               [](const Options& o, const BuildContext& ctx) {
                 auto m = ctx.registry->create<Model>(o.node("spec"), ctx);
                 load_weights(o.path("weights"), *m);
                 return m;
               });
  r.add<Encoder>("saved", "a trained encoder written by an earlier stage (architecture + weights)",
                 saved_schema("encoder"), [](const Options& o, const BuildContext& ctx) {
                   auto e = ctx.registry->create<Encoder>(o.node("spec"), ctx);
                   load_weights(o.path("weights"), *e);
                   return e;
                 });
}

}  // namespace stagehand::train
