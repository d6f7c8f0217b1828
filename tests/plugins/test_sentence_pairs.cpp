// SPDX-License-Identifier: Apache-2.0
// The sentence-pair datasets `glue` and `sentence_pairs` (plugin dataset_sentence_pairs), loaded for real with
// bert-base-uncased WordPiece (ids are the vocabulary's line numbers - 1: [PAD] 0, [CLS] 101, [SEP] 102, the 1996,
// cat 4937, sat 2938, a 1037, dog 3899, ran 2743, on 2006, mat 13523, was 2001, sitting 3564, " 1000, . 1012).
//  - every GLUE layout from the fixtures in tests/data/glue (MRPC with its byte order mark, QQP, QNLI, RTE, STS-B
//    floats, MNLI matched / mismatched with 3 classes, SNLI with a "-" gold label, AllNLI; test files without labels);
//  - cross and siamese encodings of a known pair, truncation, ids stable, unique and independent of batch order;
//  - sentence_pairs JSON lines (ids, labels, unlabelled test, regression);
//  - errors: wrong column count with file:line (and on_bad_record: skip), unknown labels, missing files, headers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>

#include "support/test_support.h"
#include "stagehand/dataset.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"

namespace fs = std::filesystem;
using stagehand::Batch;
using stagehand::Dataset;

namespace {

using sh_test::error_of;

constexpr int64_t kCls = 101, kSep = 102;
constexpr int64_t kThe = 1996, kCat = 4937, kSat = 2938, kA = 1037, kDog = 3899, kRan = 2743, kOn = 2006,
                  kMat = 13523, kWas = 2001, kSitting = 3564, kQuote = 1000, kDot = 1012;

stagehand::Registry& registry() {
  static stagehand::Registry* reg = [] {
    auto* r = new stagehand::Registry;
    static stagehand::PluginLoader loader(*r);
    for (const char* name : {"tokenizer_wordpiece", "dataset_sentence_pairs"})
      loader.load(std::string(STAGEHAND_PLUGIN_DIR) + "/" + name + ".so", "test");
    return r;
  }();
  return *reg;
}

std::string wordpiece() {
  return fmt::format("{{type: wordpiece, vocab: {}/tokenizers/bert-base-uncased-vocab.txt}}", STAGEHAND_TEST_DATA);
}
std::string glue_dir(const std::string& task) { return (fs::path(STAGEHAND_TEST_DATA) / "glue" / task).string(); }

std::shared_ptr<Dataset> make(const std::string& type, const std::string& options) {
  stagehand::BuildContext ctx;
  ctx.registry = &registry();
  ctx.seed = 1;
  return registry().create<Dataset>(
      stagehand::parse_yaml(fmt::format("{{type: {}, tokenizer: {}, {}}}", type, wordpiece(), options), "test"), ctx);
}
std::shared_ptr<Dataset> glue(const std::string& task, const std::string& dir, const std::string& more = "") {
  return make("glue", fmt::format("task: {}, data_dir: {}{}{}", task, dir, more.empty() ? "" : ", ", more));
}

std::vector<int64_t> all(const Dataset& d, const std::string& split) {
  std::vector<int64_t> v(static_cast<size_t>(d.size(split)));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// The non-padding values of row r of tensor `name` (per `mask`, default: the matching attention mask).
std::vector<int64_t> row(const Batch& b, const std::string& name, int64_t r, const std::string& prefix = "") {
  std::vector<int64_t> out;
  auto t = b.at(prefix + name)[r];
  auto m = b.at(prefix + "attention_mask")[r];
  for (int64_t c = 0; c < t.size(0); ++c)
    if (m[c].item<int64_t>()) out.push_back(t[c].item<int64_t>());
  return out;
}
std::vector<int64_t> longs(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}
std::vector<float> floats(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
using Ids = std::vector<std::string>;

class SentencePairsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry().find("dataset", "glue")) << "dataset_sentence_pairs.so not loaded";
  }
  std::string write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  sh_test::TempFolder folder_;  // this test's own, removed after it
  const fs::path dir_ = folder_.path();
};

