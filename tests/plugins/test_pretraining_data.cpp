// SPDX-License-Identifier: Apache-2.0
// ELECTRA's pre-training data: the packing rules of ExampleBuilder (driven by a scripted random source, with a
// WordPiece tokenizer whose every id is known), the examples of the original build_pretraining_dataset.py itself
// (tests/data/pretraining/electra_examples.json, replayed draw by draw), their statistics over a large synthetic
// stream, the `pretraining_data` stage through the runner (its file read back by the `pretraining` dataset equals
// what the builder makes from the same text and seed), four-byte ids for Bio-ELECTRA's 169,300-entry vocabulary,
// random access, the errors on damaged files, and the stage cache.
//
// The tiny vocabulary (id = line number):
//   [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, the 5, cat 6, sat 7, on 8, mat 9, dog 10, ran 11, far 12,
//   a 13, big 14, red 15, sun 16, rose 17, run 18, ##s 19, . 20        ("runs" is two pieces: run ##s)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "stagehand/sdk/pretraining_format.h"
#include "../../plugins/stage/pretraining_data/example_builder.h"
#include "support/test_support.h"
#include "stagehand/dataset.h"
#include "stagehand/error.h"
#include "stagehand/files.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"
#include "stagehand/tokenizer.h"

using namespace sh_test;
using stagehand::pretraining::Example;
using stagehand::pretraining::ExampleBuilder;
using stagehand::pretraining::Mt19937Random;
using stagehand::pretraining::RandomSource;
using Ids = std::vector<int32_t>;

namespace {

constexpr int32_t kPad = 0, kCls = 2, kSep = 3, kMask = 4;
const char* const kVocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog",
                              "ran",   "far",   "a",     "big",   "red",    "sun", "rose", "run", "##s", "."};
constexpr int32_t kVocabSize = 21;
// Whole words of the vocabulary (each one piece) and their ids.
const char* const kWords[] = {"the", "cat", "sat", "on", "mat", "dog", "ran", "far", "a", "big", "red", "sun", "rose"};

// Every draw answered from a script, and logged: "r" for random(), "i(lo,hi)" for randint.
class ScriptedRandom final : public RandomSource {
 public:
  ScriptedRandom(std::deque<double> randoms, std::deque<int64_t> ints = {})
      : randoms_(std::move(randoms)), ints_(std::move(ints)) {}
  double random() override {
    log += log.empty() ? "r" : " r";
    if (randoms_.empty()) throw std::runtime_error("unscripted random() draw after: " + log);
    double v = randoms_.front();
    randoms_.pop_front();
    return v;
  }
  int64_t randint(int64_t lo, int64_t hi) override {
    log += fmt::format("{}i({},{})", log.empty() ? "" : " ", lo, hi);
    if (ints_.empty()) throw std::runtime_error("unscripted randint() draw after: " + log);
    int64_t v = ints_.front();
    ints_.pop_front();
    return v;
  }
  bool all_used() const { return randoms_.empty() && ints_.empty(); }
  std::string log;

 private:
  std::deque<double> randoms_;
  std::deque<int64_t> ints_;
};

// Counts randint calls of a real source.
class CountingRandom final : public RandomSource {
 public:
  explicit CountingRandom(RandomSource& inner) : inner_(inner) {}
  double random() override { return inner_.random(); }
  int64_t randint(int64_t lo, int64_t hi) override {
    ++randints;
    return inner_.randint(lo, hi);
  }
  int64_t randints = 0;

 private:
  RandomSource& inner_;
};

struct Emitted {
  size_t line = 0;  // 1-based line of the file after which the example came out; 0: the end-of-file flush
  Example example;
};

// The reading loop of ELECTRA's write_examples, as the stage runs it: each line read as GFile reads it and
// stripped (reference_line), passed on when non-empty or when blanks separate documents, then one empty line at
// the end of each file. (The ElectraReference tests hold it against the original code's own output.)
void feed_file(ExampleBuilder& b, const stagehand::Tokenizer& tok, const std::string& text, bool blanks_separate_docs,
               std::vector<Emitted>& out) {
  std::istringstream in(text);
  std::string raw;
  size_t line_no = 0;
  Example e;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string line(stagehand::pretraining::reference_line(raw));
    if (line.empty() && !blanks_separate_docs) continue;
    if (b.add_line(line.empty(), line.empty() ? Ids{} : tok.encode_ids(line), e)) out.push_back({line_no, e});
  }
  if (b.add_line(true, {}, e)) out.push_back({0, e});
}

std::string vocab_text() {
  std::string v;
  for (const char* t : kVocab) v += std::string(t) + "\n";
  return v;
}

class PretrainingDataTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new stagehand::Registry;
    loader_ = new stagehand::PluginLoader(*registry_);
    loader_->load(std::string(STAGEHAND_PLUGIN_DIR) + "/tokenizer_wordpiece.so");
    loader_->load(std::string(STAGEHAND_PLUGIN_DIR) + "/dataset_pretraining.so");
  }
  static void TearDownTestSuite() {
    delete loader_;
    delete registry_;
  }
  void SetUp() override {
    ASSERT_TRUE(registry_->find("tokenizer", "wordpiece")) << "tokenizer_wordpiece.so not loaded";
    ASSERT_TRUE(registry_->find("dataset", "pretraining")) << "dataset_pretraining.so not loaded";
    write_text(dir_ / "vocab.txt", vocab_text());
    tok_ = tokenizer(fmt::format("{{type: wordpiece, vocab: {}}}", (dir_ / "vocab.txt").string()));
  }

  std::shared_ptr<stagehand::Tokenizer> tokenizer(const std::string& spec) {
    stagehand::BuildContext ctx;
    ctx.registry = registry_;
    return registry_->create<stagehand::Tokenizer>(stagehand::parse_yaml(spec, "test"), ctx);
  }

  std::vector<Emitted> build(const std::string& text, int32_t max_length, RandomSource& rng,
                             bool blanks_separate_docs = true) {
    ExampleBuilder b(max_length, kCls, kSep, rng);
    std::vector<Emitted> out;
    feed_file(b, *tok_, text, blanks_separate_docs, out);
    return out;
  }

  std::shared_ptr<stagehand::Dataset> open(const fs::path& file, bool verify = true) {
    stagehand::BuildContext ctx;
    ctx.registry = registry_;
    return registry_->create<stagehand::Dataset>(
        stagehand::parse_yaml(
            fmt::format("{{type: pretraining, file: {}, verify: {}}}", file.string(), verify ? "true" : "false"),
            "test"),
        ctx);
  }

  static stagehand::Registry* registry_;
  static stagehand::PluginLoader* loader_;
  TempFolder dir_;
  std::shared_ptr<stagehand::Tokenizer> tok_;
};
stagehand::Registry* PretrainingDataTest::registry_ = nullptr;
stagehand::PluginLoader* PretrainingDataTest::loader_ = nullptr;

