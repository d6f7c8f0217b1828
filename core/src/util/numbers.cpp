// SPDX-License-Identifier: Apache-2.0
#include "stagehand/numbers.h"

#include <string>

namespace stagehand {

bool parse_int(std::string_view text, int64_t& v) {
  if (text.empty()) return false;
  const size_t sign = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  if (sign == text.size() || text.size() > 18) return false;
  for (size_t k = sign; k < text.size(); ++k)
    if (text[k] < '0' || text[k] > '9') return false;
  v = std::stoll(std::string(text));
  return true;
}

}  // namespace stagehand
