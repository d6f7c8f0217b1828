// SPDX-License-Identifier: Apache-2.0
// The SPECTER datasets of plugin dataset_specter, loaded as the runner loads them, on the hand-made fixtures of
// tests/data/specter/ (README there: tests/data/README.md) with bert-base-uncased WordPiece (ids below are its
// vocabulary's line numbers - 1: [PAD] 0, [CLS] 101, [SEP] 102, "." 1012, "citation" 11091, "graphs" 19287,
// "we" 2057, "embed" -> em ##bed = 7861 8270, "papers" 4981, "paper" 3259, "vectors" 19019, "ocean" 4153, "warm"
// 4010, "water" 2300, "deep" 2784, "learning" 4083, "with" 2007, "many" 2116, "layers" 9014, "neural" 15756).
//  - specter_triplets from data_dir: per query the number of hard and easy triplets SPECTER's rules give (worked
//    out below from training/data.json), every hard triplet within the margins, easy negatives never the query,
//    one of its candidates or a paper without text; seeds; samples_per_query / ratio_hard_negatives /
//    margin_fraction; batch tensors;
//  - text: exact ids of `[CLS] title [SEP] abstract [SEP]`, truncation keeping the final [SEP], null or missing
//    abstract, empty title;
//  - specter_triplets from pre-built JSON lines, by id and inline;
//  - papers: labels (class ids, labels(), splits), "all", sort_by_length, missing: skip / error;
//  - errors: each names the file (and line) and the id.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>

#include "support/test_support.h"
#include "stagehand/dataset.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"

using namespace stagehand;
using sh_test::TempFolder;
using sh_test::write_text;
namespace fs = std::filesystem;

namespace {

using sh_test::error_of;

Registry& registry() {
  static Registry* reg = [] {
    auto* r = new Registry;
    static PluginLoader loader(*r);
    for (const char* name : {"tokenizer_wordpiece", "dataset_specter"})
      loader.load(std::string(STAGEHAND_PLUGIN_DIR) + "/" + name + ".so", "test");
    return r;
  }();
  return *reg;
}

const fs::path kData = fs::path(STAGEHAND_TEST_DATA) / "specter";
const fs::path kTraining = kData / "training";

std::string wordpiece() {
  return fmt::format("{{type: wordpiece, vocab: {}/tokenizers/bert-base-uncased-vocab.txt}}", STAGEHAND_TEST_DATA);
}

std::shared_ptr<Dataset> make(const std::string& type, const std::string& options) {
  BuildContext ctx;
  ctx.registry = &registry();
  ctx.seed = 1;
  return registry().create<Dataset>(
      parse_yaml(fmt::format("{{type: {}, tokenizer: {}, {}}}", type, wordpiece(), options), "test"), ctx);
}

std::shared_ptr<Dataset> triplets_from(const fs::path& dir, const std::string& more = "") {
  return make("specter_triplets", fmt::format("data_dir: '{}'{}", dir.string(), more.empty() ? "" : ", " + more));
}

std::vector<int64_t> values(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kLong).contiguous().reshape({-1});
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}
std::vector<int64_t> row(const torch::Tensor& t, int64_t r) { return values(t[r]); }

std::vector<int64_t> all(const Dataset& d, const std::string& split) {
  std::vector<int64_t> idx(static_cast<size_t>(d.size(split)));
  std::iota(idx.begin(), idx.end(), 0);
  return idx;
}
std::vector<std::string> ids_of(const Dataset& d, const std::string& split) {
  return d.batch(split, all(d, split)).ids;
}

struct T3 {
  std::string q, p, n;
};
std::vector<T3> triplets(const Dataset& d, const std::string& split) {
  std::vector<T3> out;
  for (const auto& id : ids_of(d, split)) {
    const size_t a = id.find('|'), b = id.find('|', a + 1);
    out.push_back({id.substr(0, a), id.substr(a + 1, b - a - 1), id.substr(b + 1)});
  }
  return out;
}

// training/data.json, by hand.
const std::map<std::string, std::map<std::string, double>> kCounts = {
    {"q1", {{"c1", 5}, {"c2", 5}, {"c3", 1}, {"c4", 1}, {"c5", 1}}},
    {"q2", {{"c6", 5}, {"c7", 1}}},
    {"q3", {{"c8", 5}}},
    {"q4", {{"c1", 5}, {"c9", 5}, {"c10", 5}}},
    {"q5", {{"c3", 1}, {"c4", 1}}},
    {"q6", {{"c2", 2}, {"c11", 1}}},
    {"q7", {{"c12", 1.0}, {"c5", 1.5}, {"c9", 1.25}}},
    {"q9", {}},
    {"q10", {{"c4", 5}, {"c1", 1}, {"c2", 1}}},
};
// Every paper of training/metadata.json; x1 has neither title nor abstract.
const std::set<std::string> kPapers = {"q1",  "q2",  "q3",  "q4",  "q5", "q6", "q7", "q8", "q9",
                                       "q10", "c1",  "c2",  "c3",  "c4", "c5", "c6", "c7", "c8",
                                       "c9",  "c10", "c11", "c12", "e1", "e2", "e3", "e4", "x1"};

