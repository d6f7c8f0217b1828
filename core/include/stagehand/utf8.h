// SPDX-License-Identifier: Apache-2.0
#pragma once
/// UTF-8 checks for data readers: a record that is not UTF-8 is reported with the byte to look at and the fix.
#include <string>
#include <string_view>

#include "stagehand/export.h"

namespace stagehand {

/// The first byte at which `text` stops being valid UTF-8 (overlong forms, surrogates and code points past
/// U+10FFFF included), or std::string::npos. With `controls`, C0 control characters other than tab, line feed and
/// carriage return, and DEL, count as invalid too (YAML does not allow them).
STAGEHAND_API size_t invalid_utf8_at(std::string_view text, bool controls = false);
/// "" when `text` is valid UTF-8; else what a data reader says about the record, e.g. "not valid UTF-8 (its byte 12
/// is 0xe9); re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE)".
STAGEHAND_API std::string utf8_problem(std::string_view text);

}  // namespace stagehand
