// SPDX-License-Identifier: Apache-2.0
// The published-setup commands in the header of pipelines/bio-electra.yaml pass `runner check`. The commands are
// read from the header itself (every comment block that starts with `runner run pipelines/bio-electra.yaml`,
// continued by a trailing backslash or an open quote), so the header cannot drift from what is tested; their /data
// paths are pointed at the stand-ins in tests/data/published/bio-electra (tiny files in the real formats). The
// resolved pipeline (`runner check --print`) must hold the published settings: a 169,300-entry vocabulary trained
// lower-cased, or etetteh's vocab.txt loaded.
#include <algorithm>
#include <string>
#include <vector>

#include "core/helpers.h"
#include "stagehand/config.h"

using namespace sh_test;

namespace {

const fs::path kPipeline = fs::path(STAGEHAND_SOURCE_DIR) / "pipelines" / "bio-electra.yaml";
const fs::path kStandIns = fs::path(STAGEHAND_TEST_DATA) / "published" / "bio-electra";
constexpr const char* kCommand = "runner run pipelines/bio-electra.yaml";

/// The text of the comment lines of the file's header (before its first line that is not a comment), '#' removed.
std::vector<std::string> header_lines(const fs::path& file) {
  std::vector<std::string> out;
  std::istringstream in(read_text(file));
  for (std::string line; std::getline(in, line) && !line.empty() && line[0] == '#';) out.push_back(line.substr(1));
  return out;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

/// Splits a command line into words as /bin/sh does for the forms the header uses: blanks separate words,
/// single quotes group (and are removed), a backslash before a line break continues the line.
std::vector<std::string> shell_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false, any = false;
  for (char c : text) {
    if (quoted) {
      if (c == '\'')
        quoted = false;
      else
        word += c;
    } else if (c == '\'') {
      quoted = any = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (any) words.push_back(word);
      word.clear();
      any = false;
    } else {
      word += c;
      any = true;
    }
  }
  if (any) words.push_back(word);
  return words;
}

/// Every `runner run pipelines/bio-electra.yaml ...` command of the header, as its override words.
std::vector<std::vector<std::string>> published_commands() {
  const auto lines = header_lines(kPipeline);
  std::vector<std::vector<std::string>> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (trim(lines[i]).rfind(kCommand, 0) != 0) continue;
    std::string text;
    bool more = true;
    for (; i < lines.size() && more; ++i) {
      std::string l = trim(lines[i]);
      const bool backslash = !l.empty() && l.back() == '\\';
      if (backslash) l.pop_back();
      text += l + "\n";
      more = backslash || std::count(text.begin(), text.end(), '\'') % 2 == 1;
    }
    --i;
    auto words = shell_words(text);
    words.erase(words.begin(), words.begin() + 3);  // runner run pipelines/bio-electra.yaml
    out.push_back(words);
  }
  return out;
}

/// `word` with each "/data/" replaced by the stand-in folder.
std::string to_stand_ins(const std::string& word) {
  std::string out;
  const std::string from = "/data/";
  size_t at = 0;
  for (size_t hit; (hit = word.find(from, at)) != std::string::npos; at = hit + from.size())
    out += word.substr(at, hit - at) + kStandIns.string() + "/";
  return out + word.substr(at);
}

CommandResult check(const std::vector<std::string>& overrides, const std::string& flags, const fs::path& cwd,
                    bool stand_ins = true) {
  std::string args = "check " + flags + sh_quote(kPipeline.string());
  for (const auto& o : overrides) args += " " + sh_quote(stand_ins ? to_stand_ins(o) : o);
  return runner(args, cwd);
}

const stagehand::ConfigNode& at(const stagehand::ConfigNode& root, const std::vector<std::string>& path) {
  const stagehand::ConfigNode* n = &root;
  for (const auto& k : path) n = &n->at(k);
  return *n;
}

}  // namespace

TEST(PublishedBioElectra, TheHeaderHoldsBothCommands) {
  const auto commands = published_commands();
  ASSERT_EQ(commands.size(), 2u) << "expected the training and the loading command in the header of "
                                 << kPipeline.string();
  for (const auto& words : commands) {
    ASSERT_FALSE(words.empty());
    for (const auto& w : words) EXPECT_NE(w.find('='), std::string::npos) << "not an override: " << w;
  }
  // Every /data path has its stand-in.
  for (const auto& words : commands)
    for (const auto& w : words) {
      if (w.find("/data/") == std::string::npos || w.find('*') != std::string::npos) continue;
      const std::string value = w.substr(w.find('=') + 1);
      if (value.rfind("/data/", 0) == 0) EXPECT_TRUE(fs::exists(to_stand_ins(value))) << value;
    }
}

TEST(PublishedBioElectra, TheTrainingCommandPassesCheckWithA169300EntryUncasedVocabulary) {
  TempFolder dir;
  const auto commands = published_commands();
  ASSERT_GE(commands.size(), 1u);
  const auto& published = commands[0];
  auto r = check(published, "", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pipeline 'bio-electra': 6 stages, all options valid"), std::string::npos) << r.output;

  auto printed = check(published, "--print ", dir.path());
  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  const auto root = stagehand::parse_yaml(printed.output, "runner check --print");
  const auto& train = at(root, {"stages", "tokenizer", "train"});
  EXPECT_EQ(train.at("type").as_string(), "wordpiece");
  EXPECT_EQ(train.at("vocab_size").as_int(), 169300);
  EXPECT_TRUE(train.at("lowercase").as_bool());
  EXPECT_TRUE(train.at("strip_accents").as_bool());
  EXPECT_EQ(train.at("max_input_chars_per_word").as_int(), 200);
  EXPECT_TRUE(at(root, {"stages", "pretrain_data", "blanks_separate_docs"}).as_bool());
  EXPECT_EQ(at(root, {"stages", "pretrain_data", "max_length"}).as_int(), 128);
  EXPECT_EQ(at(root, {"stages", "pretrain", "steps"}).as_int(), 1000000);
  EXPECT_EQ(at(root, {"stages", "ner", "trials"}).as_int(), 10);
  EXPECT_EQ(at(root, {"stages", "re", "model", "pooling"}).as_string(), "cls");
  // The corpus is the stand-ins'.
  EXPECT_NE(printed.output.find(kStandIns.string() + "/pubmed/"), std::string::npos) << printed.output;

  // The check looks at the files: the same command with the real /data paths, absent here, fails.
  if (!fs::exists("/data/pubmed")) {
    auto missing = check(published, "", dir.path(), false);
    EXPECT_NE(missing.exit_code, 0) << missing.output;
  }
}

TEST(PublishedBioElectra, TheLoadingCommandPassesCheckWithEtettehsVocabularyFile) {
  TempFolder dir;
  const auto commands = published_commands();
  ASSERT_EQ(commands.size(), 2u);
  auto r = check(commands[1], "", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto printed = check(commands[1], "--print ", dir.path());
  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  const auto root = stagehand::parse_yaml(printed.output, "runner check --print");
  const auto& tokenizer = at(root, {"stages", "tokenizer"});
  EXPECT_FALSE(tokenizer.find("train") && !tokenizer.at("train").is_null()) << printed.output;
  const auto& load = tokenizer.at("load");
  EXPECT_EQ(fs::path(load.at("vocab").as_string()), kStandIns / "bio-electra" / "vocab.txt");
  EXPECT_TRUE(load.at("lowercase").as_bool());
  EXPECT_TRUE(load.at("strip_accents").as_bool());
  EXPECT_EQ(load.at("max_input_chars_per_word").as_int(), 200);
}