bool candidate(const std::string& q, const std::string& c) { return kCounts.at(q).count(c) > 0; }

// Hard (negative among the candidates) and easy triplets per query, in order of first appearance.
struct Tally {
  std::vector<std::string> order;
  std::map<std::string, std::pair<int, int>> n;
};
Tally tally(const std::vector<T3>& ts) {
  Tally t;
  for (const auto& x : ts) {
    if (!t.n.count(x.q)) t.order.push_back(x.q);
    auto& c = t.n[x.q];
    (candidate(x.q, x.n) ? c.first : c.second)++;
  }
  return t;
}

// Checks every triplet against SPECTER's rules with the query's margin (given by hand).
void check_rules(const std::vector<T3>& ts, const std::map<std::string, double>& margin) {
  for (const auto& t : ts) {
    SCOPED_TRACE(t.q + "|" + t.p + "|" + t.n);
    const auto& c = kCounts.at(t.q);
    double max = -1e9, min = 1e9;
    for (const auto& [id, v] : c) {
      max = std::max(max, v);
      min = std::min(min, v);
    }
    const double m = margin.at(t.q);
    ASSERT_TRUE(c.count(t.p)) << "the positive is not a candidate of the query";
    if (c.count(t.n)) {  // hard
      EXPECT_LT(c.at(t.n), max - m);
      EXPECT_GT(c.at(t.p), c.at(t.n) + m);
    } else {  // easy
      EXPECT_NE(t.n, t.q);
      EXPECT_TRUE(kPapers.count(t.n)) << "easy negative " << t.n << " is not a paper of the metadata";
      EXPECT_NE(t.n, "x1") << "a paper without title and abstract was drawn";
      EXPECT_GT(c.at(t.p), min + m);
    }
  }
}

// A copy of training/ in a temporary folder, with some files replaced.
void copy_training(const TempFolder& tmp, const std::map<std::string, std::string>& replace = {}) {
  for (const char* f : {"data.json", "metadata.json", "train.txt", "val.txt"})
    if (!replace.count(f)) fs::copy_file(kTraining / f, tmp / f);
  for (const auto& [f, text] : replace)
    if (!text.empty()) write_text(tmp / f, text);
}

// ------------------------------------------------------------------------------------------ triplet sampling

TEST(SpecterTriplets, CountsPerQueryFollowSpecterRules) {
  auto d = triplets_from(kTraining);
  EXPECT_EQ(d->splits(), (std::vector<std::string>{"train", "validation"}));  // no test.txt: no test split
  // Defaults: 5 per query, ceil(0.3 * 5) = 2 hard.
  //  q1 counts 5,5,1,1,1: margin 0.5 * 4 = 2; hard negatives count < 3 (3 of them), positives count > 3 (2):
  //     2 hard (2 x 3 >= 2), 3 easy.
  //  q2 5,1: 1 positive x 1 hard negative caps the hard triplets at 1; 4 easy.
  //  q3 one candidate, q4 all 5, q5 all 1: spread 0, no triplet. q6 counts 2,1: integers 1 apart, so the margin
  //     0.5 becomes 1: no count < 2 - 1 (no hard), none > 1 + 1 (no easy). q8 is not in data.json, q9 has no
  //     candidate: skipped.
  //  q7 1.0,1.5,1.25: margin 0.25; hard negatives count < 1.25: c12 only; positives > 1.0 + 0.25: c5 only
  //     (1.25 is not > 1.25); 2 hard (2 x 1 >= 2), 3 easy.
  //  q10 (val.txt) 5,1,1: 2 hard, 3 easy.
  ASSERT_EQ(d->size("train"), 15);
  ASSERT_EQ(d->size("validation"), 5);
  EXPECT_EQ(d->hints().at("skipped_queries"), 6);
  EXPECT_EQ(d->hints().at("vocab_size"), 30522);
  EXPECT_EQ(d->hints().at("pad_id"), 0);
  EXPECT_TRUE(d->labels().empty());

  auto train = triplets(*d, "train");
  Tally t = tally(train);
  EXPECT_EQ(t.order, (std::vector<std::string>{"q1", "q2", "q7"}));
  EXPECT_EQ(t.n["q1"], std::make_pair(2, 3));
  EXPECT_EQ(t.n["q2"], std::make_pair(1, 4));
  EXPECT_EQ(t.n["q7"], std::make_pair(2, 3));
  // Within a query the hard triplets come first, as in triplet_sampling.py.
  for (size_t i = 0; i < train.size(); ++i) {
    const bool hard = candidate(train[i].q, train[i].n);
    const size_t k = i % 5;
    EXPECT_EQ(hard, k < static_cast<size_t>(t.n[train[i].q].first)) << "triplet " << i;
  }
  check_rules(train, {{"q1", 2.0}, {"q2", 2.0}, {"q7", 0.25}});
  for (const auto& x : train) {
    if (x.q == "q2") EXPECT_EQ(x.p, "c6");
    if (x.q == "q2" && candidate("q2", x.n)) EXPECT_EQ(x.n, "c7");
    if (x.q == "q7") EXPECT_EQ(x.p, "c5");  // the only candidate above both margins
    if (x.q == "q7" && candidate("q7", x.n)) EXPECT_EQ(x.n, "c12");
    if (x.q == "q1") EXPECT_TRUE(x.p == "c1" || x.p == "c2");
  }
  auto val = triplets(*d, "validation");
  Tally v = tally(val);
  EXPECT_EQ(v.order, (std::vector<std::string>{"q10"}));
  EXPECT_EQ(v.n["q10"], std::make_pair(2, 3));
  check_rules(val, {{"q10", 2.0}});
  for (const auto& x : val) EXPECT_EQ(x.p, "c4");
}

