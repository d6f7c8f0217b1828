// SPDX-License-Identifier: Apache-2.0
#pragma once
// Content hashes (sha256) for cache keys and records. Host-internal.
#include <filesystem>
#include <string>
#include <string_view>

#include "stagehand/export.h"

namespace stagehand {

/// Hex sha256 of bytes / of a file's content (throws with the path if unreadable) / of a folder (every
/// regular file below it, by relative path and content, in sorted order).
STAGEHAND_API std::string sha256_hex(std::string_view bytes);
STAGEHAND_API std::string sha256_file(const std::filesystem::path& file);
STAGEHAND_API std::string sha256_path(const std::filesystem::path& file_or_dir);

}  // namespace stagehand
