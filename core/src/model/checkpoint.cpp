// SPDX-License-Identifier: Apache-2.0
#include "stagehand/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <algorithm>
#include <mutex>
#include <sstream>

#include "stagehand/error.h"
#include "stagehand/files.h"
#include "util/hash.h"

namespace stagehand {

namespace fs = std::filesystem;

namespace {
std::string sidecar(const fs::path& file) { return file.string() + ".sha256"; }

bool parse_step(const fs::path& f, int64_t& step) {
  std::string n = f.filename().string();
  if (n.rfind("ckpt-", 0) != 0 || f.extension() != ".pt") return false;
  try {
    step = std::stoll(n.substr(5, n.size() - 8));
  } catch (...) {
    return false;
  }
  return true;
}
}  // namespace

void write_archive(const fs::path& file, torch::serialize::OutputArchive& archive) {
  std::ostringstream buf;
  archive.save_to(buf);
  std::string bytes = buf.str();
  // The data first, then its checksum: a checksum file only ever describes a complete data file.
  write_file_atomic(file, bytes);
  write_file_atomic(sidecar(file), sha256_hex(bytes) + "\n");
}

void read_archive(const fs::path& file, torch::serialize::InputArchive& archive) {
  std::string bytes = read_file(file);
  if (fs::exists(sidecar(file))) {
    std::string want = read_file(sidecar(file));
    want.erase(want.find_last_not_of(" \n\r\t") + 1);
    std::string got = sha256_hex(bytes);
    if (want != got)
      throw Error(fmt::format("'{}' is corrupted: sha256 {} does not match the recorded {} (truncated or modified "
                              "after it was written)",
                              file.string(), got.substr(0, 16), want.substr(0, 16)));
  }
  std::istringstream in(bytes);
  try {
    archive.load_from(in);
  } catch (const std::exception& e) {
    throw Error(fmt::format("'{}' is not a readable LibTorch archive", file.string()));
  }
}

std::vector<CheckpointFile> list_checkpoints(const fs::path& dir) {
  std::vector<CheckpointFile> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    int64_t step = 0;
    if (e.is_regular_file() && parse_step(e.path(), step)) out.push_back({e.path(), step});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step > b.step; });
  return out;
}

void write_checkpoint(const fs::path& dir, int64_t step, torch::serialize::OutputArchive& archive, int keep) {
  fs::create_directories(dir);
  fs::path file = dir / fmt::format("ckpt-{:09}.pt", step);
  write_archive(file, archive);
  auto all = list_checkpoints(dir);
  for (size_t i = static_cast<size_t>(std::max(keep, 1)); i < all.size(); ++i) {
    std::error_code ec;
    fs::remove(sidecar(all[i].file), ec);
    fs::remove(all[i].file, ec);
  }
}

std::optional<CheckpointFile> load_latest_checkpoint(const fs::path& dir, torch::serialize::InputArchive& archive,
                                                     const std::function<void(const std::string&)>& warn) {
  // A write that was cut short leaves only its temporary file (".ckpt-....pt.tmp.XXXXXX"): remove those.
  if (fs::is_directory(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) {
      std::string n = e.path().filename().string();
      if (n.rfind(".ckpt-", 0) == 0 && n.find(".tmp.") != std::string::npos) {
        std::error_code ec;
        fs::remove(e.path(), ec);
      }
    }
  }
  for (const auto& c : list_checkpoints(dir)) {
    if (!fs::exists(sidecar(c.file))) {
      warn(fmt::format("checkpoint '{}' has no checksum file (its write was cut short); skipping it", c.file.string()));
      continue;
    }
    try {
      read_archive(c.file, archive);
      return c;
    } catch (const Error& e) {
      warn(fmt::format("{}; using an earlier checkpoint", e.message()));
    }
  }
  return std::nullopt;
}

torch::Tensor get_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const torch::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

}  // namespace stagehand
