// SPDX-License-Identifier: Apache-2.0
// Every published setup, pipelines/published/<seed>.yaml, passes `runner check` with its inputs pointed at the small
// stand-ins of tests/data/published/<seed>/stand-ins.yaml (tiny files in the real formats), and the resolved
// pipeline (`runner check --print`) holds the published settings that file lists. The file must be self-contained
// (no include), be named <seed>-published, and have a stand-in for each of its vars and no stand-in for a var it
// lacks; an unused var is the runner's own error. The last tests build broken published files in a temporary folder
// and show that each fault is caught.
//
// stand-ins.yaml:
//   vars:      {var: path}   the stand-in of each path var, relative to the repository root (a list for a list)
//   values:    {var: value}  vars that are not paths, passed as written
//   settings:  {dotted.path: value}   values `runner check --print` must show (numbers compared as numbers)
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "stagehand/config.h"

using namespace sh_test;

namespace {

const fs::path kSource = STAGEHAND_SOURCE_DIR;
const fs::path kPublished = kSource / "pipelines" / "published";
const fs::path kStandIns = fs::path(STAGEHAND_TEST_DATA) / "published";

/// The published files, sorted.
std::vector<fs::path> published_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kPublished))
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// A stand-in path (relative to the repository root) made absolute; `root` replaces the repository root in tests.
std::string absolute(const stagehand::ConfigNode& rel, const fs::path& root) {
  return (root / rel.as_string()).lexically_normal().string();
}

/// YAML for a single-quoted scalar.
std::string yaml_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

/// The `vars.K=V` overrides of a stand-ins file, V made absolute where it is a path.
std::vector<std::string> overrides(const stagehand::ConfigNode& stand_ins, const fs::path& root) {
  std::vector<std::string> out;
  if (const auto* paths = stand_ins.find("vars"))
    for (const auto& [key, value] : paths->entries()) {
      if (value.is_sequence()) {
        std::string list;
        for (const auto& item : value.items()) list += (list.empty() ? "" : ", ") + yaml_quote(absolute(item, root));
        out.push_back("vars." + key + "=[" + list + "]");
      } else {
        out.push_back("vars." + key + "=" + absolute(value, root));
      }
    }
  if (const auto* values = stand_ins.find("values"))
    for (const auto& [key, value] : values->entries()) out.push_back("vars." + key + "=" + value.as_string());
  return out;
}

CommandResult check(const fs::path& pipeline, const std::vector<std::string>& args, bool print) {
  std::string cmd = std::string("check ") + (print ? "--print " : "") + sh_quote(pipeline.string());
  for (const auto& a : args) cmd += " " + sh_quote(a);
  return runner(cmd, kSource);
}

