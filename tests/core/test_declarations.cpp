// SPDX-License-Identifier: Apache-2.0
// Plugin declaration files (plugin/declarations.h): every built-in plugin read from its declaration file gives the
// registry its code gives (each component's doc, provides, example and every option's spec, quoting included), and
// the runner's fallbacks: a missing or stale file, a component to build, facts that need the plugin, all throw
// NeedsPluginCode; the facts companions give the fact functions the plugins give.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>

#include "plugin/declarations.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace stagehand;
using namespace sh_test;

namespace {

/// Exact equality of two nodes: types, texts, quoting, order.
void expect_same_node(const ConfigNode& a, const ConfigNode& b, const std::string& where) {
  ASSERT_EQ(a.type(), b.type()) << where;
  switch (a.type()) {
    case ConfigNode::Type::Null: return;
    case ConfigNode::Type::Scalar:
      EXPECT_EQ(a.text(), b.text()) << where;
      EXPECT_EQ(a.quoted(), b.quoted()) << where << " (" << a.text() << ")";
      return;
    case ConfigNode::Type::Sequence:
      ASSERT_EQ(a.size(), b.size()) << where;
      for (size_t i = 0; i < a.size(); ++i) expect_same_node(a.items()[i], b.items()[i], where + "." + std::to_string(i));
      return;
    case ConfigNode::Type::Map:
      ASSERT_EQ(a.size(), b.size()) << where;
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a.entries()[i].first, b.entries()[i].first) << where;
        expect_same_node(a.entries()[i].second, b.entries()[i].second, where + "." + a.entries()[i].first);
      }
      return;
  }
}

void expect_same_option(const OptionSpec& a, const OptionSpec& b, const std::string& where) {
  EXPECT_EQ(a.name, b.name) << where;
  EXPECT_EQ(a.type, b.type) << where;
  EXPECT_EQ(a.doc, b.doc) << where;
  EXPECT_EQ(a.choices, b.choices) << where;
  EXPECT_EQ(a.min, b.min) << where;
  EXPECT_EQ(a.max, b.max) << where;
  EXPECT_EQ(a.component_kind, b.component_kind) << where;
  EXPECT_EQ(a.item_type, b.item_type) << where;
  EXPECT_EQ(a.nullable, b.nullable) << where;
  ASSERT_EQ(a.default_value.has_value(), b.default_value.has_value()) << where;
  if (a.default_value) expect_same_node(*a.default_value, *b.default_value, where + " default");
}

/// A copy of the built plugin folder (plugins, declaration files, facts companions, the sentencepiece bridge).
fs::path copy_of_plugins(const TempFolder& tmp) {
  const fs::path dir = tmp.path() / "plugins";
  fs::copy(STAGEHAND_PLUGIN_DIR, dir, fs::copy_options::recursive);
  return dir;
}

/// The message of the NeedsPluginCode that `f` throws; anything else fails the test.
std::string needs_code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const NeedsPluginCode& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected NeedsPluginCode, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected NeedsPluginCode, nothing was thrown";
  return "";
}

}  // namespace

TEST(DeclarationsTest, EveryBuiltinPluginDeclaresWhatItsCodeRegisters) {
  Registry code, declared;
  PluginLoader by_code(code), by_declarations(declared, LoadMode::Declarations);
  by_code.load_dir(STAGEHAND_PLUGIN_DIR, "builtin");
  by_declarations.load_dir(STAGEHAND_PLUGIN_DIR, "builtin");
  ASSERT_TRUE(by_code.refused().empty());
  ASSERT_TRUE(by_declarations.refused().empty());
  ASSERT_GE(by_code.loaded().size(), 40u);
  ASSERT_EQ(by_code.loaded().size(), by_declarations.loaded().size());
  size_t from_files = 0, options = 0;
  for (size_t i = 0; i < by_code.loaded().size(); ++i) {
    const LoadedPlugin& a = by_code.loaded()[i];
    const LoadedPlugin& b = by_declarations.loaded()[i];
    EXPECT_EQ(a.file, b.file);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.version, b.version);
    EXPECT_EQ(a.sha256, b.sha256);
    EXPECT_EQ(a.torch_version, b.torch_version);
    EXPECT_EQ(a.compiler, b.compiler);
    EXPECT_EQ(a.components, b.components);
    from_files += b.from_declarations;
  }
  // Only the tokenizers (LIGHT: no LibTorch) are opened; every other plugin is read from its file.
  EXPECT_EQ(from_files, by_code.loaded().size() - 3);
  for (const ComponentInfo* a : code.list()) {
    const std::string id = a->kind + "/" + a->name;
    const ComponentInfo* b = declared.find(a->kind, a->name);
    ASSERT_NE(b, nullptr) << id;
    EXPECT_EQ(a->doc, b->doc) << id;
    EXPECT_EQ(a->provides, b->provides) << id;
    EXPECT_EQ(a->data_parallel, b->data_parallel) << id;
    EXPECT_EQ(a->plugin_name, b->plugin_name) << id;
    EXPECT_EQ(a->plugin_file, b->plugin_file) << id;
    EXPECT_EQ(static_cast<bool>(a->facts), static_cast<bool>(b->facts)) << id;
    expect_same_node(a->example, b->example, id + " example");
    ASSERT_EQ(a->schema->options().size(), b->schema->options().size()) << id;
    for (size_t k = 0; k < a->schema->options().size(); ++k, ++options)
      expect_same_option(a->schema->options()[k], b->schema->options()[k], id + " option " + std::to_string(k));
  }
  EXPECT_EQ(code.list().size(), declared.list().size());
  EXPECT_GT(options, 300u);
}