// Found by fuzz/fuzz_specter.cpp: a query listed among its own candidates became its own positive (SPECTER's code
// does not check). It is left out of its candidates: the query samples exactly as without it.
TEST(SpecterTriplets, AQueryAmongItsOwnCandidatesIsLeftOut) {
  sh_test::TempFolder dir;
  for (const char* f : {"metadata.json", "train.txt", "val.txt"}) fs::copy_file(kTraining / f, dir.path() / f);
  std::string data = sh_test::read_text(kTraining / "data.json");
  const std::string q2 = "\"q2\": {\n    \"c6\"";
  ASSERT_NE(data.find(q2), std::string::npos);
  data.replace(data.find(q2), q2.size(), "\"q2\": {\n    \"q2\": {\"count\": 5},\n    \"c6\"");
  sh_test::write_text(dir.path() / "data.json", data);
  auto d = triplets_from(dir.path());
  auto plain = triplets_from(kTraining);
  ASSERT_EQ(d->size("train"), plain->size("train"));
  EXPECT_EQ(ids_of(*d, "train"), ids_of(*plain, "train"));
  for (const auto& x : triplets(*d, "train")) EXPECT_NE(x.p, x.q);
}

TEST(SpecterTriplets, SeedsDecideTheDrawsOnly) {
  auto a = triplets_from(kTraining);
  auto b = triplets_from(kTraining, "seed: 321");
  auto c = triplets_from(kTraining, "seed: 7");
  EXPECT_EQ(ids_of(*a, "train"), ids_of(*b, "train"));
  EXPECT_EQ(ids_of(*a, "validation"), ids_of(*b, "validation"));
  EXPECT_NE(ids_of(*a, "train"), ids_of(*c, "train"));
  EXPECT_NE(ids_of(*a, "validation"), ids_of(*c, "validation"));
  // The rules, not the draws: the same counts per query.
  auto tc = triplets(*c, "train");
  EXPECT_EQ(tally(tc).n, tally(triplets(*a, "train")).n);
  check_rules(tc, {{"q1", 2.0}, {"q2", 2.0}, {"q7", 0.25}});
}

TEST(SpecterTriplets, SamplingOptions) {
  {
    SCOPED_TRACE("ratio_hard_negatives 1: ceil(5) = 5 hard wanted, capped at positives x hard negatives");
    auto d = triplets_from(kTraining, "ratio_hard_negatives: 1.0");
    Tally t = tally(triplets(*d, "train"));
    EXPECT_EQ(t.n["q1"], std::make_pair(5, 0));                                   // 2 x 3 = 6 >= 5
    EXPECT_EQ(t.n["q2"], std::make_pair(1, 4));                                   // 1 x 1
    EXPECT_EQ(t.n["q7"], std::make_pair(2, 3));                                   // 2 x 1
    EXPECT_EQ(tally(triplets(*d, "validation")).n["q10"], std::make_pair(2, 3));  // 1 x 2
  }
  {
    SCOPED_TRACE("samples_per_query 1: ceil(0.3) = 1 hard, no easy");
    auto d = triplets_from(kTraining, "samples_per_query: 1");
    EXPECT_EQ(d->size("train"), 3);
    EXPECT_EQ(d->size("validation"), 1);
    for (const auto& x : triplets(*d, "train")) EXPECT_TRUE(candidate(x.q, x.n));
  }
  {
    SCOPED_TRACE("margin_fraction 0: no hard triplet (margin 0); positives are the candidates above the minimum");
    auto d = triplets_from(kTraining, "margin_fraction: 0.0");
    auto ts = triplets(*d, "train");
    Tally t = tally(ts);
    // q6 now gives triplets (ceil(0) = 0); q3, q4, q5 still do not (spread 0).
    EXPECT_EQ(t.order, (std::vector<std::string>{"q1", "q2", "q6", "q7"}));
    for (const auto& q : t.order) EXPECT_EQ(t.n[q], std::make_pair(0, 5)) << q;
    check_rules(ts, {{"q1", 0.0}, {"q2", 0.0}, {"q6", 0.0}, {"q7", 0.0}});
    std::set<std::string> q7_pos;
    for (const auto& x : ts)
      if (x.q == "q7") q7_pos.insert(x.p);
    for (const auto& p : q7_pos) EXPECT_TRUE(p == "c5" || p == "c9") << p;
    EXPECT_EQ(d->hints().at("skipped_queries"), 5);
  }
}

