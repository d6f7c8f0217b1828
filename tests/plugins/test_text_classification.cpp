// SPDX-License-Identifier: Apache-2.0
// The text_classification dataset, loaded for real with ALBERT's SentencePiece model (ids below are spm_encode's:
// ▁one 53, ▁two 81, ▁three 132, ▁four 222, ▁five 355, ▁six 490, ▁seven 810; <pad> 0, [CLS] 2, [SEP] 3).
//  - JSONL, CSV and TSV (RFC 4180 quoting, CRLF, no header), field mapping, ids, pairs with segment ids and
//    longest-first truncation;
//  - the label vocabulary (sorted, numeric, fixed, lowercased) and unknown labels at test time;
//  - malformed records: fail with file:line, or skip and count; configuration errors;
//  - has_header: auto, and format: blurb (BioBERT/BLURB relation TSV: 2 or 3 columns, optional header, per file);
//  - the shipped data/spam files and data/re/gad_fixture.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>

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

torch::Tensor matrix(std::vector<int64_t> values, int64_t cols) {
  const auto rows = static_cast<int64_t>(values.size()) / cols;
  return torch::tensor(values, torch::kInt64).view({rows, cols});
}
torch::Tensor vec(std::vector<int64_t> values) { return torch::tensor(values, torch::kInt64); }

std::vector<int64_t> all_indices(const Dataset& d, const std::string& split) {
  std::vector<int64_t> v(static_cast<size_t>(d.size(split)));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

class TextClassificationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new stagehand::Registry;
    loader_ = new stagehand::PluginLoader(*registry_);
    loader_->load(std::string(STAGEHAND_PLUGIN_DIR) + "/tokenizer_sentencepiece.so");
    loader_->load(std::string(STAGEHAND_PLUGIN_DIR) + "/dataset_text_classification.so");
  }
  static void TearDownTestSuite() {
    delete loader_;
    delete registry_;
  }
  void SetUp() override {
    ASSERT_TRUE(registry_->find("dataset", "text_classification")) << "dataset_text_classification.so not loaded";
    ASSERT_TRUE(registry_->find("tokenizer", "sentencepiece")) << "tokenizer_sentencepiece.so not loaded";
  }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  static std::string tokenizer_spec() {
    return fmt::format("{{type: sentencepiece, model: {}}}",
                       (fs::path(STAGEHAND_TEST_DATA) / "tokenizers" / "albert-30k-clean.model").string());
  }
  stagehand::BuildContext context() const {
    stagehand::BuildContext ctx;
    ctx.registry = registry_;
    ctx.seed = 1;
    return ctx;
  }
  std::shared_ptr<Dataset> make(const std::string& options) {
    std::string spec = fmt::format("{{type: text_classification, tokenizer: {}, {}}}", tokenizer_spec(), options);
    return registry_->create<Dataset>(stagehand::parse_yaml(spec, "test"), context());
  }
  // The message of the error that building with `options` throws ("" if it builds).
  std::string error_of(const std::string& options) {
    try {
      make(options);
    } catch (const stagehand::Error& e) {
      return e.what();
    }
    return "";
  }
  std::vector<int64_t> encode(const std::string& text) {
    auto tok = registry_->create<stagehand::Tokenizer>(stagehand::parse_yaml(tokenizer_spec(), "test"), context());
    auto e = tok->encode(text);
    return std::vector<int64_t>(e.ids.begin(), e.ids.end());
  }
  static std::vector<int64_t> row(const Batch& b, int64_t r) {
    std::vector<int64_t> out;
    auto ids = b.at("input_ids")[r];
    auto mask = b.at("attention_mask")[r];
    for (int64_t c = 0; c < ids.size(0); ++c)
      if (mask[c].item<int64_t>()) out.push_back(ids[c].item<int64_t>());
    return out;
  }

  static stagehand::Registry* registry_;
  static stagehand::PluginLoader* loader_;
  sh_test::TempFolder folder_;  // this test's own, removed after it
  const fs::path dir_ = folder_.path();
};
stagehand::Registry* TextClassificationTest::registry_ = nullptr;
stagehand::PluginLoader* TextClassificationTest::loader_ = nullptr;