// ---------------------------------------------------------------- the packing rules, draw by draw

TEST_F(PretrainingDataTest, TheTinyVocabularyTokenizesAsDocumented) {
  EXPECT_EQ(tok_->encode_ids("the dog runs far ."), (Ids{5, 10, 18, 19, 12, 20}));
  EXPECT_EQ(tok_->special().cls, kCls);
  EXPECT_EQ(tok_->special().sep, kSep);
  EXPECT_EQ(tok_->special().pad, kPad);
  EXPECT_EQ(tok_->special().mask, kMask);
  EXPECT_EQ(tok_->vocab_size(), kVocabSize);
}

TEST_F(PretrainingDataTest, BlankLineEndsTheExampleAndTheEndOfFileFlushes) {
  // max_length 16: the first-segment target is (16 - 3) / 2 = 6.
  ScriptedRandom rng({0.5, 0.7, 0.9,     // example 1: two segments; sentence 2 fails its 0.5 draw (-> B); target 16
                      0.05, 0.01},       // example 2: one segment (0.05 < 0.1); random next target (0.01 < 0.05)
                     {9});               // ... of randint(5, 16) = 9
  auto out = build("  the cat sat .\t\n"   // 4 tokens
                   "the dog runs far .\n"  // 6 tokens: 10 < 16, no example yet
                   "\n"                    // document boundary: example 1
                   "a big red sun rose .\n",  // 6 tokens, flushed at the end of the file: example 2
                   16, rng);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].line, 3u);  // emitted by the blank line, which is not itself part of anything
  EXPECT_EQ(out[0].example.ids, (Ids{kCls, 5, 6, 7, 20, kSep, 5, 10, 18, 19, 12, 20, kSep}));
  EXPECT_EQ(out[0].example.a_length, 4);
  EXPECT_EQ(out[0].example.segment_ids(), (Ids{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_FALSE(out[0].example.single_segment());
  EXPECT_EQ(out[1].line, 0u);  // the end-of-file flush
  EXPECT_EQ(out[1].example.ids, (Ids{kCls, 13, 14, 15, 16, 17, 20, kSep}));
  EXPECT_EQ(out[1].example.a_length, 6);
  EXPECT_TRUE(out[1].example.single_segment());
  EXPECT_EQ(out[1].example.segment_ids(), Ids(8, 0));
  // The draw order: 0.1 test, one 0.5 draw (reached: A=4 < 6, B empty), 0.05 test; then 0.1, 0.05, randint.
  EXPECT_EQ(rng.log, "r r r r r i(5,16)");
  EXPECT_TRUE(rng.all_used());
}

TEST_F(PretrainingDataTest, AnExampleComesOutAsSoonAsTheBufferReachesTheTarget) {
  // max_length 8: first-segment target (8 - 3) / 2 = 2.
  ScriptedRandom rng({0.5, 0.5,   // example 1: two segments, next target 8 — and no per-sentence draw at all
                      0.5, 0.5});  // example 2
  auto out = build("the cat sat\n"       // 3
                   "on the mat\n"        // 6 < 8
                   "the dog ran far\n"   // 10 >= 8: example 1 at once, within the document
                   "a big\n",            // flushed at the end of the file
                   8, rng);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].line, 3u);
  // A = "the cat sat" (A was empty); later sentences cannot join A (3 + 3 >= 2, and A is not under 2, so no
  // draw): B = "on the mat the dog ran far", cut to 8 - 3 - 3 = 2 tokens.
  EXPECT_EQ(out[0].example.ids, (Ids{kCls, 5, 6, 7, kSep, 8, 5, kSep}));
  EXPECT_EQ(out[0].example.a_length, 3);
  EXPECT_EQ(out[0].example.segment_ids(), (Ids{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(out[1].line, 0u);
  EXPECT_EQ(out[1].example.ids, (Ids{kCls, 13, 14, kSep}));
  EXPECT_EQ(rng.log, "r r r r");
}

TEST_F(PretrainingDataTest, SegmentAIsCutToMaxLengthMinusTwoAndLeavesBNoRoom) {
  // max_length 8. A holds 7 tokens, cut to 6; B's budget is max(0, 8 - 6 - 3) = 0, so B disappears.
  ScriptedRandom rng({0.5, 0.5});
  auto out = build("a big red sun rose the cat\nthe dog\n", 8, rng);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].line, 2u);
  EXPECT_EQ(out[0].example.ids, (Ids{kCls, 13, 14, 15, 16, 17, 5, kSep}));
  EXPECT_EQ(out[0].example.a_length, 6);
  EXPECT_TRUE(out[0].example.single_segment());
  EXPECT_EQ(rng.log, "r r");
}

TEST_F(PretrainingDataTest, ASingleSegmentExampleTakesEverySentence) {
  // The 0.1 draw succeeds: the first-segment target is 100000, every sentence goes to A, then A is cut to 6.
  ScriptedRandom rng({0.0999, 0.5});
  auto out = build("the cat sat\non the mat\n", 16, rng);  // 6 tokens, flushed at the end
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].example.ids, (Ids{kCls, 5, 6, 7, 8, 5, 9, kSep}));
  EXPECT_TRUE(out[0].example.single_segment());
  EXPECT_EQ(rng.log, "r r");  // no per-sentence draw: the second condition always holds

  ScriptedRandom rng2({0.05, 0.5});
  auto cut = build("the cat sat on the mat . a big red sun rose .\n", 8, rng2);  // 13 >= 8 at once
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0].line, 1u);
  EXPECT_EQ(cut[0].example.ids, (Ids{kCls, 5, 6, 7, 8, 5, 9, kSep}));
}

