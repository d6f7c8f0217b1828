// SPDX-License-Identifier: Apache-2.0
// The text_corpus dataset, loaded for real with ALBERT's SentencePiece model (ids below are spm_encode's:
// ▁one 53, ▁two 81, ▁three 132, ▁four 222, ▁five 355, ▁six 490, ▁seven 810, ▁eight 970, ▁nine 1391, ▁ten 652;
// <pad> 0, [CLS] 2, [SEP] 3, [MASK] 4 — each of these words is one piece).
//  - packing: greedy whole sentences, the long-sentence split, document and file boundaries, min_length;
//  - the train/validation split is by document and a fixed function of the seed;
//  - examples framed by the tokenizer's layout: RoBERTa's `<s> ... </s>`, nothing for layout none (GPT-2);
//  - batches: shapes, padding, masks, ids; hints; errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "stagehand/dataset.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"
#include "stagehand/tokenizer.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using stagehand::Batch;
using stagehand::Dataset;

namespace {

constexpr int64_t kPad = 0, kCls = 2, kSep = 3;
const std::map<std::string, int64_t> kWordId = {{"one", 53},    {"two", 81},  {"three", 132}, {"four", 222},
                                                {"five", 355},  {"six", 490}, {"seven", 810}, {"eight", 970},
                                                {"nine", 1391}, {"ten", 652}};
const char* kWords[] = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"};

// [CLS] ids of the words [SEP]
std::vector<int64_t> example(const std::string& words) {
  std::vector<int64_t> out{kCls};
  size_t pos = 0;
  while (pos < words.size()) {
    size_t end = words.find(' ', pos);
    if (end == std::string::npos) end = words.size();
    out.push_back(kWordId.at(words.substr(pos, end - pos)));
    pos = end + 1;
  }
  out.push_back(kSep);
  return out;
}

torch::Tensor matrix(std::vector<int64_t> values, int64_t cols) {
  const auto rows = static_cast<int64_t>(values.size()) / cols;
  return torch::tensor(values, torch::kInt64).view({rows, cols});
}

class TextCorpusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new stagehand::Registry;
    loader_ = new stagehand::PluginLoader(*registry_);
    loader_->load(std::string(STAGEHAND_PLUGIN_DIR) + "/tokenizer_sentencepiece.so");
    loader_->load(std::string(STAGEHAND_PLUGIN_DIR) + "/dataset_text_corpus.so");
    loader_->load(std::string(STAGEHAND_PLUGIN_DIR) + "/tokenizer_bpe.so");
  }
  static void TearDownTestSuite() {
    delete loader_;
    delete registry_;
  }
  void SetUp() override {
    ASSERT_TRUE(registry_->find("dataset", "text_corpus")) << "dataset_text_corpus.so not loaded";
    ASSERT_TRUE(registry_->find("tokenizer", "sentencepiece")) << "tokenizer_sentencepiece.so not loaded";
  }

  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }

  std::shared_ptr<Dataset> make(const std::string& options, uint64_t seed = 1) {
    stagehand::BuildContext ctx;
    ctx.registry = registry_;
    ctx.seed = seed;
    std::string spec =
        fmt::format("{{type: text_corpus, tokenizer: {{type: sentencepiece, model: {}}}, {}}}",
                    (fs::path(STAGEHAND_TEST_DATA) / "tokenizers" / "albert-30k-clean.model").string(), options);
    return registry_->create<Dataset>(stagehand::parse_yaml(spec, "test"), ctx);
  }

  // Every example of a split, without padding.
  static std::vector<std::vector<int64_t>> examples(const Dataset& d, const std::string& split) {
    std::vector<int64_t> all(static_cast<size_t>(d.size(split)));
    std::iota(all.begin(), all.end(), 0);
    std::vector<std::vector<int64_t>> out;
    if (all.empty()) return out;
    Batch b = d.batch(split, all);
    auto ids = b.at("input_ids");
    auto mask = b.at("attention_mask");
    for (int64_t r = 0; r < ids.size(0); ++r) {
      std::vector<int64_t> row;
      for (int64_t c = 0; c < ids.size(1); ++c)
        if (mask[r][c].item<int64_t>()) row.push_back(ids[r][c].item<int64_t>());
      out.push_back(row);
    }
    return out;
  }

  static stagehand::Registry* registry_;
  static stagehand::PluginLoader* loader_;
  sh_test::TempFolder folder_;  // this test's own, removed after it
  const fs::path dir_ = folder_.path();
};
stagehand::Registry* TextCorpusTest::registry_ = nullptr;
stagehand::PluginLoader* TextCorpusTest::loader_ = nullptr;

