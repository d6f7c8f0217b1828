// SPDX-License-Identifier: Apache-2.0
#include "pipeline/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include "stagehand/error.h"

namespace stagehand::exec {

FileLock::FileLock(const std::filesystem::path& file) {
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("cannot create lock file '{}'", file.string()));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw Error(fmt::format("another runner is working on this stage right now (lock '{}' is held); wait for it "
                            "to finish",
                            file.string()));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace stagehand::exec
