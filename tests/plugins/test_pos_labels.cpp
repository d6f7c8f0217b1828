// SPDX-License-Identifier: Apache-2.0
// `scheme: none` of dataset token_classification: plain word classes (part of speech, as the token probes of
// pipelines/layer-probes.yaml read data/pos/brown_universal), loaded as the runner loads the plugin, with the real
// bert-base-uncased WordPiece vocabulary ([CLS] 101, [SEP] 102; "the" 1996, "cat" 4937, "sat" 2938, "." 1012;
// "zebras" -> "zebra" 29145 + "##s" 2015):
//  - labels used as written (no chunk parsing: "B-X"-looking and "O"-less sets alike), sorted from the train file;
//  - a fixed `labels` list gives the class order; a label outside it is an error naming file:line;
//  - labels go on each word's first sub-token only, -100 elsewhere; the classification evaluator then scores tokens;
//  - examples framed by the tokenizer's layout (RoBERTa's `<s> ... </s>`, nothing for layout none), word starts
//    and labels following;
//  - the shipped Brown universal-tag files load with the 12 tags.
#include <gtest/gtest.h>

#include <torch/types.h>

#include "support/test_support.h"
#include "support/plugin_support.h"
#include "stagehand/dataset.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/model.h"
#include "stagehand/registry.h"
#include "stagehand/tokenizer.h"

using namespace stagehand;
using sh_test::TempFolder;
using sh_test::write_text;

namespace {

Registry& registry() {
  static Registry* reg =
      sh_test::load_plugins({"tokenizer_wordpiece", "tokenizer_bpe", "dataset_token_classification",
                             "evaluator_classification"});
  return *reg;
}

template <class T>
std::shared_ptr<T> make(const std::string& yaml) {
  return sh_test::make_component<T>(registry(), yaml);
}

std::string dataset_yaml(const std::string& train, const std::string& extra = "") {
  return fmt::format("{{type: token_classification, scheme: none, train: {}, tokenizer: {{type: wordpiece, vocab: "
                     "{}/tokenizers/bert-base-uncased-vocab.txt}}{}}}",
                     train, STAGEHAND_TEST_DATA, extra);
}

}  // namespace

TEST(PosLabels, PlainClassesSortedFromTrainOnFirstSubTokens) {
  TempFolder tmp;
  // "B-X" would be an entity tag in scheme bio; here it is just a class name, and there is no "O".
  write_text(tmp / "train.tsv", "The\tDET\ncat\tNOUN\nsat\tVERB\n.\t.\n\nzebras\tNOUN\nsat\tB-X\n\n");
  auto data = make<Dataset>(dataset_yaml((tmp / "train.tsv").string()));
  EXPECT_EQ(data->labels(), (std::vector<std::string>{".", "B-X", "DET", "NOUN", "VERB"}));
  EXPECT_EQ(data->hints().at("num_labels"), 5);
  Batch b = data->batch("train", {0, 1});
  EXPECT_EQ(b.at("input_ids")[0].slice(0, 0, 6).to(torch::kLong).contiguous().data_ptr<int64_t>()[1], 1996);
  std::vector<int64_t> row0(b.at("labels")[0].data_ptr<int64_t>(), b.at("labels")[0].data_ptr<int64_t>() + 6);
  EXPECT_EQ(row0, (std::vector<int64_t>{-100, 2, 3, 4, 0, -100}));  // [CLS] DET NOUN VERB . [SEP]
  // zebras -> zebra ##s: the label on "zebra" only.
  std::vector<int64_t> ids1(b.at("input_ids")[1].data_ptr<int64_t>(), b.at("input_ids")[1].data_ptr<int64_t>() + 5);
  EXPECT_EQ(ids1, (std::vector<int64_t>{101, 29145, 2015, 2938, 102}));
  std::vector<int64_t> row1(b.at("labels")[1].data_ptr<int64_t>(), b.at("labels")[1].data_ptr<int64_t>() + 6);
  EXPECT_EQ(row1, (std::vector<int64_t>{-100, 3, -100, 1, -100, -100}));  // last: padding

  // The token-level classification evaluator reads (B, T, C) logits against these labels, skipping -100.
  auto eval = make<Evaluator>("{type: classification}");
  eval->set_labels(data->labels());
  torch::Tensor logits = torch::zeros({2, 6, 5});
  // Predict NOUN (3) everywhere: right on cat and zebra, wrong on DET, VERB, ".", "B-X".
  logits.select(2, 3).fill_(1);
  Batch out;
  out.set("logits", logits);
  eval->add(out, b);
  auto m = eval->compute();
  EXPECT_DOUBLE_EQ(m.at("accuracy"), 2.0 / 6);
}