TEST_F(PretrainingDataTest, ALaterShortSentenceGoesBackToSegmentAAsInTheOriginal) {
  // max_length 16, first-segment target 6. Sentence 2 (6 tokens) fails its 0.5 draw and starts B; sentence 3
  // (1 token) keeps A under 6 (4 + 1 < 6), so it goes to A although B has started: A and B interleave.
  ScriptedRandom rng({0.5, 0.9, 0.5});
  auto out = build("the cat sat .\nthe dog runs far .\na\n\n", 16, rng);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].example.ids, (Ids{kCls, 5, 6, 7, 20, 13, kSep, 5, 10, 18, 19, 12, 20, kSep}));
  EXPECT_EQ(out[0].example.a_length, 5);
  EXPECT_EQ(rng.log, "r r r");

  // The 0.5 draw succeeding: sentence 2 joins A (10 tokens, over the target), so sentence 3 goes to B with no
  // draw (A is no longer under the target).
  ScriptedRandom rng2({0.5, 0.2, 0.5});
  auto out2 = build("the cat sat .\nthe dog runs far .\na\n\n", 16, rng2);
  ASSERT_EQ(out2.size(), 1u);
  EXPECT_EQ(out2[0].example.ids, (Ids{kCls, 5, 6, 7, 20, 5, 10, 18, 19, 12, 20, kSep, 13, kSep}));
  EXPECT_EQ(out2[0].example.a_length, 10);
  EXPECT_EQ(rng2.log, "r r r");
}

TEST_F(PretrainingDataTest, ASentenceThatWouldBringAToExactlyTheTargetNeedsTheDraw) {
  // "< first-segment target" is strict: 2 + 4 = 6 is not under 6, so "sat on the mat" goes to A only on its 0.5
  // draw (here 0.9: it starts B).
  ScriptedRandom rng({0.5, 0.9, 0.5});
  auto out = build("the cat\nsat on the mat\n", 16, rng);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].example.ids, (Ids{kCls, 5, 6, kSep, 7, 8, 5, 9, kSep}));
  EXPECT_EQ(rng.log, "r r r");
}

TEST_F(PretrainingDataTest, ARandomTargetLengthEndsTheNextExampleEarly) {
  // After the first example, randint(5, 16) = 9 is the next target: the second example comes out as soon as
  // 9 tokens are buffered, mid-document, and its first-segment target is (9 - 3) / 2 = 3.
  ScriptedRandom rng({0.5, 0.02,   // example 1 (one sentence, no per-sentence draw); random target
                      0.5, 0.5},   // example 2; next target 16
                     {9});
  ExampleBuilder b(16, kCls, kSep, rng);
  Example e;
  EXPECT_TRUE(b.add_line(false, tok_->encode_ids("the cat sat on the mat . a big red sun rose the dog ran far"), e));
  EXPECT_EQ(b.target_length(), 9);
  EXPECT_FALSE(b.add_line(false, tok_->encode_ids("the cat sat on the mat"), e));  // 6 < 9
  EXPECT_FALSE(b.add_line(false, tok_->encode_ids("a dog"), e));                   // 8 < 9
  ASSERT_TRUE(b.add_line(false, tok_->encode_ids("ran"), e));                      // 9 >= 9
  // A = 6 tokens (A was empty); "a dog": 6 + 2 >= 3 and A is not under 3: B; "ran": B.
  EXPECT_EQ(e.ids, (Ids{kCls, 5, 6, 7, 8, 5, 9, kSep, 13, 10, 11, kSep}));
  EXPECT_EQ(e.a_length, 6);
  EXPECT_EQ(b.target_length(), 16);
  EXPECT_EQ(rng.log, "r r i(5,16) r r");
  EXPECT_TRUE(rng.all_used());
}

TEST_F(PretrainingDataTest, EmptyLinesWithAnEmptyBufferAreEmptySentencesAndBlanksCanBeIgnored) {
  ScriptedRandom rng({0.5, 0.5});
  ExampleBuilder b(16, kCls, kSep, rng);
  Example e;
  EXPECT_FALSE(b.add_line(true, {}, e));  // nothing buffered: the original appends an empty sentence
  EXPECT_FALSE(b.add_line(true, {}, e));
  EXPECT_EQ(b.buffered_sentences(), 2u);
  EXPECT_EQ(b.buffered_length(), 0);
  EXPECT_FALSE(b.add_line(false, tok_->encode_ids("the cat"), e));
  ASSERT_TRUE(b.add_line(true, {}, e));  // now the buffer has tokens: a document boundary
  EXPECT_EQ(e.ids, (Ids{kCls, 5, 6, kSep}));  // the empty sentences went to A (empty) without any draw
  EXPECT_EQ(rng.log, "r r");
  EXPECT_EQ(b.buffered_sentences(), 0u);

  // blanks_separate_docs: the two documents make two examples; without it, blank lines are skipped and the
  // end of the file is the only boundary: one example holding both.
  ScriptedRandom two({0.5, 0.5, 0.5, 0.5});
  auto separate = build("the cat\n\n\nthe dog\n", 16, two, true);
  ASSERT_EQ(separate.size(), 2u);
  EXPECT_EQ(separate[0].example.ids, (Ids{kCls, 5, 6, kSep}));
  EXPECT_EQ(separate[1].example.ids, (Ids{kCls, 5, 10, kSep}));
  ScriptedRandom one({0.5, 0.5});
  auto merged = build("the cat\n\n\nthe dog\n", 16, one, false);
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].example.ids, (Ids{kCls, 5, 6, 5, 10, kSep}));  // 2 + 2 < 6: both in A
  EXPECT_EQ(one.log, "r r");
}

