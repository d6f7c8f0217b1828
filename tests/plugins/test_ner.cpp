// SPDX-License-Identifier: Apache-2.0
// Named-entity recognition: the `ner` evaluator, the `token_classification` dataset and the `tagger` model, loaded
// from their plugins as the runner loads them.
//  - evaluator: entity P/R/F1 on hand-computed cases (BIO and BIOES; a span one token short, a wrong type, I- after
//    O starting an entity, adjacent B-X B-X, entities at sentence ends and across a sentence break, untyped B/I/O,
//    no predicted entity), then from logits through word_starts with a truncated word;
//  - dataset: the BioBERT and CoNLL readers with bert-base-uncased WordPiece (ids below are its vocabulary's line
//    numbers: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102; "interleukin" -> inter ##le ##uki ##n = 6970 2571 14228 2078),
//    first-sub-token alignment, BIO -> BIOES, truncation, errors with file:line, the shipped data/ner/brown_np;
//  - tagger: logits equal to dense(encoder states) by hand, spec() rebuilds it, cross_entropy over (B, T, C) with
//    -100 equals the hand formula, and SGD steps lower it; a pipeline trains, evaluates and reuses it by stage name.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "support/test_support.h"
#include "stagehand/dataset.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/model.h"
#include "stagehand/registry.h"

using namespace stagehand;
using sh_test::TempFolder;
using sh_test::write_text;
using torch::Tensor;
namespace fs = std::filesystem;