// ------------------------------------------------------------------------------------------------ GLUE layouts

TEST_F(SentencePairsTest, MrpcCrossEncodingIdsLabelsAndUnlabelledTest) {
  auto d = glue("mrpc", glue_dir("MRPC"));
  EXPECT_EQ(d->splits(), (Ids{"train", "validation", "test"}));
  EXPECT_EQ(d->size("train"), 3);
  EXPECT_EQ(d->size("validation"), 2);
  EXPECT_EQ(d->size("test"), 2);
  EXPECT_EQ(d->labels(), (Ids{"0", "1"}));
  EXPECT_EQ(d->hints().at("num_labels"), 2);
  EXPECT_EQ(d->hints().at("pad_id"), 0);
  EXPECT_EQ(d->hints().at("vocab_size"), 30522);

  Batch b = d->batch("train", all(*d, "train"));
  // MRPC's train/dev files have no id column: the line number (the header is line 1).
  EXPECT_EQ(b.ids, (Ids{"train:2", "train:3", "train:4"}));
  EXPECT_EQ(longs(b.at("labels")), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_FALSE(b.has("a.input_ids"));
  EXPECT_EQ(row(b, "input_ids", 0), (std::vector<int64_t>{kCls, kThe, kCat, kSat, kSep, kA, kDog, kRan, kSep}));
  EXPECT_EQ(row(b, "token_type_ids", 0), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 1, 1}));
  // No quoting: the field '"Stocks fell," the report said.' keeps its quotes.
  EXPECT_EQ(row(b, "input_ids", 1)[1], kQuote);
  // Padding to the longest row, row 1: [CLS] " stocks fell , " the report said . [SEP] (11) + the dog ran quickly
  // on the mat . [SEP] (9) = 20; row 2 has 18 tokens.
  EXPECT_EQ(b.at("input_ids").sizes(), (std::vector<int64_t>{3, 20}));
  EXPECT_EQ(row(b, "input_ids", 1).size(), 20u);
  EXPECT_EQ(row(b, "input_ids", 2), (std::vector<int64_t>{kCls, kThe, kCat, kSat, kOn, kThe, kMat, kDot, kSep, kA,
                                                          kCat, kWas, kSitting, kOn, kThe, kMat, kDot, kSep}));
  std::vector<int64_t> mask2(20, 1);
  mask2[18] = mask2[19] = 0;
  EXPECT_EQ(longs(b.at("attention_mask")[2]), mask2);
  EXPECT_EQ(longs(b.at("input_ids")[0]).back(), 0);  // [PAD]

  Batch v = d->batch("validation", all(*d, "validation"));
  EXPECT_EQ(v.ids, (Ids{"validation:2", "validation:3"}));
  EXPECT_EQ(longs(v.at("labels")), (std::vector<int64_t>{0, 1}));
  // GLUE's MRPC test file: `index #1 ID #2 ID #1 String #2 String`, no Quality: ids from the index, no labels.
  Batch t = d->batch("test", all(*d, "test"));
  EXPECT_EQ(t.ids, (Ids{"test:0", "test:1"}));
  EXPECT_FALSE(t.has("labels"));
  EXPECT_TRUE(t.has("input_ids"));
}