TEST(PretrainingBuilder, PythonStripRemovesWhatStrIsspaceCalls) {
  using stagehand::pretraining::python_strip;
  EXPECT_EQ(python_strip(" \t a b \r\n\v\f"), "a b");
  EXPECT_EQ(python_strip("\x1c\x1fx\x1e"), "x");
  EXPECT_EQ(python_strip("\xc2\xa0x y\xe3\x80\x80\xe2\x80\x89"), "x y");  // U+00A0 ... U+3000, U+2009
  EXPECT_EQ(python_strip("\xe2\x80\x8bx"), "\xe2\x80\x8bx");  // U+200B (zero width space) is not a space
  EXPECT_EQ(python_strip("\xc2\x85"), "");                    // U+0085
  EXPECT_EQ(python_strip("   "), "");
  EXPECT_EQ(python_strip("\xc3\xa9"), "\xc3\xa9");  // é stays
}

TEST(PretrainingBuilder, ReferenceLineDropsEveryCarriageReturnThenStrips) {
  using stagehand::pretraining::reference_line;
  auto read = [](std::string raw) { return std::string(reference_line(raw)); };
  EXPECT_EQ(read("the\rcat sat .\r"), "thecat sat .");  // TensorFlow's reader drops the inner one too
  EXPECT_EQ(read("\r\r"), "");
  EXPECT_EQ(read(" \r a b \r\t"), "a b");
  EXPECT_EQ(read("\xe3\x80\x80\r"), "");  // U+3000 then CR: blank
}

TEST(PretrainingBuilder, MersenneSourceDrawsUniformly) {
  Mt19937Random a(3), b(3);
  EXPECT_EQ(a.random(), b.random());  // seeded: reproducible
  int counts[3] = {0, 0, 0};
  double sum = 0;
  for (int i = 0; i < 30000; ++i) {
    const int64_t r = a.randint(5, 7);
    ASSERT_GE(r, 5);
    ASSERT_LE(r, 7);
    ++counts[r - 5];
    const double u = a.random();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
  EXPECT_NEAR(sum / 30000, 0.5, 0.01);
  EXPECT_EQ(a.randint(4, 4), 4);
}

// ---------------------------------------------------------------- against the original code's own output

// tests/data/pretraining/electra_examples.json (make_electra_examples.py): ELECTRA's build_pretraining_dataset.py,
// run unmodified on four files (documents between blank lines, blank lines of spaces, U+00A0 or U+3000, CRLF line
// endings, a carriage return inside a line, a word of 150 characters, a sentence longer than an example, an empty
// file, files without a final newline), with the Bio-ELECTRA tokenizer settings (lower-cased, accents stripped), in
// four runs (max_length 128, 12 and 24; blank lines separating documents or skipped), every random draw logged.
class ElectraReference : public PretrainingDataTest {
 protected:
  void SetUp() override {
    PretrainingDataTest::SetUp();
    doc_ = nlohmann::json::parse(
        stagehand::read_file(std::string(STAGEHAND_TEST_DATA) + "/pretraining/electra_examples.json"));
    std::string vocab;
    for (const auto& t : doc_["vocab"]) vocab += t.get<std::string>() + "\n";
    write_text(dir_ / "electra_vocab.txt", vocab);
    // The tokenizer bio-electra.yaml trains: ELECTRA's FullTokenizer(do_lower_case=True, strip_accents=True),
    // whose words may have up to 200 characters.
    electra_tok_ = tokenizer(fmt::format(
        "{{type: wordpiece, vocab: {}, lowercase: true, strip_accents: true, max_input_chars_per_word: 200}}",
        (dir_ / "electra_vocab.txt").string()));
  }
  nlohmann::json doc_;
  std::shared_ptr<stagehand::Tokenizer> electra_tok_;
};

TEST_F(ElectraReference, EveryLineIsReadAndTokenizedAsTheOriginalReadsIt) {
  ASSERT_EQ(doc_["files"].size(), 4u);
  for (const auto& f : doc_["files"]) {
    const std::string text = f["text"];
    SCOPED_TRACE(f["name"].get<std::string>());
    std::vector<std::pair<std::string, Ids>> got;
    std::istringstream in(text);
    for (std::string raw; std::getline(in, raw);) {
      std::string line(stagehand::pretraining::reference_line(raw));
      got.emplace_back(line, line.empty() ? Ids{} : electra_tok_->encode_ids(line));
    }
    // A last line of carriage returns only, without a '\n': TensorFlow's reader returns nothing for it (an empty
    // read at the end of the file), getline an empty line. Both end the file with the same flush.
    if (!text.empty() && text.back() == '\r' && !got.empty() && got.back().first.empty()) got.pop_back();
    const auto& lines = f["lines"];
    ASSERT_EQ(got.size(), lines.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].first, lines[i][0].get<std::string>()) << "line " << i + 1;
      EXPECT_EQ(got[i].second, lines[i][1].get<Ids>()) << "line " << i + 1 << ": " << got[i].first;
    }
  }
}

TEST_F(ElectraReference, TheBuilderMakesTheOriginalsExamplesFromTheSameDraws) {
  ASSERT_EQ(doc_["runs"].size(), 4u);
  const int32_t cls = electra_tok_->special().cls, sep = electra_tok_->special().sep;
  for (const auto& run : doc_["runs"]) {
    SCOPED_TRACE(run["name"].get<std::string>());
    std::deque<double> randoms;
    std::deque<int64_t> ints;
    std::string expected_log;
    for (const auto& d : run["draws"]) {
      expected_log += expected_log.empty() ? "" : " ";
      if (d[0] == "r") {
        randoms.push_back(d[1].get<double>());
        expected_log += "r";
      } else {
        ints.push_back(d[3].get<int64_t>());
        expected_log += fmt::format("i({},{})", d[1].get<int64_t>(), d[2].get<int64_t>());
      }
    }
    ScriptedRandom rng(randoms, ints);
    ExampleBuilder b(run["max_length"].get<int32_t>(), cls, sep, rng);
    std::vector<Emitted> out;
    for (const auto& f : doc_["files"])
      feed_file(b, *electra_tok_, f["text"].get<std::string>(), run["blanks_separate_docs"].get<bool>(), out);
    const auto& examples = run["examples"];
    ASSERT_EQ(out.size(), examples.size());
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_EQ(out[i].example.ids, examples[i]["input_ids"].get<Ids>()) << "example " << i;
      ASSERT_EQ(out[i].example.segment_ids(), examples[i]["segment_ids"].get<Ids>()) << "example " << i;
    }
    // The same decisions in the same order: no draw more, none fewer, randint over the same range.
    EXPECT_EQ(rng.log, expected_log);
    EXPECT_TRUE(rng.all_used());
  }
}