namespace {

using sh_test::error_of;

constexpr int64_t kPad = 0, kUnk = 100, kCls = 101, kSep = 102;
const std::vector<int64_t> kInterleukin = {6970, 2571, 14228, 2078};

Registry& registry() {
  static Registry* reg = [] {
    auto* r = new Registry;
    static PluginLoader loader(*r);
    for (const char* name : {"tokenizer_wordpiece", "dataset_token_classification", "encoder_transformer",
                             "model_tagger", "evaluator_ner", "loss_cross_entropy"})
      loader.load(std::string(STAGEHAND_PLUGIN_DIR) + "/" + name + ".so", "test");
    return r;
  }();
  return *reg;
}

BuildContext context(uint64_t seed = 1) {
  BuildContext ctx;
  ctx.registry = &registry();
  ctx.seed = seed;
  return ctx;
}

template <class T>
std::shared_ptr<T> make(const std::string& yaml, uint64_t seed = 1) {
  return registry().create<T>(parse_yaml(yaml, "test"), context(seed));
}

std::vector<int64_t> values(const Tensor& t) {
  Tensor c = t.to(torch::kLong).contiguous().reshape({-1});
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// ------------------------------------------------------------------------------------------------ evaluator

using Sentences = std::vector<std::vector<std::string>>;

// Scores predicted against gold tags (one sentence per row) through the evaluator: the logits put the predicted
// tag's class highest at each word's token position (word k of a row at position k + 1, after a [CLS]).
std::map<std::string, double> score(const std::vector<std::string>& labels, const Sentences& gold,
                                    const Sentences& pred) {
  std::map<std::string, int64_t> id;
  for (size_t i = 0; i < labels.size(); ++i) id[labels[i]] = static_cast<int64_t>(i);
  size_t most = 0;
  for (const auto& s : gold) most = std::max(most, s.size());
  const auto b = static_cast<int64_t>(gold.size()), w = static_cast<int64_t>(most), c = static_cast<int64_t>(labels.size());
  Tensor logits = torch::zeros({b, w + 2, c});
  Tensor starts = torch::full({b, w}, -1, torch::kLong), word_labels = torch::full({b, w}, -1, torch::kLong);
  for (int64_t r = 0; r < b; ++r) {
    EXPECT_EQ(gold[r].size(), pred[r].size());
    for (int64_t k = 0; k < static_cast<int64_t>(gold[r].size()); ++k) {
      word_labels[r][k] = id.at(gold[r][k]);
      starts[r][k] = k + 1;
      logits[r][k + 1][id.at(pred[r][k])] = 5.0;
    }
  }
  Batch out, batch;
  out.set("logits", logits);
  batch.set("word_starts", starts);
  batch.set("word_labels", word_labels);
  auto ev = make<Evaluator>("{type: ner}");
  ev->set_labels(labels);
  ev->reset();
  ev->add(out, batch);
  return ev->compute();
}

const std::vector<std::string> kBio = {"O", "B-LOC", "B-PER", "I-LOC", "I-PER"};

TEST(NerEvaluator, BoundaryAndTypeErrors) {
  // Gold PER[0,1], LOC[3,3], LOC[4,6]. Predicted PER[0,0] (one token short), PER[3,3] (right span, wrong type),
  // LOC[4,6] (right): 1 of 3 predicted is right, 1 of 3 gold is found.
  auto m = score(kBio, {{"B-PER", "I-PER", "O", "B-LOC"}, {"B-LOC", "I-LOC", "I-LOC", "O"}},
                 {{"B-PER", "O", "O", "B-PER"}, {"B-LOC", "I-LOC", "I-LOC", "O"}});
  EXPECT_DOUBLE_EQ(m["precision"], 1.0 / 3);
  EXPECT_DOUBLE_EQ(m["recall"], 1.0 / 3);
  EXPECT_DOUBLE_EQ(m["f1"], 1.0 / 3);
  EXPECT_DOUBLE_EQ(m["accuracy"], 6.0 / 8);  // I-PER/O and B-LOC/B-PER are the two wrong words
  EXPECT_DOUBLE_EQ(m["precision.PER"], 0.0);  // 0 of 2
  EXPECT_DOUBLE_EQ(m["recall.PER"], 0.0);
  EXPECT_DOUBLE_EQ(m["support.PER"], 1.0);
  EXPECT_DOUBLE_EQ(m["precision.LOC"], 1.0);  // 1 of 1
  EXPECT_DOUBLE_EQ(m["recall.LOC"], 0.5);     // 1 of 2
  EXPECT_DOUBLE_EQ(m["f1.LOC"], 2.0 / 3);
  EXPECT_DOUBLE_EQ(m["support.LOC"], 2.0);
  EXPECT_DOUBLE_EQ(m["entities"], 3.0);
  EXPECT_DOUBLE_EQ(m["predicted_entities"], 3.0);
}

TEST(NerEvaluator, IAfterOStartsAnEntityAndSentencesDoNotJoin) {
  // conlleval reads "O I-PER I-PER" as PER over the two I's, and "O I-LOC" at a sentence's end as LOC: both
  // predictions match gold written with B-. Sentence 2 ends in I-PER and sentence 3 starts with I-PER: an O joins
  // them, so gold has PER[5,6] and PER[7,7] (not one PER[5,7]), and the prediction B-PER there matches.
  auto m = score(kBio, {{"O", "B-PER", "I-PER", "O", "B-LOC"}, {"B-PER", "I-PER"}, {"I-PER", "O"}},
                 {{"O", "I-PER", "I-PER", "O", "I-LOC"}, {"B-PER", "I-PER"}, {"B-PER", "O"}});
  EXPECT_DOUBLE_EQ(m["precision"], 1.0);
  EXPECT_DOUBLE_EQ(m["recall"], 1.0);
  EXPECT_DOUBLE_EQ(m["f1"], 1.0);
  EXPECT_DOUBLE_EQ(m["accuracy"], 6.0 / 9);  // the tags differ (B/I) on 3 words; the entities do not
  EXPECT_DOUBLE_EQ(m["support.PER"], 3.0);
  EXPECT_DOUBLE_EQ(m["support.LOC"], 1.0);
}

TEST(NerEvaluator, AdjacentEntitiesAreTwo) {
  // Gold "B-PER B-PER I-PER" is PER[0,0] and PER[1,2]; predicted "B-PER I-PER I-PER" is one PER[0,2]: no match.
  // With LOC[3,3] right: tp 1, pred 2, gold 3 -> P 1/2, R 1/3, F1 2PR/(P+R) = (1/3)/(5/6) = 2/5.
  auto m = score(kBio, {{"B-PER", "B-PER", "I-PER"}, {"B-LOC"}}, {{"B-PER", "I-PER", "I-PER"}, {"B-LOC"}});
  EXPECT_DOUBLE_EQ(m["precision"], 0.5);
  EXPECT_DOUBLE_EQ(m["recall"], 1.0 / 3);
  EXPECT_NEAR(m["f1"], 0.4, 1e-12);
  EXPECT_DOUBLE_EQ(m["support.PER"], 2.0);
  EXPECT_DOUBLE_EQ(m["f1.PER"], 0.0);
  EXPECT_DOUBLE_EQ(m["accuracy"], 3.0 / 4);
}

TEST(NerEvaluator, UntypedTags) {
  // BioBERT's untyped B/I/O. Gold: [0,1], [3,3] and, after the sentence break, I I = [4,5]. Predicted: [0,0],
  // [3,3], [4,5], [6,6]. tp 2 ([3,3], [4,5]), pred 4, gold 3: P 1/2, R 2/3, F1 (2/3)/(7/6) = 4/7.
  auto m = score({"O", "B", "I"}, {{"B", "I", "O", "B"}, {"I", "I", "O"}}, {{"B", "O", "O", "B"}, {"B", "I", "B"}});
  EXPECT_DOUBLE_EQ(m["precision"], 0.5);
  EXPECT_DOUBLE_EQ(m["recall"], 2.0 / 3);
  EXPECT_NEAR(m["f1"], 4.0 / 7, 1e-12);
  EXPECT_NEAR(m["f1._"], 4.0 / 7, 1e-12);  // the anonymous type is "_", as in seqeval
  EXPECT_DOUBLE_EQ(m["support._"], 3.0);
  EXPECT_DOUBLE_EQ(m["accuracy"], 4.0 / 7);
}

TEST(NerEvaluator, NoPredictedEntityScoresZero) {
  auto m = score(kBio, {{"B-PER", "I-PER", "O", "O"}}, {{"O", "O", "O", "O"}});
  EXPECT_DOUBLE_EQ(m["precision"], 0.0);  // 0/0 -> 0
  EXPECT_DOUBLE_EQ(m["recall"], 0.0);
  EXPECT_DOUBLE_EQ(m["f1"], 0.0);
  EXPECT_DOUBLE_EQ(m["accuracy"], 0.5);
  EXPECT_DOUBLE_EQ(m["support.PER"], 1.0);
  EXPECT_DOUBLE_EQ(m["support.LOC"], 0.0);  // every type of the label set is reported
  EXPECT_DOUBLE_EQ(m["predicted_entities"], 0.0);
}

TEST(NerEvaluator, Bioes) {
  // Gold: PER[0,0] (S), LOC[2,4] (B I E), PER[6,7] (B E); LOC[8,8], LOC[9,9] (S S, adjacent); PER[10,10].
  // Predicted: PER[0,0] right, LOC[2,3] one token short, PER[6,7] right, LOC[8,9] (B E: one entity for two),
  // LOC[10,10] (wrong type). tp 2, pred 5, gold 6: P 2/5, R 1/3, F1 (4/15)/(11/15) = 4/11.
  const std::vector<std::string> labels = {"O", "B-LOC", "B-PER", "E-LOC", "E-PER", "I-LOC", "S-LOC", "S-PER"};
  auto m = score(labels, {{"S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "O", "B-PER", "E-PER"}, {"S-LOC", "S-LOC"}, {"S-PER"}},
                 {{"S-PER", "O", "B-LOC", "E-LOC", "O", "O", "B-PER", "E-PER"}, {"B-LOC", "E-LOC"}, {"S-LOC"}});
  EXPECT_DOUBLE_EQ(m["precision"], 0.4);
  EXPECT_DOUBLE_EQ(m["recall"], 1.0 / 3);
  EXPECT_NEAR(m["f1"], 4.0 / 11, 1e-12);
  EXPECT_DOUBLE_EQ(m["precision.PER"], 1.0);  // 2 of 2
  EXPECT_DOUBLE_EQ(m["recall.PER"], 2.0 / 3);
  EXPECT_NEAR(m["f1.PER"], 0.8, 1e-12);
  EXPECT_DOUBLE_EQ(m["f1.LOC"], 0.0);
  EXPECT_DOUBLE_EQ(m["support.LOC"], 3.0);
  EXPECT_DOUBLE_EQ(m["accuracy"], 6.0 / 11);
}

TEST(NerEvaluator, FromLogitsThroughWordStartsWithATruncatedWord) {
  // Labels O, B-X, I-X. Row 0: 4 words, the first with two sub-tokens (positions 1, 2), the last truncated
  // (word_starts -1). Row 1: 2 words, then word padding. Only the first sub-token of a word is read: position 2
  // (a continuation) and the [SEP]/padding positions argmax to B-X and must not matter.
  Tensor logits = torch::zeros({2, 6, 3});
  auto set = [&](int64_t r, int64_t t, int64_t cls) { logits[r][t][cls] = 3.0; };
  set(0, 1, 1);  // word 0 -> B-X
  set(0, 2, 1);  //   its second sub-token: ignored
  set(0, 3, 2);  // word 1 -> I-X
  set(0, 4, 0);  // word 2 -> O
  set(0, 5, 1);  // [SEP]: ignored
  set(1, 1, 0);  // word 0 -> O
  set(1, 2, 1);  // word 1 -> B-X
  set(1, 4, 1);  // padding: ignored
  Batch out, batch;
  out.set("logits", logits);
  batch.set("word_starts", torch::tensor({1, 3, 4, -1, 1, 2, -1, -1}, torch::kLong).view({2, 4}));
  batch.set("word_labels", torch::tensor({1, 2, 0, 1, 0, 1, -1, -1}, torch::kLong).view({2, 4}));
  auto ev = make<Evaluator>("{type: ner}");
  ev->set_labels({"O", "B-X", "I-X"});
  ev->reset();
  ev->add(out, batch);
  auto m = ev->compute();
  // Gold X[0,1], X[3,3] (the truncated word), X[5,5]; predicted X[0,1], X[5,5]: the truncated word is predicted O,
  // so it costs recall: P 2/2, R 2/3, F1 0.8. Words right: 3 of 4 in row 0, 2 of 2 in row 1.
  EXPECT_DOUBLE_EQ(m["precision"], 1.0);
  EXPECT_DOUBLE_EQ(m["recall"], 2.0 / 3);
  EXPECT_NEAR(m["f1"], 0.8, 1e-12);
  EXPECT_DOUBLE_EQ(m["accuracy"], 5.0 / 6);
  EXPECT_DOUBLE_EQ(m["support.X"], 3.0);
  EXPECT_EQ(ev->primary_metric(), "f1");
  EXPECT_TRUE(ev->higher_is_better());
  // reset() forgets: a second pass over the same batch gives the same numbers, not doubled counts.
  ev->reset();
  ev->add(out, batch);
  EXPECT_DOUBLE_EQ(ev->compute()["support.X"], 3.0);
}

TEST(NerEvaluator, Errors) {
  auto ev = make<Evaluator>("{type: ner}");
  EXPECT_NE(error_of([&] { ev->set_labels({"O", "PER"}); }).find("'PER', which is not a chunk tag"), std::string::npos);
  EXPECT_NE(error_of([&] { ev->set_labels({"B-X", "I-X"}); }).find("have no 'O'"), std::string::npos);
  ev->set_labels({"O", "B-X"});
  Batch out, batch;
  out.set("logits", torch::zeros({1, 3, 3}));
  batch.set("word_starts", torch::tensor({1}, torch::kLong).view({1, 1}));
  batch.set("word_labels", torch::tensor({0}, torch::kLong).view({1, 1}));
  EXPECT_NE(error_of([&] { ev->add(out, batch); }).find("the logits have 3 classes but there are 2 labels"),
            std::string::npos);
  EXPECT_NE(error_of([&] { make<Evaluator>("{type: ner, primary: macro_f1}"); }).find("'macro_f1'"), std::string::npos);
}

// ------------------------------------------------------------------------------------------------ dataset

std::string wordpiece() {
  return fmt::format("{{type: wordpiece, vocab: {}/tokenizers/bert-base-uncased-vocab.txt}}", STAGEHAND_TEST_DATA);
}

std::shared_ptr<Dataset> dataset(const std::string& options) {
  return make<Dataset>(fmt::format("{{type: token_classification, tokenizer: {}, {}}}", wordpiece(), options));
}

std::string dataset_error(const std::string& options) {
  return error_of([&] { dataset(options); });
}

TEST(TokenClassification, BioBertFileFirstSubTokenAlignment) {
  TempFolder dir;
  // CRLF on one line, two blank lines between sentences, no blank line at the end, a byte order mark. The I-GENE
  // after O in sentence 2 starts an entity: it becomes B-GENE.
  write_text(dir / "train.tsv",
             "\xEF\xBB\xBFInterleukin\tB-GENE\n2\tI-GENE\r\nexpression\tO\nin\tO\nmice\tO\n.\tO\n\n\n"
             "The\tO\ncells\tI-GENE\nran\tO");
  auto d = dataset(fmt::format("train: {}", (dir / "train.tsv").string()));
  EXPECT_EQ(d->splits(), (std::vector<std::string>{"train"}));
  ASSERT_EQ(d->size("train"), 2);
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"O", "B-GENE", "I-GENE"}));
  auto hints = d->hints();
  EXPECT_EQ(hints["num_labels"], 3);
  EXPECT_EQ(hints["vocab_size"], 30522);
  EXPECT_EQ(hints["pad_id"], kPad);
  EXPECT_EQ(hints["truncated_words"], 0);

  Batch b = d->batch("train", {0, 1});
  EXPECT_EQ(b.ids, (std::vector<std::string>{"train:0", "train:1"}));
  const int64_t I = -100;
  // Row 0: [CLS] inter ##le ##uki ##n 2 expression in mice . [SEP]; row 1: [CLS] the cells ran [SEP] + padding.
  EXPECT_EQ(values(b.at("input_ids")), (std::vector<int64_t>{kCls, 6970, 2571, 14228, 2078, 1016, 3670, 1999, 12328,
                                                              1012, kSep, kCls, 1996, 4442, 2743, kSep, kPad, kPad,
                                                              kPad, kPad, kPad, kPad}));
  EXPECT_EQ(b.at("input_ids").sizes(), (std::vector<int64_t>{2, 11}));
  EXPECT_EQ(values(b.at("attention_mask")),
            (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(values(b.at("token_type_ids")), std::vector<int64_t>(22, 0));
  // The label on each word's first sub-token; -100 on ##le ##uki ##n, [CLS], [SEP] and padding.
  EXPECT_EQ(values(b.at("labels")),
            (std::vector<int64_t>{I, 1, I, I, I, 2, 0, 0, 0, 0, I, I, 0, 1, 0, I, I, I, I, I, I, I}));
  EXPECT_EQ(b.at("word_labels").sizes(), (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(values(b.at("word_labels")), (std::vector<int64_t>{1, 2, 0, 0, 0, 0, 0, 1, 0, -1, -1, -1}));
  EXPECT_EQ(values(b.at("word_starts")), (std::vector<int64_t>{1, 5, 6, 7, 8, 9, 1, 2, 3, -1, -1, -1}));
  for (const auto& [name, t] : b.tensors()) EXPECT_EQ(t.scalar_type(), torch::kLong) << name;
  // A batch of one is padded to its own length.
  EXPECT_EQ(d->batch("train", {1}).at("input_ids").sizes(), (std::vector<int64_t>{1, 5}));
  EXPECT_NE(error_of([&] { d->batch("train", {2}); }).find("index 2 is out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { d->batch("test", {0}); }).find("no split 'test'"), std::string::npos);
}

TEST(TokenClassification, UntypedTagsAndUnknownLabelsAtValidation) {
  TempFolder dir;
  write_text(dir / "train.tsv", "x\tB\ny\tI\nz\tO\n\nz\tI\n");
  write_text(dir / "devel.tsv", "x\tB\n\nx\tB-GENE\n");
  write_text(dir / "test.tsv", "y\tI\nz\tO\n");
  auto d = dataset(fmt::format("train: {}, test: {}", (dir / "train.tsv").string(), (dir / "test.tsv").string()));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"O", "B", "I"}));
  // Test: "I" at a sentence start becomes B.
  EXPECT_EQ(values(d->batch("test", {0}).at("word_labels")), (std::vector<int64_t>{1, 0}));
  std::string e = dataset_error(
      fmt::format("train: {}, validation: {}", (dir / "train.tsv").string(), (dir / "devel.tsv").string()));
  EXPECT_NE(e.find("devel.tsv:3: label 'B-GENE' (in scheme bio) is not one of the 3 known labels (O, B, I)"),
            std::string::npos)
      << e;
}

TEST(TokenClassification, ConllColumnsAndDocstart) {
  TempFolder dir;
  const std::string conll =
      "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\n"
      "Peter NNP B-NP B-PER\nBlackburn\tNNP  I-NP I-PER\n";
  write_text(dir / "eng.conll", conll);
  auto d = dataset(fmt::format("train: {}", (dir / "eng.conll").string()));  // format: auto, by extension
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"O", "B-MISC", "B-ORG", "B-PER", "I-PER"}));
  ASSERT_EQ(d->size("train"), 2);
  Batch b = d->batch("train", {0, 1});
  EXPECT_EQ(values(b.at("input_ids")),
            (std::vector<int64_t>{kCls, 7327, 19164, 2446, 2655, kSep, kCls, 2848, 13934, kSep, kPad, kPad}));
  EXPECT_EQ(values(b.at("word_labels")), (std::vector<int64_t>{2, 0, 1, 0, 3, 4, -1, -1}));
  // The chunk column instead of the NE column, on a file without the extension (format given).
  write_text(dir / "eng.train", conll);
  auto chunks = dataset(fmt::format("train: {}, format: conll, label_column: 2", (dir / "eng.train").string()));
  EXPECT_EQ(chunks->labels(), (std::vector<std::string>{"O", "B-NP", "B-VP", "I-NP"}));
  EXPECT_EQ(values(chunks->batch("train", {0}).at("word_labels")), (std::vector<int64_t>{1, 2, 1, 3}));
  // ... which auto reads as BioBERT and stops at line 1 with the fix.
  std::string e = dataset_error(fmt::format("train: {}", (dir / "eng.train").string()));
  EXPECT_NE(e.find("eng.train:1: found '-DOCSTART- -X- -X- O' with no tab; expected word<TAB>label"), std::string::npos)
      << e;
  EXPECT_NE(e.find("format: conll"), std::string::npos) << e;
}

TEST(TokenClassification, BioToBioes) {
  TempFolder dir;
  // B I I O B O I-Y: X[0,2] -> B I E, X[4,4] -> S, the I-Y after O is Y[6,6] -> S-Y.
  write_text(dir / "train.tsv", "x\tB-X\ny\tI-X\nz\tI-X\nx\tO\ny\tB-X\nz\tO\nx\tI-Y\n\ny\tB-Y\nz\tI-Y\n");
  auto d = dataset(fmt::format("train: {}, scheme: bioes", (dir / "train.tsv").string()));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"O", "B-X", "B-Y", "E-X", "E-Y", "I-X", "S-X", "S-Y"}));
  Batch b = d->batch("train", {0, 1});
  EXPECT_EQ(values(b.at("word_labels")), (std::vector<int64_t>{1, 5, 3, 0, 6, 0, 7, 2, 4, -1, -1, -1, -1, -1}));
  // The same file in bio keeps its B/I tags, with the I-Y after O made B-Y.
  auto bio = dataset(fmt::format("train: {}", (dir / "train.tsv").string()));
  EXPECT_EQ(bio->labels(), (std::vector<std::string>{"O", "B-X", "B-Y", "I-X", "I-Y"}));
  EXPECT_EQ(values(bio->batch("train", {0}).at("word_labels")), (std::vector<int64_t>{1, 3, 3, 0, 1, 0, 2}));
  // BIOES input read back as bio.
  write_text(dir / "bioes.tsv", "x\tS-X\ny\tB-X\nz\tE-X\n");
  auto back = dataset(fmt::format("train: {}", (dir / "bioes.tsv").string()));
  EXPECT_EQ(back->labels(), (std::vector<std::string>{"O", "B-X", "I-X"}));
  EXPECT_EQ(values(back->batch("train", {0}).at("word_labels")), (std::vector<int64_t>{1, 1, 2}));
  // Fixed labels: class order as given; they must hold O and be tags of the scheme.
  auto fixed = dataset(fmt::format("train: {}, labels: [I-X, O, B-X, I-Y, B-Y]", (dir / "train.tsv").string()));
  EXPECT_EQ(values(fixed->batch("train", {0}).at("word_labels")), (std::vector<int64_t>{2, 0, 0, 1, 2, 1, 4}));
  EXPECT_NE(dataset_error(fmt::format("train: {}, labels: [B-X, I-X]", (dir / "train.tsv").string()))
                .find("'labels' has no 'O'"),
            std::string::npos);
  EXPECT_NE(dataset_error(fmt::format("train: {}, labels: [O, S-X]", (dir / "train.tsv").string()))
                .find("'S-X', which is not a tag of scheme bio"),
            std::string::npos);
}

