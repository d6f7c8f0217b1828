// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/text_source.h"

namespace stagehand::sdk {

// Key function: TextSource's type info lives here, once, for dynamic_cast across plugins.
TextSource::~TextSource() = default;

}  // namespace stagehand::sdk
