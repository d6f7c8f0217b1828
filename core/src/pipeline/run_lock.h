// SPDX-License-Identifier: Apache-2.0
#pragma once
// Host-internal. The lock a runner holds on a cache entry while it builds it, so that two runners never build the
// same stage output at once (flock: released by the kernel when the process dies, so a crash leaves no stale lock).
#include <filesystem>

namespace stagehand::exec {

class FileLock {
 public:
  /// Takes the lock on `file` (created if absent), or throws stagehand::Error saying another runner holds it.
  explicit FileLock(const std::filesystem::path& file);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace stagehand::exec
