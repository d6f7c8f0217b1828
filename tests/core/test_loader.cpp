// SPDX-License-Identifier: Apache-2.0
// The plugin loader against the fixture plugins (good, ABI mismatch, registration throws, duplicate
// components, not a plugin, unresolved symbol), STAGEHAND_PLUGIN_PATH, the runner's view of refusals, and the
// signal handlers put back after loading.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>

#include "support/test_support.h"
#include "util/hash.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"
#include "stagehand/version.h"

namespace fs = std::filesystem;
using stagehand::PluginLoader;
using stagehand::Registry;
using namespace sh_test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) return false;
  return true;
}

const std::string kAbi = std::to_string(STAGEHAND_PLUGIN_ABI);

/// Sets an environment variable for the lifetime of the object, then restores the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(Loader, GoodFixtureLoadsOnceWithItsManifest) {
  {
    SCOPED_TRACE("FixturesExist");
    for (const auto& f :
         {kFixtureGood, kFixtureAbi, kFixtureThrows, kFixtureDuplicate, kFixtureNotAPlugin, kFixtureUnresolved})
      EXPECT_TRUE(fs::exists(f)) << f << " is missing; build the stagehand_fixtures target";
  }
  {
    SCOPED_TRACE("GoodFixtureLoadsWithItsManifest");
    Registry registry;
    PluginLoader loader(registry);
    const stagehand::LoadedPlugin* p = loader.load(kFixtureGood, "command line");
    ASSERT_NE(p, nullptr) << (loader.refused().empty() ? "" : loader.refused().back().reason);
    EXPECT_TRUE(loader.refused().empty());
    EXPECT_EQ(p->file, fs::absolute(kFixtureGood).lexically_normal());
    EXPECT_EQ(p->name, "fixture_good");
    EXPECT_FALSE(p->version.empty());
    EXPECT_EQ(p->abi, STAGEHAND_PLUGIN_ABI);
    EXPECT_EQ(p->origin, "command line");
    EXPECT_TRUE(is_hex64(p->sha256)) << p->sha256;
    EXPECT_EQ(p->sha256, stagehand::sha256_file(kFixtureGood));
    EXPECT_FALSE(p->torch_version.empty());
    EXPECT_EQ(std::count(p->torch_version.begin(), p->torch_version.end(), '.'), 2) << p->torch_version;
    EXPECT_TRUE(p->cxx11_abi == 0 || p->cxx11_abi == 1);
    EXPECT_FALSE(p->compiler.empty());
    EXPECT_NE(std::find(p->components.begin(), p->components.end(), "stage/fixture_append"), p->components.end());
    EXPECT_GT(p->load_ms, 0.0);
    ASSERT_EQ(loader.loaded().size(), 1u);

    const stagehand::ComponentInfo* info = registry.find("stage", "fixture_append");
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->plugin_file, p->file.string());
    EXPECT_EQ(info->plugin_name, "fixture_good");
    ASSERT_NE(info->schema, nullptr);
    EXPECT_NE(info->schema->find("count_file"), nullptr);
  }
  {
    SCOPED_TRACE("LoadingTheSameFileTwiceIsANoOp");
    Registry registry;
    PluginLoader loader(registry);
    const stagehand::LoadedPlugin* first = loader.load(kFixtureGood, "pipeline");
    ASSERT_NE(first, nullptr);
    // Same file, spelled differently.
    fs::path again = kFixtureDir / "." / "other" / ".." / "fixture_good.so";
    const stagehand::LoadedPlugin* second = loader.load(again, "command line");
    EXPECT_EQ(second, first);
    EXPECT_EQ(loader.loaded().size(), 1u);
    EXPECT_TRUE(loader.refused().empty()) << loader.refused().front().reason;
    EXPECT_EQ(loader.loaded()[0].origin, "pipeline");
    EXPECT_EQ(registry.list("stage").size(), 1u);
  }
}

