// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Files that are either complete or absent: what a stage writes must survive a crash or a full disk without
/// leaving half a file where a later run would read it.
#include <filesystem>
#include <string>
#include <string_view>

#include "stagehand/export.h"

namespace stagehand {

/// Writes `content` to `path` atomically: a temporary file in the same folder, fsync, rename, fsync of
/// the folder. Readers see the old file or the new one, never a partial one.
STAGEHAND_API void write_file_atomic(const std::filesystem::path& path, std::string_view content);
/// fsyncs a folder so that renames inside it are durable.
STAGEHAND_API void fsync_dir(const std::filesystem::path& dir);
/// The whole file as bytes; throws stagehand::Error naming the path when it cannot be read.
STAGEHAND_API std::string read_file(const std::filesystem::path& path);

}  // namespace stagehand
