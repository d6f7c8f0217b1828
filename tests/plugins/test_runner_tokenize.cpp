// SPDX-License-Identifier: Apache-2.0
// `runner tokenize`, driven as a user would: text on standard input, tokens or ids on standard output, the
// tokenizer from a spec or from a pipeline's tokenizer stage (loaded, or trained by the latest run).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "stagehand/files.h"
#include "support/test_support.h"

namespace fs = std::filesystem;

namespace {

struct Result {
  int rc = -1;
  std::string out;
};

// Runs `input | runner args 2>&1` through the shell; `input` is given to printf (so "\t" and "\n" work).
Result run_runner(const std::string& input, const std::string& args) {
  std::string cmd = "printf '" + input + "' | '" + std::string(STAGEHAND_RUNNER) + "' " + args + " 2>&1";
  Result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string vocab() { return std::string(STAGEHAND_TEST_DATA) + "/tokenizers/bert-base-uncased-vocab.txt"; }
std::string spec_arg() { return "--tokenizer \"{type: wordpiece, vocab: " + vocab() + "}\""; }

}  // namespace

TEST(RunnerTokenize, TokensAndIdsOfEachLine) {
  Result t = run_runner("Hello, world!\\nGood bye.\\n", "tokenize " + spec_arg());
  ASSERT_EQ(t.rc, 0) << t.out;
  EXPECT_EQ(t.out, "[CLS] hello , world ! [SEP]\n[CLS] good bye . [SEP]\n");
  Result i = run_runner("Hello, world!\\n", "tokenize --ids " + spec_arg());
  ASSERT_EQ(i.rc, 0) << i.out;
  EXPECT_EQ(i.out, "101 7592 1010 2088 999 102\n");
}

TEST(RunnerTokenize, NoSpecialAndMaxLength) {
  Result t = run_runner("Hello, world!\\n", "tokenize --no-special " + spec_arg());
  ASSERT_EQ(t.rc, 0) << t.out;
  EXPECT_EQ(t.out, "hello , world !\n");
  // 4 tokens with [CLS] and [SEP]: two pieces of text survive.
  Result m = run_runner("Hello, world!\\n", "tokenize --ids --max-length 4 " + spec_arg());
  ASSERT_EQ(m.rc, 0) << m.out;
  EXPECT_EQ(m.out, "101 7592 1010 102\n");
}

TEST(RunnerTokenize, PairsWithSegmentIds) {
  Result t = run_runner("Hello, world!\\tGood bye.\\n", "tokenize --pair " + spec_arg());
  ASSERT_EQ(t.rc, 0) << t.out;
  EXPECT_EQ(t.out, "[CLS] hello , world ! [SEP] good bye . [SEP]\n");
  Result i = run_runner("Hello, world!\\tGood bye.\\n", "tokenize --pair --ids " + spec_arg());
  ASSERT_EQ(i.rc, 0) << i.out;
  EXPECT_EQ(i.out, "101 7592 1010 2088 999 102 2204 9061 1012 102\ntypes: 0 0 0 0 0 0 1 1 1 1\n");
  // Longest first: 7 tokens leave 4 of text, taken from the longer side until both have 2.
  Result m = run_runner("Hello, world!\\tGood bye.\\n", "tokenize --pair --max-length 7 " + spec_arg());
  ASSERT_EQ(m.rc, 0) << m.out;
  EXPECT_EQ(m.out, "[CLS] hello , [SEP] good bye [SEP]\n");
  Result bad = run_runner("no tab here\\n", "tokenize --pair " + spec_arg());
  EXPECT_EQ(bad.rc, 1) << bad.out;
  EXPECT_NE(bad.out.find("<stdin>:1: no TAB"), std::string::npos) << bad.out;
}

TEST(RunnerTokenize, UsageAndSpecErrors) {
  Result none = run_runner("x\\n", "tokenize");
  EXPECT_EQ(none.rc, 2) << none.out;
  EXPECT_NE(none.out.find("give either --tokenizer SPEC or --pipeline"), std::string::npos) << none.out;
  Result bad = run_runner("x\\n", "tokenize --tokenizer \"{type: wordpiece, vocab: /nonexistent/v.txt}\"");
  EXPECT_EQ(bad.rc, 1) << bad.out;
  EXPECT_NE(bad.out.find("/nonexistent/v.txt"), std::string::npos) << bad.out;
}

TEST(RunnerTokenize, FromPipelineStages) {
  sh_test::TempFolder tmp;
  const fs::path dir = tmp.path();
  std::string corpus = std::string(STAGEHAND_TEST_DATA) + "/corpora/moby_dick_excerpt.txt";
  stagehand::write_file_atomic(dir / "p.yaml",
                               "name: tokp\nstages:\n"
                               "  bert: {kind: tokenizer, load: {type: wordpiece, vocab: " + vocab() + "}}\n"
                               "  trained: {kind: tokenizer, train: {type: wordpiece, vocab_size: 300, max_lines: 200}, "
                               "corpus: [" + corpus + "]}\n");
  const std::string p = (dir / "p.yaml").string();
  const std::string runs = (dir / "runs").string();
  // A `load:` stage needs no run.
  Result l = run_runner("Hello, world!\\n", "tokenize --ids --pipeline " + p + " --stage bert --runs-dir " + runs);
  ASSERT_EQ(l.rc, 0) << l.out;
  EXPECT_EQ(l.out, "101 7592 1010 2088 999 102\n");
  // A trained one does, and the error says so.
  Result e = run_runner("Hello\\n", "tokenize --pipeline " + p + " --stage trained --runs-dir " + runs);
  EXPECT_EQ(e.rc, 1) << e.out;
  EXPECT_NE(e.out.find("stage 'trained' trains its tokenizer and has not run yet"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("run the pipeline first"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find(runs), std::string::npos) << e.out;
  Result wrong = run_runner("x\\n", "tokenize --pipeline " + p + " --stage nope --runs-dir " + runs);
  EXPECT_EQ(wrong.rc, 1) << wrong.out;
  EXPECT_NE(wrong.out.find("no stage 'nope'"), std::string::npos) << wrong.out;
  // After a run, the latest run's tokenizer (a 300-entry vocabulary: every id below 300).
  Result run = run_runner("", p + " --runs-dir " + runs);
  ASSERT_EQ(run.rc, 0) << run.out;
  Result t = run_runner("the whale\\n", "tokenize --ids --pipeline " + p + " --stage trained --runs-dir " + runs);
  ASSERT_EQ(t.rc, 0) << t.out;
  ASSERT_GE(t.out.size(), 4u) << t.out;
  int count = 0;
  size_t pos = 0;
  while (pos < t.out.size() - 1) {
    size_t next = t.out.find_first_of(" \n", pos);
    int id = std::stoi(t.out.substr(pos, next - pos));
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 300) << t.out;
    ++count;
    pos = next + 1;
  }
  EXPECT_GE(count, 3) << t.out;  // [CLS], at least one piece, [SEP]
}