TEST(Loader, BrokenPluginsAreRefusedAndLoadingGoesOn) {
  {
    SCOPED_TRACE("AbiMismatchIsRefusedNamingBothNumbersAndLoadingGoesOn");
    Registry registry;
    PluginLoader loader(registry);
    EXPECT_EQ(loader.load(kFixtureAbi), nullptr);
    EXPECT_NE(loader.load(kFixtureGood), nullptr);
    ASSERT_EQ(loader.refused().size(), 1u);
    const auto& r = loader.refused()[0];
    EXPECT_EQ(r.file, fs::absolute(kFixtureAbi).lexically_normal());
    EXPECT_TRUE(contains(r.reason, "ABI 999")) << r.reason;
    EXPECT_TRUE(contains(r.reason, "the runner has ABI " + kAbi)) << r.reason;
    EXPECT_TRUE(contains(r.reason, "rebuild")) << r.reason;
    // The good plugin is registered, the refused one is not in `loaded`.
    ASSERT_EQ(loader.loaded().size(), 1u);
    EXPECT_EQ(loader.loaded()[0].name, "fixture_good");
    const stagehand::ComponentInfo* info = registry.find("stage", "fixture_append");
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->plugin_file, fs::absolute(kFixtureGood).lexically_normal().string());
  }
  {
    SCOPED_TRACE("RegistrationThatThrowsRegistersNothing");
    Registry registry;
    PluginLoader loader(registry);
    EXPECT_EQ(loader.load(kFixtureThrows), nullptr);
    ASSERT_EQ(loader.refused().size(), 1u);
    const std::string& reason = loader.refused()[0].reason;
    EXPECT_TRUE(contains(reason, "registration threw")) << reason;
    EXPECT_TRUE(contains(reason, "fixture registration failure")) << reason;
    EXPECT_EQ(registry.find("stage", "fixture_half_registered"), nullptr);
    EXPECT_TRUE(registry.list().empty());
    EXPECT_TRUE(loader.loaded().empty());
  }
  {
    SCOPED_TRACE("DuplicateComponentsAreRefusedNamingBothFiles");
    Registry registry;
    PluginLoader loader(registry);
    ASSERT_NE(loader.load(kFixtureGood), nullptr);
    EXPECT_EQ(loader.load(kFixtureDuplicate), nullptr);
    ASSERT_EQ(loader.refused().size(), 1u);
    const std::string& reason = loader.refused()[0].reason;
    EXPECT_TRUE(contains(reason, "stage 'fixture_append'")) << reason;
    EXPECT_TRUE(contains(reason, fs::absolute(kFixtureGood).lexically_normal().string())) << reason;
    EXPECT_TRUE(contains(reason, fs::absolute(kFixtureDuplicate).lexically_normal().string())) << reason;
    // The first one stays registered.
    EXPECT_EQ(registry.find("stage", "fixture_append")->plugin_file,
              fs::absolute(kFixtureGood).lexically_normal().string());
    EXPECT_EQ(loader.loaded().size(), 1u);
  }
  {
    SCOPED_TRACE("NotAPluginIsRefused");
    Registry registry;
    PluginLoader loader(registry);
    EXPECT_EQ(loader.load(kFixtureNotAPlugin), nullptr);
    ASSERT_EQ(loader.refused().size(), 1u);
    EXPECT_TRUE(contains(loader.refused()[0].reason, "not a stagehand plugin")) << loader.refused()[0].reason;
    EXPECT_TRUE(registry.list().empty());
  }
  {
    SCOPED_TRACE("UnresolvedSymbolIsRefusedNamingTheSymbol");
    Registry registry;
    PluginLoader loader(registry);
    EXPECT_EQ(loader.load(kFixtureUnresolved), nullptr);
    ASSERT_EQ(loader.refused().size(), 1u);
    const std::string& reason = loader.refused()[0].reason;
    EXPECT_TRUE(contains(reason, "stagehand_fixture_missing_symbol")) << reason;
    EXPECT_TRUE(contains(reason, "cannot be loaded")) << reason;
  }
  {
    SCOPED_TRACE("MissingFileIsRefused");
    TempFolder tmp;
    Registry registry;
    PluginLoader loader(registry);
    EXPECT_EQ(loader.load(tmp / "absent.so"), nullptr);
    ASSERT_EQ(loader.refused().size(), 1u);
    EXPECT_EQ(loader.refused()[0].file, tmp / "absent.so");
    EXPECT_TRUE(contains(loader.refused()[0].reason, "no such file")) << loader.refused()[0].reason;
  }
  {
    SCOPED_TRACE("LoadDirLoadsEverySoInAFolderAndIgnoresAMissingOne");
    Registry registry;
    PluginLoader loader(registry);
    loader.load_dir(kFixtureDir / "other", "test");
    // Both files there are refused (one has no manifest, one cannot be loaded), nothing crashes.
    EXPECT_TRUE(loader.loaded().empty());
    ASSERT_EQ(loader.refused().size(), 2u);
    EXPECT_EQ(loader.refused()[0].file.filename(), "fixture_not_a_plugin.so");  // sorted by name
    EXPECT_EQ(loader.refused()[1].file.filename(), "fixture_unresolved.so");
    loader.load_dir(kFixtureDir / "no-such-folder", "test");
    EXPECT_EQ(loader.refused().size(), 2u);
  }
}

