// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the configuration resolver, the steps between a pipeline file and the tree the planner sees —
// `include:` expansion (load_config_file; the input may include itself or a fixed second file that includes it
// back), command-line overrides (apply_override; every input line starting with "#= " is one, e.g. "#= a.b=1"),
// and `${a.b}` / `${env:NAME}` reference resolution (resolve_references), then the canonical JSON and the
// provenance that records and cache keys are made of. Any input must give a tree or a stagehand::Error; another
// exception, a crash, a sanitizer report, a leak or a hang (a reference blow-up) is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "stagehand/config.h"
#include "stagehand/error.h"

namespace {

namespace fs = std::filesystem;

void write(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

const fs::path& folder() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("stagehand-fuzz-resolve-" + std::to_string(::getpid()));
    fs::create_directories(d);
    // A second file for `include: other.yaml`; it includes the input back, so cycles through two files are tried.
    write(d / "other.yaml", "include: p.yaml\nvars: {x: 1, y: '${vars.x}'}\nseed: 3\n");
    ::setenv("STAGEHAND_FUZZ_ENV", "from-env", 1);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (text.compare(pos, 3, "#= ") == 0) overrides.push_back(text.substr(pos + 3, end - pos - 3));
    pos = end + 1;
  }
  const fs::path file = folder() / "p.yaml";
  write(file, text);
  stagehand::ConfigNode root;
  try {
    root = stagehand::load_config_file(file);
    int i = 0;
    for (const auto& o : overrides) stagehand::apply_override(root, o, ++i);
    stagehand::resolve_references(root);
  } catch (const stagehand::Error&) {
    return 0;  // refused with a message: fine
  }
  // What resolved is what records hash and print: both must work, and the hash input must be stable.
  const std::string json = stagehand::to_canonical_json(root);
  if (stagehand::to_canonical_json(root.clone()) != json) __builtin_trap();
  (void)stagehand::provenance(root);
  (void)stagehand::to_yaml(root);
  return 0;
}