TEST(TokenClassification, TruncationAndWordsWithoutPieces) {
  TempFolder dir;
  // max_length 6 leaves 4 pieces: interleukin (4) fits, "2" does not, and nothing after it goes in either.
  // U+200B (zero-width space) is removed by BERT's normalizer: it becomes [UNK] so that it has a first sub-token.
  write_text(dir / "train.tsv", "Interleukin\tB-GENE\n2\tI-GENE\nexpression\tO\n\n\xE2\x80\x8B\tO\nmice\tO\n");
  auto d = dataset(fmt::format("train: {}, max_length: 6", (dir / "train.tsv").string()));
  EXPECT_EQ(d->hints()["truncated_words"], 2);
  Batch b = d->batch("train", {0, 1});
  EXPECT_EQ(values(b.at("input_ids")),
            (std::vector<int64_t>{kCls, 6970, 2571, 14228, 2078, kSep, kCls, kUnk, 12328, kSep, kPad, kPad}));
  EXPECT_EQ(values(b.at("word_starts")), (std::vector<int64_t>{1, -1, -1, 1, 2, -1}));
  EXPECT_EQ(values(b.at("word_labels")), (std::vector<int64_t>{1, 2, 0, 0, 0, -1}));
  EXPECT_EQ(values(b.at("labels")), (std::vector<int64_t>{-100, 1, -100, -100, -100, -100, -100, 0, 0, -100, -100, -100}));
}