TEST_F(TextClassificationTest, JsonlFieldsLabelsIdsAndBatches) {
  std::string train = write("train.jsonl",
                            "{\"text\": \"one two\", \"label\": \"pos\", \"uid\": \"a\"}\n"
                            "{\"text\": \"three\", \"label\": \"neg\", \"uid\": \"b\"}\n"
                            "\n"
                            "{\"text\": \"four five six\", \"label\": \"neutral\", \"uid\": 7}\n");
  std::string test = write("test.jsonl", "{\"text\": \"seven\", \"label\": \"pos\", \"uid\": \"t1\"}\n");
  auto d = make(fmt::format("train: {}, test: {}, id_field: uid", train, test));
  EXPECT_EQ(d->splits(), (std::vector<std::string>{"train", "test"}));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"neg", "neutral", "pos"}));  // sorted train labels
  EXPECT_EQ(d->size("train"), 3);
  EXPECT_EQ(d->size("test"), 1);
  Batch b = d->batch("train", {0, 1, 2});
  EXPECT_EQ(b.ids, (std::vector<std::string>{"a", "b", "7"}));
  EXPECT_TRUE(b.at("input_ids")
                  .equal(matrix({kCls, 53, 81, kSep, kPad,     //
                                 kCls, 132, kSep, kPad, kPad,  //
                                 kCls, 222, 355, 490, kSep},
                                5)))
      << b.at("input_ids");
  EXPECT_TRUE(b.at("attention_mask").equal(matrix({1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, 5)));
  EXPECT_TRUE(b.at("token_type_ids").equal(torch::zeros({3, 5}, torch::kInt64)));
  EXPECT_TRUE(b.at("labels").equal(vec({2, 0, 1}))) << b.at("labels");
  Batch t = d->batch("test", {0});
  EXPECT_EQ(t.ids, std::vector<std::string>{"t1"});
  EXPECT_TRUE(t.at("labels").equal(vec({2})));
  auto h = d->hints();
  EXPECT_EQ(h.at("num_labels"), 3);
  EXPECT_EQ(h.at("vocab_size"), 30000);
  EXPECT_EQ(h.at("pad_id"), kPad);
  EXPECT_EQ(h.at("skipped_records"), 0);

  // Without id_field the id is the line number (blank lines count).
  auto by_line = make(fmt::format("train: {}", train));
  EXPECT_EQ(by_line->batch("train", {0, 1, 2}).ids, (std::vector<std::string>{"1", "2", "4"}));
  EXPECT_EQ(by_line->splits(), std::vector<std::string>{"train"});
  std::string err;
  try {
    by_line->size("validation");
  } catch (const stagehand::Error& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("no split 'validation'; its splits are: train"), std::string::npos) << err;
}

TEST_F(TextClassificationTest, LabelVocabularyOrder) {
  std::string train = write("train.jsonl",
                            "{\"text\": \"one\", \"label\": \"POS\"}\n"
                            "{\"text\": \"two\", \"label\": \"neg\"}\n"
                            "{\"text\": \"three\", \"label\": \"Neutral\"}\n");
  // A fixed order wins over sorting; lowercase_labels applies to the files and to the list.
  auto fixed = make(fmt::format("train: {}, labels: [Pos, neg, neutral], lowercase_labels: true", train));
  EXPECT_EQ(fixed->labels(), (std::vector<std::string>{"pos", "neg", "neutral"}));
  EXPECT_TRUE(fixed->batch("train", {0, 1, 2}).at("labels").equal(vec({0, 1, 2})));
  auto lowered = make(fmt::format("train: {}, lowercase_labels: true", train));
  EXPECT_EQ(lowered->labels(), (std::vector<std::string>{"neg", "neutral", "pos"}));
  // Case matters otherwise (byte order: capitals first).
  EXPECT_EQ(make(fmt::format("train: {}", train))->labels(), (std::vector<std::string>{"Neutral", "POS", "neg"}));
  // Integer labels (JSON numbers or strings) sort numerically.
  std::string numeric = write("n.jsonl",
                              "{\"text\": \"one\", \"label\": 10}\n"
                              "{\"text\": \"two\", \"label\": \"2\"}\n"
                              "{\"text\": \"three\", \"label\": 1}\n");
  auto n = make(fmt::format("train: {}", numeric));
  EXPECT_EQ(n->labels(), (std::vector<std::string>{"1", "2", "10"}));
  EXPECT_TRUE(n->batch("train", {0, 1, 2}).at("labels").equal(vec({2, 1, 0})));
  // A train label outside a fixed list is an error too.
  std::string err = error_of(fmt::format("train: {}, labels: [pos, neg]", train));
  EXPECT_NE(err.find("train.jsonl:1: label 'POS' is not one of the 2 known labels (pos, neg), which 'labels' lists"),
            std::string::npos)
      << err;
}