TEST_F(TextCorpusTest, PacksWholeSentencesOfOneDocumentSplitsLongOnesAndDropsShortExamples) {
  // max_length 8: room for 6 word pieces. min_length 4: at least 2 of them.
  fs::path f = write("c.txt",
                     "one two three\n"
                     "four five\n"
                     "six seven\n"  // does not fit beside the 5 tokens before it: starts the next example
                     "one two three four five six seven eight nine ten one two three four\n"  // 14 > 6: split
                     "five\n"
                     "\n"
                     "ten\n"  // a one-word document: [CLS] ten [SEP] is 3 tokens < min_length, dropped
                     "\n\n"
                     "one two\n"
                     "three four\n");
  auto d = make(fmt::format("files: [{}], max_length: 8, min_length: 4, validation_fraction: 0", f.string()));
  EXPECT_EQ(d->splits(), std::vector<std::string>{"train"});
  EXPECT_FALSE(d->has_split("validation"));
  std::vector<std::vector<int64_t>> expected = {
      example("one two three four five"),
      example("six seven"),  // flushed before the long sentence: 4 tokens, kept
      example("one two three four five six"),
      example("seven eight nine ten one two"),
      example("three four five"),  // the long sentence's tail, then the next sentence, then the document ends
      example("one two three four"),
  };
  EXPECT_EQ(examples(*d, "train"), expected);
}

// Examples are framed as the tokenizer's encode() frames one text: `<s> pieces </s>` with RoBERTa's layout, the
// pieces alone with layout none, whose examples then hold max_length pieces (no room kept for special tokens).
TEST_F(TextCorpusTest, ExamplesAreFramedByTheTokenizersLayout) {
  fs::path f = write("c.txt", "alpha beta gamma delta epsilon zeta eta theta iota kappa\n");
  const fs::path dir = fs::path(STAGEHAND_TEST_DATA) / "hf-tiny" / "roberta";
  for (const std::string layout : {"roberta", "none"}) {
    SCOPED_TRACE(layout);
    const std::string tok_yaml = fmt::format("{{type: bpe, vocab: {}, merges: {}, layout: {}}}",
                                             (dir / "vocab.json").string(), (dir / "merges.txt").string(), layout);
    stagehand::BuildContext ctx;
    ctx.registry = registry_;
    auto tok = registry_->create<stagehand::Tokenizer>(stagehand::parse_yaml(tok_yaml, "test"), ctx);
    const std::vector<int32_t> pieces = tok->encode_ids("alpha beta gamma delta epsilon zeta eta theta iota kappa");
    ASSERT_GT(pieces.size(), 8u);
    auto d = registry_->create<Dataset>(
        stagehand::parse_yaml(fmt::format("{{type: text_corpus, tokenizer: {}, files: [{}], max_length: 8, "
                                          "min_length: 3, validation_fraction: 0}}",
                                          tok_yaml, f.string()),
                              "test"),
        ctx);
    const bool roberta = layout == "roberta";
    const size_t room = roberta ? 6 : 8;
    std::vector<int64_t> first;
    if (roberta) first.push_back(0);
    first.insert(first.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(room));
    if (roberta) first.push_back(2);
    const auto got = examples(*d, "train");
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.front(), first);
    if (roberta) EXPECT_EQ(d->hints().at("cls_id"), 0);
  }
}