TEST(TokenClassification, ErrorsNameFileAndLine) {
  TempFolder dir;
  auto file = [&](const std::string& name, const std::string& text) {
    write_text(dir / name, text);
    return (dir / name).string();
  };
  std::string e = dataset_error("train: " + file("a.tsv", "x\tO\n\ny O\n"));
  EXPECT_NE(e.find("a.tsv:3: found 'y O' with no tab"), std::string::npos) << e;
  e = dataset_error("train: " + file("b.tsv", "x\tO\n\tO\n"));
  EXPECT_NE(e.find("b.tsv:2: empty word"), std::string::npos) << e;
  e = dataset_error("train: " + file("c.tsv", "x\tO\ty\n"));
  EXPECT_NE(e.find("c.tsv:1: found 3 tab-separated fields"), std::string::npos) << e;
  e = dataset_error("train: " + file("d.tsv", "x\tO\ny\tPER\n"));
  EXPECT_NE(e.find("d.tsv:2: label 'PER' is not a chunk tag"), std::string::npos) << e;
  e = dataset_error("format: conll, word_column: 0, label_column: 3, train: " + file("e.txt", "a b c d\nx y\n"));
  EXPECT_NE(e.find("e.txt:2: found 2 column(s) in 'x y'; expected at least 4"), std::string::npos) << e;
  e = dataset_error("train: " + file("f.tsv", "x\tO\n") + ", validation: " + file("g.tsv", "\n \n"));
  EXPECT_NE(e.find("g.tsv:1: the validation file holds no sentence"), std::string::npos) << e;
  fs::create_directories(dir / "folder.tsv");
  e = dataset_error("train: " + (dir / "folder.tsv").string());
  EXPECT_NE(e.find("cannot read"), std::string::npos) << e;
  EXPECT_NE(e.find("folder.tsv"), std::string::npos) << e;
  e = dataset_error("test: " + file("h.tsv", "x\tO\n"));
  EXPECT_NE(e.find("no 'train' file to learn the labels from"), std::string::npos) << e;
}