TEST_F(TextClassificationTest, UnknownLabelAtTestTimeNamesFileLineLabelAndKnownOnes) {
  std::string train = write("train.jsonl",
                            "{\"text\": \"one\", \"label\": \"pos\"}\n"
                            "{\"text\": \"two\", \"label\": \"neg\"}\n");
  std::string test = write("test.jsonl",
                           "{\"text\": \"three\", \"label\": \"neg\"}\n"
                           "{\"text\": \"four\", \"label\": \"maybe\"}\n");
  std::string err = error_of(fmt::format("train: {}, test: {}", train, test));
  EXPECT_NE(err.find(fmt::format("{}:2: label 'maybe' is not one of the 2 known labels (neg, pos), which come from "
                                 "the train file",
                                 test)),
            std::string::npos)
      << err;
  // Even when malformed records are skipped: an unknown label is not a malformed record.
  EXPECT_NE(error_of(fmt::format("train: {}, test: {}, on_bad_record: skip", train, test)).find("'maybe'"),
            std::string::npos);
  // Without a train file the classes must be listed.
  err = error_of(fmt::format("test: {}", test));
  EXPECT_NE(err.find("no 'train' file to learn the labels from; list them in 'labels'"), std::string::npos) << err;
  auto listed = make(fmt::format("test: {}, labels: [neg, maybe]", test));
  EXPECT_TRUE(listed->batch("test", {0, 1}).at("labels").equal(vec({0, 1})));
}