// While a plugin is opened and registers, the loader catches fatal signals (a crashing plugin: one error line, exit
// 1; tests/plugins/test_bad_input.cpp runs those end to end). Afterwards the process's own handlers and alternate
// signal stack must be back, or a crash later in a run would print a plugin's name, and sanitizers would lose theirs.
extern "C" void loader_test_handler(int) {}

TEST(Loader, SignalHandlersAndStackAreRestoredAfterLoading) {
  struct sigaction mine {}, before {};
  mine.sa_handler = loader_test_handler;
  sigemptyset(&mine.sa_mask);
  const int signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  std::vector<struct sigaction> saved(std::size(signals));
  for (size_t i = 0; i < std::size(signals); ++i) ASSERT_EQ(sigaction(signals[i], &mine, &saved[i]), 0);
  stack_t stack_before{};
  ASSERT_EQ(sigaltstack(nullptr, &stack_before), 0);

  Registry reg;
  PluginLoader loader(reg);
  ASSERT_NE(loader.load(kFixtureGood, "test"), nullptr);
  EXPECT_EQ(loader.load(kFixtureThrows, "test"), nullptr);  // refused through the exception path

  for (size_t i = 0; i < std::size(signals); ++i) {
    struct sigaction now {};
    ASSERT_EQ(sigaction(signals[i], nullptr, &now), 0);
    EXPECT_EQ(now.sa_handler, &loader_test_handler) << "signal " << signals[i];
    sigaction(signals[i], &saved[i], nullptr);
  }
  stack_t stack_after{};
  ASSERT_EQ(sigaltstack(nullptr, &stack_after), 0);
  EXPECT_EQ(stack_after.ss_sp, stack_before.ss_sp);
  EXPECT_EQ(stack_after.ss_size, stack_before.ss_size);
  EXPECT_EQ(stack_after.ss_flags, stack_before.ss_flags);
}

