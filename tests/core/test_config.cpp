// SPDX-License-Identifier: Apache-2.0
// Configuration as data: YAML parsing with locations, typed reads, include:, ${...} references,
// command-line overrides, to_yaml round trips, canonical JSON and "did you mean".
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <string>

#include "support/test_support.h"
#include "stagehand/config.h"
#include "stagehand/error.h"
#include "stagehand/schema.h"

namespace fs = std::filesystem;
using sh_test::TempFolder;
using sh_test::write_text;
using stagehand::ConfigNode;
using stagehand::Error;
using stagehand::parse_yaml;

namespace {

using sh_test::error_of;

/// Calls `f` and returns the message of the stagehand::Error it throws (fails the test if none).
ConfigNode resolved(const std::string& yaml, const std::string& name = "r.yaml") {
  ConfigNode n = parse_yaml(yaml, name);
  stagehand::resolve_references(n);
  return n;
}

/// Structural equality that also requires the same "quoted" flag on every scalar (so that "1" stays a
/// string and 1 stays a number) and reports where the two differ.
::testing::AssertionResult same_tree(const ConfigNode& a, const ConfigNode& b, const std::string& path = "") {
  if (a.type() != b.type())
    return ::testing::AssertionFailure() << path << ": " << a.type_name() << " vs " << b.type_name();
  switch (a.type()) {
    case ConfigNode::Type::Null:
      return ::testing::AssertionSuccess();
    case ConfigNode::Type::Scalar:
      if (a.text() != b.text())
        return ::testing::AssertionFailure() << path << ": '" << a.text() << "' vs '" << b.text() << "'";
      if (a.quoted() != b.quoted())
        return ::testing::AssertionFailure()
               << path << ": '" << a.text() << "' quoted " << a.quoted() << " vs " << b.quoted();
      return ::testing::AssertionSuccess();
    case ConfigNode::Type::Sequence:
      if (a.size() != b.size()) return ::testing::AssertionFailure() << path << ": list sizes differ";
      for (size_t i = 0; i < a.size(); ++i) {
        auto r = same_tree(a.items()[i], b.items()[i], path + "." + std::to_string(i));
        if (!r) return r;
      }
      return ::testing::AssertionSuccess();
    case ConfigNode::Type::Map:
      if (a.size() != b.size()) return ::testing::AssertionFailure() << path << ": map sizes differ";
      for (size_t i = 0; i < a.size(); ++i) {
        const auto& [ka, va] = a.entries()[i];
        const auto& [kb, vb] = b.entries()[i];
        if (ka != kb) return ::testing::AssertionFailure() << path << ": key '" << ka << "' vs '" << kb << "'";
        auto r = same_tree(va, vb, path + "." + ka);
        if (!r) return r;
      }
      return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "unknown type";
}

}  // namespace

// ------------------------------------------------------------------------------------------ parsing

TEST(ParseYaml, LocationsDuplicateKeysAndInvalidYaml) {
  {
    SCOPED_TRACE("ScalarsMapKeysAndListItemsKeepFileLineColumn");
    ConfigNode n = parse_yaml(
        "name: demo\n"
        "optimizer:\n"
        "  lr: 0.1\n"
        "list:\n"
        "  - first\n"
        "  - second\n"
        "flow: [x, y]\n",
        "cfg.yaml");
    ASSERT_TRUE(n.is_map());
    EXPECT_EQ(n.at("name").location().str(), "cfg.yaml:1:7");
    EXPECT_EQ(n.key_location("name").str(), "cfg.yaml:1:1");
    EXPECT_EQ(n.at("optimizer").at("lr").location().str(), "cfg.yaml:3:7");
    EXPECT_EQ(n.at("optimizer").key_location("lr").str(), "cfg.yaml:3:3");
    EXPECT_EQ(n.key_location("list").str(), "cfg.yaml:4:1");
    ASSERT_EQ(n.at("list").size(), 2u);
    EXPECT_EQ(n.at("list").items()[0].location().str(), "cfg.yaml:5:5");
    EXPECT_EQ(n.at("list").items()[1].location().str(), "cfg.yaml:6:5");
    EXPECT_EQ(n.at("flow").items()[1].location().str(), "cfg.yaml:7:11");
    // Map keys keep insertion order.
    ASSERT_EQ(n.entries().size(), 4u);
    EXPECT_EQ(n.entries()[0].first, "name");
    EXPECT_EQ(n.entries()[3].first, "flow");
  }
  {
    SCOPED_TRACE("DuplicateKeysAreRejectedNamingBothPositions");
    std::string msg = error_of([] { parse_yaml("a: 1\nb: 2\na: 3\n", "dup.yaml"); });
    EXPECT_NE(msg.find("dup.yaml:3:1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("dup.yaml:1:1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("duplicate key 'a'"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("DuplicateKeysInNestedMapsAreRejected");
    std::string msg = error_of([] { parse_yaml("top:\n  x: 1\n  y: 2\n  x: 3\n", "dup.yaml"); });
    EXPECT_NE(msg.find("dup.yaml:4:3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("dup.yaml:2:3"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("InvalidYamlGivesFileLineColumn");
    try {
      parse_yaml("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml");
      FAIL() << "invalid YAML was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.location().file, "bad.yaml");
      EXPECT_GT(e.location().line, 0);
      EXPECT_GT(e.location().column, 0);
      std::string msg = e.what();
      EXPECT_EQ(msg.rfind("bad.yaml:" + std::to_string(e.location().line) + ":", 0), 0u) << msg;
      EXPECT_NE(msg.find("invalid YAML"), std::string::npos) << msg;
      // The bracket left open, not the line after it where yaml-cpp gave up.
      EXPECT_EQ(e.location().line, 2) << msg;
      EXPECT_EQ(e.location().column, 4) << msg;
      EXPECT_NE(msg.find("this '[' is never closed"), std::string::npos) << msg;
    }
    {
      // Brackets inside quotes and comments, and an apostrophe in a plain word, are not the ones left open.
      const std::string text = "a: \"[x\"  # [ note\nb: don't\nc: {k: '}', m: [1, 2]\nd: 4\n";
      const std::string msg = error_of([&] { parse_yaml(text, "flow.yaml"); });
      EXPECT_NE(msg.find("flow.yaml:3:4: invalid YAML: this '{' is never closed"), std::string::npos) << msg;
    }
    try {
      parse_yaml("key: value\n  other: broken: here\n", "bad2.yaml");
      FAIL() << "invalid YAML was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.location().file, "bad2.yaml");
      EXPECT_EQ(e.location().line, 2) << e.what();
    }
  }
}

// Found by fuzzing (fuzz/fuzz_yaml.cpp): text YAML does not allow is refused where it is, and every accepted
// scalar prints (to_yaml: records, `runner check --print`) as YAML that reads back to the same tree.
TEST(ParseYaml, FuzzFindingsInvalidTextAndRoundTrips) {
  auto error = [](const std::string& text) {
    try {
      parse_yaml(text, "f.yaml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error("a: 1\nb: x\xff\n").find("f.yaml:2:5: not valid UTF-8 (byte 0xff)"), std::string::npos)
      << error("a: 1\nb: x\xff\n");
  EXPECT_NE(error(std::string("a: \x0e", 4)).find("f.yaml:1:4: control character 0x0e"), std::string::npos);
  EXPECT_NE(error(std::string("a: b\0c", 6)).find("control character 0x00"), std::string::npos);
  EXPECT_NE(error("k: \xed\xa0\x80\n").find("not valid UTF-8 (byte 0xed)"), std::string::npos);  // a surrogate
  EXPECT_NE(error("k: \xc0\xaf\n").find("not valid UTF-8 (byte 0xc0)"), std::string::npos);      // overlong
  EXPECT_EQ(error("tab:\t1\r\nname: caf\xc3\xa9\n"), "(no error)");                             // allowed
  // Scalars yaml-cpp would print plain but that read back as something else are quoted.
  for (const std::string text : {":\r", "a: b", "x #y", "-", "- x", "[a]", "a,b", "{", "? x", "*x", "&x", " lead",
                                  "trail ", "@x", "%x", "!x", "|x", ">x", "'x", "\"x", "x:"}) {
    ConfigNode n = ConfigNode::map({{"k", ConfigNode::scalar(text)}, {"l", ConfigNode::sequence({ConfigNode::scalar(text)})}});
    const std::string printed = stagehand::to_yaml(n);
    ConfigNode back;
    ASSERT_NO_THROW(back = parse_yaml(printed, "printed.yaml")) << "[" << text << "] printed as\n" << printed;
    EXPECT_EQ(back.at("k").as_string(), text) << printed;
    EXPECT_EQ(back.at("l").items().at(0).as_string(), text) << printed;
    EXPECT_EQ(stagehand::to_yaml(back), printed);
  }
  // The same for map keys ("--- -" at the start of a line is a document marker).
  for (const std::string key : {"--- -", "...", "a: b", "", "x #y", "[k]", "-"}) {
    ConfigNode n = ConfigNode::map({{key, ConfigNode::scalar("v")}});
    const std::string printed = stagehand::to_yaml(n);
    ConfigNode back;
    ASSERT_NO_THROW(back = parse_yaml(printed, "printed.yaml")) << "[" << key << "] printed as\n" << printed;
    ASSERT_TRUE(back.is_map()) << printed;
    EXPECT_EQ(back.entries().at(0).first, key) << printed;
  }
  // Plain where plain is safe: numbers, words, paths keep their unquoted form (and type).
  const std::string plain = stagehand::to_yaml(parse_yaml("{a: -1, b: 2.5e-3, c: ../data/x.txt, d: true, e: x:y}", "p"));
  EXPECT_EQ(plain.find('"'), std::string::npos) << plain;
}

// Found by fuzz/fuzz_resolve.cpp: an alias inside the map its anchor names made the converter recurse until the
// stack overflowed; aliases of aliases multiply ("billion laughs"). Both are refused with a location; ordinary
// aliases (the quickstart shares its data spec with `&spam` / `*spam`) still work.
TEST(ParseYaml, AliasCyclesAndAliasBlowUpsAreRefused) {
  std::string msg = error_of([] { parse_yaml("data: &spam\n  type: x\n  inner: *spam\n", "cycle.yaml"); });
  EXPECT_NE(msg.find("cycle.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("inside the very list or map its anchor (&name) names"), std::string::npos) << msg;
  msg = error_of([] { parse_yaml("a: &l [1, *l]\n", "cycle.yaml"); });
  EXPECT_NE(msg.find("endless tree"), std::string::npos) << msg;

  std::string laughs = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 12; ++i)
    laughs += fmt::format("l{0}: &l{0} [*l{1}, *l{1}, *l{1}, *l{1}, *l{1}, *l{1}, *l{1}, *l{1}]\n", i, i - 1);
  msg = error_of([&] { parse_yaml(laughs, "laughs.yaml"); });
  EXPECT_NE(msg.find("laughs.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expands past 262144 values"), std::string::npos) << msg;

  ConfigNode shared = parse_yaml("a: &d {type: x, n: 1}\nb: *d\nc: [*d, *d]\n", "ok.yaml");
  EXPECT_EQ(shared.at("b").at("n").as_int(), 1);
  EXPECT_EQ(shared.at("c").items()[1].at("type").as_string(), "x");
}

TEST(ParseYaml, LoadYamlFile) {
  {
    SCOPED_TRACE("LoadYamlFileNamesAMissingFile");
    TempFolder tmp;
    std::string msg = error_of([&] { stagehand::load_yaml_file(tmp / "absent.yaml"); });
    EXPECT_NE(msg.find((tmp / "absent.yaml").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("LoadYamlFileUsesThePathInLocations");
    TempFolder tmp;
    write_text(tmp / "f.yaml", "a:\n  b: 3\n");
    ConfigNode n = stagehand::load_yaml_file(tmp / "f.yaml");
    EXPECT_EQ(n.at("a").at("b").location().str(), (tmp / "f.yaml").string() + ":2:6");
  }
}

// ------------------------------------------------------------------------------------------ typed reads

TEST(TypedReads, ValuesErrorsAndTreeOperations) {
  {
    SCOPED_TRACE("IntFloatBoolString");
    ConfigNode n = parse_yaml(
        "i: 42\nneg: -7\nplus: +5\nf: 2.5\nb: true\nno: false\ns: hello\ne: 1e3\nq: \"1\"\nthree: 3.0\nsmall: 3e-5\n",
        "t.yaml");
    EXPECT_EQ(n.at("i").as_int(), 42);
    EXPECT_TRUE(n.at("i").is_int());
    EXPECT_EQ(n.at("neg").as_int(), -7);
    EXPECT_EQ(n.at("plus").as_int(), 5);
    EXPECT_DOUBLE_EQ(n.at("f").as_double(), 2.5);
    EXPECT_DOUBLE_EQ(n.at("i").as_double(), 42.0);
    EXPECT_DOUBLE_EQ(n.at("small").as_double(), 3e-5);
    EXPECT_TRUE(n.at("b").as_bool());
    EXPECT_FALSE(n.at("no").as_bool());
    EXPECT_EQ(n.at("s").as_string(), "hello");
    EXPECT_EQ(n.at("i").as_string(), "42");  // text as written
    // An integral value written as a float reads as an int.
    EXPECT_EQ(n.at("e").as_int(), 1000);
    EXPECT_EQ(n.at("three").as_int(), 3);
    // A quoted "1" is a string, not a number.
    EXPECT_TRUE(n.at("q").quoted());
    EXPECT_FALSE(n.at("q").is_int());
    EXPECT_FALSE(n.at("q").is_double());
    EXPECT_EQ(n.at("q").as_string(), "1");
    EXPECT_FALSE(n.at("i").quoted());
  }
  {
    SCOPED_TRACE("ErrorsNameTheExpectedTypeAndTheLocation");
    ConfigNode n = parse_yaml("q: \"1\"\nf: 2.5\ns: hello\nm: {a: 1}\n", "t.yaml");
    std::string msg = error_of([&] { n.at("q").as_int(); });
    EXPECT_NE(msg.find("t.yaml:1:4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected an integer"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the string '1'"), std::string::npos) << msg;

    msg = error_of([&] { n.at("f").as_int(); });
    EXPECT_NE(msg.find("expected an integer"), std::string::npos) << msg;
    EXPECT_NE(msg.find("2.5"), std::string::npos) << msg;

    msg = error_of([&] { n.at("s").as_double(); });
    EXPECT_NE(msg.find("t.yaml:3:4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected a number"), std::string::npos) << msg;

    msg = error_of([&] { n.at("s").as_bool(); });
    EXPECT_NE(msg.find("expected true or false"), std::string::npos) << msg;
    EXPECT_NE(msg.find("hello"), std::string::npos) << msg;

    msg = error_of([&] { n.at("m").as_string(); });
    EXPECT_NE(msg.find("t.yaml:4:4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected a string"), std::string::npos) << msg;

    msg = error_of([&] { n.at("missing"); });
    EXPECT_NE(msg.find("missing key 'missing'"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("NonDecimalSpellingsAreNotNumbers");
    ConfigNode n = parse_yaml("a: inf\nb: nan\nc: 0x10\nd: .inf\ne: 1.5.3\n", "t.yaml");
    EXPECT_FALSE(n.at("a").is_double());
    EXPECT_FALSE(n.at("b").is_double());
    EXPECT_FALSE(n.at("c").is_double());
    EXPECT_FALSE(n.at("c").is_int());
    EXPECT_TRUE(n.at("d").is_double());
    EXPECT_TRUE(std::isinf(n.at("d").as_double()));
    EXPECT_FALSE(n.at("e").is_double());
  }
  {
    SCOPED_TRACE("FindPathSetEraseCloneEquals");
    ConfigNode n = parse_yaml("a:\n  b:\n    - {c: 1}\n    - {c: 2}\n", "p.yaml");
    ASSERT_NE(n.find_path("a.b.1.c"), nullptr);
    EXPECT_EQ(n.find_path("a.b.1.c")->as_int(), 2);
    EXPECT_EQ(n.find_path("a.b.2.c"), nullptr);
    EXPECT_EQ(n.find_path("a.x"), nullptr);
    ConfigNode c = n.clone();
    EXPECT_TRUE(c.equals(n));
    const_cast<ConfigNode*>(c.find_path("a.b.0"))->set("c", ConfigNode::of(5));
    EXPECT_FALSE(c.equals(n)) << "clone shares nodes with its source";
    EXPECT_EQ(n.find_path("a.b.0.c")->as_int(), 1);
    EXPECT_TRUE(c.find("a")->erase("b"));
    EXPECT_FALSE(c.find("a")->has("b"));
  }
}

// ------------------------------------------------------------------------------------------ include:

TEST(Include, RelativeNestedDeepMergeIncludingFileWins) {
  {
    SCOPED_TRACE("RelativeNestedDeepMergeIncludingFileWins");
    TempFolder tmp;
    write_text(tmp / "main.yaml",
               "include: parts/base.yaml\n"
               "name: main\n"
               "opt:\n"
               "  b: 20\n");
    write_text(tmp / "parts/base.yaml",
               "include: deeper/d.yaml\n"  // relative to parts/, not to main.yaml or the cwd
               "opt:\n"
               "  a: 1\n"
               "  b: 2\n"
               "from_base: yes\n");
    write_text(tmp / "parts/deeper/d.yaml",
               "opt:\n"
               "  a: 0\n"
               "  c: 3\n"
               "from_deep: 1\n"
               "name: deep\n");
    ConfigNode n = stagehand::load_config_file(tmp / "main.yaml");
    EXPECT_FALSE(n.has("include"));
    EXPECT_EQ(n.at("name").as_string(), "main");
    EXPECT_EQ(n.at("opt").at("a").as_int(), 1);   // base.yaml overrides d.yaml
    EXPECT_EQ(n.at("opt").at("b").as_int(), 20);  // main.yaml overrides base.yaml
    EXPECT_EQ(n.at("opt").at("c").as_int(), 3);   // deep merge keeps d.yaml's key
    EXPECT_TRUE(n.at("from_base").as_bool());
    EXPECT_EQ(n.at("from_deep").as_int(), 1);
    // Values keep the location of the file they came from.
    EXPECT_EQ(n.at("opt").at("b").location().str(), (tmp / "main.yaml").string() + ":4:6");
    EXPECT_EQ(n.at("opt").at("a").location().str(), (tmp / "parts/base.yaml").string() + ":3:6");
    EXPECT_EQ(n.at("opt").at("c").location().str(), (tmp / "parts/deeper/d.yaml").string() + ":3:6");
  }
  {
    SCOPED_TRACE("ListOfFilesAndIncludeInsideANestedMap");
    TempFolder tmp;
    write_text(tmp / "main.yaml",
               "stages:\n"
               "  include: [one.yaml, two.yaml]\n"
               "  own: {kind: mine}\n");
    write_text(tmp / "one.yaml", "first: {kind: one}\nshared: 1\n");
    write_text(tmp / "two.yaml", "second: {kind: two}\nshared: 2\n");
    ConfigNode n = stagehand::load_config_file(tmp / "main.yaml");
    const ConfigNode& s = n.at("stages");
    EXPECT_FALSE(s.has("include"));
    EXPECT_EQ(s.at("first").at("kind").as_string(), "one");
    EXPECT_EQ(s.at("second").at("kind").as_string(), "two");
    EXPECT_EQ(s.at("own").at("kind").as_string(), "mine");
    EXPECT_EQ(s.at("shared").as_int(), 2);  // later include wins over earlier
  }
  {
    SCOPED_TRACE("TheSameFileTwiceWithoutACycleIsAllowed");
    TempFolder tmp;
    write_text(tmp / "main.yaml", "a:\n  include: common.yaml\nb:\n  include: common.yaml\n");
    write_text(tmp / "common.yaml", "v: 7\n");
    ConfigNode n = stagehand::load_config_file(tmp / "main.yaml");
    EXPECT_EQ(n.at("a").at("v").as_int(), 7);
    EXPECT_EQ(n.at("b").at("v").as_int(), 7);
  }
}

TEST(Include, CycleMissingFileAndNonMapAreErrors) {
  {
    SCOPED_TRACE("CycleIsDetected");
    TempFolder tmp;
    write_text(tmp / "a.yaml", "include: b.yaml\nx: 1\n");
    write_text(tmp / "b.yaml", "include: a.yaml\ny: 2\n");
    std::string msg = error_of([&] { stagehand::load_config_file(tmp / "a.yaml"); });
    EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
    EXPECT_NE(msg.find("a.yaml"), std::string::npos) << msg;

    write_text(tmp / "self.yaml", "include: ./self.yaml\n");
    msg = error_of([&] { stagehand::load_config_file(tmp / "self.yaml"); });
    EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("MissingIncludeFileIsNamedAtTheIncludeLocation");
    TempFolder tmp;
    write_text(tmp / "main.yaml", "name: x\ninclude: nope/missing.yaml\n");
    std::string msg = error_of([&] { stagehand::load_config_file(tmp / "main.yaml"); });
    EXPECT_NE(msg.find((tmp / "nope/missing.yaml").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
    EXPECT_NE(msg.find((tmp / "main.yaml").string() + ":2:10"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("IncludedFileMustHoldAMap");
    TempFolder tmp;
    write_text(tmp / "main.yaml", "include: list.yaml\n");
    write_text(tmp / "list.yaml", "- 1\n- 2\n");
    std::string msg = error_of([&] { stagehand::load_config_file(tmp / "main.yaml"); });
    EXPECT_NE(msg.find("must hold a map"), std::string::npos) << msg;
  }
  {
    // Found by fuzz/fuzz_resolve.cpp: a name the system refuses escaped as a std::filesystem exception. And what
    // is not a regular file is refused before it is read (/dev/zero would never end, a folder reads as nothing).
    SCOPED_TRACE("NamesTheSystemRefusesAndFilesThatAreNotRegular");
    TempFolder tmp;
    write_text(tmp / "long.yaml", "include: " + std::string(5000, 'x') + ".yaml\n");
    std::string msg = error_of([&] { stagehand::load_config_file(tmp / "long.yaml"); });
    EXPECT_NE(msg.find("long.yaml:1:10: include: cannot use"), std::string::npos) << msg;
    EXPECT_NE(msg.find("File name too long"), std::string::npos) << msg;
    for (const char* target : {"/dev/zero", "."}) {
      write_text(tmp / "dev.yaml", fmt::format("include: {}\n", target));
      msg = error_of([&] { stagehand::load_config_file(tmp / "dev.yaml"); });
      EXPECT_NE(msg.find("is not a regular file"), std::string::npos) << target << ": " << msg;
    }
  }
}

// ------------------------------------------------------------------------------------------ ${...}

TEST(References, WholeValueTextEscapeAndEnvironment) {
  {
    SCOPED_TRACE("WholeValueKeepsTheTargetsType");
    ConfigNode n = resolved(
        "vars:\n"
        "  n: 8\n"
        "  opt: {lr: 0.1, name: adam}\n"
        "  list: [1, 2]\n"
        "a: ${vars.n}\n"
        "b: ${vars.opt}\n"
        "c: ${vars.list}\n"
        "d: ${vars.list.1}\n");
    ASSERT_TRUE(n.at("a").is_scalar());
    EXPECT_TRUE(n.at("a").is_int());
    EXPECT_EQ(n.at("a").as_int(), 8);
    ASSERT_TRUE(n.at("b").is_map());
    EXPECT_DOUBLE_EQ(n.at("b").at("lr").as_double(), 0.1);
    EXPECT_EQ(n.at("b").at("name").as_string(), "adam");
    ASSERT_TRUE(n.at("c").is_sequence());
    EXPECT_EQ(n.at("c").size(), 2u);
    EXPECT_EQ(n.at("d").as_int(), 2);
    // The copy is independent of its source.
    EXPECT_TRUE(n.at("vars").at("opt").equals(n.at("b")));
  }
  {
    SCOPED_TRACE("InsideTextAndEscape");
    ConfigNode n = resolved(
        "vars: {n: 8, name: bert}\n"
        "a: \"size-${vars.n}-of-${vars.name}\"\n"
        "b: cost $${vars.n}\n"
        "c: \"$${literal}\"\n");
    EXPECT_EQ(n.at("a").as_string(), "size-8-of-bert");
    EXPECT_EQ(n.at("b").as_string(), "cost ${vars.n}");
    EXPECT_EQ(n.at("c").as_string(), "${literal}");
  }
  {
    SCOPED_TRACE("ReferenceToAReferenceResolvesInAnyOrder");
    ConfigNode n = resolved("z: ${y}\ny: ${x}\nx: 5\n");
    EXPECT_EQ(n.at("z").as_int(), 5);
    EXPECT_EQ(n.at("y").as_int(), 5);
  }
  {
    SCOPED_TRACE("Environment");
    ::setenv("STAGEHAND_TEST_ENV_X", "hello", 1);
    ::unsetenv("STAGEHAND_TEST_ENV_MISSING");
    ConfigNode n = resolved(
        "a: ${env:STAGEHAND_TEST_ENV_X}\n"
        "b: ${env:STAGEHAND_TEST_ENV_MISSING:-fallback}\n"
        "c: \"p-${env:STAGEHAND_TEST_ENV_X}-${env:STAGEHAND_TEST_ENV_MISSING:-d}\"\n"
        "d: ${env:STAGEHAND_TEST_ENV_X:-unused}\n");
    EXPECT_EQ(n.at("a").as_string(), "hello");
    EXPECT_EQ(n.at("b").as_string(), "fallback");
    EXPECT_EQ(n.at("c").as_string(), "p-hello-d");
    EXPECT_EQ(n.at("d").as_string(), "hello");
  }
}

TEST(References, PathThroughAnUnresolvedReference) {
  // `y` points *into* `x`, which is itself a reference declared after `y`. The reference must be followed
  // whatever the declaration order.
  ConfigNode n = resolved("y: ${x.lr}\nx: ${base}\nbase: {lr: 5}\n");
  EXPECT_EQ(n.at("y").as_int(), 5);
}

// Found by fuzz/fuzz_resolve.cpp: references that repeat references multiply at each level ("billion laughs"), and
// thirty short lines asked for gigabytes (the fuzzer ran out of memory). Both text pasting and whole-value
// references to lists are stopped at the budget with the referring location; an ordinary large file is not.
TEST(References, MultiplyingReferencesAreStoppedWithALocation) {
  std::string text = "vars:\n";
  auto level = [](int i) { return fmt::format("  v{0}: \"${{vars.v{1}}}${{vars.v{1}}}${{vars.v{1}}}${{vars.v{1}}}\"\n", i, i + 1); };
  for (int i = 0; i < 30; ++i) text += level(i);
  text += "  v30: lol\n";
  std::string msg = error_of([&] { resolved(text, "laughs.yaml"); });
  EXPECT_NE(msg.find("laughs.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("past 16 MiB of resolved text"), std::string::npos) << msg;

  std::string lists = "vars:\n";
  for (int i = 0; i < 30; ++i) lists += fmt::format("  l{0}: ['${{vars.l{1}}}', '${{vars.l{1}}}', '${{vars.l{1}}}']\n", i, i + 1);
  lists += "  l30: [x]\n";
  msg = error_of([&] { resolved(lists, "lists.yaml"); });
  EXPECT_NE(msg.find("past 16 MiB"), std::string::npos) << msg;

  // Seven levels of four (16,384 copies of "lol") is within the budget and resolves exactly.
  std::string small = "vars:\n";
  for (int i = 0; i < 7; ++i) small += level(i);
  small += "  v7: lol\n";
  EXPECT_EQ(resolved(small).at("vars").at("v0").as_string().size(), 3u * 16384u);
}

TEST(References, ErrorsHaveTheReferringLocation) {
  {
    SCOPED_TRACE("MissingEnvironmentVariableIsAnErrorAtTheReference");
    ::unsetenv("STAGEHAND_TEST_ENV_MISSING");
    std::string msg = error_of([] { resolved("x: 1\ny: ${env:STAGEHAND_TEST_ENV_MISSING}\n", "e.yaml"); });
    EXPECT_NE(msg.find("e.yaml:2:4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("STAGEHAND_TEST_ENV_MISSING"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not set"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("MissingTargetIsAnErrorWithLocation");
    std::string msg = error_of([] { resolved("vars: {a: 1}\nb:\n  c: ${vars.nope}\n", "m.yaml"); });
    EXPECT_NE(msg.find("m.yaml:3:6"), std::string::npos) << msg;
    EXPECT_NE(msg.find("${vars.nope}"), std::string::npos) << msg;

    msg = error_of([] { resolved("vars: {a: 1}\nb: \"x-${vars.zz}\"\n", "m.yaml"); });
    EXPECT_NE(msg.find("m.yaml:2:4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("vars.zz"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("CycleIsAnError");
    std::string msg = error_of([] { resolved("a: ${b}\nb: ${a}\n", "c.yaml"); });
    EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
    EXPECT_NE(msg.find("c.yaml:"), std::string::npos) << msg;

    msg = error_of([] { resolved("m:\n  x: ${m}\n", "c.yaml"); });
    EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;

    msg = error_of([] { resolved("a: \"x${a}\"\n", "c.yaml"); });
    EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("MapCannotBePastedIntoText");
    std::string msg = error_of([] { resolved("m: {a: 1}\nt: \"x-${m}\"\n", "t.yaml"); });
    EXPECT_NE(msg.find("t.yaml:2:4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cannot be pasted into text"), std::string::npos) << msg;
  }
  {
    SCOPED_TRACE("UnterminatedReference");
    std::string msg = error_of([] { resolved("a: \"x ${b\"\nb: 1\n", "u.yaml"); });
    EXPECT_NE(msg.find("unterminated"), std::string::npos) << msg;
  }
}

// ------------------------------------------------------------------------------------------ overrides

TEST(Overrides, SetCreateListIndexAndFlowValues) {
  {
    SCOPED_TRACE("SetExistingValueWithCommandLineLocation");
    ConfigNode n = parse_yaml("stages:\n  ft:\n    optimizer:\n      lr: 0.1\n", "o.yaml");
    stagehand::apply_override(n, "stages.ft.optimizer.lr=3e-5", 1);
    const ConfigNode* lr = n.find_path("stages.ft.optimizer.lr");
    ASSERT_NE(lr, nullptr);
    EXPECT_FALSE(lr->quoted());
    EXPECT_DOUBLE_EQ(lr->as_double(), 3e-5);
    EXPECT_EQ(lr->location().file, "<command line argument 1>");
    EXPECT_EQ(lr->location().str(), "<command line argument 1>");
    EXPECT_EQ(n.find_path("stages.ft.optimizer")->key_location("lr").file, "<command line argument 1>");
  }
  {
    SCOPED_TRACE("CreatesMissingKeys");
    // A new stage starts with its kind; after that, overrides may create keys inside it.
    ConfigNode n = parse_yaml("stages: {}\n", "o.yaml");
    stagehand::apply_override(n, "stages.new.kind=evaluate", 1);
    stagehand::apply_override(n, "stages.new.deep.key=hello", 2);
    const ConfigNode* v = n.find_path("stages.new.deep.key");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->as_string(), "hello");
    EXPECT_EQ(v->location().file, "<command line argument 2>");
    // Without it, an option of a stage the pipeline lacks is a misspelt stage name.
    ConfigNode typo = parse_yaml("stages:\n  finetune: {kind: train}\n", "o.yaml");
    const std::string msg = error_of([&] { stagehand::apply_override(typo, "stages.finetun.steps=3", 1); });
    EXPECT_NE(msg.find("the pipeline has no stage 'finetun' (did you mean 'finetune'?)"), std::string::npos) << msg;
    // Also on an empty root.
    ConfigNode empty;
    stagehand::apply_override(empty, "a.b=1", 1);
    EXPECT_EQ(empty.find_path("a.b")->as_int(), 1);
  }
  {
    SCOPED_TRACE("ListIndexAndFlowValues");
    ConfigNode n = parse_yaml("l: [1, 2, 3]\nitems:\n  - {name: a}\n  - {name: b}\n", "o.yaml");
    stagehand::apply_override(n, "l.1=20", 1);
    ASSERT_EQ(n.at("l").size(), 3u);
    EXPECT_EQ(n.at("l").items()[0].as_int(), 1);
    EXPECT_EQ(n.at("l").items()[1].as_int(), 20);
    EXPECT_EQ(n.at("l").items()[2].as_int(), 3);
    stagehand::apply_override(n, "items.1.name=bee", 2);
    EXPECT_EQ(n.find_path("items.1.name")->as_string(), "bee");
    stagehand::apply_override(n, "flow=[1,2]", 3);
    ASSERT_TRUE(n.at("flow").is_sequence());
    ASSERT_EQ(n.at("flow").size(), 2u);
    EXPECT_EQ(n.at("flow").items()[1].as_int(), 2);
    EXPECT_EQ(n.at("flow").items()[1].location().file, "<command line argument 3>");
    stagehand::apply_override(n, "m={a: 1, b: x}", 4);
    ASSERT_TRUE(n.at("m").is_map());
    EXPECT_EQ(n.at("m").at("b").as_string(), "x");
    stagehand::apply_override(n, "s=\"1\"", 5);
    EXPECT_TRUE(n.at("s").quoted());
    EXPECT_FALSE(n.at("s").is_int());
    stagehand::apply_override(n, "e=", 6);
    EXPECT_EQ(n.at("e").as_string(), "");
    stagehand::apply_override(n, "eq=a=b", 7);
    EXPECT_EQ(n.at("eq").as_string(), "a=b");
  }
}

TEST(Overrides, BadFormsAreErrorsNamingTheArgument) {
  ConfigNode n = parse_yaml("l: [1, 2]\n", "o.yaml");
  std::string msg = error_of([&] { stagehand::apply_override(n, "foo", 3); });
  EXPECT_NE(msg.find("<command line argument 3>"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'foo'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key.path=value"), std::string::npos) << msg;

  msg = error_of([&] { stagehand::apply_override(n, "=3", 1); });
  EXPECT_NE(msg.find("key.path=value"), std::string::npos) << msg;

  msg = error_of([&] { stagehand::apply_override(n, "a..b=3", 1); });
  EXPECT_NE(msg.find("empty key"), std::string::npos) << msg;

  msg = error_of([&] { stagehand::apply_override(n, "l.5=3", 2); });
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  EXPECT_NE(msg.find("<command line argument 2>"), std::string::npos) << msg;

  msg = error_of([&] { stagehand::apply_override(n, "x=[1, 2", 4); });
  EXPECT_NE(msg.find("<command line argument 4>"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid YAML"), std::string::npos) << msg;
}

TEST(Overrides, NonNumericIndexIntoAListIsAStagehandError) {
  ConfigNode n = parse_yaml("l: [1, 2]\n", "o.yaml");
  // Inside a path the core reports "use an index" ...
  std::string msg = error_of([&] { stagehand::apply_override(n, "l.x.y=3", 1); });
  EXPECT_NE(msg.find("use an index"), std::string::npos) << msg;
  // ... and at the end of a path it must do the same rather than leak std::stoul's exception.
  msg = error_of([&] { stagehand::apply_override(n, "l.x=3", 2); });
  EXPECT_NE(msg.find("<command line argument 2>"), std::string::npos) << msg;
}

// ------------------------------------------------------------------------------------------ to_yaml

TEST(Serialisation, ToYamlRoundTripCanonicalJsonAndProvenance) {
  {
    SCOPED_TRACE("RoundTripOfParsedDocument");
    const std::string text =
        "name: demo\n"
        "int: 3\n"
        "float: 2.5e-05\n"
        "neg: -1\n"
        "bool: true\n"
        "qtrue: \"true\"\n"
        "qone: \"1\"\n"
        "qnull: \"null\"\n"
        "qtilde: \"~\"\n"
        "empty_string: \"\"\n"
        "nothing: ~\n"
        "also_null: null\n"
        "empty_list: []\n"
        "empty_map: {}\n"
        "flow: [1, \"2\", three, ~]\n"
        "nested:\n"
        "  - {a: 1, b: [x, y]}\n"
        "  - []\n"
        "  - {}\n"
        "  - - deep\n"
        "    - 2\n"
        "special: \"a: b # not a comment\"\n"
        "multi: \"line1\\nline2\"\n"
        "space: \" leading and trailing \"\n"
        "unicode: \"caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac\"\n"
        "quote: \"it's \\\"quoted\\\"\"\n"
        "\"key: with colon\": 1\n"
        "\"123\": numeric key\n";
    ConfigNode a = parse_yaml(text, "a.yaml");
    std::string y = stagehand::to_yaml(a);
    ConfigNode b = parse_yaml(y, "b.yaml");
    EXPECT_TRUE(a.equals(b)) << y;
    EXPECT_TRUE(same_tree(a, b)) << y;
    EXPECT_TRUE(b.at("qtrue").quoted());
    EXPECT_FALSE(b.at("qtrue").is_bool());
    EXPECT_TRUE(b.at("qone").quoted());
    EXPECT_TRUE(b.at("int").is_int());
    EXPECT_TRUE(b.at("nothing").is_null());
    EXPECT_TRUE(b.at("empty_list").is_sequence());
    EXPECT_EQ(b.at("empty_list").size(), 0u);
    EXPECT_TRUE(b.at("empty_map").is_map());
    EXPECT_TRUE(b.at("qnull").is_scalar());
    EXPECT_EQ(b.at("multi").as_string(), "line1\nline2");
  }
  {
    SCOPED_TRACE("RoundTripOfNodesMadeInCode");
    ConfigNode m = ConfigNode::map();
    m.set("s_true", ConfigNode::of("true"));
    m.set("s_one", ConfigNode::of(std::string("1")));
    m.set("s_empty", ConfigNode::of(""));
    m.set("b", ConfigNode::of(false));
    m.set("i", ConfigNode::of(int64_t{-42}));
    m.set("d", ConfigNode::of(0.1));
    m.set("d_int", ConfigNode::of(3.0));
    m.set("d_small", ConfigNode::of(1e-12));
    m.set("inf", ConfigNode::of(std::numeric_limits<double>::infinity()));
    m.set("null", ConfigNode::null());
    m.set("empty_list", ConfigNode::sequence());
    m.set("empty_map", ConfigNode::map());
    ConfigNode list = ConfigNode::sequence();
    for (int i = 0; i < 20; ++i) list.push_back(ConfigNode::of(i));  // longer than a flow line
    m.set("long_list", list);
    ConfigNode inner = ConfigNode::map();
    inner.set("list_of_maps", ConfigNode::sequence({ConfigNode::map(), ConfigNode::sequence(), ConfigNode::null()}));
    m.set("inner", inner);
    std::string y = stagehand::to_yaml(m);
    ConfigNode back = parse_yaml(y, "back.yaml");
    EXPECT_TRUE(same_tree(m, back)) << y;
    EXPECT_EQ(back.at("s_true").as_string(), "true");
    EXPECT_FALSE(back.at("s_true").is_bool());
    EXPECT_DOUBLE_EQ(back.at("d").as_double(), 0.1);
    EXPECT_EQ(back.at("d_int").as_int(), 3);
    EXPECT_TRUE(back.at("d_int").is_double());
    EXPECT_TRUE(std::isinf(back.at("inf").as_double()));
    EXPECT_EQ(back.at("long_list").size(), 20u);
    // And a second trip changes nothing.
    EXPECT_EQ(stagehand::to_yaml(back), y);
  }
  {
    SCOPED_TRACE("SortedKeysAndTypedValues");
    ConfigNode n = parse_yaml(
        "b: 1\n"
        "a: {d: true, c: \"1\"}\n"
        "z: 2.5\n"
        "n: ~\n"
        "s: text\n"
        "l: [1, \"2\", false]\n"
        "e: {}\n"
        "el: []\n",
        "j.yaml");
    EXPECT_EQ(stagehand::to_canonical_json(n),
              R"({"a":{"c":"1","d":true},"b":1,"e":{},"el":[],"l":[1,"2",false],"n":null,"s":"text","z":2.5})");
    // Key order in the source does not change the canonical form.
    ConfigNode m = parse_yaml(
        "z: 2.5\nn: ~\nel: []\ne: {}\nl: [1, \"2\", false]\ns: text\na: {c: \"1\", d: true}\nb: 1\n", "k.yaml");
    EXPECT_EQ(stagehand::to_canonical_json(n), stagehand::to_canonical_json(m));
    // A quoted number is a string, an unquoted one a number.
    EXPECT_EQ(stagehand::to_canonical_json(parse_yaml("x: \"3\"", "q")), R"({"x":"3"})");
    EXPECT_EQ(stagehand::to_canonical_json(parse_yaml("x: 3", "q")), R"({"x":3})");
  }
  {
    SCOPED_TRACE("EveryScalarWithItsLocation");
    ConfigNode n = parse_yaml("a:\n  b: 1\n  l: [x, y]\nc: ~\n", "p.yaml");
    auto prov = stagehand::provenance(n);
    std::map<std::string, std::string> m;
    for (const auto& [path, where] : prov) m[path] = where.str();
    EXPECT_EQ(m["a.b"], "p.yaml:2:6");
    EXPECT_EQ(m["a.l.1"], "p.yaml:3:10");
    EXPECT_EQ(m["c"], "p.yaml:4:4");
  }
}

// ------------------------------------------------------------------------------------------ canonical JSON

// ------------------------------------------------------------------------------------------ provenance

TEST(Provenance, RestoringARecordsProvenanceKeepsDefaultsAndDerivedValuesDerived) {
  // A record stores resolved values (read back, every one has a record.yaml location) beside their provenance.
  ConfigNode resolved = parse_yaml("{a: 1, b: {c: 2, d: [3, 4]}, e: 5}", "record.yaml");
  ConfigNode prov = parse_yaml(
      "{a: '<default>', b.c: \"<from stage 'tokenizer'>\", b.d.1: 'p.yaml:7:3', e: '<command line argument 1>'}",
      "record.yaml");
  stagehand::restore_derived_locations(resolved, prov);
  EXPECT_EQ(resolved.at("a").location().file, "<default>");
  EXPECT_TRUE(resolved.at("a").location().derived());
  EXPECT_EQ(resolved.at("b").at("c").location().file, "<from stage 'tokenizer'>");
  EXPECT_TRUE(resolved.at("b").at("c").location().derived());
  // Written values (a file, an override) stay as the record has them: written.
  EXPECT_EQ(resolved.at("b").at("d").items()[1].location().file, "record.yaml");
  EXPECT_EQ(resolved.at("e").location().file, "record.yaml");
  EXPECT_FALSE(resolved.at("e").location().derived());
  EXPECT_FALSE((stagehand::Location{"<command line argument 1>", 0, 0}.derived()));
  EXPECT_FALSE((stagehand::Location{"<example>", 0, 0}.derived()));
}

// ------------------------------------------------------------------------------------------ closest_match

TEST(ClosestMatch, FindsTyposAndRejectsUnrelatedWords) {
  std::vector<std::string> c = {"optimizer", "scheduler", "text", "steps"};
  EXPECT_EQ(stagehand::closest_match("optimzer", c), "optimizer");
  EXPECT_EQ(stagehand::closest_match("optimzier", c), "optimizer");  // transposition
  EXPECT_EQ(stagehand::closest_match("txt", c), "text");
  EXPECT_EQ(stagehand::closest_match("step", c), "steps");
  EXPECT_EQ(stagehand::closest_match("completely_different", c), "");
  EXPECT_EQ(stagehand::closest_match("x", {}), "");
}