TEST_F(TextClassificationTest, CsvQuotingCrlfAndFieldMapping) {
  std::string csv = write("train.csv",
                          "id,sentence,label\n"
                          "r1,\"one, two\",pos\n"
                          "r2,\"he said \"\"three\"\"\",neg\n"
                          "r3,\"four\n"
                          "five\",pos\n"
                          "r4,six \"seven\",neg\n");
  auto d = make(fmt::format("train: {}, text_field: sentence, id_field: id", csv));
  ASSERT_EQ(d->size("train"), 4);
  Batch b = d->batch("train", {0, 1, 2, 3});
  EXPECT_EQ(b.ids, (std::vector<std::string>{"r1", "r2", "r3", "r4"}));
  EXPECT_EQ(row(b, 0), encode("one, two"));
  EXPECT_EQ(row(b, 1), encode("he said \"three\""));
  EXPECT_EQ(row(b, 2), encode("four\nfive"));
  EXPECT_EQ(row(b, 3), encode("six \"seven\""));                         // quotes inside an unquoted field are literal
  EXPECT_EQ(row(b, 0), (std::vector<int64_t>{kCls, 53, 15, 81, kSep}));  // ▁one , ▁two (spm_encode)
  EXPECT_TRUE(b.at("labels").equal(vec({1, 0, 1, 0})));
  // Default ids: the line each record starts on (the header is line 1; r3 spans lines 4 and 5).
  auto by_line = make(fmt::format("train: {}, text_field: sentence", csv));
  EXPECT_EQ(by_line->batch("train", {0, 1, 2, 3}).ids, (std::vector<std::string>{"2", "3", "4", "6"}));

  // CRLF line ends and a byte order mark change nothing.
  std::string crlf = write("crlf.csv", "\xEF\xBB\xBFsentence,label\r\n\"one, two\",pos\r\nthree,neg\r\n");
  auto c = make(fmt::format("train: {}, text_field: sentence", crlf));
  EXPECT_EQ(c->labels(), (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(row(c->batch("train", {0}), 0), encode("one, two"));
  EXPECT_EQ(row(c->batch("train", {1}), 0), (std::vector<int64_t>{kCls, 132, kSep}));

  // Found by fuzz/fuzz_records.cpp: labels were trimmed of spaces and tabs only, so a quoted "pos\n" was a class of
  // its own and a label of vertical tabs was not empty.
  std::string ws = write("ws.csv", "sentence,label\none,\"pos\n\"\ntwo,pos\nthree,\"\tneg\r\"\n");
  auto w = make(fmt::format("train: {}, text_field: sentence", ws));
  EXPECT_EQ(w->labels(), (std::vector<std::string>{"neg", "pos"}));
  std::string vt = write("vt.csv", "sentence,label\none,pos\ntwo,\v\v\n");
  const std::string err = error_of(fmt::format("train: {}, text_field: sentence", vt));
  EXPECT_NE(err.find("vt.csv:3: malformed record: empty label"), std::string::npos) << err;
}

TEST_F(TextClassificationTest, TsvWithAndWithoutHeaderAndExplicitFormat) {
  std::string tsv = write("train.tsv",
                          "gold\ttext\tnote\n"
                          "pos\tone two\tx\n"
                          "neg\t\"three\tfour\"\ty\n");
  auto d = make(fmt::format("train: {}, label_field: gold", tsv));
  ASSERT_EQ(d->size("train"), 2);
  Batch b = d->batch("train", {0, 1});
  EXPECT_EQ(row(b, 0), (std::vector<int64_t>{kCls, 53, 81, kSep}));
  EXPECT_EQ(row(b, 1), (std::vector<int64_t>{kCls, 132, 222, kSep}));
  EXPECT_TRUE(b.at("labels").equal(vec({1, 0})));

  // No header: fields are column numbers; `format` overrides the extension.
  std::string plain = write("plain.txt", "pos\tone two\nneg\tthree\n");
  auto n = make(fmt::format("train: {}, format: tsv, has_header: false, text_field: '1', label_field: '0'", plain));
  EXPECT_EQ(n->size("train"), 2);
  EXPECT_EQ(row(n->batch("train", {1}), 0), (std::vector<int64_t>{kCls, 132, kSep}));
  std::string err = error_of(fmt::format("train: {}, format: tsv, has_header: false", plain));
  EXPECT_NE(err.find("text_field is 'text', but has_header is false, so fields are column numbers"), std::string::npos)
      << err;
  err = error_of(fmt::format("train: {}", plain));
  EXPECT_NE(err.find("cannot tell the format of"), std::string::npos) << err;
  EXPECT_NE(err.find("set format: jsonl | csv | tsv"), std::string::npos) << err;
  err = error_of(fmt::format("train: {}", tsv));
  EXPECT_NE(err.find("train.tsv:1: the header has no column 'label' (its columns: gold, text, note); set label_field"),
            std::string::npos)
      << err;
}

TEST_F(TextClassificationTest, PairsGetSegmentIdsAndLongestFirstTruncation) {
  std::string train =
      write("pairs.jsonl",
            "{\"premise\": \"one two\", \"hypothesis\": \"three\", \"label\": \"yes\"}\n"
            "{\"premise\": \"one two three four five\", \"hypothesis\": \"six\", \"label\": \"no\"}\n"
            "{\"premise\": \"seven\", \"hypothesis\": \"one two three four five\", \"label\": \"no\"}\n");
  auto d = make(fmt::format("train: {}, text_field: premise, text_pair_field: hypothesis, max_length: 6", train));
  Batch b = d->batch("train", {0, 1, 2});
  // [CLS] a [SEP] b [SEP]; max_length 6 leaves 3 text tokens, taken from the longer text first.
  EXPECT_TRUE(b.at("input_ids")
                  .equal(matrix({kCls, 53, 81, kSep, 132, kSep,  //
                                 kCls, 53, 81, kSep, 490, kSep,  //
                                 kCls, 810, kSep, 53, 81, kSep},
                                6)))
      << b.at("input_ids");
  EXPECT_TRUE(b.at("token_type_ids").equal(matrix({0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1}, 6)))
      << b.at("token_type_ids");
  EXPECT_TRUE(b.at("labels").equal(vec({1, 0, 0})));
  // Padding has segment 0 and mask 0.
  auto wide = make(fmt::format("train: {}, text_field: premise, text_pair_field: hypothesis", train));
  Batch w = wide->batch("train", {0, 1});
  EXPECT_TRUE(w.at("token_type_ids")
                  .equal(matrix({0, 0, 0, 0, 1, 1, 0, 0, 0,  //
                                 0, 0, 0, 0, 0, 0, 0, 1, 1},
                                9)))
      << w.at("token_type_ids");
  EXPECT_TRUE(w.at("attention_mask").equal(matrix({1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 9)));
  // A file with no second text at all names the field (a typo there would otherwise make every record single).
  std::string missing = write("missing.jsonl", "{\"premise\": \"one\", \"label\": \"yes\"}\n");
  std::string err = error_of(fmt::format("train: {}, text_field: premise, text_pair_field: hypothesis", missing));
  EXPECT_NE(err.find("missing.jsonl: no record has a second text in field 'hypothesis' (text_pair_field)"),
            std::string::npos)
      << err;
}

// One file may mix single texts and pairs: a record whose second field is absent or null (an empty CSV cell) is
// encoded as one text, [CLS] a [SEP] with segment 0, exactly as a file of single texts encodes it; an empty string
// is still a malformed record.
TEST_F(TextClassificationTest, AFileMayMixSingleTextsAndPairs) {
  std::string mixed = write("mixed.jsonl",
                            "{\"premise\": \"one two\", \"hypothesis\": \"three\", \"label\": \"yes\"}\n"
                            "{\"premise\": \"four five\", \"label\": \"no\"}\n"
                            "{\"premise\": \"seven\", \"hypothesis\": null, \"label\": \"no\"}\n");
  auto d = make(fmt::format("train: {}, text_field: premise, text_pair_field: hypothesis", mixed));
  Batch b = d->batch("train", {0, 1, 2});
  std::string singles = write("singles.jsonl", "{\"premise\": \"four five\", \"label\": \"no\"}\n"
                                               "{\"premise\": \"seven\", \"label\": \"no\"}\n");
  Batch s = make(fmt::format("train: {}, text_field: premise", singles))->batch("train", {0, 1});
  const int64_t t = b.at("input_ids").size(1);
  EXPECT_TRUE(b.at("input_ids")[0].narrow(0, 0, 5).equal(vec({kCls, 53, 81, kSep, 132}))) << b.at("input_ids");
  for (int64_t r = 0; r < 2; ++r) {
    const int64_t n = s.at("attention_mask")[r].sum().item<int64_t>();
    EXPECT_TRUE(b.at("input_ids")[r + 1].narrow(0, 0, n).equal(s.at("input_ids")[r].narrow(0, 0, n))) << r;
    EXPECT_EQ(b.at("attention_mask")[r + 1].sum().item<int64_t>(), n) << r;
    EXPECT_EQ(b.at("token_type_ids")[r + 1].sum().item<int64_t>(), 0) << r;
  }
  EXPECT_EQ(t, 6);
  std::string empty = write("empty.jsonl", "{\"premise\": \"one\", \"hypothesis\": \" \", \"label\": \"yes\"}\n"
                                           "{\"premise\": \"one\", \"hypothesis\": \"two\", \"label\": \"yes\"}\n");
  const std::string err = error_of(fmt::format("train: {}, text_field: premise, text_pair_field: hypothesis", empty));
  EXPECT_NE(err.find("empty.jsonl:1: malformed record: empty text in field 'hypothesis'"), std::string::npos) << err;
}

TEST_F(TextClassificationTest, MalformedRecordsFailWithFileAndLine) {
  struct Case {
    std::string name, content, expected;
  };
  const std::vector<Case> cases = {
      {"json.jsonl", "{\"text\": \"one\", \"label\": \"a\"}\n{\"text\": \"two\", \"label\": }\n",
       "json.jsonl:2: malformed record: not valid JSON (parse error at column"},
      {"utf8.jsonl", "{\"text\": \"one\", \"label\": \"a\"}\n\n{\"text\": \"t\xC3\x28o\", \"label\": \"a\"}\n",
       "utf8.jsonl:3: malformed record: not valid JSON (parse error"},
      {"field.jsonl", "{\"txt\": \"one\", \"label\": \"a\"}\n",
       "field.jsonl:1: malformed record: no field 'text' (fields: label, txt)"},
      {"empty.jsonl", "{\"text\": \"one\", \"label\": \"a\"}\n{\"text\": \"  \", \"label\": \"a\"}\n",
       "empty.jsonl:2: malformed record: empty text in field 'text'"},
      {"nolabel.jsonl", "{\"text\": \"one\", \"label\": null}\n",
       "nolabel.jsonl:1: malformed record: field 'label' is null"},
      {"array.jsonl", "[\"one\", \"a\"]\n", "array.jsonl:1: malformed record: expected a JSON object"},
      {"cols.csv", "text,label\none,a\ntwo\nthree,b\n",
       "cols.csv:3: malformed record: 1 column(s), expected 2 as in the header"},
      {"quote.csv", "text,label\n\"one,a\ntwo,b\n",
       "quote.csv:2: malformed record: a quoted field opened on line 2 is never closed"},
      {"after.csv", "text,label\n\"one\"x,a\n", "after.csv:2: malformed record: text after a closing quote"},
  };
  for (const auto& c : cases) {
    std::string file = write(c.name, c.content);
    std::string err = error_of(fmt::format("train: {}", file));
    EXPECT_NE(err.find(c.expected), std::string::npos) << c.name << ": " << err;
    EXPECT_NE(err.find("fix the file or set on_bad_record: skip"), std::string::npos) << c.name << ": " << err;
  }
}

TEST_F(TextClassificationTest, SkippedRecordsAreCountedInHints) {
  std::string train = write("train.jsonl",
                            "{\"text\": \"one\", \"label\": \"a\"}\n"
                            "{\"text\": \"two\", \"label\": }\n"    // bad JSON
                            "{\"text\": \"\", \"label\": \"b\"}\n"  // empty text
                            "{\"text\": \"three\", \"label\": \"b\"}\n"
                            "{\"label\": \"b\"}\n");  // no text
  std::string dev = write("dev.csv",
                          "text,label\n"
                          "\"four,a\n"  // never closed: reading resumes on the next line
                          "five,b\n"
                          "six,a,extra\n"
                          "seven,a\n");
  testing::internal::CaptureStderr();
  auto d = make(fmt::format("train: {}, validation: {}, on_bad_record: skip", train, dev));
  std::string said = testing::internal::GetCapturedStderr();
  EXPECT_EQ(d->size("train"), 2);
  EXPECT_EQ(d->size("validation"), 2);
  EXPECT_EQ(d->hints().at("skipped_records"), 5);
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"a", "b"}));
  Batch v = d->batch("validation", {0, 1});
  EXPECT_EQ(v.ids, (std::vector<std::string>{"3", "5"}));
  EXPECT_TRUE(v.at("labels").equal(vec({1, 0})));
  EXPECT_NE(said.find("skipped 5 malformed record(s)"), std::string::npos) << said;
  EXPECT_NE(said.find("train.jsonl:2: not valid JSON"), std::string::npos) << said;
}

