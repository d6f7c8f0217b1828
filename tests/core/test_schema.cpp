// SPDX-License-Identifier: Apache-2.0
// Option schemas: validation (defaults, unknown keys with "did you mean", types, ranges, choices, required
// options, paths and globs, lists, nested components) and the typed Options a component reads.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "stagehand/config.h"
#include "stagehand/error.h"
#include "stagehand/registry.h"
#include "stagehand/schema.h"

namespace fs = std::filesystem;
using sh_test::TempFolder;
using sh_test::write_text;
using stagehand::ConfigNode;
using stagehand::Error;
using stagehand::Options;
using stagehand::OptionType;
using stagehand::Schema;

namespace {

using sh_test::error_of;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// A tiny component interface for the registry tests.
struct Widget {
  static constexpr const char* kKind = "widget";
  virtual ~Widget() = default;
  int64_t teeth = 0;
  std::string material;
};

/// Records what validation reports to its surroundings.
struct TestScope : stagehand::ValidationScope {
  const stagehand::Registry* registry = nullptr;
  std::vector<std::string> references;  // "kind:stage@location"
  std::vector<fs::path> inputs;
  std::shared_ptr<const Schema> component_schema(const std::string& kind, const std::string& name,
                                                 const stagehand::Location& where) const override {
    if (!registry) throw Error("no registry in this test", where);
    return registry->get(kind, name, where).schema;
  }
  void stage_reference(const std::string& stage, const std::string& kind, const stagehand::Location& where) override {
    references.push_back(kind + ":" + stage + "@" + where.str());
  }
  void input_file(const fs::path& file) override { inputs.push_back(file); }
};

Schema training_schema() {
  Schema s;
  s.opt("epochs", int64_t{3}, "number of epochs").min(1).max(100);
  s.opt("lr", 0.001, "learning rate").min(0.0);
  s.opt("shuffle", true, "shuffle the data");
  s.opt("name", std::string("run"), "a name");
  s.choice("optimizer", "adam", {"adam", "sgd", "adamw"}, "which optimizer");
  s.optional("data", OptionType::Path, "a data file");
  s.list("sizes", OptionType::Int, ConfigNode::sequence({ConfigNode::of(1), ConfigNode::of(2)}), "layer sizes");
  s.list("weights", OptionType::Float, ConfigNode::sequence(), "weights");
  return s;
}

void register_widgets(stagehand::Registry& registry) {
  stagehand::PluginRegistrar r;
  r.add<Widget>("gear", "a gear",
                Schema()
                    .opt("teeth", int64_t{12}, "number of teeth")
                    .min(3)
                    .choice("material", "steel", {"steel", "brass"}, "what it is made of"),
                [](const Options& o) {
                  auto w = std::make_shared<Widget>();
                  w->teeth = o.get<int64_t>("teeth");
                  w->material = o.get<std::string>("material");
                  return w;
                });
  r.add<Widget>("lever", "a lever", Schema().required("length", OptionType::Float, "length in m"),
                [](const Options&, const stagehand::BuildContext&) { return std::make_shared<Widget>(); });
  for (auto& e : r.entries()) {
    e.plugin_file = "<test>";
    registry.add(e);
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------ defaults

TEST(Validate, FillsDefaultsAndKeepsIgnoredKeys) {
  {
    SCOPED_TRACE("FillsDefaultsWithDefaultLocation");
    TestScope scope;
    ConfigNode cfg = stagehand::parse_yaml("epochs: 5\n", "cfg.yaml");
    ConfigNode out = stagehand::validate(cfg, training_schema(), "trainer", scope);
    EXPECT_EQ(out.at("epochs").as_int(), 5);
    EXPECT_EQ(out.at("epochs").location().str(), "cfg.yaml:1:9");
    EXPECT_DOUBLE_EQ(out.at("lr").as_double(), 0.001);
    EXPECT_EQ(out.at("lr").location().file, "<default>");
    EXPECT_TRUE(out.at("shuffle").as_bool());
    EXPECT_EQ(out.at("name").as_string(), "run");
    EXPECT_EQ(out.at("optimizer").as_string(), "adam");
    EXPECT_EQ(out.at("optimizer").location().file, "<default>");
    ASSERT_TRUE(out.has("data"));
    EXPECT_TRUE(out.at("data").is_null());
    EXPECT_EQ(out.at("data").location().file, "<default>");
    ASSERT_EQ(out.at("sizes").size(), 2u);
    EXPECT_EQ(out.at("sizes").items()[1].location().file, "<default>");
    // Every declared option is present, in schema order.
    ASSERT_EQ(out.size(), training_schema().options().size());
    EXPECT_EQ(out.entries()[0].first, "epochs");
    EXPECT_EQ(out.entries()[4].first, "optimizer");
  }
  {
    SCOPED_TRACE("NullConfigMeansAllDefaultsAndIgnoredKeysAreKept");
    TestScope scope;
    ConfigNode out = stagehand::validate(ConfigNode::null(), training_schema(), "trainer", scope);
    EXPECT_EQ(out.at("epochs").as_int(), 3);
    ConfigNode cfg = stagehand::parse_yaml("type: special\nepochs: 4\n", "c.yaml");
    out = stagehand::validate(cfg, training_schema(), "trainer", scope);
    EXPECT_EQ(out.at("type").as_string(), "special");
    // A key that is not ignored is unknown.
    std::string msg = error_of([&] { stagehand::validate(cfg, training_schema(), "trainer", scope, {}); });
    EXPECT_TRUE(contains(msg, "unknown option 'type'")) << msg;
  }
  {
    SCOPED_TRACE("ConfigMustBeAMap");
    TestScope scope;
    ConfigNode cfg = stagehand::parse_yaml("[1, 2]", "l.yaml");
    std::string msg = error_of([&] { stagehand::validate(cfg, training_schema(), "trainer", scope); });
    EXPECT_TRUE(contains(msg, "expected a map of options")) << msg;
  }
}

// ------------------------------------------------------------------------------------------ unknown keys

TEST(Validate, UnknownKeysNameLocationKeyAndDidYouMean) {
  {
    SCOPED_TRACE("UnknownKeyNamesLocationKeyAndDidYouMean");
    TestScope scope;
    ConfigNode cfg = stagehand::parse_yaml("epochs: 5\noptimzer: sgd\n", "/exp/train.yaml");
    try {
      stagehand::validate(cfg, training_schema(), "stage 'train'", scope);
      FAIL() << "the typo was accepted";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_TRUE(contains(msg, "/exp/train.yaml:2:1")) << msg;
      EXPECT_TRUE(contains(msg, "'optimzer'")) << msg;
      EXPECT_TRUE(contains(msg, "did you mean 'optimizer'")) << msg;
      EXPECT_TRUE(contains(msg, "stage 'train'")) << msg;
      EXPECT_EQ(e.location().line, 2);
      EXPECT_EQ(e.location().column, 1);
    }
  }
  {
    SCOPED_TRACE("UnknownKeyWithoutCloseMatchListsTheKnownOptions");
    TestScope scope;
    ConfigNode cfg = stagehand::parse_yaml("banana: 1\n", "t.yaml");
    std::string msg = error_of([&] { stagehand::validate(cfg, training_schema(), "trainer", scope); });
    EXPECT_TRUE(contains(msg, "unknown option 'banana'")) << msg;
    EXPECT_TRUE(contains(msg, "known options: epochs, lr, shuffle")) << msg;
    EXPECT_FALSE(contains(msg, "did you mean")) << msg;
  }
}

// ------------------------------------------------------------------------------------------ types

TEST(Validate, TypesRangesChoicesAndRequiredOptions) {
  {
    SCOPED_TRACE("WrongTypeNamesTheExpectedType");
    TestScope scope;
    Schema s = training_schema();
    struct Case {
      std::string yaml, expected;
    };
    std::vector<Case> cases = {
        {"epochs: many", "option 'epochs': expected an int, got 'many'"},
        {"epochs: 2.5", "option 'epochs': expected an int, got '2.5'"},
        {"epochs: \"3\"", "option 'epochs': expected an int, got the string '3'"},
        {"epochs: [1]", "option 'epochs': expected an int, got a list"},
        {"lr: fast", "option 'lr': expected a float, got 'fast'"},
        {"lr: \"0.1\"", "option 'lr': expected a float, got the string '0.1'"},
        {"shuffle: maybe", "option 'shuffle': expected true or false, got 'maybe'"},
        {"shuffle: 1", "option 'shuffle': expected true or false"},
        {"name: {a: 1}", "option 'name': expected a string, got a map"},
        {"sizes: 3", "option 'sizes': expected a list, got '3'"},
    };
    for (const auto& c : cases) {
      ConfigNode cfg = stagehand::parse_yaml(c.yaml + "\n", "w.yaml");
      std::string msg = error_of([&] { stagehand::validate(cfg, s, "trainer", scope); });
      EXPECT_TRUE(contains(msg, c.expected)) << c.yaml << " -> " << msg;
      EXPECT_TRUE(contains(msg, "w.yaml:1:")) << c.yaml << " -> " << msg;
    }
  }
  {
    SCOPED_TRACE("NullIsAcceptedForNullableOptions");
    TestScope scope;
    ConfigNode out = stagehand::validate(stagehand::parse_yaml("data: ~\n", "n.yaml"), training_schema(), "t", scope);
    EXPECT_TRUE(out.at("data").is_null());
    Schema s;
    s.required("must", OptionType::Int, "required");
    std::string msg =
        error_of([&] { stagehand::validate(stagehand::parse_yaml("must: ~\n", "n.yaml"), s, "t", scope); });
    EXPECT_TRUE(contains(msg, "option 'must': expected int, got null")) << msg;
  }
  {
    SCOPED_TRACE("NumbersInOtherSpellingsAreAccepted");
    TestScope scope;
    ConfigNode cfg = stagehand::parse_yaml("epochs: 1e1\nlr: 3\nshuffle: no\n", "n.yaml");
    ConfigNode out = stagehand::validate(cfg, training_schema(), "trainer", scope);
    Options o(out, std::make_shared<Schema>(training_schema()), "trainer");
    EXPECT_EQ(o.get<int64_t>("epochs"), 10);
    EXPECT_DOUBLE_EQ(o.get<double>("lr"), 3.0);
    EXPECT_FALSE(o.get<bool>("shuffle"));
  }
  {
    SCOPED_TRACE("MinAndMax");
    TestScope scope;
    Schema s = training_schema();
    std::string msg =
        error_of([&] { stagehand::validate(stagehand::parse_yaml("epochs: 0", "m.yaml"), s, "t", scope); });
    EXPECT_TRUE(contains(msg, "option 'epochs': must be >= 1, got 0")) << msg;
    EXPECT_TRUE(contains(msg, "m.yaml:1:9")) << msg;
    msg = error_of([&] { stagehand::validate(stagehand::parse_yaml("epochs: 101", "m.yaml"), s, "t", scope); });
    EXPECT_TRUE(contains(msg, "must be <= 100, got 101")) << msg;
    msg = error_of([&] { stagehand::validate(stagehand::parse_yaml("lr: -0.5", "m.yaml"), s, "t", scope); });
    EXPECT_TRUE(contains(msg, "option 'lr': must be >= 0")) << msg;
    // The bounds themselves are accepted.
    EXPECT_NO_THROW(stagehand::validate(stagehand::parse_yaml("epochs: 100\nlr: 0", "m.yaml"), s, "t", scope));
    EXPECT_NO_THROW(stagehand::validate(stagehand::parse_yaml("epochs: 1", "m.yaml"), s, "t", scope));
  }
  {
    SCOPED_TRACE("ChoicesWithDidYouMean");
    TestScope scope;
    std::string msg = error_of([&] {
      stagehand::validate(stagehand::parse_yaml("optimizer: adamm", "c.yaml"), training_schema(), "t", scope);
    });
    EXPECT_TRUE(contains(msg, "c.yaml:1:12")) << msg;
    EXPECT_TRUE(contains(msg, "'adamm' is not one of adam | sgd | adamw")) << msg;
    EXPECT_TRUE(contains(msg, "did you mean 'adam")) << msg;
    msg = error_of([&] {
      stagehand::validate(stagehand::parse_yaml("optimizer: lbfgs", "c.yaml"), training_schema(), "t", scope);
    });
    EXPECT_TRUE(contains(msg, "is not one of")) << msg;
    EXPECT_FALSE(contains(msg, "did you mean")) << msg;
    ConfigNode ok =
        stagehand::validate(stagehand::parse_yaml("optimizer: sgd", "c.yaml"), training_schema(), "t", scope);
    EXPECT_EQ(ok.at("optimizer").as_string(), "sgd");
  }
  {
    SCOPED_TRACE("RequiredOptionMissing");
    TestScope scope;
    Schema s;
    s.required("corpus", OptionType::String, "the corpus to read");
    s.opt("n", int64_t{1}, "n");
    ConfigNode cfg = stagehand::parse_yaml("n: 2\n", "r.yaml");
    std::string msg = error_of([&] { stagehand::validate(cfg, s, "dataset 'x'", scope); });
    EXPECT_TRUE(contains(msg, "dataset 'x': missing required option 'corpus'")) << msg;
    EXPECT_TRUE(contains(msg, "the corpus to read")) << msg;
    EXPECT_TRUE(contains(msg, "r.yaml:1:1")) << msg;
  }
}

TEST(Validate, ExplicitNullForAnOptionWithADefault) {
  // `epochs: ~` for a non-nullable int option with a default must not reach the component as null: either
  // validation rejects it (naming the expected type) or it stands for the default.
  TestScope scope;
  ConfigNode cfg = stagehand::parse_yaml("epochs: ~\n", "n.yaml");
  ConfigNode out;
  try {
    out = stagehand::validate(cfg, training_schema(), "trainer", scope);
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_TRUE(contains(msg, "option 'epochs'")) << msg;
    EXPECT_TRUE(contains(msg, "int")) << msg;
    EXPECT_TRUE(contains(msg, "n.yaml:1:")) << msg;
    return;
  }
  ASSERT_FALSE(out.at("epochs").is_null());
  EXPECT_EQ(out.at("epochs").as_int(), 3);
}

// ------------------------------------------------------------------------------------------ paths

TEST(Validate, PathsAreResolvedAndMustExist) {
  {
    SCOPED_TRACE("PathIsResolvedRelativeToTheYamlFilesFolder");
    TempFolder tmp;
    write_text(tmp / "exp/data.txt", "x");
    write_text(tmp / "exp/cfg.yaml", "data: data.txt\n");
    write_text(tmp / "exp/bad.yaml", "data: nope/missing.txt\n");
    TestScope scope;
    scope.default_base_dir = tmp / "elsewhere";  // must not be used: the value has a file location
    ConfigNode out =
        stagehand::validate(stagehand::load_yaml_file(tmp / "exp/cfg.yaml"), training_schema(), "t", scope);
    EXPECT_EQ(out.at("data").as_string(), (tmp / "exp/data.txt").string());
    ASSERT_EQ(scope.inputs.size(), 1u);
    EXPECT_EQ(scope.inputs[0], tmp / "exp/data.txt");

    std::string msg = error_of(
        [&] { stagehand::validate(stagehand::load_yaml_file(tmp / "exp/bad.yaml"), training_schema(), "t", scope); });
    EXPECT_TRUE(contains(msg, (tmp / "exp/nope/missing.txt").string())) << msg;
    EXPECT_TRUE(contains(msg, "not found")) << msg;
    EXPECT_TRUE(contains(msg, (tmp / "exp/bad.yaml").string() + ":1:7")) << msg;
    EXPECT_TRUE(contains(msg, "option 'data'")) << msg;
  }
  {
    SCOPED_TRACE("PathWithoutFileLocationUsesTheDefaultBaseDir");
    TempFolder tmp;
    write_text(tmp / "base/in.txt", "x");
    TestScope scope;
    scope.default_base_dir = tmp / "base";
    ConfigNode cfg = ConfigNode::map();
    cfg.set("data", ConfigNode::of("in.txt", stagehand::Location{"<command line argument 1>", 0, 0}));
    ConfigNode out = stagehand::validate(cfg, training_schema(), "t", scope);
    EXPECT_EQ(out.at("data").as_string(), (tmp / "base/in.txt").string());
    // check_files = false: a missing file is resolved but not required.
    TestScope lax;
    lax.check_files = false;
    lax.default_base_dir = tmp / "base";
    cfg.set("data", ConfigNode::of("missing.txt"));
    out = stagehand::validate(cfg, training_schema(), "t", lax);
    EXPECT_EQ(out.at("data").as_string(), (tmp / "base/missing.txt").string());
  }
  {
    SCOPED_TRACE("OutPathNeedNotExist");
    TempFolder tmp;
    write_text(tmp / "cfg.yaml", "out: results/model.bin\n");
    Schema s;
    s.optional("out", OptionType::OutPath, "where to write");
    TestScope scope;
    ConfigNode out = stagehand::validate(stagehand::load_yaml_file(tmp / "cfg.yaml"), s, "t", scope);
    EXPECT_EQ(out.at("out").as_string(), (tmp / "results/model.bin").string());
    EXPECT_TRUE(scope.inputs.empty());
  }
  {
    SCOPED_TRACE("PathsWithGlobsAreSortedAndMustMatch");
    TempFolder tmp;
    write_text(tmp / "d/b.txt", "b");
    write_text(tmp / "d/a.txt", "a");
    write_text(tmp / "d/c.md", "c");
    write_text(tmp / "d/z.bin", "z");
    write_text(tmp / "cfg.yaml", "files: [d/z.bin, \"d/*.txt\"]\none: \"d/*.md\"\nnone: \"d/*.csv\"\n");
    Schema s;
    s.paths("files", "input files");
    s.add([] {
      stagehand::OptionSpec o;
      o.name = "one";
      o.type = OptionType::Paths;
      o.doc = "a single pattern";
      return o;
    }());
    s.optional("none", OptionType::Any, "unused here");
    TestScope scope;
    ConfigNode cfg = stagehand::load_yaml_file(tmp / "cfg.yaml");
    ConfigNode out = stagehand::validate(cfg, s, "t", scope);
    ASSERT_EQ(out.at("files").size(), 3u);
    EXPECT_EQ(out.at("files").items()[0].as_string(), (tmp / "d/z.bin").string());
    EXPECT_EQ(out.at("files").items()[1].as_string(), (tmp / "d/a.txt").string());
    EXPECT_EQ(out.at("files").items()[2].as_string(), (tmp / "d/b.txt").string());
    ASSERT_TRUE(out.at("one").is_sequence());  // a single string is accepted and becomes a list
    ASSERT_EQ(out.at("one").size(), 1u);
    EXPECT_EQ(out.at("one").items()[0].as_string(), (tmp / "d/c.md").string());
    EXPECT_EQ(scope.inputs.size(), 4u);

    ConfigNode bad = cfg.clone();
    bad.set("files", bad.at("none"));
    std::string msg = error_of([&] { stagehand::validate(bad, s, "t", scope); });
    EXPECT_TRUE(contains(msg, "matches no file")) << msg;
    EXPECT_TRUE(contains(msg, (tmp / "d/*.csv").string())) << msg;
    EXPECT_TRUE(contains(msg, (tmp / "cfg.yaml").string() + ":3:7")) << msg;

    bad.set("files", stagehand::parse_yaml("[d/missing.bin]", (tmp / "x.yaml").string()));
    msg = error_of([&] { stagehand::validate(bad, s, "t", scope); });
    EXPECT_TRUE(contains(msg, (tmp / "d/missing.bin").string())) << msg;
    EXPECT_TRUE(contains(msg, "not found")) << msg;
  }
}

// ------------------------------------------------------------------------------------------ lists

TEST(Validate, ListItemsAndStageReferences) {
  {
    SCOPED_TRACE("ListItemTypesAreChecked");
    TestScope scope;
    std::string msg = error_of([&] {
      stagehand::validate(stagehand::parse_yaml("sizes: [1, x, 3]\n", "l.yaml"), training_schema(), "t", scope);
    });
    EXPECT_TRUE(contains(msg, "option 'sizes[1]': expected an int, got 'x'")) << msg;
    EXPECT_TRUE(contains(msg, "l.yaml:1:12")) << msg;
    ConfigNode out = stagehand::validate(stagehand::parse_yaml("weights: [1, 0.5, 2e-3]\n", "l.yaml"),
                                         training_schema(), "t", scope);
    Options o(out, std::make_shared<Schema>(training_schema()), "t");
    auto w = o.get<std::vector<double>>("weights");
    ASSERT_EQ(w.size(), 3u);
    EXPECT_DOUBLE_EQ(w[0], 1.0);
    EXPECT_DOUBLE_EQ(w[2], 2e-3);
    msg = error_of([&] {
      stagehand::validate(stagehand::parse_yaml("weights: [1, null]\n", "l.yaml"), training_schema(), "t", scope);
    });
    EXPECT_TRUE(contains(msg, "weights[1]")) << msg;
  }
  {
    SCOPED_TRACE("StageReferencesAreReported");
    Schema s;
    s.stage("upstream", "the stage before");
    s.add([] {
      stagehand::OptionSpec o;
      o.name = "others";
      o.type = OptionType::Stages;
      o.doc = "more stages";
      o.default_value = ConfigNode::sequence();
      return o;
    }());
    TestScope scope;
    stagehand::validate(stagehand::parse_yaml("upstream: prep\nothers: [a, b]\n", "s.yaml"), s, "t", scope);
    ASSERT_EQ(scope.references.size(), 3u);
    EXPECT_EQ(scope.references[0], ":prep@s.yaml:1:11");
    EXPECT_EQ(scope.references[1], ":a@s.yaml:2:10");
    EXPECT_EQ(scope.references[2], ":b@s.yaml:2:13");
    std::string msg =
        error_of([&] { stagehand::validate(stagehand::parse_yaml("upstream: [x]\n", "s.yaml"), s, "t", scope); });
    EXPECT_TRUE(contains(msg, "expected a stage name")) << msg;
  }
}

// ------------------------------------------------------------------------------------------ components

TEST(Components, ValidatedAgainstTheRegisteredSchemaAndBuilt) {
  {
    SCOPED_TRACE("ComponentOptionIsValidatedAgainstTheRegisteredSchema");
    stagehand::Registry registry;
    register_widgets(registry);
    Schema s;
    s.component("widget", "widget", "the widget to use");
    TestScope scope;
    scope.registry = &registry;

    ConfigNode out =
        stagehand::validate(stagehand::parse_yaml("widget: {type: gear, teeth: 20}\n", "w.yaml"), s, "machine", scope);
    EXPECT_EQ(out.at("widget").at("type").as_string(), "gear");
    EXPECT_EQ(out.at("widget").at("teeth").as_int(), 20);
    EXPECT_EQ(out.at("widget").at("material").as_string(), "steel");  // nested default filled
    EXPECT_EQ(out.at("widget").at("material").location().file, "<default>");

    std::string msg = error_of([&] {
      stagehand::validate(stagehand::parse_yaml("widget: {type: gear, teeht: 20}\n", "w.yaml"), s, "m", scope);
    });
    EXPECT_TRUE(contains(msg, "widget 'gear': unknown option 'teeht'; did you mean 'teeth'?")) << msg;
    EXPECT_TRUE(contains(msg, "w.yaml:1:22")) << msg;

    msg = error_of([&] {
      stagehand::validate(stagehand::parse_yaml("widget: {type: gear, teeth: 2}\n", "w.yaml"), s, "m", scope);
    });
    EXPECT_TRUE(contains(msg, "widget 'gear': option 'teeth': must be >= 3")) << msg;

    msg = error_of([&] {
      stagehand::validate(stagehand::parse_yaml("widget: {type: gear, material: bras}\n", "w.yaml"), s, "m", scope);
    });
    EXPECT_TRUE(contains(msg, "did you mean 'brass'")) << msg;

    msg = error_of(
        [&] { stagehand::validate(stagehand::parse_yaml("widget: {type: gaer}\n", "w.yaml"), s, "m", scope); });
    EXPECT_TRUE(contains(msg, "unknown widget 'gaer'")) << msg;
    EXPECT_TRUE(contains(msg, "did you mean 'gear'")) << msg;
    EXPECT_TRUE(contains(msg, "w.yaml:1:16")) << msg;

    msg =
        error_of([&] { stagehand::validate(stagehand::parse_yaml("widget: {teeth: 3}\n", "w.yaml"), s, "m", scope); });
    EXPECT_TRUE(contains(msg, "needs 'type: NAME'")) << msg;

    msg = error_of(
        [&] { stagehand::validate(stagehand::parse_yaml("widget: {type: lever}\n", "w.yaml"), s, "m", scope); });
    EXPECT_TRUE(contains(msg, "widget 'lever': missing required option 'length'")) << msg;

    // A stage name is a reference to a stage that provides a widget.
    stagehand::validate(stagehand::parse_yaml("widget: make_widget\n", "w.yaml"), s, "m", scope);
    ASSERT_EQ(scope.references.size(), 1u);
    EXPECT_EQ(scope.references[0], "widget:make_widget@w.yaml:1:9");
  }
  {
    SCOPED_TRACE("CreateBuildsAValidatedComponent");
    stagehand::Registry registry;
    register_widgets(registry);
    stagehand::BuildContext ctx;
    ctx.registry = &registry;
    auto w = registry.create<Widget>(stagehand::parse_yaml("{type: gear, material: brass}", "c.yaml"), ctx);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->teeth, 12);
    EXPECT_EQ(w->material, "brass");
    std::string msg =
        error_of([&] { registry.create<Widget>(stagehand::parse_yaml("{type: gear, teeth: x}", "c.yaml"), ctx); });
    EXPECT_TRUE(contains(msg, "expected an int")) << msg;
    msg = error_of([&] { registry.create<Widget>(stagehand::parse_yaml("some_stage", "c.yaml"), ctx); });
    EXPECT_TRUE(contains(msg, "no pipeline is running")) << msg;
    // Registering the same (kind, name) twice is refused naming both plugin files.
    stagehand::ComponentInfo dup = *registry.find("widget", "gear");
    dup.plugin_file = "/other/plugin.so";
    msg = error_of([&] { registry.add(dup); });
    EXPECT_TRUE(contains(msg, "<test>")) << msg;
    EXPECT_TRUE(contains(msg, "/other/plugin.so")) << msg;
    EXPECT_EQ(registry.list("widget").size(), 2u);
    EXPECT_EQ(registry.kinds(), std::vector<std::string>{"widget"});
  }
}

TEST(Schema, TypeStringsAndBuilder) {
  Schema s = training_schema();
  s.component("widget", "widget", "w");
  EXPECT_EQ(s.find("epochs")->type_string(), "int");
  EXPECT_EQ(s.find("lr")->type_string(), "float");
  EXPECT_EQ(s.find("shuffle")->type_string(), "bool");
  EXPECT_EQ(s.find("optimizer")->type_string(), "adam|sgd|adamw");
  EXPECT_EQ(s.find("sizes")->type_string(), "list of int");
  EXPECT_EQ(s.find("data")->type_string(), "path");
  EXPECT_EQ(s.find("widget")->type_string(), "widget (spec or stage name)");
  EXPECT_EQ(s.find("nothing"), nullptr);
  EXPECT_EQ(*s.find("epochs")->min, 1.0);
  EXPECT_EQ(*s.find("epochs")->max, 100.0);
  EXPECT_TRUE(s.find("data")->nullable);
  // Re-adding an option replaces it; extend adds only missing ones.
  s.opt("epochs", int64_t{7}, "replaced");
  EXPECT_EQ(s.find("epochs")->default_value->as_int(), 7);
  size_t before = s.options().size();
  Schema more;
  more.opt("epochs", int64_t{99}, "ignored").opt("extra", false, "added");
  s.extend(more);
  EXPECT_EQ(s.options().size(), before + 1);
  EXPECT_EQ(s.find("epochs")->default_value->as_int(), 7);
  EXPECT_THROW(Schema().min(1), Error);
}

// ------------------------------------------------------------------------------------------ Options

TEST(OptionsApi, TypedReadsUndeclaredReadsAndReadKeys) {
  TempFolder tmp;
  write_text(tmp / "data.txt", "x");
  write_text(tmp / "cfg.yaml", "epochs: 7\nlr: 0.5\nname: bert\ndata: data.txt\nsizes: [4, 5]\n");
  TestScope scope;
  auto schema = std::make_shared<Schema>(training_schema());
  ConfigNode resolved = stagehand::validate(stagehand::load_yaml_file(tmp / "cfg.yaml"), *schema, "t", scope);
  Options o(resolved, schema, "trainer 'x'");
  EXPECT_TRUE(o.read_keys().empty());
  EXPECT_EQ(o.get<int64_t>("epochs"), 7);
  EXPECT_EQ(o.get<int>("epochs"), 7);
  EXPECT_DOUBLE_EQ(o.get<double>("lr"), 0.5);
  EXPECT_FLOAT_EQ(o.get<float>("lr"), 0.5f);
  EXPECT_EQ(o.get<std::string>("name"), "bert");
  EXPECT_TRUE(o.get<bool>("shuffle"));
  EXPECT_EQ(o.get<std::vector<int64_t>>("sizes"), (std::vector<int64_t>{4, 5}));
  EXPECT_TRUE(o.has("data"));
  EXPECT_EQ(o.path("data"), tmp / "data.txt");
  EXPECT_EQ(o.owner(), "trainer 'x'");
  EXPECT_EQ(o.read_keys(), (std::set<std::string>{"epochs", "lr", "name", "shuffle", "sizes", "data"}));

  std::string msg = error_of([&] { o.get<int64_t>("undeclared"); });
  EXPECT_TRUE(contains(msg, "trainer 'x' reads option 'undeclared' which its schema does not declare")) << msg;
  EXPECT_FALSE(o.read_keys().count("undeclared"));

  // A copy shares the read tracking (components are handed copies).
  Options copy = o;
  copy.get<std::string>("optimizer");
  EXPECT_TRUE(o.read_keys().count("optimizer"));

  // An optional option left out reads as absent.
  ConfigNode r2 = stagehand::validate(ConfigNode::map(), *schema, "t", scope);
  Options o2(r2, schema, "t");
  EXPECT_FALSE(o2.has("data"));
  EXPECT_TRUE(o2.paths("weights").empty());
  // A wrong typed read names the expected type.
  msg = error_of([&] { o2.get<bool>("name"); });
  EXPECT_TRUE(contains(msg, "expected true or false")) << msg;
}
