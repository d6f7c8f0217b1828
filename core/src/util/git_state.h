// SPDX-License-Identifier: Apache-2.0
#pragma once
// The git state of a file (a pipeline file): the commit of the repository that holds it and whether the file, or any
// tracked file of that repository, differs from that commit. Host-internal; read by running `git` (no shell), so
// that a record names the version of the pipeline it ran, not only the runner's build.
#include <filesystem>
#include <optional>
#include <string>

#include "stagehand/export.h"

namespace stagehand {

struct GitState {
  std::string commit;       ///< HEAD of the repository holding the file
  bool tracked = false;     ///< the file is in that commit's tree (or staged)
  bool file_dirty = false;  ///< the file differs from HEAD (modified, staged, or not tracked)
  bool repo_dirty = false;  ///< some tracked file of the repository differs from HEAD
};

/// nullopt when `git` is not installed, the file is in no repository, or git fails; never throws.
STAGEHAND_API std::optional<GitState> git_state(const std::filesystem::path& file);

}  // namespace stagehand