TEST_F(TextClassificationTest, ShippedSpamDataLoads) {
  const fs::path spam = fs::path(STAGEHAND_SOURCE_DIR) / "data" / "spam";
  auto d = make(fmt::format("train: {}, validation: {}, test: {}, threads: 2", (spam / "train.jsonl").string(),
                            (spam / "dev.jsonl").string(), (spam / "test.jsonl").string()));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"ham", "spam"}));
  EXPECT_EQ(d->hints().at("num_labels"), 2);
  EXPECT_EQ(d->hints().at("skipped_records"), 0);
  const std::map<std::string, std::pair<int64_t, int64_t>> expected = {
      {"train", {1600, 481}}, {"validation", {400, 120}}, {"test", {400, 120}}};
  for (const auto& [split, counts] : expected) {
    ASSERT_EQ(d->size(split), counts.first) << split;
    Batch b = d->batch(split, all_indices(*d, split));
    EXPECT_EQ(b.at("labels").sum().item<int64_t>(), counts.second) << split << ": spam count";
    EXPECT_EQ(b.at("input_ids").size(1), 128) << split;  // many e-mails fill max_length
    EXPECT_TRUE((b.at("input_ids").select(1, 0) == kCls).all().item<bool>());
    EXPECT_EQ(b.ids.size(), static_cast<size_t>(counts.first));
  }
}