TEST_F(SentencePairsTest, SiameseEncodesEachSentenceAloneAndPadsBothAlike) {
  auto d = glue("mrpc", glue_dir("MRPC"), "encoding: siamese");
  Batch b = d->batch("train", {0, 2});
  EXPECT_FALSE(b.has("input_ids"));
  EXPECT_EQ(row(b, "input_ids", 0, "a."), (std::vector<int64_t>{kCls, kThe, kCat, kSat, kSep}));
  EXPECT_EQ(row(b, "input_ids", 0, "b."), (std::vector<int64_t>{kCls, kA, kDog, kRan, kSep}));
  EXPECT_EQ(row(b, "input_ids", 1, "a."), (std::vector<int64_t>{kCls, kThe, kCat, kSat, kOn, kThe, kMat, kDot, kSep}));
  EXPECT_EQ(row(b, "input_ids", 1, "b."),
            (std::vector<int64_t>{kCls, kA, kCat, kWas, kSitting, kOn, kThe, kMat, kDot, kSep}));
  // a and b share the batch's longest length (10, from b of row 1); token types are all 0.
  for (const char* p : {"a.", "b."}) {
    EXPECT_EQ(b.at(std::string(p) + "input_ids").sizes(), (std::vector<int64_t>{2, 10})) << p;
    EXPECT_EQ(b.at(std::string(p) + "attention_mask").sizes(), (std::vector<int64_t>{2, 10})) << p;
    EXPECT_EQ(b.at(std::string(p) + "token_type_ids").abs().sum().item<int64_t>(), 0) << p;
  }
  EXPECT_EQ(longs(b.at("a.attention_mask")[0]), (std::vector<int64_t>{1, 1, 1, 1, 1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(longs(b.at("labels")), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(b.ids, (Ids{"train:2", "train:4"}));
}

TEST_F(SentencePairsTest, TruncationIsLongestFirstForCrossAndPerSentenceForSiamese) {
  // cross, max_length 6: 3 special tokens leave 3 of the 3 + 3 pieces; ties drop from b: b 2, a 2, b 1.
  auto cross = glue("mrpc", glue_dir("MRPC"), "max_length: 6");
  Batch c = cross->batch("train", {0});
  EXPECT_EQ(row(c, "input_ids", 0), (std::vector<int64_t>{kCls, kThe, kCat, kSep, kA, kSep}));
  EXPECT_EQ(row(c, "token_type_ids", 0), (std::vector<int64_t>{0, 0, 0, 0, 1, 1}));
  // siamese, max_length 4: each [CLS] s [SEP] keeps 2 pieces.
  auto siamese = glue("mrpc", glue_dir("MRPC"), "max_length: 4, encoding: siamese");
  Batch s = siamese->batch("train", {0, 2});
  EXPECT_EQ(row(s, "input_ids", 0, "a."), (std::vector<int64_t>{kCls, kThe, kCat, kSep}));
  EXPECT_EQ(row(s, "input_ids", 0, "b."), (std::vector<int64_t>{kCls, kA, kDog, kSep}));
  EXPECT_EQ(row(s, "input_ids", 1, "b."), (std::vector<int64_t>{kCls, kA, kCat, kSep}));
  EXPECT_NE(error_of([&] { glue("mrpc", glue_dir("MRPC"), "max_length: 3"); }).find("max_length 3 leaves no room"),
            std::string::npos);
}

TEST_F(SentencePairsTest, QqpIdsFromTheIdColumnAndTestLayout) {
  auto d = glue("qqp", glue_dir("QQP"));
  EXPECT_EQ(d->labels(), (Ids{"0", "1"}));
  Batch b = d->batch("train", all(*d, "train"));
  EXPECT_EQ(b.ids, (Ids{"train:10", "train:11", "train:12"}));
  EXPECT_EQ(longs(b.at("labels")), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(d->batch("validation", {0}).ids, (Ids{"validation:20"}));
  Batch t = d->batch("test", all(*d, "test"));  // `id question1 question2`
  EXPECT_EQ(t.ids, (Ids{"test:0", "test:1"}));
  EXPECT_FALSE(t.has("labels"));
  // test: "Can cats swim?" / "Do cats like water?" read from columns 1 and 2.
  auto tok_row = row(t, "input_ids", 0);
  EXPECT_EQ(std::count(tok_row.begin(), tok_row.end(), kSep), 2);
  EXPECT_EQ(std::count(tok_row.begin(), tok_row.end(), int64_t{8870}), 2);  // "cats" twice
}

TEST_F(SentencePairsTest, QnliAndRteUseGlueLabelOrder) {
  for (const char* task : {"qnli", "rte"}) {
    auto d = glue(task, glue_dir(task == std::string("qnli") ? "QNLI" : "RTE"));
    EXPECT_EQ(d->labels(), (Ids{"entailment", "not_entailment"})) << task;
    Batch b = d->batch("train", all(*d, "train"));
    EXPECT_EQ(longs(b.at("labels")), (std::vector<int64_t>{0, 1, 0})) << task;
    EXPECT_EQ(b.ids, (Ids{"train:0", "train:1", "train:2"})) << task;
    EXPECT_EQ(longs(d->batch("validation", {0}).at("labels")), (std::vector<int64_t>{1})) << task;
    EXPECT_FALSE(d->batch("test", {0, 1}).has("labels")) << task;
  }
}

TEST_F(SentencePairsTest, StsbIsARegressionWithFloatLabels) {
  auto d = glue("sts-b", glue_dir("STS-B"));
  EXPECT_TRUE(d->labels().empty());
  EXPECT_EQ(d->hints().at("num_labels"), 1);
  Batch b = d->batch("train", all(*d, "train"));
  EXPECT_EQ(b.at("labels").scalar_type(), torch::kFloat32);
  EXPECT_EQ(floats(b.at("labels")), (std::vector<float>{4.75f, 0.0f, 3.5f}));
  // sentence1 (column 7) and sentence2 (column 8): "The dog ran." / "Stocks fell sharply."
  EXPECT_EQ(row(b, "input_ids", 1)[1], kThe);
  EXPECT_EQ(row(b, "input_ids", 1)[2], kDog);
  EXPECT_EQ(floats(d->batch("validation", {0}).at("labels")), (std::vector<float>{5.0f}));
  EXPECT_FALSE(d->batch("test", {0}).has("labels"));
}

TEST_F(SentencePairsTest, MnliMatchedMismatchedThreeClasses) {
  auto m = glue("mnli", glue_dir("MNLI"));
  EXPECT_EQ(m->labels(), (Ids{"contradiction", "entailment", "neutral"}));
  EXPECT_EQ(m->hints().at("num_labels"), 3);
  EXPECT_EQ(longs(m->batch("train", all(*m, "train")).at("labels")), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(m->size("validation"), 2);  // dev_matched.tsv (16 columns: label1..label5, gold_label)
  EXPECT_EQ(longs(m->batch("validation", {0, 1}).at("labels")), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(m->size("test"), 1);  // test_matched.tsv, no labels
  EXPECT_FALSE(m->batch("test", {0}).has("labels"));
  // sentence1 is column 8: "The cat sat on the mat." / "A cat is sitting."
  EXPECT_EQ(row(m->batch("train", {0}), "input_ids", 0)[2], kCat);

  auto mm = glue("mnli-mm", glue_dir("MNLI"));
  EXPECT_EQ(mm->size("validation"), 1);  // dev_mismatched.tsv
  EXPECT_EQ(longs(mm->batch("validation", {0}).at("labels")), (std::vector<int64_t>{0}));
  EXPECT_FALSE(mm->has_split("test"));  // no test_mismatched.tsv in the fixture
}

TEST_F(SentencePairsTest, SnliSkipsNoConsensusAndAllnliJoinsMnliAndSnli) {
  auto s = glue("snli", glue_dir("SNLI"));
  EXPECT_EQ(s->size("train"), 3);
  EXPECT_EQ(s->hints().at("skipped_records"), 1);
  Batch b = s->batch("train", all(*s, "train"));
  EXPECT_EQ(b.ids, (Ids{"train:0", "train:1", "train:3"}));
  EXPECT_EQ(longs(b.at("labels")), (std::vector<int64_t>{1, 0, 2}));
  // SNLI's sentence1 is column 7 (no genre column): "A man plays a guitar."
  EXPECT_EQ(row(b, "input_ids", 0)[1], kA);

  auto all_nli = glue("allnli", (fs::path(STAGEHAND_TEST_DATA) / "glue").string());
  EXPECT_EQ(all_nli->size("train"), 6);
  Batch t = all_nli->batch("train", all(*all_nli, "train"));
  EXPECT_EQ(t.ids, (Ids{"train:mnli:0", "train:mnli:1", "train:mnli:2", "train:snli:0", "train:snli:1",
                        "train:snli:3"}));
  EXPECT_EQ(longs(t.at("labels")), (std::vector<int64_t>{1, 0, 2, 1, 0, 2}));
  EXPECT_EQ(all_nli->batch("validation", {0, 1}).ids, (Ids{"validation:mnli:0", "validation:mnli:1"}));
  EXPECT_EQ(all_nli->size("test"), 1);
}

TEST_F(SentencePairsTest, IdsAreStableUniqueAndIndependentOfBatchOrder) {
  auto d = glue("mrpc", glue_dir("MRPC"), "threads: 3");
  auto again = glue("mrpc", glue_dir("MRPC"), "threads: 1");
  std::set<std::string> seen;
  size_t n = 0;
  for (const auto& split : d->splits()) {
    Batch forward = d->batch(split, all(*d, split));
    std::vector<int64_t> back = all(*d, split);
    std::reverse(back.begin(), back.end());
    Batch reverse = d->batch(split, back);
    EXPECT_EQ(again->batch(split, all(*d, split)).ids, forward.ids) << split;
    for (size_t i = 0; i < forward.ids.size(); ++i) {
      const size_t j = forward.ids.size() - 1 - i;
      EXPECT_EQ(reverse.ids[j], forward.ids[i]);
      EXPECT_EQ(row(reverse, "input_ids", static_cast<int64_t>(j)), row(forward, "input_ids", static_cast<int64_t>(i)));
      seen.insert(forward.ids[i]);
      ++n;
    }
  }
  EXPECT_EQ(seen.size(), n);
  EXPECT_EQ(n, 7u);
}

// ------------------------------------------------------------------------------------------------ sentence_pairs

TEST_F(SentencePairsTest, SentencePairsJsonl) {
  const fs::path p = fs::path(STAGEHAND_TEST_DATA) / "glue" / "pairs";
  auto d = make("sentence_pairs", fmt::format("train: {}, validation: {}, test: {}", (p / "train.jsonl").string(),
                                              (p / "dev.jsonl").string(), (p / "test.jsonl").string()));
  EXPECT_EQ(d->labels(), (Ids{"different", "same"}));  // sorted train labels
  Batch b = d->batch("train", all(*d, "train"));
  EXPECT_EQ(b.ids, (Ids{"p1", "7", "train:4"}));  // string id, integer id, "<split>:<line>" (line 3 is blank)
  EXPECT_EQ(longs(b.at("labels")), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(row(b, "input_ids", 0), (std::vector<int64_t>{kCls, kThe, kCat, kSat, kSep, kA, kDog, kRan, kSep}));
  EXPECT_EQ(d->batch("validation", {0, 1}).ids, (Ids{"validation:1", "validation:2"}));
  Batch t = d->batch("test", {0, 1});
  EXPECT_EQ(t.ids, (Ids{"t1", "t2"}));
  EXPECT_FALSE(t.has("labels"));

  auto fixed = make("sentence_pairs", fmt::format("train: {}, labels: [same, different], encoding: siamese",
                                                  (p / "train.jsonl").string()));
  Batch f = fixed->batch("train", {0, 1});
  EXPECT_EQ(longs(f.at("labels")), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(row(f, "input_ids", 0, "b."), (std::vector<int64_t>{kCls, kA, kDog, kRan, kSep}));

  const std::string reg = write("reg.jsonl",
                                "{\"a\": \"the cat\", \"b\": \"a dog\", \"label\": 2.5}\n"
                                "{\"a\": \"the cat\", \"b\": \"a dog\", \"label\": \"4\"}\n");
  auto r = make("sentence_pairs", fmt::format("train: {}, regression: true", reg));
  EXPECT_EQ(floats(r->batch("train", {0, 1}).at("labels")), (std::vector<float>{2.5f, 4.0f}));
  EXPECT_EQ(r->hints().at("num_labels"), 1);
  EXPECT_TRUE(r->labels().empty());
  // Integer labels sort numerically.
  const std::string num = write("num.jsonl",
                                "{\"a\": \"x\", \"b\": \"y\", \"label\": 10}\n"
                                "{\"a\": \"x\", \"b\": \"y\", \"label\": 9}\n");
  EXPECT_EQ(make("sentence_pairs", "train: " + num)->labels(), (Ids{"9", "10"}));
}

// ------------------------------------------------------------------------------------------------ errors

void expect_one_line(const std::string& message) {
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message, "(no error)");
}

TEST_F(SentencePairsTest, BadColumnCountFailsWithFileLineOrIsSkipped) {
  const std::string header = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n";
  write("QQP/train.tsv", header + "1\t1\t2\tHow?\tWhy?\t0\n2\t3\t4\tbroken line\t1\n3\t5\t6\tWho?\tWhom?\t1\n");
  write("QQP/dev.tsv", header + "4\t7\t8\tWhat?\tWhich?\t0\n");
  const std::string e = error_of([&] { glue("qqp", (dir_ / "QQP").string()); });
  expect_one_line(e);
  EXPECT_NE(e.find((dir_ / "QQP" / "train.tsv").string() + ":3: malformed record: 5 tab-separated column(s), "
                                                            "expected 6 as in the header"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("on_bad_record: skip"), std::string::npos) << e;
  auto d = glue("qqp", (dir_ / "QQP").string(), "on_bad_record: skip");
  EXPECT_EQ(d->size("train"), 2);
  EXPECT_EQ(d->hints().at("skipped_records"), 1);
  EXPECT_EQ(d->batch("train", {0, 1}).ids, (Ids{"train:1", "train:3"}));
}

TEST_F(SentencePairsTest, UnknownLabelsAreErrors) {
  const std::string header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n";
  write("MRPC/train.tsv", header + "1\t1\t2\tthe cat\ta dog\n2\t3\t4\tthe cat\ta dog\n");
  write("MRPC/dev.tsv", header + "0\t5\t6\tthe cat\ta dog\n");
  std::string e = error_of([&] { glue("mrpc", (dir_ / "MRPC").string()); });
  expect_one_line(e);
  EXPECT_NE(e.find("train.tsv:3: malformed record: label '2' in column 'Quality' is not one of mrpc's labels (0, 1)"),
            std::string::npos)
      << e;
  write("STS-B/train.tsv",
        "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
        "0\tg\tf\ty\to\ts\ts\tthe cat\ta dog\t5.5\n");
  write("STS-B/dev.tsv", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n");
  e = error_of([&] { glue("sts-b", (dir_ / "STS-B").string()); });
  EXPECT_NE(e.find("train.tsv:2: malformed record: score '5.5' in column 'score' is not a number in [0, 5]"),
            std::string::npos)
      << e;

  const std::string train = write("train.jsonl", "{\"a\": \"x\", \"b\": \"y\", \"label\": \"yes\"}\n");
  const std::string dev = write("dev.jsonl", "\n{\"a\": \"x\", \"b\": \"y\", \"label\": \"maybe\"}\n");
  e = error_of([&] { make("sentence_pairs", fmt::format("train: {}, validation: {}", train, dev)); });
  expect_one_line(e);
  EXPECT_NE(e.find(dev + ":2: label 'maybe' is not one of the 1 known labels (yes), which come from the train file"),
            std::string::npos)
      << e;
}

TEST_F(SentencePairsTest, MissingFilesHeadersAndRecordErrorsAreOneClearLine) {
  write("MRPC/train.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tthe cat\ta dog\n");
  std::string e = error_of([&] { glue("mrpc", (dir_ / "MRPC").string()); });
  expect_one_line(e);
  EXPECT_NE(e.find("glue: no validation file '" + (dir_ / "MRPC" / "dev.tsv").string() + "' for task mrpc"),
            std::string::npos)
      << e;
  // The wrong task for a folder: its header lacks the task's columns.
  e = error_of([&] { glue("qqp", glue_dir("MRPC")); });
  expect_one_line(e);
  EXPECT_NE(e.find("MRPC/train.tsv:1: not a GLUE qqp header: it needs the columns 'question1', 'question2' and "
                   "'is_duplicate'"),
            std::string::npos)
      << e;
  // Duplicate ids.
  const std::string header = "index\tsentence1\tsentence2\tlabel\n";
  write("RTE/train.tsv", header + "0\ta\tb\tentailment\n0\tc\td\tentailment\n");
  write("RTE/dev.tsv", header + "0\ta\tb\tentailment\n");
  e = error_of([&] { glue("rte", (dir_ / "RTE").string()); });
  expect_one_line(e);
  EXPECT_NE(e.find("train.tsv:3: example id 'train:0' is already used at " + (dir_ / "RTE" / "train.tsv").string() +
                   ":2"),
            std::string::npos)
      << e;
  // JSON lines: bad JSON, a missing field, labels in some records only.
  std::string f = write("bad.jsonl", "{\"a\": \"x\", \"b\": \"y\", \"label\": 1}\n{\"a\": \"x\", \"b\": \n");
  e = error_of([&] { make("sentence_pairs", "train: " + f); });
  expect_one_line(e);
  EXPECT_NE(e.find(f + ":2: malformed record: not valid JSON"), std::string::npos) << e;
  f = write("missing.jsonl", "{\"a\": \"x\", \"label\": 1}\n");
  e = error_of([&] { make("sentence_pairs", "train: " + f); });
  EXPECT_NE(e.find(f + ":1: malformed record: no field 'b' (a string)"), std::string::npos) << e;
  f = write("mixed.jsonl", "{\"a\": \"x\", \"b\": \"y\", \"label\": 1}\n{\"a\": \"x\", \"b\": \"y\"}\n");
  e = error_of([&] { make("sentence_pairs", "train: " + f); });
  expect_one_line(e);
  EXPECT_NE(e.find(f + ":2: this record has no 'label' but the file's first record (line 1) has one"),
            std::string::npos)
      << e;
  f = write("noreg.jsonl", "{\"a\": \"x\", \"b\": \"y\", \"label\": \"high\"}\n");
  e = error_of([&] { make("sentence_pairs", "regression: true, train: " + f); });
  EXPECT_NE(e.find(f + ":1: malformed record: label 'high' is not a number (regression: true)"), std::string::npos)
      << e;
}

// The shipped paraphrase task (data/paraphrase/bible_mrpc) reads as MRPC, every split labelled and balanced.
TEST_F(SentencePairsTest, ShippedBibleMrpc) {
  auto d = glue("mrpc", (fs::path(STAGEHAND_SOURCE_DIR) / "data" / "paraphrase" / "bible_mrpc").string(),
                "encoding: siamese, max_length: 64");
  EXPECT_EQ(d->size("train"), 2400);
  EXPECT_EQ(d->size("validation"), 400);
  EXPECT_EQ(d->size("test"), 800);
  for (const auto& split : d->splits()) {
    Batch b = d->batch(split, all(*d, split));
    ASSERT_TRUE(b.has("labels")) << split;
    EXPECT_EQ(b.at("labels").sum().item<int64_t>() * 2, d->size(split)) << split;
  }
}

}  // namespace