TEST(Loader, LoadDefaultBuiltinsAndStagehandPluginPath) {
  {
    SCOPED_TRACE("BuiltinDirsContainTheBuildsPluginFolder");
    auto dirs = PluginLoader::builtin_dirs();
    fs::path want = fs::path(STAGEHAND_PLUGIN_DIR).lexically_normal();
    bool found = false;
    for (const auto& d : dirs)
      if (fs::equivalent(d, want)) found = true;
    EXPECT_TRUE(found) << "builtin_dirs() does not include " << want;
  }
  {
    SCOPED_TRACE("LoadDefaultWithoutPluginPathDoesNotLoadTheFixtures");
    ::unsetenv("STAGEHAND_PLUGIN_PATH");
    Registry registry;
    PluginLoader loader(registry);
    loader.load_default();
    for (const auto& l : loader.loaded()) {
      EXPECT_EQ(l.origin, "builtin");
      EXPECT_NE(l.name, "fixture_good");
    }
  }
  {
    SCOPED_TRACE("LoadDefaultPicksUpStagehandPluginPath");
    ScopedEnv env("STAGEHAND_PLUGIN_PATH",
                  (kFixtureDir / "other" / "fixture_not_a_plugin.so").string() + "::" + kFixtureDir.string());
    Registry registry;
    PluginLoader loader(registry);
    loader.load_default();
    const stagehand::LoadedPlugin* good = nullptr;
    for (const auto& l : loader.loaded())
      if (l.name == "fixture_good") good = &l;
    ASSERT_NE(good, nullptr) << "fixture_good.so from the STAGEHAND_PLUGIN_PATH folder was not loaded";
    EXPECT_EQ(good->origin, "STAGEHAND_PLUGIN_PATH");
    EXPECT_EQ(good->file, fs::absolute(kFixtureGood).lexically_normal());
    EXPECT_NE(registry.find("stage", "fixture_append"), nullptr);
    bool not_a_plugin_refused = false;
    for (const auto& r : loader.refused())
      if (r.file.filename() == "fixture_not_a_plugin.so") not_a_plugin_refused = true;
    EXPECT_TRUE(not_a_plugin_refused) << "a file entry of STAGEHAND_PLUGIN_PATH was not tried";
    // Subfolders of a listed folder are not searched: the ABI fixture (in abi/) was not tried.
    for (const auto& r : loader.refused()) EXPECT_NE(r.file.filename(), "fixture_abi_mismatch.so");
  }
}

// ------------------------------------------------------------------------------------------ through the runner

TEST(RunnerPlugins, RefusalsAreReportedAndTheOthersStillLoad) {
  {
    SCOPED_TRACE("AbiFixtureIsReportedAndTheOthersStillLoad");
    TempFolder tmp;
    auto r = runner("--plugin " + sh_quote(kFixtureAbi.string()) + " plugins", tmp.path());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "fixture_abi_mismatch.so")) << r.output;
    EXPECT_TRUE(contains(r.output, "ABI 999")) << r.output;
    EXPECT_TRUE(contains(r.output, "the runner has ABI " + kAbi)) << r.output;
    EXPECT_TRUE(contains(r.output, "refused")) << r.output;

    r = runner(
        "--plugin " + sh_quote(kFixtureAbi.string()) + " --plugin " + sh_quote(kFixtureGood.string()) + " plugins",
        tmp.path());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "ABI 999")) << r.output;
    EXPECT_TRUE(contains(r.output, "fixture_append")) << r.output;
    EXPECT_TRUE(contains(r.output, kFixtureGood.string())) << r.output;
  }
  {
    SCOPED_TRACE("BrokenFixturesAreReportedWithTheirReasons");
    TempFolder tmp;
    std::string args;
    for (const auto& f : {kFixtureThrows, kFixtureNotAPlugin, kFixtureUnresolved, kFixtureGood, kFixtureDuplicate})
      args += " --plugin " + sh_quote(f.string());
    auto r = runner(args + " plugins", tmp.path());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "fixture registration failure")) << r.output;
    EXPECT_TRUE(contains(r.output, "not a stagehand plugin")) << r.output;
    EXPECT_TRUE(contains(r.output, "stagehand_fixture_missing_symbol")) << r.output;
    EXPECT_TRUE(contains(r.output, "is provided by both")) << r.output;
    EXPECT_TRUE(contains(r.output, "fixture_append")) << r.output;
    EXPECT_FALSE(contains(r.output, "fixture_half_registered")) << r.output;
  }
  {
    SCOPED_TRACE("StagehandPluginPathIsUsedByTheRunner");
    TempFolder tmp;
    auto r = run_command(
        "STAGEHAND_PLUGIN_PATH=" + sh_quote(kFixtureDir.string()) + " " + sh_quote(kRunner) + " plugins --kind stage",
        tmp.path());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "fixture_append")) << r.output;
    EXPECT_TRUE(contains(r.output, "STAGEHAND_PLUGIN_PATH")) << r.output;
  }
}