TEST_F(TextCorpusTest, NoExampleCrossesADocumentOrAFileBoundary) {
  // The first file does not end with a blank line: its document still ends with the file.
  fs::path a = write("a.txt", "one two\nthree");
  fs::path b = write("b.txt", "four five\n\nsix seven\n \neight nine\n");
  auto d = make(fmt::format("files: [{}, {}], min_length: 3, validation_fraction: 0", a.string(), b.string()));
  std::vector<std::vector<int64_t>> expected = {example("one two three"), example("four five"), example("six seven"),
                                                example("eight nine")};
  EXPECT_EQ(examples(*d, "train"), expected);
  // A glob names both files, sorted: the same examples.
  auto g = make(fmt::format("files: '{}/*.txt', min_length: 3, validation_fraction: 0", dir_.string()));
  EXPECT_EQ(examples(*g, "train"), expected);
  // A line of stray CRs ends the document too (it was a sentence of one CR; found by fuzz/fuzz_corpus.cpp).
  fs::path cr = write("cr.crlf", "four five\r\r\nsix seven\r\n\r\r\neight nine\r\n");
  auto c = make(fmt::format("files: [{}], min_length: 3, validation_fraction: 0", cr.string()));
  EXPECT_EQ(examples(*c, "train"), (std::vector<std::vector<int64_t>>{example("four five six seven"),
                                                                       example("eight nine")}));
}

TEST_F(TextCorpusTest, SplitsByDocumentDeterministicallyFromTheSeed) {
  // 40 documents, each one example that names its number: "<tens> <units> ..." with words for digits + 1.
  std::string text;
  std::set<std::vector<int64_t>> all_docs;
  for (int i = 0; i < 40; ++i) {
    std::string words = fmt::format("{} {} ten ten", kWords[i / 10], kWords[i % 10]);
    text += words + "\n\n";
    all_docs.insert(example(words));
  }
  fs::path f = write("docs.txt", text);
  const std::string opts = fmt::format("files: [{}], validation_fraction: 0.25, min_length: 3", f.string());
  auto d1 = make(opts, 1);
  EXPECT_EQ(d1->splits(), (std::vector<std::string>{"train", "validation"}));
  EXPECT_EQ(d1->size("validation"), 10);  // round(0.25 x 40) documents
  EXPECT_EQ(d1->size("train"), 30);
  auto train = examples(*d1, "train"), validation = examples(*d1, "validation");
  std::set<std::vector<int64_t>> seen(train.begin(), train.end());
  for (const auto& v : validation) EXPECT_TRUE(seen.insert(v).second) << "a document is in both splits";
  EXPECT_EQ(seen, all_docs);

  // Same seed: the same split. Another build-context seed: another one. The `seed` option overrides it.
  EXPECT_EQ(examples(*make(opts, 1), "validation"), validation);
  auto other = examples(*make(opts, 2), "validation");
  EXPECT_NE(other, validation);
  EXPECT_EQ(other.size(), 10u);
  auto pinned_a = examples(*make(opts + ", seed: 7", 1), "validation");
  auto pinned_b = examples(*make(opts + ", seed: 7", 2), "validation");
  EXPECT_EQ(pinned_a, pinned_b);
  EXPECT_EQ(examples(*make(opts + ", seed: 1", 99), "validation"), validation);

  // A small fraction still holds out one document; max_examples caps each split.
  EXPECT_EQ(make(fmt::format("files: [{}], validation_fraction: 0.001, min_length: 3", f.string()))->size("validation"),
            1);
  auto capped = make(opts + ", max_examples: 4");
  EXPECT_EQ(capped->size("train"), 4);
  EXPECT_EQ(capped->size("validation"), 4);
  EXPECT_EQ(examples(*capped, "train"), std::vector<std::vector<int64_t>>(train.begin(), train.begin() + 4));
}