// ---------------------------------------------------------------- statistics over a long stream

TEST(PretrainingBuilder, SingleSegmentAndRandomTargetRatesMatchTheRules) {
  // One document of one-token sentences, max_length 32: an example with the natural target (32) always comes out
  // at 32 tokens: two segments (A 13 or 14 tokens, B cut to fill the row) unless the 0.1 draw made it one
  // segment (A cut to 30). With one-token sentences B is never empty otherwise, so the single-segment share
  // estimates 0.1. An example after a random target t = randint(5, 32) holds t tokens plus 2 or 3 specials,
  // shorter than 32 when t <= 28 (two segments) or t <= 29 (one): expected share of short examples
  // 0.05 * (0.9 * 24/28 + 0.1 * 25/28) = 0.04304.
  Mt19937Random mt(20240611);
  CountingRandom rng(mt);
  ExampleBuilder b(32, kCls, kSep, rng);
  Example e;
  int64_t n = 0, single = 0, shorter = 0, longest = 0, shortest = 1000;
  std::set<size_t> short_lengths;
  int64_t natural_a[3] = {0, 0, 0};  // natural-target examples with A of 13, 14, 30 tokens
  while (n < 40000) {
    const int32_t target = b.target_length();
    if (!b.add_line(false, Ids{7}, e)) continue;
    ++n;
    // Exactly `target` one-token sentences were buffered: the length is target + 2 or 3 specials, capped.
    ASSERT_EQ(e.ids.size(), std::min<size_t>(static_cast<size_t>(target) + (e.single_segment() ? 2 : 3), 32))
        << "target " << target;
    ASSERT_LE(e.ids.size(), 32u);
    ASSERT_EQ(e.ids.front(), kCls);
    ASSERT_EQ(e.ids[static_cast<size_t>(e.a_length) + 1], kSep);
    ASSERT_EQ(e.ids.back(), kSep);
    if (e.single_segment()) ++single;
    if (e.ids.size() < 32) {
      ++shorter;
      short_lengths.insert(e.ids.size());
    }
    if (target == 32) {
      // the natural target: one segment of 30, or A of 13 / 14 tokens (first-segment target 14; the 14th token
      // joins A on its 0.5 draw) and B cut to fill the row
      ASSERT_TRUE(e.a_length == 30 || e.a_length == 13 || e.a_length == 14) << e.a_length;
      ++natural_a[e.a_length == 30 ? 2 : e.a_length - 13];
    }
    longest = std::max<int64_t>(longest, static_cast<int64_t>(e.ids.size()));
    shortest = std::min<int64_t>(shortest, static_cast<int64_t>(e.ids.size()));
  }
  const double single_rate = static_cast<double>(single) / static_cast<double>(n);
  const double short_rate = static_cast<double>(shorter) / static_cast<double>(n);
  const double randint_rate = static_cast<double>(rng.randints) / static_cast<double>(n);
  EXPECT_NEAR(single_rate, 0.1, 0.01);       // sd 0.0015
  EXPECT_NEAR(randint_rate, 0.05, 0.006);    // sd 0.0011
  EXPECT_NEAR(short_rate, 0.04304, 0.006);   // sd 0.0010
  // The 14th token goes to A on a 0.5 draw (13 + 1 is not under 14): A of 13 and of 14 equally often.
  EXPECT_NEAR(static_cast<double>(natural_a[1]) / static_cast<double>(natural_a[0] + natural_a[1]), 0.5, 0.02);
  EXPECT_EQ(longest, 32);
  // t = 5 gives 7 (one segment) or 8 tokens; every length up to 31 occurs.
  EXPECT_EQ(shortest, 7);
  EXPECT_EQ(short_lengths.size(), 25u);  // 7..31
}

TEST(PretrainingBuilder, NeverLongerThanMaxLengthOnRaggedDocuments) {
  // Sentences of 0 to 60 tokens (longer than an example too), documents of 1 to 12 sentences.
  std::mt19937_64 gen(5);
  Mt19937Random rng(6);
  ExampleBuilder b(24, kCls, kSep, rng);
  Example e;
  int64_t examples = 0, tokens_in = 0;
  for (int doc = 0; doc < 3000; ++doc) {
    const int sentences = 1 + static_cast<int>(gen() % 12);
    for (int s = 0; s < sentences; ++s) {
      Ids ids(gen() % 61, 9);
      tokens_in += static_cast<int64_t>(ids.size());
      if (b.add_line(false, ids, e)) {
        ++examples;
        ASSERT_LE(e.ids.size(), 24u);
        ASSERT_LE(e.a_length, 22);
        ASSERT_GE(e.ids.size(), static_cast<size_t>(e.a_length) + 2);
      }
    }
    if (b.add_line(true, {}, e)) {
      ++examples;
      ASSERT_LE(e.ids.size(), 24u);
    }
    ASSERT_EQ(b.buffered_length(), 0) << "a document boundary leaves nothing buffered";
  }
  EXPECT_GT(examples, tokens_in / 60);  // more examples than a few per document
}

// ---------------------------------------------------------------- the stage, the file, the dataset

// A corpus of `docs` documents of 1 to 8 sentences of 1 to 12 words (some "runs", two pieces), deterministic.
std::string make_corpus(uint64_t seed, int docs) {
  std::mt19937_64 gen(seed);
  std::string text;
  for (int d = 0; d < docs; ++d) {
    const int sentences = 1 + static_cast<int>(gen() % 8);
    for (int s = 0; s < sentences; ++s) {
      const int words = 1 + static_cast<int>(gen() % 12);
      for (int w = 0; w < words; ++w) {
        text += w ? " " : (gen() % 4 == 0 ? "  " : "");  // some leading spaces, stripped
        text += gen() % 10 == 0 ? "runs" : kWords[gen() % 13];
      }
      text += s + 1 == sentences && d % 3 == 0 ? " .\n" : "\n";
    }
    text += d % 5 == 4 ? " \t\n" : "\n";  // a blank line ends the document (whitespace only counts as blank)
  }
  return text;
}

