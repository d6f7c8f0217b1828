// SPDX-License-Identifier: Apache-2.0
#include "stagehand/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "stagehand/error.h"

namespace stagehand {

namespace fs = std::filesystem;

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  fs::create_directories(dir);
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0)
    fail("cannot create a file in '{}': {}; check that the folder is writable", dir.string(), std::strerror(errno));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(name.data());
      fail("cannot write '{}': {}{}", path.string(), std::strerror(e),
           e == ENOSPC || e == EFBIG ? "; free some disk space (the previous file is intact)" : "");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(name.data());
    fail("cannot write '{}': fsync failed: {}", path.string(), std::strerror(e));
  }
  ::fchmod(fd, 0644);
  ::close(fd);
  if (::rename(name.data(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(name.data());
    fail("cannot replace '{}': {}", path.string(), std::strerror(e));
  }
  fsync_dir(dir);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read '{}': {}", path.string(), fs::exists(path) ? "unreadable" : "no such file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace stagehand
