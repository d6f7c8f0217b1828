// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Small utilities shared by the core, plugins and tests: hashing, atomic file writes, time stamps.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "stagehand/export.h"

namespace stagehand {

/// Hex sha256 of bytes / of a file's content (throws with the path if unreadable) / of a folder (every
/// regular file below it, by relative path and content, in sorted order).
STAGEHAND_API std::string sha256_hex(std::string_view bytes);
STAGEHAND_API std::string sha256_file(const std::filesystem::path& file);
STAGEHAND_API std::string sha256_path(const std::filesystem::path& file_or_dir);

/// Writes `content` to `path` atomically: a temporary file in the same folder, fsync, rename, fsync of
/// the folder. Readers see the old file or the new one, never a partial one.
STAGEHAND_API void write_file_atomic(const std::filesystem::path& path, std::string_view content);
/// fsyncs a folder so that renames inside it are durable.
STAGEHAND_API void fsync_dir(const std::filesystem::path& dir);
STAGEHAND_API std::string read_file(const std::filesystem::path& path);

/// The first byte at which `text` stops being valid UTF-8 (overlong forms, surrogates and code points past
/// U+10FFFF included), or std::string::npos. With `controls`, C0 control characters other than tab, line feed and
/// carriage return, and DEL, count as invalid too (YAML does not allow them).
STAGEHAND_API size_t invalid_utf8_at(std::string_view text, bool controls = false);
/// "" when `text` is valid UTF-8; else what a data reader says about the record, e.g. "not valid UTF-8 (its byte 12
/// is 0xe9); re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE)".
STAGEHAND_API std::string utf8_problem(std::string_view text);

/// UTC time as ISO 8601 ("2026-11-23T14:05:09Z") and seconds since the epoch (monotonic not implied).
STAGEHAND_API std::string utc_timestamp();
STAGEHAND_API double wall_seconds();
/// 64-bit mix of a seed and a string (for deriving per-stage / per-trial seeds).
STAGEHAND_API uint64_t derive_seed(uint64_t seed, std::string_view salt);

/// Makes glibc's malloc keep freed memory for reuse instead of returning it to the kernel: no trimming of the
/// heap and no mmap for large blocks (unless the user set MALLOC_* or GLIBC_TUNABLES, which then win). A training
/// step frees and reallocates the same large activation buffers every step; with glibc's defaults each of them
/// is mmapped, page-faulted in and unmapped again, which measured 5x slower on ELECTRA pretraining (the kernel's
/// page-fault path dominated the profile). The cost: the process keeps its peak heap. Returns a line saying what
/// was done, for the log.
STAGEHAND_API std::string configure_allocator();

/// Mean, standard deviation, min and max of repeated measurements (e.g. a metric over trials). The standard
/// deviation is the population one (numpy's np.std default), as the Bio-ELECTRA reports compute it.
struct STAGEHAND_API Summary {
  size_t n = 0;
  double mean = 0, std = 0, min = 0, max = 0;
};
STAGEHAND_API Summary summarize(const std::vector<double>& values);
/// "78.33 (0.41)": mean and standard deviation with `decimals` digits, both times 100 when `percent`.
STAGEHAND_API std::string format_mean_std(const Summary& s, bool percent, int decimals = 2);

}  // namespace stagehand