TEST_F(TextClassificationTest, BlurbGadLayoutHeaderAndColumnsPerFile) {
  // BioBERT's GAD: train/dev are `sentence<TAB>label` without a header, test has `index<TAB>sentence<TAB>label`.
  std::string train = write("train.tsv",
                            "one two\t1\n"
                            "three\t0\n"
                            "\"four\" five\t1\n");  // a leading quote is literal text: BLURB files are not quoted
  std::string dev = write("dev.tsv", "six\t0\r\nseven\t1\r\n");
  std::string test = write("test.tsv",
                           "index\tsentence\tlabel\n"
                           "0\tone\t1\n"
                           "7\tthree two\t0\n");
  auto d = make(fmt::format("train: {}, validation: {}, test: {}, format: blurb", train, dev, test));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"0", "1"}));
  ASSERT_EQ(d->size("train"), 3);
  Batch b = d->batch("train", {0, 1, 2});
  EXPECT_EQ(b.ids, (std::vector<std::string>{"1", "2", "3"}));  // no id column: line numbers
  EXPECT_TRUE(b.at("labels").equal(vec({1, 0, 1}))) << b.at("labels");
  EXPECT_EQ(row(b, 0), (std::vector<int64_t>{kCls, 53, 81, kSep}));
  EXPECT_EQ(row(b, 2), encode("\"four\" five"));
  ASSERT_EQ(d->size("validation"), 2);
  Batch v = d->batch("validation", {0, 1});
  EXPECT_EQ(row(v, 1), (std::vector<int64_t>{kCls, 810, kSep}));  // CRLF: the \r is not part of the label
  EXPECT_TRUE(v.at("labels").equal(vec({0, 1})));
  ASSERT_EQ(d->size("test"), 2);  // the header line is not an example
  Batch t = d->batch("test", {0, 1});
  EXPECT_EQ(t.ids, (std::vector<std::string>{"0", "7"}));  // ids from the index column
  EXPECT_EQ(row(t, 1), (std::vector<int64_t>{kCls, 132, 81, kSep}));
  EXPECT_TRUE(t.at("labels").equal(vec({1, 0})));

  // The same train file as RFC 4180 TSV: the quoted "four" followed by text is an error, so blurb must not quote.
  std::string err = error_of(fmt::format("train: {}, format: tsv, has_header: false, text_field: '0', label_field: '1'",
                                         train));
  EXPECT_NE(err.find("train.tsv:3: malformed record: text after a closing quote"), std::string::npos) << err;
}