bool is_number(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

/// Whether `got` holds `want`: scalars by number when both are numbers, else by text; lists item by item; maps
/// key by key (only the keys `want` names).
bool holds(const stagehand::ConfigNode& got, const stagehand::ConfigNode& want) {
  if (want.is_null()) return got.is_null();
  if (want.is_sequence()) {
    if (!got.is_sequence() || got.size() != want.size()) return false;
    for (size_t i = 0; i < want.size(); ++i)
      if (!holds(got.items()[i], want.items()[i])) return false;
    return true;
  }
  if (want.is_map()) {
    if (!got.is_map()) return false;
    for (const auto& [k, v] : want.entries())
      if (!got.has(k) || !holds(got.at(k), v)) return false;
    return true;
  }
  if (!got.is_scalar()) return false;
  double a = 0, b = 0;
  if (is_number(got.as_string(), a) && is_number(want.as_string(), b))
    return a == b || std::fabs(a - b) <= 1e-12 * std::max(std::fabs(a), std::fabs(b));
  return got.as_string() == want.as_string();
}

/// Keys named `include` anywhere in the tree, as dotted paths.
void find_includes(const stagehand::ConfigNode& n, const std::string& at, std::vector<std::string>& out) {
  if (n.is_map()) {
    for (const auto& [k, v] : n.entries()) {
      const std::string here = at.empty() ? k : at + "." + k;
      if (k == "include") out.push_back(here);
      find_includes(v, here, out);
    }
  } else if (n.is_sequence()) {
    for (size_t i = 0; i < n.size(); ++i) find_includes(n.items()[i], at + "." + std::to_string(i), out);
  }
}

/// A node as one line of YAML.
std::string flow(const stagehand::ConfigNode& n) {
  std::string s = stagehand::to_yaml(n);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::set<std::string> keys(const stagehand::ConfigNode* map) {
  std::set<std::string> out;
  if (map && map->is_map())
    for (const auto& [k, v] : map->entries()) out.insert(k);
  return out;
}

/// Faults of the published file itself: an include, a name other than <seed>-published.
void file_problems(const std::string& seed, const stagehand::ConfigNode& raw, std::vector<std::string>& out) {
  std::vector<std::string> includes;
  find_includes(raw, "", includes);
  for (const auto& at : includes) out.push_back(seed + ": includes another file at '" + at + "'; write every setting in it");
  if (!raw.has("name") || raw.at("name").as_string() != seed + "-published")
    out.push_back(seed + ": its name must be '" + seed + "-published'");
}

/// Faults of the stand-ins: a var without one, one without a var, a path that does not exist (for a glob, its
/// folder).
void stand_in_problems(const std::string& seed, const stagehand::ConfigNode& raw, const stagehand::ConfigNode& stand_ins,
                       const std::string& file, const fs::path& root, std::vector<std::string>& out) {
  std::set<std::string> given = keys(stand_ins.find("vars"));
  for (const auto& k : keys(stand_ins.find("values"))) given.insert(k);
  const auto vars = keys(raw.find("vars"));
  for (const auto& v : vars)
    if (!given.count(v)) out.push_back(seed + ": vars." + v + " has no stand-in in " + file);
  for (const auto& g : given)
    if (!vars.count(g)) out.push_back(seed + ": " + file + " gives a stand-in for vars." + g + ", which the file lacks");
  const auto* paths = stand_ins.find("vars");
  if (!paths) return;
  for (const auto& [key, value] : paths->entries())
    for (const auto& item : value.is_sequence() ? value.items() : std::vector<stagehand::ConfigNode>{value}) {
      fs::path p = absolute(item, root);
      if (p.string().find('*') != std::string::npos) p = p.parent_path();
      if (!fs::exists(p)) out.push_back(seed + ": the stand-in of vars." + key + " does not exist: " + p.string());
    }
}

/// `runner check` with the stand-ins, then every listed setting in `runner check --print`.
void runner_problems(const std::string& seed, const fs::path& pipeline, const stagehand::ConfigNode& stand_ins,
                     const std::string& file, const fs::path& root, std::vector<std::string>& out) {
  const auto args = overrides(stand_ins, root);
  CommandResult r;
  for (const bool print : {false, true}) {
    r = check(pipeline, args, print);
    if (r.exit_code == 0) continue;
    out.push_back(seed + ": runner check" + (print ? " --print" : "") + " exits " + std::to_string(r.exit_code) + ": " +
                  r.output);
    return;
  }
  const auto resolved = stagehand::parse_yaml(r.output, "runner check --print");
  const auto* settings = stand_ins.find("settings");
  if (!settings || settings->size() == 0) out.push_back(seed + ": " + file + " lists no settings to assert");
  if (!settings) return;
  for (const auto& [path, want] : settings->entries()) {
    const auto* got = resolved.find_path(path);
    if (!got)
      out.push_back(seed + ": " + path + " is not in the resolved pipeline");
    else if (!holds(*got, want))
      out.push_back(seed + ": " + path + " is " + flow(*got) + ", expected " + flow(want));
  }
}

/// What is wrong with the published file `pipeline` and its stand-ins folder (empty: nothing). `root` is the folder
/// the stand-in paths are relative to.
std::vector<std::string> problems(const fs::path& pipeline, const fs::path& stand_in_dir, const fs::path& root) {
  std::vector<std::string> out;
  const std::string seed = pipeline.stem().string();
  const auto raw = stagehand::load_yaml_file(pipeline);
  file_problems(seed, raw, out);
  const fs::path file = stand_in_dir / "stand-ins.yaml";
  if (!fs::exists(file)) {
    out.push_back(seed + ": no stand-ins: " + file.string() + " is missing");
    return out;
  }
  const auto stand_ins = stagehand::load_yaml_file(file);
  stand_in_problems(seed, raw, stand_ins, file.string(), root, out);
  if (out.empty()) runner_problems(seed, pipeline, stand_ins, file.string(), root, out);
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

bool mentions(const std::vector<std::string>& lines, const std::string& what) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; });
}

// A minimal published file and its stand-ins, written into a temporary folder for the negative tests.
const char* const kToyPipeline = R"(name: toy-published
vars:
  glue_dir: /data/glue_data/MRPC
stages:
  tokenizer: {kind: tokenizer, load: {type: hf, path: tests/data/hf-bert-tiny}}
  teacher:
    kind: train
    data: {type: glue, task: mrpc, data_dir: '${vars.glue_dir}', tokenizer: tokenizer, max_length: 128}
    model: {type: classifier, encoder: {type: hf, path: tests/data/hf-bert-tiny}}
    loss: {type: cross_entropy}
    epochs: 3
)";

const char* const kToyStandIns = R"(vars:
  glue_dir: tests/data/glue/MRPC
settings:
  stages.teacher.epochs: 3
  stages.teacher.data.max_length: 128
)";