std::string pipeline_yaml() {
  return R"(name: ptdata
seed: 5
threads: {intra_op: 1, blas: 1}
stages:
  tok:
    kind: tokenizer
    load: {type: wordpiece, vocab: vocab.txt}
  data:
    kind: pretraining_data
    tokenizer: tok
    files: [a.txt, b.txt]
    max_length: 12
    validation_fraction: 0.25
    threads: 2
    seed: 11
  merged:
    kind: pretraining_data
    tokenizer: tok
    files: [a.txt, b.txt]
    max_length: 12
    blanks_separate_docs: false
    threads: 1
    seed: 12
)";
}

// Every example of a split, without padding: (ids, segment ids).
std::vector<std::pair<Ids, Ids>> read_split(const stagehand::Dataset& d, const std::string& split) {
  std::vector<int64_t> all(static_cast<size_t>(d.size(split)));
  std::iota(all.begin(), all.end(), 0);
  std::vector<std::pair<Ids, Ids>> out;
  if (all.empty()) return out;
  stagehand::Batch b = d.batch(split, all);
  auto ids = b.at("input_ids").contiguous();
  auto mask = b.at("attention_mask").contiguous();
  auto types = b.at("token_type_ids").contiguous();
  const int64_t rows = ids.size(0), cols = ids.size(1);
  const int64_t* ip = ids.data_ptr<int64_t>();
  const int64_t* mp = mask.data_ptr<int64_t>();
  const int64_t* tp = types.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    Ids row, seg;
    for (int64_t c = 0; c < cols; ++c) {
      if (!mp[r * cols + c]) continue;
      row.push_back(static_cast<int32_t>(ip[r * cols + c]));
      seg.push_back(static_cast<int32_t>(tp[r * cols + c]));
    }
    out.emplace_back(row, seg);
  }
  return out;
}

class PretrainingStageTest : public PretrainingDataTest {
 protected:
  void SetUp() override {
    PretrainingDataTest::SetUp();
    // a.txt crosses the stage's 16384-line reading chunks; b.txt is small.
    write_text(dir_ / "a.txt", make_corpus(1, 5000));
    write_text(dir_ / "b.txt", make_corpus(2, 40));
    write_text(dir_ / "p.yaml", pipeline_yaml());
  }
  // The examples the builder makes from a.txt then b.txt with this seed (the stage's reference).
  std::vector<Example> reference(uint64_t seed, bool blanks_separate_docs) {
    Mt19937Random rng(seed);
    ExampleBuilder b(12, kCls, kSep, rng);
    std::vector<Emitted> out;
    feed_file(b, *tok_, read_text(dir_ / "a.txt"), blanks_separate_docs, out);
    feed_file(b, *tok_, read_text(dir_ / "b.txt"), blanks_separate_docs, out);
    std::vector<Example> ex;
    for (auto& o : out) ex.push_back(o.example);
    return ex;
  }
  fs::path stage_dir(const std::string& stage) { return dir_ / "runs" / "ptdata" / "latest" / "stages" / stage; }
};