TEST(TokenClassification, SkippingLeavesOutSentencesWithAMalformedLine) {
  TempFolder dir;
  // Sentences: 1 good (lines 1-2), 2 with a line without a tab (4-6), 3 with a line that is not UTF-8 (8-9), 4 with
  // a label that is not a tag (11-12), 5 good (14). Several problems in one sentence count it once (2: two bad).
  write_text(dir / "train.tsv",
             "Aspirin\tB-Chem\nhelps\tO\n\nThe\tO\ncells O\nran no tab\n\ncaf\xc3\tO\nok\tO\n\nx\tO\ny\tPER\n\n"
             "mice\tO\n");
  const std::string train = "train: " + (dir / "train.tsv").string();
  std::string e = dataset_error(train);
  EXPECT_NE(e.find("train.tsv:5: found 'cells O' with no tab"), std::string::npos) << e;
  EXPECT_NE(e.find("or set on_bad_record: skip to leave its sentence out"), std::string::npos) << e;

  auto d = dataset(train + ", on_bad_record: skip");
  ASSERT_EQ(d->size("train"), 2);
  EXPECT_EQ(d->hints()["skipped_records"], 3);
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"O", "B-Chem"}));
  // What is left is sentences 1 and 5, whole: [CLS] aspirin helps [SEP] and [CLS] mice [SEP].
  EXPECT_EQ(values(d->batch("train", {0}).at("word_labels")), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(values(d->batch("train", {1}).at("input_ids")), (std::vector<int64_t>{kCls, 12328, kSep}));
  // Every split counts into the one figure.
  EXPECT_EQ(dataset(train + ", on_bad_record: skip, validation: " + (dir / "train.tsv").string())
                ->hints()["skipped_records"],
            6);
  // A clean file skips nothing; a file of nothing but malformed sentences is still an error, saying why.
  write_text(dir / "clean.tsv", "x\tO\n");
  EXPECT_EQ(dataset("on_bad_record: skip, train: " + (dir / "clean.tsv").string())->hints()["skipped_records"], 0);
  write_text(dir / "all_bad.tsv", "x O\n\ny\tPER\n");
  e = dataset_error("on_bad_record: skip, train: " + (dir / "all_bad.tsv").string());
  EXPECT_NE(e.find("all_bad.tsv:1: the train file holds no sentence but the 2 malformed one(s) on_bad_record: skip "
                   "left out"),
            std::string::npos)
      << e;
  // A label training never saw is not malformed: skipping does not hide it.
  write_text(dir / "devel.tsv", "x\tB-Gene\n");
  e = dataset_error(train + ", on_bad_record: skip, validation: " + (dir / "devel.tsv").string());
  EXPECT_NE(e.find("devel.tsv:1: label 'B-Gene'"), std::string::npos) << e;
}

