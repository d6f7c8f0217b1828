// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Crash-safe checkpoints. A checkpoint is one LibTorch archive file written atomically (temporary file, fsync,
/// rename, fsync of the folder) with its sha256 in a sidecar file written after it. Loading verifies the
/// checksum and falls back to the previous checkpoint when the newest is truncated or corrupted.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include "stagehand/export.h"

namespace stagehand {

struct STAGEHAND_API CheckpointFile {
  std::filesystem::path file;
  int64_t step = 0;
};

/// Writes `archive` as <dir>/ckpt-<step>.pt (+ .sha256) and deletes all but the newest `keep` checkpoints.
/// Throws stagehand::Error (the previous checkpoints stay intact) when the disk is full or unwritable.
STAGEHAND_API void write_checkpoint(const std::filesystem::path& dir, int64_t step,
                                    torch::serialize::OutputArchive& archive, int keep);
/// Checkpoints in `dir`, newest first.
STAGEHAND_API std::vector<CheckpointFile> list_checkpoints(const std::filesystem::path& dir);
/// Loads the newest checkpoint whose checksum verifies into `archive`; each rejected one is reported through
/// `warn` (file and reason). Returns nothing if there is none.
STAGEHAND_API std::optional<CheckpointFile> load_latest_checkpoint(const std::filesystem::path& dir,
                                                                   torch::serialize::InputArchive& archive,
                                                                   const std::function<void(const std::string&)>& warn);

/// Writes / reads an archive file atomically with a checksum (used for model weights too).
STAGEHAND_API void write_archive(const std::filesystem::path& file, torch::serialize::OutputArchive& archive);
STAGEHAND_API void read_archive(const std::filesystem::path& file, torch::serialize::InputArchive& archive);

/// The state of LibTorch's default CPU generator (dropout, masking), to save and restore for exact resumes.
STAGEHAND_API torch::Tensor get_rng_state();
STAGEHAND_API void set_rng_state(const torch::Tensor& state);

}  // namespace stagehand