// A sentence is framed as the tokenizer's encode() frames one text: `<s> pieces </s>` with RoBERTa's layout, the
// pieces alone with layout none (GPT-2), the word starts and labels moving with them.
TEST(PosLabels, ExamplesAreFramedByTheTokenizersLayout) {
  TempFolder tmp;
  write_text(tmp / "train.tsv", "The\tDET\nzebras\tNOUN\nsat\tVERB\n\n");
  const std::string dir = fmt::format("{}/hf-tiny/roberta", STAGEHAND_TEST_DATA);
  for (const std::string layout : {"roberta", "none"}) {
    SCOPED_TRACE(layout);
    const std::string tok_yaml =
        fmt::format("{{type: bpe, vocab: {}/vocab.json, merges: {}/merges.txt, layout: {}}}", dir, dir, layout);
    auto tok = make<Tokenizer>(tok_yaml);
    auto data = make<Dataset>(fmt::format("{{type: token_classification, scheme: none, train: {}, tokenizer: {}}}",
                                          (tmp / "train.tsv").string(), tok_yaml));
    const bool roberta = layout == "roberta";
    std::vector<int64_t> ids, labels, starts;  // labels: DET 0, NOUN 1, VERB 2
    if (roberta) ids.push_back(0), labels.push_back(-100);
    int64_t label = 0;
    for (const char* word : {"The", "zebras", "sat"}) {
      const std::vector<int32_t> pieces = tok->encode_ids(word);
      starts.push_back(static_cast<int64_t>(ids.size()));
      for (size_t k = 0; k < pieces.size(); ++k) ids.push_back(pieces[k]), labels.push_back(k ? -100 : label);
      ++label;
    }
    if (roberta) ids.push_back(2), labels.push_back(-100);
    Batch b = data->batch("train", {0});
    auto row = [&](const char* key) {
      auto t = b.at(key)[0].to(torch::kLong).contiguous();
      return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
    };
    EXPECT_EQ(row("input_ids"), ids);
    EXPECT_EQ(row("labels"), labels);
    EXPECT_EQ(row("word_starts"), starts);
  }
}

TEST(PosLabels, FixedLabelsGiveTheOrderAndUnknownLabelsAreNamed) {
  TempFolder tmp;
  write_text(tmp / "train.tsv", "The\tDET\ncat\tNOUN\n\n");
  auto data = make<Dataset>(dataset_yaml((tmp / "train.tsv").string(), ", labels: [NOUN, DET, VERB]"));
  EXPECT_EQ(data->labels(), (std::vector<std::string>{"NOUN", "DET", "VERB"}));
  const torch::Tensor labels = data->batch("train", {0}).at("labels")[0].contiguous();
  std::vector<int64_t> row(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + 4);
  EXPECT_EQ(row, (std::vector<int64_t>{-100, 1, 0, -100}));
  write_text(tmp / "bad.tsv", "The\tDET\ncat\tADJ\n\n");
  try {
    make<Dataset>(dataset_yaml((tmp / "bad.tsv").string(), ", labels: [NOUN, DET]"));
    FAIL() << "an unknown label was accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bad.tsv:2: label 'ADJ' (in scheme none) is not one of the 2 known labels"), std::string::npos) << m;
  }
  try {
    make<Dataset>(dataset_yaml((tmp / "train.tsv").string(), ", labels: [NOUN, NOUN]"));
    FAIL() << "a repeated label was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 'NOUN' appears twice"), std::string::npos) << e.what();
  }
}

TEST(PosLabels, TheShippedBrownUniversalTagsLoad) {
  const std::string dir = std::string(STAGEHAND_SOURCE_DIR) + "/data/pos/brown_universal";
  auto data = make<Dataset>(dataset_yaml(dir + "/train.tsv", fmt::format(", validation: {}/devel.tsv, test: {}/test.tsv", dir, dir)));
  EXPECT_EQ(data->labels(), (std::vector<std::string>{".", "ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRON",
                                                      "PRT", "VERB", "X"}));
  EXPECT_EQ(data->size("train"), 1691);
  EXPECT_EQ(data->size("validation"), 300);
  EXPECT_EQ(data->size("test"), 300);
}