TEST(TokenClassification, ShippedBrownProperNouns) {
  const fs::path data = fs::path(STAGEHAND_SOURCE_DIR) / "data" / "ner" / "brown_np";
  auto d = dataset(fmt::format("train: {}, validation: {}, test: {}", (data / "train.tsv").string(),
                               (data / "devel.tsv").string(), (data / "test.tsv").string()));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"O", "B-NP", "I-NP"}));
  EXPECT_EQ(d->size("train"), 1691);
  EXPECT_EQ(d->size("validation"), 300);
  EXPECT_EQ(d->size("test"), 300);
  // Counts printed by scripts/prepare_brown_ner.py: 29,004 train words, 908 entities (B-NP).
  std::vector<int64_t> all(static_cast<size_t>(d->size("train")));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  Batch b = d->batch("train", all);
  Tensor wl = b.at("word_labels");
  EXPECT_EQ((wl >= 0).sum().item<int64_t>(), 29004);
  EXPECT_EQ((wl == 1).sum().item<int64_t>(), 908);
  // Sentences have at most 40 words and fit 128 tokens.
  EXPECT_LE(wl.size(1), 40);
  EXPECT_EQ(d->hints()["truncated_words"], 0);
  // "The Fulton County Grand Jury said Friday an investigation of Atlanta's ...": Fulton/np-tl and Atlanta's/np$.
  EXPECT_EQ(values(wl[0].slice(0, 0, 11)), (std::vector<int64_t>{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  // Atlanta's is one word of three pieces (atlanta ' s): word 10 starts at token 11, word 11 at 14.
  EXPECT_EQ(values(b.at("word_starts")[0].slice(0, 10, 12)), (std::vector<int64_t>{11, 14}));
  EXPECT_EQ(values(b.at("input_ids")[0].slice(0, 11, 14)), (std::vector<int64_t>{5865, 1005, 1055}));
}

// ------------------------------------------------------------------------------------------------ tagger

const char* const kTinyEncoder =
    "{type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32, "
    "max_positions: 32}";

std::string tagger_yaml(const std::string& extra = "num_labels: 3") {
  return fmt::format("{{type: tagger, {}, encoder: {}}}", extra, kTinyEncoder);
}

Tensor param(torch::nn::Module& m, const std::string& name) {
  auto params = m.named_parameters(true);
  const Tensor* p = params.find(name);
  if (!p) {
    ADD_FAILURE() << "no parameter " << name;
    return {};
  }
  return *p;
}

TEST(Tagger, LogitsAreADenseLayerOverEveryTokenState) {
  auto model = make<Model>(tagger_yaml());
  Tensor w = param(*model, "classifier.weight"), bias = param(*model, "classifier.bias");
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{3, 16}));
  ASSERT_EQ(bias.sizes(), (std::vector<int64_t>{3}));
  EXPECT_EQ(bias.abs().sum().item<double>(), 0.0);  // bias starts at 0, weights ~ N(0, 0.02)
  EXPECT_GT(w.std().item<double>(), 0.01);
  EXPECT_LT(w.std().item<double>(), 0.03);
  {
    torch::NoGradGuard ng;
    bias.uniform_(-0.5, 0.5);  // make sure the bias is used
  }
  ASSERT_TRUE(model->encoder());
  EXPECT_NE(model->named_parameters().find("encoder.embeddings.word_embeddings.weight"), nullptr);
  model->eval();
  Batch batch;
  batch.set("input_ids",
            torch::tensor(std::vector<int64_t>{kCls, 1996, 4442, kSep, kCls, 2743, kSep, kPad}).view({2, 4}));
  batch.set("attention_mask", torch::tensor(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 0}).view({2, 4}));
  batch.set("token_type_ids", torch::zeros({2, 4}, torch::kLong));
  torch::NoGradGuard ng;
  Tensor logits = model->forward(batch).at("logits");
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, 4, 3}));
  EncoderInput in;
  in.input_ids = batch.at("input_ids");
  in.attention_mask = batch.at("attention_mask");
  in.token_type_ids = batch.at("token_type_ids");
  Tensor states = model->encoder()->encode(in).last();
  Tensor expected = torch::matmul(states, w.t()) + bias;
  EXPECT_TRUE(torch::allclose(logits, expected, 1e-5, 1e-6));
  // Dropout acts in training mode only.
  model->train();
  Tensor a = model->forward(batch).at("logits");
  EXPECT_FALSE(torch::allclose(a, logits, 1e-5, 1e-6));
}

