// SPDX-License-Identifier: Apache-2.0
#include "util/hash.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <openssl/evp.h>

#include "stagehand/error.h"

namespace stagehand {

namespace fs = std::filesystem;

namespace {
struct Sha256 {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Sha256() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx); }
  void update(const void* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    static const char* kHex = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) {
      s += kHex[md[i] >> 4];
      s += kHex[md[i] & 15];
    }
    return s;
  }
};

void hash_file_into(Sha256& h, const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot read '{}': {}", file.string(), std::strerror(errno));
  std::vector<char> buf(1 << 20);
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      fail("cannot read '{}': {}", file.string(), std::strerror(e));
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
}
}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

std::string sha256_file(const fs::path& file) {
  Sha256 h;
  hash_file_into(h, file);
  return h.hex();
}

std::string sha256_path(const fs::path& p) {
  if (!fs::is_directory(p)) return sha256_file(p);
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(p))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  Sha256 h;
  for (const auto& f : files) {
    std::string rel = fs::relative(f, p).string();
    h.update(rel.data(), rel.size() + 1);
    std::string fh = sha256_file(f);
    h.update(fh.data(), fh.size());
  }
  return h.hex();
}

}  // namespace stagehand