TEST(DeclarationsTest, FactsComeFromTheCompanionAndBuildingNeedsThePlugin) {
  Registry declared;
  PluginLoader loader(declared, LoadMode::Declarations);
  loader.load_dir(STAGEHAND_PLUGIN_DIR, "builtin");
  // text_classification's facts, from its companion: num_labels from its `labels`, the tokenizer's size beside it
  // (the wordpiece tokenizer is light, so it is built).
  const ComponentInfo* data = declared.find("dataset", "text_classification");
  ASSERT_NE(data, nullptr);
  ASSERT_TRUE(data->facts);
  const ConfigNode spec = parse_yaml("{type: text_classification, labels: [ham, spam, eggs], tokenizer: x}", "t");
  struct Scope : ValidationScope {
    const Registry* r;
    std::shared_ptr<const Schema> component_schema(const std::string& k, const std::string& n,
                                                   const Location& w) const override {
      return r->get(k, n, w).schema;
    }
    void stage_reference(const std::string&, const std::string&, const Location&) override {}
  } scope;
  scope.r = &declared;
  scope.check_files = false;
  const ConfigNode resolved = validate(spec, *data->schema, "dataset", scope);
  Options o(resolved, data->schema, "dataset 'text_classification'");
  const PlanFacts facts = data->facts(o, [](const ConfigNode&, const std::string&) { return PlanFacts{{"vocab_size", 7}}; });
  EXPECT_EQ(facts.at("num_labels"), 3);
  EXPECT_EQ(facts.at("vocab_size"), 7);
  // A component read from a declaration file cannot be built: NeedsPluginCode, not wrapped into an Error.
  BuildContext ctx;
  ctx.registry = &declared;
  const std::string why = needs_code_of([&] { declared.create("loss", parse_yaml("{type: triplet}", "t"), ctx); });
  EXPECT_NE(why.find("loss/triplet"), std::string::npos) << why;
}

TEST(DeclarationsTest, AMissingOrStaleDeclarationFileAsksForThePlugin) {
  TempFolder tmp;
  const fs::path dir = copy_of_plugins(tmp);
  const fs::path plugin = dir / "loss_triplet.so";
  ASSERT_TRUE(fs::exists(declaration_file(plugin)));
  {  // another build of the plugin: its sha256 differs from the one the file names
    fs::copy_file(STAGEHAND_PLUGIN_DIR "/loss_cross_entropy.so", plugin, fs::copy_options::overwrite_existing);
    Registry r;
    PluginLoader loader(r, LoadMode::Declarations);
    const std::string why = needs_code_of([&] { loader.load(plugin); });
    EXPECT_NE(why.find("another build"), std::string::npos) << why;
  }
  {  // no file
    fs::remove(declaration_file(plugin));
    Registry r;
    PluginLoader loader(r, LoadMode::Declarations);
    const std::string why = needs_code_of([&] { loader.load(plugin); });
    EXPECT_NE(why.find("no declaration file"), std::string::npos) << why;
  }
  {  // a facts companion that is not the one named
    const fs::path companion = dir / "facts" / "dataset_text_classification.so";
    ASSERT_TRUE(fs::exists(companion));
    fs::copy_file(dir / "facts" / "loss_cross_entropy.so", companion, fs::copy_options::overwrite_existing);
    Registry r;
    PluginLoader loader(r, LoadMode::Declarations);
    const std::string why = needs_code_of([&] { loader.load(dir / "dataset_text_classification.so"); });
    EXPECT_NE(why.find("facts companion"), std::string::npos) << why;
  }
  {  // a plugin that does not exist is refused, as when opening plugins
    Registry r;
    PluginLoader loader(r, LoadMode::Declarations);
    EXPECT_EQ(loader.load(dir / "nothing.so"), nullptr);
    ASSERT_EQ(loader.refused().size(), 1u);
  }
}