TEST_F(PretrainingStageTest, TheStageWritesWhatTheBuilderMakesAndTheDatasetReadsItBack) {
  auto r = runner("p.yaml", dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path out = stage_dir("data");
  ASSERT_TRUE(fs::exists(out / "examples.bin")) << r.output;
  EXPECT_FALSE(fs::exists(out / "examples.bin.tmp"));
  EXPECT_FALSE(fs::exists(out / "examples.validation.tmp"));
  EXPECT_TRUE(fs::exists(out / "tokenizer" / "vocab.txt"));

  // The provided dataset spec names the file relative to the stage folder.
  auto outputs = stagehand::load_yaml_file(out / "outputs.yaml");
  EXPECT_EQ(outputs.at("provides").at("dataset").at("type").as_string(), "pretraining");
  EXPECT_EQ(outputs.at("provides").at("dataset").at("file").as_string(), "examples.bin");

  // Split rule: validation_fraction 0.25 -> every 4th example (3, 7, 11, ...) is a validation example.
  const std::vector<Example> ref = reference(11, true);
  ASSERT_GT(ref.size(), 1000u);
  std::vector<Example> ref_train, ref_validation;
  for (size_t i = 0; i < ref.size(); ++i) (i % 4 == 3 ? ref_validation : ref_train).push_back(ref[i]);

  auto d = open(out / "examples.bin");
  EXPECT_EQ(d->splits(), (std::vector<std::string>{"train", "validation"}));
  ASSERT_EQ(d->size("train"), static_cast<int64_t>(ref_train.size()));
  ASSERT_EQ(d->size("validation"), static_cast<int64_t>(ref_validation.size()));
  const auto train = read_split(*d, "train");
  const auto validation = read_split(*d, "validation");
  for (size_t i = 0; i < ref_train.size(); ++i) {
    ASSERT_EQ(train[i].first, ref_train[i].ids) << "train example " << i;
    ASSERT_EQ(train[i].second, ref_train[i].segment_ids()) << "train example " << i;
  }
  for (size_t i = 0; i < ref_validation.size(); ++i) {
    ASSERT_EQ(validation[i].first, ref_validation[i].ids) << "validation example " << i;
    ASSERT_EQ(validation[i].second, ref_validation[i].segment_ids()) << "validation example " << i;
  }
  const auto hints = d->hints();
  EXPECT_EQ(hints.at("vocab_size"), kVocabSize);
  EXPECT_EQ(hints.at("pad_id"), kPad);
  EXPECT_EQ(hints.at("cls_id"), kCls);
  EXPECT_EQ(hints.at("sep_id"), kSep);
  EXPECT_EQ(hints.at("mask_id"), kMask);
  EXPECT_EQ(hints.at("max_length"), 12);

  // The metrics are those of the examples.
  int64_t tokens = 0, single = 0;
  for (const auto& e : ref) {
    tokens += static_cast<int64_t>(e.ids.size());
    single += e.single_segment() ? 1 : 0;
  }
  const auto& m = outputs.at("metrics");
  EXPECT_EQ(m.at("examples").as_double(), static_cast<double>(ref.size()));
  EXPECT_EQ(m.at("validation_examples").as_double(), static_cast<double>(ref_validation.size()));
  EXPECT_EQ(m.at("tokens").as_double(), static_cast<double>(tokens));
  EXPECT_NEAR(m.at("single_segment_fraction").as_double(), static_cast<double>(single) / ref.size(), 1e-12);
  EXPECT_NEAR(m.at("mean_length").as_double(), static_cast<double>(tokens) / ref.size(), 1e-12);

  // The header: 2-byte ids (21 entries), row = 12 * 2 + 4 bytes, the tokenizer's spec naming its saved copy.
  const std::string bytes = read_text(out / "examples.bin");
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  ASSERT_EQ(bytes.substr(0, 8), "SHPRETR1");
  const auto h = stagehand::pretraining::decode_fixed_header(p);
  EXPECT_EQ(h.version, 1u);
  EXPECT_EQ(h.id_bytes, 2u);
  EXPECT_EQ(h.row_bytes, 28u);
  EXPECT_EQ(h.max_length, 12u);
  EXPECT_EQ(h.header_bytes % 8, 0u);
  EXPECT_EQ(bytes.size(), h.header_bytes + ref.size() * 28);
  const std::string spec(bytes.data() + 76, stagehand::pretraining::get_u32(p + 72));
  EXPECT_NE(spec.find("tokenizer/vocab.txt"), std::string::npos) << spec;
  // Row 0 is the first training example: ids, padding with [PAD], then length and len(A).
  const Example& first = ref_train[0];
  for (size_t j = 0; j < 12; ++j)
    EXPECT_EQ(stagehand::pretraining::get_u16(p + h.header_bytes + 2 * j), j < first.ids.size() ? first.ids[j] : kPad);
  EXPECT_EQ(stagehand::pretraining::get_u16(p + h.header_bytes + 24), first.ids.size());
  EXPECT_EQ(stagehand::pretraining::get_u16(p + h.header_bytes + 26), static_cast<uint16_t>(first.a_length));

  // blanks_separate_docs: false — the same builder over the non-empty lines only; no validation split.
  const std::vector<Example> merged_ref = reference(12, false);
  auto merged = open(stage_dir("merged") / "examples.bin");
  EXPECT_EQ(merged->splits(), std::vector<std::string>{"train"});
  const auto merged_rows = read_split(*merged, "train");
  ASSERT_EQ(merged_rows.size(), merged_ref.size());
  for (size_t i = 0; i < merged_ref.size(); ++i) ASSERT_EQ(merged_rows[i].first, merged_ref[i].ids) << i;
  EXPECT_LT(merged_ref.size(), ref.size());  // fewer boundaries, fuller examples

  // Random access: a batch of [5, 0, 3] is those rows, padded to the longest of the three only.
  auto batch = d->batch("train", {5, 0, 3});
  size_t width = std::max({ref_train[5].ids.size(), ref_train[0].ids.size(), ref_train[3].ids.size()});
  EXPECT_EQ(batch.at("input_ids").size(1), static_cast<int64_t>(width));
  EXPECT_EQ(batch.ids, (std::vector<std::string>{"train:5", "train:0", "train:3"}));
  const size_t picks[] = {5, 0, 3};
  for (int64_t r = 0; r < 3; ++r) {
    const Example& e = ref_train[picks[r]];
    const Ids seg = e.segment_ids();
    for (size_t c = 0; c < width; ++c) {
      const bool real = c < e.ids.size();
      EXPECT_EQ(batch.at("input_ids")[r][static_cast<int64_t>(c)].item<int64_t>(), real ? e.ids[c] : kPad);
      EXPECT_EQ(batch.at("attention_mask")[r][static_cast<int64_t>(c)].item<int64_t>(), real ? 1 : 0);
      EXPECT_EQ(batch.at("token_type_ids")[r][static_cast<int64_t>(c)].item<int64_t>(), real ? seg[c] : 0);
    }
  }
  EXPECT_EQ(batch.at("input_ids").scalar_type(), torch::kInt64);
  // Four threads reading batches at once get what one thread reads.
  std::vector<std::thread> readers;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 g(static_cast<uint64_t>(t));
      for (int k = 0; k < 200; ++k) {
        const auto i = static_cast<int64_t>(g() % ref_train.size());
        auto one = d->batch("train", {i});
        const auto* ids = one.at("input_ids").data_ptr<int64_t>();
        for (size_t c = 0; c < ref_train[static_cast<size_t>(i)].ids.size(); ++c)
          if (ids[c] != ref_train[static_cast<size_t>(i)].ids[c]) ++mismatches;
      }
    });
  }
  for (auto& th : readers) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  try {
    d->batch("train", {static_cast<int64_t>(ref_train.size())});
    ADD_FAILURE() << "an index past the end must fail";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
  try {
    merged->size("validation");
    ADD_FAILURE() << "a file without validation examples has no validation split";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("validation_fraction > 0"), std::string::npos) << e.what();
  }

  // A second run reuses every stage.
  auto again = runner("p.yaml", dir_.path());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(count_occurrences(again.output, "reused cached output"), 3u) << again.output;
  EXPECT_EQ(count_occurrences(again.output, "running (pretraining_data)"), 0u) << again.output;
  // Another max_length re-runs the two data stages only.
  auto changed = runner("p.yaml stages.data.max_length=16", dir_.path());
  ASSERT_EQ(changed.exit_code, 0) << changed.output;
  EXPECT_EQ(count_occurrences(changed.output, "reused cached output"), 2u) << changed.output;
}

// examples.bin stores ELECTRA's `[CLS] A [SEP] B [SEP]` with segment ids 0 then 1; a RoBERTa-layout tokenizer
// (`<s> A </s></s> B </s>`, type ids all 0, one type embedding) would get examples its model cannot take: refused,
// with the fix.
TEST_F(PretrainingDataTest, ARobertaLayoutTokenizerIsRefusedWithTheFix) {
  const fs::path dir = fs::path(STAGEHAND_TEST_DATA) / "hf-tiny" / "roberta";
  write_text(dir_ / "r.txt", "alpha beta gamma\ndelta epsilon\n");
  write_text(dir_ / "r.yaml", fmt::format(R"(name: rob
seed: 1
threads: {{intra_op: 1, blas: 1}}
stages:
  tok:
    kind: tokenizer
    load: {{type: bpe, vocab: {}, merges: {}}}
  data:
    kind: pretraining_data
    tokenizer: tok
    files: [r.txt]
    max_length: 12
)",
                                          (dir / "vocab.json").string(), (dir / "merges.txt").string()));
  auto r = runner("r.yaml", dir_.path());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("special-token layout is 'roberta'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("set `layout: bert` on the tokenizer"), std::string::npos) << r.output;
}

