// SPDX-License-Identifier: Apache-2.0
// Key function of the encoder interface: its type info lives in the core library.
#include "stagehand/encoder.h"

namespace stagehand {
Encoder::~Encoder() = default;
}  // namespace stagehand