TEST(Tagger, SpecRebuildsTheModel) {
  auto model = make<Model>(tagger_yaml("num_labels: 5, dropout: 0.2"));
  ConfigNode spec = model->spec();
  EXPECT_EQ(spec.at("type").as_string(), "tagger");
  EXPECT_EQ(spec.at("num_labels").as_int(), 5);
  EXPECT_DOUBLE_EQ(spec.at("dropout").as_double(), 0.2);
  EXPECT_EQ(spec.at("encoder").at("type").as_string(), "transformer");
  EXPECT_EQ(spec.at("encoder").at("hidden_size").as_int(), 16);
  auto again = registry().create<Model>(spec, context(1));
  auto p1 = model->named_parameters(true), p2 = again->named_parameters(true);
  ASSERT_EQ(p1.size(), p2.size());
  for (const auto& p : p1) {
    const Tensor* q = p2.find(p.key());
    ASSERT_NE(q, nullptr) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), *q)) << p.key();  // same seed, same weights
  }
  EXPECT_NE(error_of([] { make<Model>(tagger_yaml("dropout: 0.1")); }).find("num_labels is not set"),
            std::string::npos);
}

TEST(Tagger, CrossEntropyOverTokensAndTrainingLowersIt) {
  TempFolder dir;
  std::string text;
  for (int i = 0; i < 8; ++i)
    text += i % 2 ? "john\tB-PER\nsmith\tI-PER\nsaw\tO\nparis\tB-LOC\n\n" : "the\tO\ndog\tO\nsaw\tO\nmary\tB-PER\n\n";
  write_text(dir / "train.tsv", text);
  auto d = dataset(fmt::format("train: {}", (dir / "train.tsv").string()));
  auto model = make<Model>(tagger_yaml(fmt::format("num_labels: {}", d->labels().size())), 3);
  auto loss = make<Loss>("{type: cross_entropy}");
  Batch b = d->batch("train", {0, 1, 2, 3, 4, 5, 6, 7});
  model->eval();
  std::map<std::string, Tensor> parts;
  {
    torch::NoGradGuard ng;
    Batch out = model->forward(b);
    Tensor logits = out.at("logits");
    // By hand: mean over the labelled positions (first sub-tokens) of -log softmax at the gold class.
    Tensor labels = b.at("labels");
    Tensor keep = labels != -100;
    Tensor logp = torch::log_softmax(logits, -1);
    Tensor gathered = logp.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1);
    double expected = -(gathered * keep).sum().item<double>() / keep.sum().item<double>();
    EXPECT_EQ(keep.sum().item<int64_t>(), 32);  // 4 words x 8 sentences, [CLS]/[SEP] ignored
    EXPECT_NEAR(loss->compute(out, b, parts).item<double>(), expected, 1e-5);
  }
  // Plain SGD on the whole batch: the loss goes down step after step.
  std::vector<double> seen;
  for (int step = 0; step < 6; ++step) {
    model->zero_grad();
    Tensor l = loss->compute(model->forward(b), b, parts);
    seen.push_back(l.item<double>());
    l.backward();
    torch::NoGradGuard ng;
    for (auto& p : model->parameters())
      if (p.grad().defined()) p.sub_(p.grad() * 0.1);
  }
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i], seen[i - 1]) << "step " << i;
  EXPECT_LT(seen.back(), seen.front() * 0.8);
}