TEST(SpecterTriplets, BatchTensors) {
  auto d = triplets_from(kTraining);
  Batch b = d->batch("train", {0, 1, 5});
  ASSERT_EQ(b.ids.size(), 3u);
  EXPECT_EQ(b.ids[0].rfind("q1|", 0), 0u);
  EXPECT_EQ(b.ids[2].rfind("q2|c6|", 0), 0u);
  for (const char* p : {"query", "pos", "neg"}) {
    SCOPED_TRACE(p);
    const std::string pre = std::string(p) + ".";
    const auto& ids = b.at(pre + "input_ids");
    const auto& mask = b.at(pre + "attention_mask");
    ASSERT_EQ(ids.dim(), 2);
    EXPECT_EQ(ids.scalar_type(), torch::kInt64);
    EXPECT_EQ(ids.sizes(), mask.sizes());
    EXPECT_EQ(ids.sizes(), b.at(pre + "token_type_ids").sizes());
    EXPECT_EQ(values(b.at(pre + "token_type_ids")), std::vector<int64_t>(static_cast<size_t>(ids.numel()), 0));
    // Padded to this group's longest: one row has no padding, padding is [PAD] = 0 with mask 0.
    const auto lens = values(mask.sum(1));
    EXPECT_EQ(*std::max_element(lens.begin(), lens.end()), ids.size(1));
    for (int64_t r = 0; r < 3; ++r) {
      auto ir = row(ids, r), mr = row(mask, r);
      const auto len = static_cast<size_t>(lens[static_cast<size_t>(r)]);
      EXPECT_EQ(ir[0], 101);
      EXPECT_EQ(ir[len - 1], 102);
      for (size_t k = len; k < ir.size(); ++k) {
        EXPECT_EQ(ir[k], 0);
        EXPECT_EQ(mr[k], 0);
      }
    }
  }
  // q1: "Citation graphs for document embeddings" [SEP] "We learn paper vectors from citations."
  const std::vector<int64_t> q1 = {101, 11091, 19287, 2005, 6254,  7861, 8270,  4667, 2015,
                                   102, 2057,  4553,  3259, 19019, 2013, 22921, 1012, 102};
  auto qrow = row(b.at("query.input_ids"), 0);
  EXPECT_EQ(std::vector<int64_t>(qrow.begin(), qrow.begin() + 18), q1);
  EXPECT_EQ(row(b.at("pos.input_ids"), 2)[1], 17435);  // c6 "Spectral graph theory": "spectral"
}

// ---------------------------------------------------------------------------------------------- paper text

