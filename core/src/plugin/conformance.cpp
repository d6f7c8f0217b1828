// SPDX-License-Identifier: Apache-2.0
#include "plugin/conformance.h"

#include <unistd.h>

#include <map>

#include "stagehand/tokenizer.h"
#include "stagehand/files.h"

namespace stagehand {

namespace fs = std::filesystem;

bool ConformanceReport::ok() const {
  for (const auto& i : items)
    if (i.verdict == Verdict::Fail) return false;
  return true;
}

namespace {

void tokenizer_probe(const std::function<std::shared_ptr<void>()>& make, const BuildContext& ctx,
                     ConformanceReport& report) {
  auto a = std::static_pointer_cast<Tokenizer>(make());
  auto b = std::static_pointer_cast<Tokenizer>(make());
  const std::string text = "The quick brown fox, naïve café owner, jumps over 13 lazy dogs! 東京 e-mail: a@b.org";
  auto ia = a->encode_ids(text);
  auto ib = b->encode_ids(text);
  if (ia != ib)
    report.fail("deterministic", "two instances built from the same spec encode the same text differently");
  else
    report.pass("deterministic");
  bool in_range = true;
  for (auto id : ia)
    if (id < 0 || id >= a->vocab_size()) in_range = false;
  if (in_range)
    report.pass("ids in range", fmt::format("{} ids < vocab_size {}", ia.size(), a->vocab_size()));
  else
    report.fail("ids in range", "an id is negative or >= vocab_size()");
  fs::path dir = fs::temp_directory_path() / fmt::format("stagehand-conformance-{}", getpid());
  fs::create_directories(dir);
  try {
    ConfigNode spec = a->save(dir);
    write_file_atomic(dir / "spec.yaml", to_yaml(spec));
    ConfigNode reread = load_yaml_file(dir / "spec.yaml");
    BuildContext c2 = ctx;
    c2.base_dir = dir;
    auto r = ctx.registry->create<Tokenizer>(reread, c2);
    if (r->encode_ids(text) == ia)
      report.pass("state round trip", "save() then rebuild encodes identically");
    else
      report.fail("state round trip", "a tokenizer rebuilt from save() encodes differently");
  } catch (const std::exception& e) {
    report.fail("state round trip", e.what());
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

void trainer_probe(const std::function<std::shared_ptr<void>()>& make, const BuildContext& ctx,
                   ConformanceReport& report) {
  // Trains on a small generated corpus, then runs the tokenizer probe on the result.
  fs::path dir = fs::temp_directory_path() / fmt::format("stagehand-trainer-{}", getpid());
  fs::create_directories(dir / "out");
  std::string corpus;
  const char* words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "naïve", "café",
                         "tokenizer", "training", "corpus", "sentence", "words", "again", "and", "more"};
  for (int i = 0; i < 3000; ++i) {
    for (int j = 0; j < 9; ++j) corpus += std::string(words[(i * 7 + j * 5) % 18]) + (j < 8 ? " " : ".\n");
  }
  write_file_atomic(dir / "corpus.txt", corpus);
  try {
    auto trainer = std::static_pointer_cast<TokenizerTrainer>(make());
    ConfigNode spec = trainer->train({dir / "corpus.txt"}, dir / "out", [] { return false; });
    write_file_atomic(dir / "out" / "spec.yaml", to_yaml(spec));
    ConfigNode reread = load_yaml_file(dir / "out" / "spec.yaml");
    BuildContext c2 = ctx;
    c2.base_dir = dir / "out";
    ctx.registry->create<Tokenizer>(reread, c2);
    report.pass("trains a usable tokenizer", fmt::format("spec type {}", reread.at("type").as_string()));
    tokenizer_probe([&] { return std::static_pointer_cast<void>(ctx.registry->create<Tokenizer>(reread, c2)); }, c2,
                    report);
  } catch (const std::exception& e) {
    report.fail("trains a usable tokenizer", e.what());
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace

void add_builtin_model_probes(std::map<std::string, ConformanceProbe>& probes);

namespace {

std::map<std::string, ConformanceProbe>& probes() {
  static std::map<std::string, ConformanceProbe> m = [] {
    std::map<std::string, ConformanceProbe> init = {{"tokenizer", tokenizer_probe},
                                                    {"tokenizer_trainer", trainer_probe}};
    add_builtin_model_probes(init);
    return init;
  }();
  return m;
}

struct KitScope : ValidationScope {
  const Registry& reg;
  explicit KitScope(const Registry& r) : reg(r) {}
  std::shared_ptr<const Schema> component_schema(const std::string& kind, const std::string& name,
                                                 const Location& where) const override {
    return reg.get(kind, name, where).schema;
  }
  void stage_reference(const std::string& stage, const std::string&, const Location& where) override {
    fail_at(where, "the example names stage '{}'; examples must be self-contained", stage);
  }
};

}  // namespace

void register_conformance_probe(const std::string& kind, ConformanceProbe probe) { probes()[kind] = std::move(probe); }
const ConformanceProbe* find_conformance_probe(const std::string& kind) {
  auto it = probes().find(kind);
  return it == probes().end() ? nullptr : &it->second;
}

ConformanceReport run_conformance(const Registry& registry, const std::string& plugin_file) {
  ConformanceReport report;
  for (const ComponentInfo* info : registry.list()) {
    if (info->plugin_file != plugin_file) continue;
    report.component = info->kind + "/" + info->name;
    ConfigNode spec = info->example.is_map() ? info->example : ConfigNode::map();
    if (!spec.has("type")) spec.set("type", ConfigNode::of(info->name));
    std::vector<std::string> missing;
    for (const auto& o : info->schema->options())
      if (!o.default_value && !o.nullable && !spec.has(o.name)) missing.push_back(o.name);
    // Documentation is part of the contract: every option needs a doc line.
    bool docs = true;
    for (const auto& o : info->schema->options())
      if (o.doc.empty()) {
        report.fail("option docs", fmt::format("option '{}' has no doc string", o.name));
        docs = false;
      }
    if (docs) report.pass("option docs", fmt::format("{} options documented", info->schema->options().size()));
    if (!missing.empty()) {
      std::string m;
      for (const auto& x : missing) m += (m.empty() ? "" : ", ") + x;
      report.skip("builds from defaults",
                  fmt::format("needs {} (register an example spec with .with_example(...) to test it)", m));
      continue;
    }
    BuildContext ctx;
    ctx.registry = &registry;
    ctx.seed = 1234;
    ctx.base_dir = fs::current_path();
    KitScope scope(registry);
    std::string owner = fmt::format("{} '{}'", info->kind, info->name);
    ConfigNode resolved;
    try {
      resolved = validate(spec, *info->schema, owner, scope);
      report.pass("defaults validate");
    } catch (const std::exception& e) {
      report.fail("defaults validate", e.what());
      continue;
    }
    Options options(resolved, info->schema, owner);
    try {
      auto obj = info->factory(options, ctx);
      if (!obj) fail("factory returned null");
      report.pass(info->example.is_map() ? "builds from its example" : "builds from defaults");
    } catch (const std::exception& e) {
      report.fail("builds", e.what());
      continue;
    }
    if (info->kind != "stage") {
      std::set<std::string> read = options.read_keys();
      std::string unread;
      for (const auto& o : info->schema->options())
        if (!read.count(o.name)) unread += (unread.empty() ? "" : ", ") + o.name;
      if (unread.empty())
        report.pass("schema matches reads", "every declared option is read when the component is built");
      else
        report.fail("schema matches reads", fmt::format("declared but never read when built: {}", unread));
    } else {
      report.skip("schema matches reads", "stage options are read when the stage runs");
    }
    if (const ConformanceProbe* probe = find_conformance_probe(info->kind)) {
      auto make = [&]() {
        Options o(resolved, info->schema, owner);
        return info->factory(o, ctx);
      };
      try {
        (*probe)(make, ctx, report);
      } catch (const std::exception& e) {
        report.fail("kind probe", e.what());
      }
    } else {
      report.skip("kind probe", fmt::format("no conformance probe for kind '{}' yet", info->kind));
    }
  }
  return report;
}

}  // namespace stagehand