struct Toy {
  TempFolder dir;
  fs::path pipeline = dir / "toy.yaml";
  fs::path stand_ins = dir / "stand-ins" / "toy";
  Toy(const std::string& pipeline_text, const std::string& stand_ins_text) {
    // The toy's own paths (the tokenizer, the encoder) are relative to its folder: link the repository's tests/.
    fs::create_directory_symlink(kSource / "tests", dir / "tests");
    write_text(pipeline, pipeline_text);
    if (!stand_ins_text.empty()) write_text(stand_ins / "stand-ins.yaml", stand_ins_text);
  }
  std::vector<std::string> problems() const { return ::problems(pipeline, stand_ins, kSource); }
};

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TEST(PublishedSetups, EverySeedHasAPublishedFile) {
  std::set<std::string> found;
  for (const auto& f : published_files()) found.insert(f.stem().string());
  for (const char* seed : {"bio-electra", "specter", "multi2spe", "specter-classifier", "dse", "layer-probes"})
    EXPECT_TRUE(found.count(seed)) << "pipelines/published/" << seed << ".yaml is missing";
}

TEST(PublishedSetups, EachPassesCheckWithItsStandInsAndHoldsThePublishedSettings) {
  const auto files = published_files();
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const auto p = problems(f, kStandIns / f.stem(), kSource);
    EXPECT_TRUE(p.empty()) << joined(p);
  }
}

TEST(PublishedSetups, TheCheckReadsTheFiles) {
  // With the default /data and /models paths, absent here, every published file fails `runner check`.
  for (const auto& f : published_files()) {
    if (fs::exists("/data") || fs::exists("/models")) GTEST_SKIP() << "/data or /models exists on this machine";
    const auto r = check(f, {}, false);
    EXPECT_NE(r.exit_code, 0) << f.string() << ": " << r.output;
  }
}

TEST(PublishedSetups, TheToyPasses) {
  Toy toy(kToyPipeline, kToyStandIns);
  const auto p = toy.problems();
  EXPECT_TRUE(p.empty()) << joined(p);
}

TEST(PublishedSetups, AnUnusedVarFails) {
  Toy toy(replaced(kToyPipeline, "vars:\n", "vars:\n  encoder: /models/bert-large\n"),
          replaced(kToyStandIns, "vars:\n", "vars:\n  encoder: tests/data/hf-bert-tiny\n"));
  const auto p = toy.problems();
  ASSERT_FALSE(p.empty());
  EXPECT_TRUE(mentions(p, "runner check exits 1") && mentions(p, "vars.encoder is set but nothing refers to it"))
      << joined(p);
}

TEST(PublishedSetups, AVarWithoutAStandInFails) {
  Toy toy(replaced(replaced(kToyPipeline, "max_length: 128", "max_length: '${vars.max_length}'"), "vars:\n",
                   "vars:\n  max_length: 128\n"),
          kToyStandIns);
  const auto p = toy.problems();
  EXPECT_TRUE(mentions(p, "vars.max_length has no stand-in")) << joined(p);
}

TEST(PublishedSetups, AMissingStandInsFileFails) {
  Toy toy(kToyPipeline, "");
  const auto p = toy.problems();
  EXPECT_TRUE(mentions(p, "no stand-ins")) << joined(p);
}

TEST(PublishedSetups, AStandInThatDoesNotExistFails) {
  Toy toy(kToyPipeline, replaced(kToyStandIns, "tests/data/glue/MRPC", "tests/data/glue/NOPE"));
  const auto p = toy.problems();
  EXPECT_TRUE(mentions(p, "the stand-in of vars.glue_dir does not exist")) << joined(p);
}

TEST(PublishedSetups, AStandInForAVarTheFileLacksFails) {
  Toy toy(kToyPipeline, replaced(kToyStandIns, "vars:\n", "vars:\n  scibert: tests/data/hf-bert-tiny\n"));
  const auto p = toy.problems();
  EXPECT_TRUE(mentions(p, "gives a stand-in for vars.scibert, which the file lacks")) << joined(p);
}

TEST(PublishedSetups, ASettingThatDiffersFails) {
  Toy toy(replaced(kToyPipeline, "epochs: 3", "epochs: 2"), kToyStandIns);
  const auto p = toy.problems();
  EXPECT_TRUE(mentions(p, "stages.teacher.epochs is")) << joined(p);
}

TEST(PublishedSetups, AnIncludeFails) {
  Toy toy(replaced(kToyPipeline, "stages:\n", "stages:\n  include: presets/small-encoder-pretrain.yaml\n"),
          kToyStandIns);
  const auto p = toy.problems();
  EXPECT_TRUE(mentions(p, "includes another file at 'stages.include'")) << joined(p);
}

TEST(PublishedSetups, AWrongNameFails) {
  Toy toy(replaced(kToyPipeline, "name: toy-published", "name: toy"), kToyStandIns);
  const auto p = toy.problems();
  EXPECT_TRUE(mentions(p, "its name must be 'toy-published'")) << joined(p);
}
