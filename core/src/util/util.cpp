// SPDX-License-Identifier: Apache-2.0
#include "stagehand/util.h"
#include "stagehand/numbers.h"

#include <fcntl.h>
#include <malloc.h>
#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
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
  if (fd < 0) throw Error(fmt::format("cannot read '{}': {}", file.string(), std::strerror(errno)));
  std::vector<char> buf(1 << 20);
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      throw Error(fmt::format("cannot read '{}': {}", file.string(), std::strerror(e)));
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
    throw Error(fmt::format("cannot create a file in '{}': {}; check that the folder is writable", dir.string(),
                            std::strerror(errno)));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(name.data());
      throw Error(fmt::format("cannot write '{}': {}{}", path.string(), std::strerror(e),
                              e == ENOSPC || e == EFBIG ? "; free some disk space (the previous file is intact)" : ""));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(name.data());
    throw Error(fmt::format("cannot write '{}': fsync failed: {}", path.string(), std::strerror(e)));
  }
  ::fchmod(fd, 0644);
  ::close(fd);
  if (::rename(name.data(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(name.data());
    throw Error(fmt::format("cannot replace '{}': {}", path.string(), std::strerror(e)));
  }
  fsync_dir(dir);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read '{}': {}", path.string(), fs::exists(path) ? "unreadable" : "no such file"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

uint64_t derive_seed(uint64_t seed, std::string_view salt) {
  // FNV-1a over the salt, then splitmix64 with the seed: stable across platforms and versions.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : salt) h = (h ^ c) * 1099511628211ull;
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (h | 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (z ^ (z >> 31)) & 0x7fffffffffffffffull;
}

std::string configure_allocator() {
  for (const char* v : {"GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
                        "MALLOC_MMAP_MAX_"})
    if (std::getenv(v)) return fmt::format("malloc: {} is set, left as configured", v);
  // Each call fixes its value and turns glibc's dynamic threshold adjustment off.
  const bool trim = mallopt(M_TRIM_THRESHOLD, -1) == 1 || mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  const bool mmap = mallopt(M_MMAP_MAX, 0) == 1;  // large blocks come from the heap, never from fresh mmaps
  return fmt::format("malloc: freed memory is kept for reuse (trim {}, mmap {})", trim ? "off" : "unchanged",
                     mmap ? "off" : "unchanged");
}

Summary summarize(const std::vector<double>& values) {
  Summary s;
  s.n = values.size();
  if (values.empty()) return s;
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(s.n);
  double sq = 0;
  for (double v : values) sq += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(sq / static_cast<double>(s.n));
  return s;
}

std::string format_mean_std(const Summary& s, bool percent, int decimals) {
  const double k = percent ? 100.0 : 1.0;
  return fmt::format("{:.{}f} ({:.{}f})", s.mean * k, decimals, s.std * k, decimals);
}

size_t invalid_utf8_at(std::string_view text, bool controls) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      if (controls && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)) return i;
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string::npos;
}

bool parse_int(std::string_view text, int64_t& v) {
  if (text.empty()) return false;
  const size_t sign = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  if (sign == text.size() || text.size() > 18) return false;
  for (size_t k = sign; k < text.size(); ++k)
    if (text[k] < '0' || text[k] > '9') return false;
  v = std::stoll(std::string(text));
  return true;
}

std::string utf8_problem(std::string_view text) {
  const size_t bad = invalid_utf8_at(text);
  if (bad == std::string::npos) return {};
  return fmt::format("not valid UTF-8 (its byte {} is 0x{:02x}); re-save the file as UTF-8 (e.g. iconv -f latin1 -t "
                     "utf-8 FILE)",
                     bad + 1, static_cast<unsigned char>(text[bad]));
}

}  // namespace stagehand