TEST(SpecterText, TitleSepAbstractExactIds) {
  TempFolder tmp;
  write_text(tmp / "metadata.json",
             R"({"a": {"paper_id": "a", "title": "Citation graphs", "abstract": "We embed papers."},
  "b": {"title": "Paper vectors", "abstract": null},
  "c": {"title": "Paper vectors"},
  "d": {"title": "", "abstract": "Warm water."},
  "e": {"title": null, "abstract": "Warm water."},
  "f": {"title": "deep learning with many layers neural networks", "abstract": "Warm water."}}
)");
  auto d = make("papers", fmt::format("metadata: '{}'", (tmp / "metadata.json").string()));
  EXPECT_EQ(d->splits(), (std::vector<std::string>{"all"}));
  Batch b = d->batch("all", all(*d, "all"));
  EXPECT_EQ(b.ids, (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
  const auto& ids = b.at("input_ids");
  auto real = [&](int64_t r) {
    auto v = row(ids, r);
    v.resize(static_cast<size_t>(values(b.at("attention_mask").sum(1))[static_cast<size_t>(r)]));
    return v;
  };
  EXPECT_EQ(real(0), (std::vector<int64_t>{101, 11091, 19287, 102, 2057, 7861, 8270, 4981, 1012, 102}));
  EXPECT_EQ(real(1), (std::vector<int64_t>{101, 3259, 19019, 102, 102}));       // null abstract
  EXPECT_EQ(real(2), (std::vector<int64_t>{101, 3259, 19019, 102, 102}));       // missing abstract
  EXPECT_EQ(real(3), (std::vector<int64_t>{101, 102, 4010, 2300, 1012, 102}));  // empty title
  EXPECT_EQ(real(4), (std::vector<int64_t>{101, 102, 4010, 2300, 1012, 102}));  // null title
  EXPECT_EQ(real(5),
            (std::vector<int64_t>{101, 2784, 4083, 2007, 2116, 9014, 15756, 6125, 102, 4010, 2300, 1012, 102}));
  EXPECT_EQ(ids.size(1), 13);
  EXPECT_EQ(values(b.at("token_type_ids").sum()), std::vector<int64_t>{0});
  EXPECT_FALSE(b.has("labels"));

  // max_length 8: the text is cut to 6 tokens and the final [SEP] stays.
  auto t = make("papers", fmt::format("metadata: '{}', max_length: 8", (tmp / "metadata.json").string()));
  Batch c = t->batch("all", {0, 5, 1});
  EXPECT_EQ(row(c.at("input_ids"), 0), (std::vector<int64_t>{101, 11091, 19287, 102, 2057, 7861, 8270, 102}));
  // A title longer than the room loses the middle [SEP] and the abstract.
  EXPECT_EQ(row(c.at("input_ids"), 1), (std::vector<int64_t>{101, 2784, 4083, 2007, 2116, 9014, 15756, 102}));
  EXPECT_EQ(row(c.at("input_ids"), 2), (std::vector<int64_t>{101, 3259, 19019, 102, 102, 0, 0, 0}));
  EXPECT_EQ(row(c.at("attention_mask"), 2), (std::vector<int64_t>{1, 1, 1, 1, 1, 0, 0, 0}));
}

// ------------------------------------------------------------------------------------- pre-built triplets

TEST(SpecterTriplets, PrebuiltByIdAndInline) {
  auto d =
      make("specter_triplets",
           fmt::format("train_triplets: '{0}/triplets/train.jsonl', validation_triplets: '{0}/triplets/validation.jsonl', "
                       "metadata: '{0}/training/metadata.json'",
                       kData.string()));
  EXPECT_EQ(d->splits(), (std::vector<std::string>{"train", "validation"}));
  EXPECT_EQ(d->size("train"), 3);  // the blank line is no triplet
  EXPECT_EQ(ids_of(*d, "train"), (std::vector<std::string>{"q1|c1|e1", "q1|c2|c3", "q2|c6|e2"}));
  Batch b = d->batch("validation", {0, 1});
  // Inline papers: v1 twice (one paper), an id-less paper named by where it first appears, e1 from the metadata,
  // and {"title": "Paper vectors"} again as the second negative (the same text: the same paper).
  EXPECT_EQ(b.ids, (std::vector<std::string>{"v1|validation:1:pos|e1", "v1|validation:2:pos|validation:1:pos"}));
  const std::vector<int64_t> v1 = {101, 11091, 19287, 102, 2057, 7861, 8270, 4981, 1012, 102};
  EXPECT_EQ(row(b.at("query.input_ids"), 0), v1);
  EXPECT_EQ(row(b.at("query.input_ids"), 1), v1);
  EXPECT_EQ(row(b.at("pos.input_ids"), 0), (std::vector<int64_t>{101, 3259, 19019, 102, 102, 0, 0}));
  EXPECT_EQ(row(b.at("pos.input_ids"), 1), (std::vector<int64_t>{101, 4153, 102, 4010, 2300, 1012, 102}));
  EXPECT_EQ(row(b.at("pos.attention_mask"), 0), (std::vector<int64_t>{1, 1, 1, 1, 1, 0, 0}));
  // e1: "Ocean temperature records" [SEP] "Measurements from ships and buoys." (buoys -> bu ##oys)
  EXPECT_EQ(row(b.at("neg.input_ids"), 0),
            (std::vector<int64_t>{101, 4153, 4860, 2636, 102, 11702, 2013, 3719, 1998, 20934, 27153, 1012, 102}));
  EXPECT_EQ(row(b.at("neg.input_ids"), 1), (std::vector<int64_t>{101, 3259, 19019, 102, 102, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(b.at("neg.attention_mask").sum().item<int64_t>(), 13 + 5);
}

// ------------------------------------------------------------------------------------------------ papers

// scidocs/paper_metadata_mag_mesh.json, in file order, with their token counts (title [SEP] abstract + 2).
const std::vector<std::string> kScidocs = {
    "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",  // 15  Deep learning / Neural networks with many layers ...
    "1b2c3d4e5f60718293a4b5c6d7e8f90123456789",  //  7  Protein structure / Folding.
    "2c3d4e5f60718293a4b5c6d7e8f901234567890a",  //  8  Gene expression in cancer cells / null
    "3d4e5f60718293a4b5c6d7e8f901234567890ab1",  // 15  Economic growth / Trade and investment ...
    "4e5f60718293a4b5c6d7e8f901234567890ab1c2",  //  9  Quantum computing / Qubits.
    "5f60718293a4b5c6d7e8f901234567890ab1c2d3",  // 12  Climate change / Rising sea levels ...
    "60718293a4b5c6d7e8f901234567890ab1c2d3e4",  // 17  Graph theory / Colouring the vertices ...
};
const std::vector<int64_t> kScidocsLengths = {15, 7, 8, 15, 9, 12, 17};

std::string scidocs(const std::string& more = "") {
  return fmt::format("metadata: '{}/scidocs/paper_metadata_mag_mesh.json'{}", kData.string(),
                     more.empty() ? "" : ", " + more);
}
std::string mag_labels() {
  return fmt::format(
      "train_labels: '{0}/scidocs/mag/train.csv', validation_labels: '{0}/scidocs/mag/val.csv', "
      "test_labels: '{0}/scidocs/mag/test.csv'",
      kData.string());
}
std::vector<std::string> paper(std::initializer_list<int> rows) {
  std::vector<std::string> out;
  for (int r : rows) out.push_back(kScidocs[static_cast<size_t>(r)]);
  return out;
}

TEST(Papers, AllPapersInFileOrder) {
  auto d = make("papers", scidocs());
  EXPECT_EQ(d->splits(), (std::vector<std::string>{"all"}));
  EXPECT_EQ(d->size("all"), 7);
  EXPECT_TRUE(d->labels().empty());
  EXPECT_EQ(d->hints().count("num_labels"), 0u);
  EXPECT_EQ(d->hints().at("vocab_size"), 30522);
  Batch b = d->batch("all", all(*d, "all"));
  EXPECT_EQ(b.ids, kScidocs);
  EXPECT_EQ(values(b.at("attention_mask").sum(1)), kScidocsLengths);
  EXPECT_FALSE(b.has("labels"));
  // "Deep learning" [SEP] "Neural networks with many layers learn representations of data."
  EXPECT_EQ(row(b.at("input_ids"), 0), (std::vector<int64_t>{101, 2784, 4083, 102, 15756, 6125, 2007, 2116, 9014, 4553,
                                                             15066, 1997, 2951, 1012, 102, 0, 0}));
  EXPECT_EQ(row(b.at("input_ids"), 2), (std::vector<int64_t>{101, 4962, 3670, 1999, 4456, 4442, 102, 102, 0, 0, 0, 0, 0,
                                                             0, 0, 0, 0}));  // null abstract
}

TEST(Papers, SortByLengthLongestFirst) {
  auto d = make("papers", scidocs("sort_by_length: true"));
  Batch b = d->batch("all", all(*d, "all"));
  // 17, then the two 15s in file order, 12, 9, 8, 7.
  EXPECT_EQ(b.ids, paper({6, 0, 3, 5, 4, 2, 1}));
  EXPECT_EQ(values(b.at("attention_mask").sum(1)), (std::vector<int64_t>{17, 15, 15, 12, 9, 8, 7}));
  // A batch of the last three pads to its own longest.
  EXPECT_EQ(d->batch("all", {4, 5, 6}).at("input_ids").size(1), 9);
}

TEST(Papers, LabelsFromSciDocsCsv) {
  auto d = make("papers", scidocs(mag_labels()));
  EXPECT_EQ(d->splits(), (std::vector<std::string>{"train", "validation", "test"}));
  // Labels 0, 2, 10 over the three files, in numeric order ("10" after "2"): class ids 0, 1, 2.
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"0", "2", "10"}));
  EXPECT_EQ(d->hints().at("num_labels"), 3);
  EXPECT_EQ(d->hints().at("skipped_papers"), 0);
  EXPECT_EQ(d->size("train"), 4);
  EXPECT_EQ(d->size("validation"), 2);
  EXPECT_EQ(d->size("test"), 2);
  Batch tr = d->batch("train", all(*d, "train"));
  EXPECT_EQ(tr.ids, paper({0, 3, 5, 1}));
  EXPECT_EQ(values(tr.at("labels")), (std::vector<int64_t>{0, 2, 1, 1}));
  EXPECT_EQ(tr.at("labels").scalar_type(), torch::kInt64);
  Batch va = d->batch("validation", {1, 0});
  EXPECT_EQ(va.ids, paper({2, 6}));
  EXPECT_EQ(values(va.at("labels")), (std::vector<int64_t>{0, 2}));
  Batch te = d->batch("test", all(*d, "test"));
  EXPECT_EQ(te.ids, paper({4, 0}));
  EXPECT_EQ(values(te.at("labels")), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(values(te.at("attention_mask").sum(1)), (std::vector<int64_t>{9, 15}));
  // Sorting moves the labels with their papers.
  auto s = make("papers", scidocs(mag_labels() + ", sort_by_length: true"));
  Batch st = s->batch("test", all(*s, "test"));
  EXPECT_EQ(st.ids, paper({0, 4}));
  EXPECT_EQ(values(st.at("labels")), (std::vector<int64_t>{0, 1}));
  EXPECT_NE(error_of([&] { d->size("all"); }).find("no split 'all'"), std::string::npos);
}

TEST(Papers, MissingPaperSkipOrError) {
  TempFolder tmp;
  write_text(tmp / "train.csv", "pid,class_label\n" + kScidocs[0] + ",3\nnot-a-paper,4\n\n" + kScidocs[1] + ",4\n");
  const std::string labels = fmt::format("train_labels: '{}'", (tmp / "train.csv").string());
  const std::string e = error_of([&] { make("papers", scidocs(labels)); });
  EXPECT_NE(e.find("train.csv:3"), std::string::npos) << e;
  EXPECT_NE(e.find("'not-a-paper'"), std::string::npos) << e;
  EXPECT_NE(e.find("missing: skip"), std::string::npos) << e;
  auto d = make("papers", scidocs(labels + ", missing: skip"));
  EXPECT_EQ(d->splits(), (std::vector<std::string>{"train"}));
  EXPECT_EQ(d->size("train"), 2);
  EXPECT_EQ(d->hints().at("skipped_papers"), 1);
  Batch b = d->batch("train", {0, 1});
  EXPECT_EQ(b.ids, paper({0, 1}));
  EXPECT_EQ(values(b.at("labels")), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(d->labels(), (std::vector<std::string>{"3", "4"}));
}

TEST(Papers, LabelPathsAreRelativeToTheFileThatNamesThem) {
  // Path options: a relative label file is taken from the folder of the YAML file that names it.
  TempFolder tmp;
  write_text(tmp / "labels" / "train.csv", "pid,class_label\n" + kScidocs[5] + ",7\n");
  const std::string yaml = fmt::format("{{type: papers, tokenizer: {}, {}, train_labels: labels/train.csv}}",
                                       wordpiece(), scidocs());
  BuildContext ctx;
  ctx.registry = &registry();
  auto d = registry().create<Dataset>(parse_yaml(yaml, (tmp / "pipeline.yaml").string()), ctx);
  EXPECT_EQ(d->batch("train", {0}).ids, paper({5}));
  EXPECT_EQ(d->labels(), std::vector<std::string>{"7"});
  // A file that is not there: the error names the resolved path and points at the value in the YAML file.
  const std::string e = error_of([&] {
    registry().create<Dataset>(parse_yaml(yaml.substr(0, yaml.find("labels/")) + "labels/nope.csv}",
                                          (tmp / "pipeline.yaml").string()),
                               ctx);
  });
  EXPECT_NE(e.find((tmp / "labels" / "nope.csv").string()), std::string::npos) << e;
  EXPECT_NE(e.find("pipeline.yaml:1:"), std::string::npos) << e;
}

// ------------------------------------------------------------------------------------------------ errors

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string e = error_of(f);
  for (const auto& p : parts) EXPECT_NE(e.find(p), std::string::npos) << "'" << p << "' not in: " << e;
}

TEST(SpecterDataErrors, UnknownPaperIds) {
  {
    TempFolder tmp;
    copy_training(tmp, {{"data.json", R"({"q1": {"c1": {"count": 5}, "ghost": {"count": 1}}})"}});
    expect_error([&] { triplets_from(tmp.path()); }, {"data.json", "'ghost'", "query 'q1'", "metadata.json"});
  }
  {
    TempFolder tmp;
    copy_training(tmp, {{"data.json", R"({"phantom": {"c1": {"count": 5}}})"}});
    expect_error([&] { triplets_from(tmp.path()); }, {"data.json", "query 'phantom'"});
  }
  {
    TempFolder tmp;
    copy_training(tmp, {{"train.txt", "q1\nnobody\n"}});
    expect_error([&] { triplets_from(tmp.path()); }, {"train.txt:2", "'nobody'"});
  }
  {
    TempFolder tmp;
    write_text(tmp / "t.jsonl", "{\"query\": \"q1\", \"pos\": \"c1\", \"neg\": \"zzz\"}\n");
    expect_error(
        [&] {
          make("specter_triplets", fmt::format("train_triplets: '{}', metadata: '{}'", (tmp / "t.jsonl").string(),
                                               (kTraining / "metadata.json").string()));
        },
        {"t.jsonl:1", "neg paper 'zzz'"});
    expect_error(
        [&] { make("specter_triplets", fmt::format("train_triplets: '{}'", (tmp / "t.jsonl").string())); },
        {"t.jsonl:1", "'q1'", "no metadata"});
  }
}

TEST(SpecterDataErrors, MalformedFiles) {
  {
    TempFolder tmp;
    copy_training(tmp, {{"metadata.json",
                         "{\n  \"q1\": {\"title\": \"A\"},\n  \"q2\": {\"title\": \"B\" \"abstract\": 1}\n}\n"}});
    expect_error([&] { triplets_from(tmp.path()); }, {"metadata.json:3:", "not valid JSON"});
  }
  {
    TempFolder tmp;
    copy_training(tmp, {{"metadata.json", R"({"q1": {"title": 5}})"}});
    expect_error([&] { triplets_from(tmp.path()); }, {"metadata.json", "paper 'q1'", "'title' is a number"});
  }
  {
    TempFolder tmp;
    copy_training(tmp, {{"data.json", "{\"q1\": {\"c1\": {\"count\": 5},\n \"c2\": {\"count\": }}}"}});
    expect_error([&] { triplets_from(tmp.path()); }, {"data.json:2:", "not valid JSON"});
  }
  {
    TempFolder tmp;
    copy_training(tmp, {{"data.json", R"({"q1": {"c1": {"count": "5"}}})"}});
    expect_error([&] { triplets_from(tmp.path()); },
                 {"data.json", "candidate 'c1' of query 'q1'", "'count' is a string"});
  }
  {
    TempFolder tmp;
    copy_training(tmp, {{"data.json", R"({"q1": {"c1": {"frac": 1}}})"}});
    expect_error([&] { triplets_from(tmp.path()); }, {"data.json", "candidate 'c1' of query 'q1' has no 'count'"});
  }
  {
    TempFolder tmp;
    write_text(tmp / "t.jsonl",
               "{\"query\": \"q1\", \"pos\": \"c1\", \"neg\": \"e1\"}\n{\"query\": \"q1\", \"pos\": \n");
    expect_error(
        [&] {
          make("specter_triplets", fmt::format("train_triplets: '{}', metadata: '{}'", (tmp / "t.jsonl").string(),
                                               (kTraining / "metadata.json").string()));
        },
        {"t.jsonl:2", "not valid JSON"});
    write_text(tmp / "u.jsonl", "{\"query\": {\"title\": \"A\"}, \"pos\": {\"title\": \"B\"}}\n");
    expect_error(
        [&] { make("specter_triplets", fmt::format("train_triplets: '{}'", (tmp / "u.jsonl").string())); },
        {"u.jsonl:1", "no field 'neg'"});
  }
  {
    TempFolder tmp;
    write_text(tmp / "a.csv", "pid,class_label\n" + kScidocs[0] + ",zero\n");
    write_text(tmp / "b.csv", kScidocs[0] + ",0\n" + kScidocs[1] + ",1\n");
    expect_error([&] { make("papers", scidocs(fmt::format("train_labels: '{}'", (tmp / "a.csv").string()))); },
                 {"a.csv:2", "label 'zero'", kScidocs[0]});
    expect_error([&] { make("papers", scidocs(fmt::format("train_labels: '{}'", (tmp / "b.csv").string()))); },
                 {"b.csv:1", "header row"});
    expect_error([&] { make("papers", scidocs(fmt::format("valid_labels: '{}'", (tmp / "a.csv").string()))); },
                 {"unknown option 'valid_labels'", "did you mean"});
  }
}

TEST(SpecterDataErrors, PaperWithoutText) {
  {
    // q1's candidate x1 has neither title nor abstract.
    TempFolder tmp;
    copy_training(
        tmp,
        {{"data.json", R"({"q1": {"c1": {"count": 5}, "x1": {"count": 1}}})"}, {"train.txt", "q1\n"}, {"val.txt", ""}});
    expect_error([&] { triplets_from(tmp.path(), "ratio_hard_negatives: 1.0"); },
                 {"paper 'x1'", "metadata.json", "neither a title nor an abstract"});
  }
  {
    TempFolder tmp;
    write_text(tmp / "m.json", R"({"ok": {"title": "Fine"}, "blank": {"title": " ", "abstract": null}})");
    expect_error([&] { make("papers", fmt::format("metadata: '{}'", (tmp / "m.json").string())); },
                 {"paper 'blank'", "m.json", "neither a title nor an abstract"});
  }
  {
    TempFolder tmp;
    write_text(tmp / "t.jsonl",
               "{\"query\": {\"title\": \"A\"}, \"pos\": {\"title\": \"B\"}, \"neg\": {\"abstract\": null}}\n");
    expect_error(
        [&] { make("specter_triplets", fmt::format("train_triplets: '{}'", (tmp / "t.jsonl").string())); },
        {"t.jsonl:1", "neg paper", "neither a title nor an abstract"});
  }
}

TEST(SpecterDataErrors, Sources) {
  expect_error([&] { make("specter_triplets", "max_length: 64"); }, {"neither data_dir nor train_triplets"});
  expect_error(
      [&] {
        make("specter_triplets", fmt::format("data_dir: '{}', train_triplets: '{}/triplets/train.jsonl'",
                                             kTraining.string(), kData.string()));
      },
      {"both data_dir and *_triplets"});
  TempFolder tmp;
  copy_training(tmp, {{"train.txt", ""}});
  expect_error([&] { triplets_from(tmp.path()); }, {"train.txt", "does not exist"});
  TempFolder none;
  copy_training(none, {{"train.txt", "q3\nq4\n"}});
  expect_error([&] { triplets_from(none.path()); }, {"train.txt", "no triplet", "2 queries"});
}

}  // namespace