// A pipeline: train a tagger, evaluate the saved model (rebuilt from its spec), and train a second tagger whose
// encoder is the first stage's (`encoder: <stage>`), evaluated too.
TEST(Tagger, PipelineTrainsEvaluatesAndReusesTheEncoder) {
  TempFolder dir;
  std::string text;
  for (int i = 0; i < 24; ++i)
    text += i % 2 ? "john\tB-PER\nsmith\tI-PER\nsaw\tO\nparis\tB-LOC\n\n" : "the\tO\ndog\tO\nsaw\tO\nmary\tB-PER\n\n";
  write_text(dir / "train.tsv", text);
  std::string data = fmt::format("{{type: token_classification, train: train.tsv, validation: train.tsv, test: "
                                 "train.tsv, tokenizer: {}, max_length: 16}}",
                                 wordpiece());
  std::string p = fmt::format(R"(name: nertest
seed: 5
threads: {{intra_op: 1, blas: 1}}
stages:
  tag:
    kind: train
    data: {data}
    model: {{type: tagger, encoder: {{type: transformer, hidden_size: 32, num_layers: 1, num_heads: 2,
             intermediate_size: 64, max_positions: 16}}}}
    loss: {{type: cross_entropy}}
    optimizer: {{type: adamw, lr: 3.0e-3}}
    evaluators: [{{type: ner}}]
    batch_size: 8
    steps: 40
    eval_every: 20
  again:
    kind: train
    data: {data}
    model: {{type: tagger, encoder: tag, dropout: 0.0}}
    loss: {{type: cross_entropy}}
    optimizer: {{type: adamw, lr: 1.0e-3}}
    evaluators: [{{type: ner}}]
    batch_size: 8
    steps: 2
  evaluate:
    kind: evaluate
    models: [tag, again]
    data: {data}
    split: test
    evaluators: [{{type: ner}}]
)",
                              fmt::arg("data", data));
  write_text(dir / "p.yaml", p);
  auto r = sh_test::runner("p.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string rec = sh_test::read_text(dir / "runs" / "nertest" / "latest" / "record.yaml");
  // The task is a lookup of the word: the trained tagger finds every entity of the test split.
  auto metric = [&](const std::string& stage, const std::string& name) {
    auto at = rec.find("\n  " + stage + ":");
    EXPECT_NE(at, std::string::npos) << stage;
    auto m = rec.find("\n      " + name + ": ", rec.find("metrics:", at));
    EXPECT_NE(m, std::string::npos) << name << "\n" << rec.substr(at, 3000);
    return m == std::string::npos ? -1.0 : std::stod(rec.substr(m + name.size() + 9));
  };
  EXPECT_DOUBLE_EQ(metric("tag", "test.f1"), 1.0);
  EXPECT_DOUBLE_EQ(metric("tag", "test.support.PER"), 24.0);
  EXPECT_DOUBLE_EQ(metric("evaluate", "tag.f1"), 1.0);
  EXPECT_GE(metric("evaluate", "again.f1"), 0.0);
  // The second stage's saved spec holds the encoder inline, not the stage name.
  const fs::path saved = dir / "runs" / "nertest" / "latest" / "stages" / "again" / "model.yaml";
  ConfigNode spec = parse_yaml(sh_test::read_text(saved), saved.string());
  ASSERT_TRUE(spec.at("encoder").is_map()) << sh_test::read_text(saved);
  EXPECT_EQ(spec.at("encoder").at("type").as_string(), "transformer");
  EXPECT_EQ(spec.at("encoder").at("hidden_size").as_int(), 32);
  EXPECT_EQ(spec.at("num_labels").as_int(), 4);
}

}  // namespace