TEST_F(TextCorpusTest, BatchesArePaddedToTheLongestWithMasksZeroSegmentsAndIds) {
  fs::path f = write("c.txt", "one two three four five six\n\none two\n\nthree four five\n");
  auto d = make(fmt::format("files: [{}], min_length: 3, validation_fraction: 0", f.string()));
  ASSERT_EQ(d->size("train"), 3);
  Batch b = d->batch("train", {1, 2});
  EXPECT_EQ(b.ids, (std::vector<std::string>{"train:1", "train:2"}));
  const auto& ids = b.at("input_ids");
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{2, 5}));  // the longest of the two: [CLS] three four five [SEP]
  EXPECT_EQ(ids.scalar_type(), torch::kInt64);
  EXPECT_TRUE(ids.equal(matrix({kCls, 53, 81, kSep, kPad, kCls, 132, 222, 355, kSep}, 5))) << ids;
  EXPECT_TRUE(b.at("attention_mask").equal(matrix({1, 1, 1, 1, 0, 1, 1, 1, 1, 1}, 5))) << b.at("attention_mask");
  EXPECT_TRUE(b.at("token_type_ids").equal(torch::zeros({2, 5}, torch::kInt64)));
  EXPECT_EQ(b.tokens(), 9);

  Batch all = d->batch("train", {0, 1, 2, 0});
  EXPECT_EQ(all.at("input_ids").sizes(), (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(all.ids.back(), "train:0");

  auto h = d->hints();
  EXPECT_EQ(h.at("vocab_size"), 30000);
  EXPECT_EQ(h.at("pad_id"), kPad);
  EXPECT_EQ(h.at("cls_id"), kCls);
  EXPECT_EQ(h.at("sep_id"), kSep);
  EXPECT_EQ(h.at("mask_id"), 4);

  try {
    d->batch("train", {3});
    FAIL() << "an index past the end was accepted";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("index 3 is out of range for split 'train' (3 examples)"), std::string::npos)
        << e.what();
  }
  try {
    d->size("validation");
    FAIL() << "an absent split was accepted";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no split 'validation'; its splits are: train"), std::string::npos)
        << e.what();
  }
}

TEST_F(TextCorpusTest, RealCorpusExamplesAreWellFormedAndIndependentOfThreads) {
  // The first chapters of Moby Dick (hard-wrapped lines, paragraphs separated by blank lines).
  fs::path corpus = fs::path(STAGEHAND_TEST_DATA) / "corpora" / "moby_dick_excerpt.txt";
  auto d = make(fmt::format("files: [{}], max_length: 64, threads: 2", corpus.string()));
  const int64_t n_train = d->size("train"), n_val = d->size("validation");
  EXPECT_GT(n_train, 300);
  EXPECT_GT(n_val, 5);
  for (const std::string split : {"train", "validation"}) {
    for (const auto& ex : examples(*d, split)) {
      ASSERT_GE(ex.size(), 8u);
      ASSERT_LE(ex.size(), 64u);
      EXPECT_EQ(ex.front(), kCls);
      EXPECT_EQ(ex.back(), kSep);
      EXPECT_EQ(std::count(ex.begin(), ex.end(), kCls), 1);
      EXPECT_EQ(std::count(ex.begin(), ex.end(), kSep), 1);
      EXPECT_EQ(std::count(ex.begin(), ex.end(), kPad), 0);
    }
  }
  auto one_thread = make(fmt::format("files: [{}], max_length: 64, threads: 1", corpus.string()));
  EXPECT_EQ(examples(*one_thread, "train"), examples(*d, "train"));
  EXPECT_EQ(examples(*one_thread, "validation"), examples(*d, "validation"));
}

TEST_F(TextCorpusTest, RejectsCorporaWithoutExamples) {
  fs::path f = write("short.txt", "one\n\ntwo\n");
  try {
    make(fmt::format("files: [{}], validation_fraction: 0", f.string()));
    FAIL() << "a corpus without a single example was accepted";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no training example of at least min_length 8 tokens"), std::string::npos)
        << e.what();
  }
  try {
    make(fmt::format("files: [{}], max_length: 16, min_length: 32", f.string()));
    FAIL() << "min_length over max_length was accepted";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("min_length 32 is over max_length 16"), std::string::npos) << e.what();
  }
}

}  // namespace
