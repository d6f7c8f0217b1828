// SPDX-License-Identifier: Apache-2.0
// Key function of the encoder interface: its type info lives in the core library.
#include "stagehand/encoder.h"


namespace stagehand {
Encoder::~Encoder() = default;

void Encoder::share_embeddings(Encoder& /*from*/) {
  const ConfigNode s = spec();
  const ConfigNode* type = s.find("type");
  throw Error(fmt::format("encoder '{}' cannot share its embeddings with another encoder (its plugin does not "
                          "implement share_embeddings); use an encoder type that does, such as transformer",
                          type && type->is_scalar() ? type->text() : std::string("?")));
}
}  // namespace stagehand