TEST_F(PretrainingDataTest, BioElectrasVocabularyOf169300EntriesIsStoredInFourByteIds) {
  // etetteh/bio-electra's vocabulary size: ids past 65535 need four bytes a token, through the stage, the file
  // and the dataset that reads it back. Vocabulary: the five specials, then w0 ... w169294 (w<k> has id k + 5).
  constexpr int32_t kBig = 169300;
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (int32_t k = 0; k < kBig - 5; ++k) vocab += fmt::format("w{}\n", k);
  write_text(dir_ / "big_vocab.txt", vocab);
  write_text(dir_ / "big.txt", "w169294 w0 w65531\nw65530 w100000\n\nw7\n");
  write_text(dir_ / "big.yaml", R"(name: big
seed: 1
threads: {intra_op: 1, blas: 1}
stages:
  tok:
    kind: tokenizer
    load: {type: wordpiece, vocab: big_vocab.txt}
  data:
    kind: pretraining_data
    tokenizer: tok
    files: [big.txt]
    max_length: 12
)");
  auto r = runner("big.yaml", dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path file = dir_ / "runs" / "big" / "latest" / "stages" / "data" / "examples.bin";
  const std::string bytes = read_text(file);
  ASSERT_GE(bytes.size(), 76u);
  const auto h = stagehand::pretraining::decode_fixed_header(reinterpret_cast<const unsigned char*>(bytes.data()));
  EXPECT_EQ(h.id_bytes, 4u);
  EXPECT_EQ(h.row_bytes, 12u * 4 + 4);
  EXPECT_EQ(h.vocab_size, kBig);
  auto d = open(file);
  EXPECT_EQ(d->hints().at("vocab_size"), kBig);
  const auto rows = read_split(*d, "train");
  ASSERT_EQ(rows.size(), 2u);  // the blank line ends the first document
  // A holds everything that keeps it under (12 - 3) / 2 = 4 tokens, or on a draw; whatever the split, the ids
  // are the five words' in order.
  Ids first = rows[0].first;
  first.erase(std::remove(first.begin(), first.end(), kSep), first.end());
  EXPECT_EQ(first, (Ids{kCls, 169294 + 5, 5, 65536, 65535, 100005}));
  EXPECT_EQ(rows[1].first, (Ids{kCls, 12, kSep}));
}

TEST_F(PretrainingStageTest, DamagedFilesGiveOneClearError) {
  auto r = runner("p.yaml", dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string good = read_text(stage_dir("data") / "examples.bin");
  const auto h = stagehand::pretraining::decode_fixed_header(reinterpret_cast<const unsigned char*>(good.data()));
  auto expect_error = [&](const std::string& bytes, const std::string& needle, bool verify = true) {
    write_text(dir_ / "bad.bin", bytes);
    try {
      open(dir_ / "bad.bin", verify);
      ADD_FAILURE() << "expected an error containing: " << needle;
    } catch (const stagehand::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.bin"), std::string::npos) << e.what();
    }
  };
  expect_error(good.substr(0, good.size() - 1),
               fmt::format("is truncated: expected {} bytes ({} + {} examples of 28 bytes), found {}", good.size(),
                           h.header_bytes, h.train_examples + h.validation_examples, good.size() - 1));
  expect_error(good.substr(0, 40), "is truncated: expected at least 76 bytes of header, found 40");
  expect_error("", "is not a stagehand pretraining file");
  expect_error("some text that is no examples file, long enough to hold a header of seventy-six bytes ...",
               "is not a stagehand pretraining file");
  std::string version = good;
  version[8] = 2;
  expect_error(version, "has pretraining format version 2, this build reads version 1");
  expect_error(good + std::string(28, '\0'), "has 28 bytes after its last example");
  std::string flipped = good;
  flipped[h.header_bytes + 28 * 3 + 2] ^= 0x01;  // one bit of example 3
  expect_error(flipped, "is corrupt: the CRC-32 of its examples is");
  // Without the check the file opens (the header is intact) and example 3 reads differently.
  write_text(dir_ / "flipped.bin", flipped);
  auto unchecked = open(dir_ / "flipped.bin", false);
  auto good_d = open(stage_dir("data") / "examples.bin");
  EXPECT_NE(read_split(*unchecked, "train")[3].first, read_split(*good_d, "train")[3].first);
  EXPECT_EQ(read_split(*unchecked, "train")[4].first, read_split(*good_d, "train")[4].first);
  // An example count so large that header + count * row size wraps around to the file's real size passed the size
  // check before, and reading an example then went far outside the file: with one real 28-byte row,
  // 28 * (2^62 + 1) = 7 * 2^64 + 28 wraps to 28.
  {
    std::string wrap = good.substr(0, h.header_bytes + 28);
    auto* q = reinterpret_cast<unsigned char*>(wrap.data());
    stagehand::pretraining::put_u64(q + 32, uint64_t{1} << 62 | 1);
    stagehand::pretraining::put_u64(q + 40, 0);
    expect_error(wrap, "has a corrupt header: 4611686018427387905 + 0 examples of 28 bytes would not fit in any file",
                 false);
  }
  // A length field past max_length is caught when the example is read.
  std::string bad_length = good;
  stagehand::pretraining::put_u16(reinterpret_cast<unsigned char*>(bad_length.data()) + h.header_bytes + 24, 40);
  write_text(dir_ / "bad_length.bin", bad_length);
  auto bl = open(dir_ / "bad_length.bin", false);
  try {
    bl->batch("train", {0});
    ADD_FAILURE() << "a corrupt length must fail";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("example 0 of split 'train' is corrupt (length 40"), std::string::npos)
        << e.what();
  }
}

}  // namespace