TEST_F(TextClassificationTest, BlurbChemProtAndDdiStyleThreeColumns) {
  // ChemProt/DDI: `id<TAB>sentence<TAB>label`, with or without a header (compared case-insensitively).
  std::string train = write("train.tsv",
                            "16357751.T1.T2\t@CHEMICAL$ @GENE$\tCPR:4\n"
                            "10.T3.T4\ttwo three\tfalse\n"
                            "\n"
                            "11.T1.T9\tfour\tCPR:3\n");
  std::string test = write("test.tsv", "Index\tSentence\tLabel\na1\tfive\tfalse\na2\tsix\tCPR:4\n");
  auto d = make(fmt::format("train: {}, test: {}, format: blurb", train, test));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"CPR:3", "CPR:4", "false"}));  // byte order
  Batch b = d->batch("train", {0, 1, 2});
  EXPECT_EQ(b.ids, (std::vector<std::string>{"16357751.T1.T2", "10.T3.T4", "11.T1.T9"}));
  EXPECT_TRUE(b.at("labels").equal(vec({1, 2, 0}))) << b.at("labels");
  EXPECT_EQ(row(b, 0), encode("@CHEMICAL$ @GENE$"));
  EXPECT_EQ(row(b, 1), (std::vector<int64_t>{kCls, 81, 132, kSep}));
  Batch t = d->batch("test", {0, 1});
  EXPECT_EQ(t.ids, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_TRUE(t.at("labels").equal(vec({2, 1})));
  EXPECT_EQ(row(t, 1), (std::vector<int64_t>{kCls, 490, kSep}));

  // has_header: false reads a header-like first line as data (here: label 'Label', unknown to the train labels).
  std::string err = error_of(fmt::format("train: {}, test: {}, format: blurb, has_header: false", train, test));
  EXPECT_NE(err.find("test.tsv:1: label 'Label' is not one of the 3 known labels"), std::string::npos) << err;
  // has_header: true insists on a BLURB header in every file.
  err = error_of(fmt::format("train: {}, format: blurb, has_header: true", train));
  EXPECT_NE(err.find("train.tsv:1: the header ('16357751.T1.T2', '@CHEMICAL$ @GENE$', 'CPR:4') is not a BLURB "
                     "header: format blurb expects its last two columns to be 'sentence' and 'label'"),
            std::string::npos)
      << err;
}

TEST_F(TextClassificationTest, BlurbMalformedLinesNameFileLineAndWhatWasFound) {
  struct Case {
    std::string name, content, expected;
  };
  const std::vector<Case> cases = {
      {"extra.tsv", "one\t1\ntwo\t0\nthree\tx\t1\n",
       "extra.tsv:3: malformed record: 3 column(s), expected 2 as in the first record (fields: 'three', 'x', '1')"},
      {"notab.tsv", "0\tone\t1\n1\ttwo 0\n",
       "notab.tsv:2: malformed record: 2 column(s), expected 3 as in the first record (fields: '1', 'two 0')"},
      {"header.tsv", "index\tsentence\tlabel\n0\tone\t1\n1\ttwo\n",
       "header.tsv:3: malformed record: 2 column(s), expected 3 as in the header (fields: '1', 'two')"},
      {"nolabel.tsv", "one\t1\ntwo\t \n", "nolabel.tsv:2: malformed record: empty label"},
      {"notext.tsv", "one\t1\n\t0\n", "notext.tsv:2: malformed record: empty sentence"},
  };
  for (const auto& c : cases) {
    std::string file = write(c.name, c.content);
    std::string err = error_of(fmt::format("train: {}, format: blurb", file));
    EXPECT_NE(err.find(c.expected), std::string::npos) << c.name << ": " << err;
    EXPECT_NE(err.find("fix the file or set on_bad_record: skip"), std::string::npos) << c.name << ": " << err;
  }
  // A layout blurb does not know, and a header in the wrong order, stop at the first line.
  std::string four = write("four.tsv", "a\tb\tc\td\n");
  std::string err = error_of(fmt::format("train: {}, format: blurb", four));
  EXPECT_NE(err.find("four.tsv:1: 4 tab-separated column(s) in the first record ('a', 'b', 'c', 'd'); format blurb "
                     "reads 2 columns (sentence, label) or 3 (id, sentence, label)"),
            std::string::npos)
      << err;
  std::string order = write("order.tsv", "sentence\tlabel\tindex\none\t1\t0\n");
  err = error_of(fmt::format("train: {}, format: blurb", order));
  EXPECT_NE(err.find("order.tsv:1: the header ('sentence', 'label', 'index') is not a BLURB header"),
            std::string::npos)
      << err;
  // Field options would be ignored by the positional layout, so they are refused.
  std::string ok = write("ok.tsv", "one\t1\n");
  err = error_of(fmt::format("train: {}, format: blurb, text_field: sentence", ok));
  EXPECT_NE(err.find("format blurb reads its columns by position (sentence, label, or id, sentence, label), but "
                     "text_field is set"),
            std::string::npos)
      << err;
  err = error_of(fmt::format("train: {}, format: blurb, id_field: index", ok));
  EXPECT_NE(err.find("but id_field is set"), std::string::npos) << err;
  // Skipping works as for the other formats.
  std::string mixed = write("mixed.tsv", "one\t1\ntwo\tx\t0\nthree\t0\n");
  testing::internal::CaptureStderr();
  auto d = make(fmt::format("train: {}, format: blurb, on_bad_record: skip", mixed));
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(d->size("train"), 2);
  EXPECT_EQ(d->hints().at("skipped_records"), 1);
  EXPECT_EQ(d->batch("train", {0, 1}).ids, (std::vector<std::string>{"1", "3"}));
}

TEST_F(TextClassificationTest, HasHeaderAutoDecidesPerFile) {
  // Column numbers work with and without a header line; the header is recognised by its 'label' and
  // 'sentence'/'text' fields, in any case.
  std::string with = write("with.tsv", "Sentence\tLABEL\none two\tpos\nthree\tneg\n");
  std::string without = write("without.tsv", "four\tneg\nfive six\tpos\n");
  auto d = make(fmt::format("train: {}, test: {}, has_header: auto, text_field: '0', label_field: '1'", with, without));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"neg", "pos"}));
  Batch b = d->batch("train", {0, 1});
  EXPECT_EQ(b.ids, (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(row(b, 0), (std::vector<int64_t>{kCls, 53, 81, kSep}));
  Batch t = d->batch("test", {0, 1});
  EXPECT_EQ(t.ids, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(row(t, 1), (std::vector<int64_t>{kCls, 355, 490, kSep}));
  EXPECT_TRUE(t.at("labels").equal(vec({0, 1})));

  // Column names: the header is recognised by those names, and a file without one cannot be read by name.
  std::string named = write("named.csv", "id,sentence,gold\nr1,one,a\nr2,two,b\n");
  auto n = make(fmt::format("train: {}, has_header: auto, text_field: sentence, label_field: gold, id_field: id",
                            named));
  EXPECT_EQ(n->batch("train", {0, 1}).ids, (std::vector<std::string>{"r1", "r2"}));
  std::string cased = write("cased.csv", "Text,Label\none,a\n");  // found and looked up case-insensitively
  EXPECT_EQ(make(fmt::format("train: {}, has_header: auto", cased))->labels(), std::vector<std::string>{"a"});
  std::string bare = write("bare.csv", "r1,one,a\n");
  std::string err =
      error_of(fmt::format("train: {}, has_header: auto, text_field: sentence, label_field: gold", bare));
  EXPECT_NE(err.find("bare.csv:1: has_header is auto and the first line is not a header (it has no field 'gold' and "
                     "field 'sentence'; its fields: 'r1', 'one', 'a'), so fields are column numbers (0 = first), but "
                     "text_field is 'sentence'"),
            std::string::npos)
      << err;
  // A line holding 'label' but no text column name is data.
  std::string data_line = write("data.tsv", "label\tone\nx\ttwo\n");
  auto l = make(fmt::format("train: {}, format: tsv, has_header: auto, text_field: '1', label_field: '0'", data_line));
  EXPECT_EQ(l->size("train"), 2);
  EXPECT_EQ(l->labels(), (std::vector<std::string>{"label", "x"}));
  // Only true, false and auto are accepted.
  err = error_of(fmt::format("train: {}, has_header: maybe", with));
  EXPECT_NE(err.find("'maybe' is not one of true | false | auto"), std::string::npos) << err;
}

TEST_F(TextClassificationTest, ShippedGadFixtureLoads) {
  const fs::path gad = fs::path(STAGEHAND_SOURCE_DIR) / "data" / "re" / "gad_fixture";
  auto d = make(fmt::format("train: {}, validation: {}, test: {}, format: blurb", (gad / "train.tsv").string(),
                            (gad / "dev.tsv").string(), (gad / "test.tsv").string()));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(d->hints().at("skipped_records"), 0);
  const std::map<std::string, std::pair<int64_t, int64_t>> expected = {
      {"train", {200, 100}}, {"validation", {60, 30}}, {"test", {60, 30}}};
  for (const auto& [split, counts] : expected) {
    ASSERT_EQ(d->size(split), counts.first) << split;
    Batch b = d->batch(split, all_indices(*d, split));
    EXPECT_EQ(b.at("labels").sum().item<int64_t>(), counts.second) << split << ": label-1 count";
    EXPECT_EQ(b.ids.front(), split == "test" ? "0" : "1") << split;  // test ids from its index column
    EXPECT_EQ(b.ids.back(), split == "test" ? "59" : std::to_string(counts.first)) << split;
  }
  // The first test record, read by hand from test.tsv line 2.
  Batch t = d->batch("test", {0});
  EXPECT_EQ(row(t, 0), encode("The @GENE$ gene is associated with @DISEASE$ in a dose-dependent manner."));
  EXPECT_EQ(t.at("labels").item<int64_t>(), 1);
}

}  // namespace
