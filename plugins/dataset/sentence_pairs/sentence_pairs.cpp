// SPDX-License-Identifier: Apache-2.0
// Plugin dataset_sentence_pairs: sentence-pair datasets for paraphrase, similarity and inference tasks.
//   glue           : the GLUE TSV files of MRPC, QQP, QNLI, RTE, STS-B, MNLI (matched / mismatched), SNLI, and
//                    AllNLI (MNLI + SNLI train), in the folders download_glue_data.py writes;
//   sentence_pairs : JSON lines {"id"?, "a", "b", "label"?}, one file per split.
// Records are read and tokenized once, at construction; `batch` only copies ids (safe from several threads).
//
// Batches. encoding cross (a cross-encoder, e.g. BertForSequenceClassification): input_ids / attention_mask /
// token_type_ids of `[CLS] a [SEP] b [SEP]` (token types 0 up to the first [SEP], 1 after), longest-first truncation
// to max_length. encoding siamese (each sentence encoded alone, e.g. a DSE student): a.input_ids / a.attention_mask
// / a.token_type_ids of `[CLS] a [SEP]` and b.* of `[CLS] b [SEP]`, each truncated to max_length, token types 0;
// a and b are padded to the same length (the longer of the two in the batch), so a model may run them as one
// batch. encoding both: the two layouts in every batch (one evaluation split for a cross-encoder teacher and
// siamese students side by side). `labels`: (B) int64 class ids, or (B) float32 targets for regression (STS-B, `regression: true`); absent
// when the split's file has no labels (GLUE test files). batch.ids: the example ids, stable and unique per split,
// independent of batch order (a teacher's logits are keyed by them).
//
// GLUE files are tab-separated without quoting (a quote is literal text, as GLUE's processors read them with
// csv quotechar=None); the first line is the header, and a UTF-8 byte order mark (MRPC's files) is ignored. Columns
// are found by their header names, which for GLUE's files gives the processors' positions:
//   mrpc   #1 String, #2 String, Quality (0/1)              (test: index, #1 ID, #2 ID, #1 String, #2 String)
//   qqp    question1, question2, is_duplicate (0/1), id      (test: id, question1, question2)
//   qnli   question, sentence, label, index                  (entailment / not_entailment)
//   rte    sentence1, sentence2, label, index                (entailment / not_entailment)
//   sts-b  sentence1 (col 7), sentence2 (col 8), score (col 9, a float in [0, 5]), index: regression
//   mnli, mnli-mm, snli, allnli: sentence1, sentence2, gold_label (the last column), index; classes contradiction,
//          entailment, neutral (GLUE's order). A gold_label of "-" (no annotator consensus, in SNLI) is skipped and
//          counted in hints 'skipped_records'.
// Every line must have as many columns as the header; a line that does not, or whose label is not one of the
// task's, is a malformed record: construction stops with file:line, or with on_bad_record: skip it is skipped and
// counted (QQP's train file has a few such lines).
// Files: train.tsv; validation dev.tsv (mnli: dev_matched.tsv, mnli-mm: dev_mismatched.tsv); test test.tsv when
// present (mnli: test_matched.tsv, mnli-mm: test_mismatched.tsv). allnli: data_dir holds MNLI/ and SNLI/; train is
// MNLI/train.tsv then SNLI/train.tsv, validation MNLI/dev_matched.tsv, test MNLI/test_matched.tsv when present.
// A test file whose header has no label column (GLUE's) gives a test split without `labels`; one in the train
// layout (data/paraphrase/bible_mrpc) is labelled.
// Example ids: "<split>:<key>", key = the file's id column (QQP id, the index column) when its header has one,
// else the 1-based line number; allnli adds the source: "train:snli:<key>". Duplicate ids in a split are an error.
//
// sentence_pairs: "a" and "b" are strings; "id" a string or an integer (default "<split>:<line>"); "label" a string
// or a number (numbers as JSON writes them, so 1 and 1.0 differ) and may be left out of a whole file (test data),
// not of some of its records. Classes: the `labels` option, or the train file's labels sorted (numerically when
// every label is an integer); an unknown label in validation or test is an error. `regression: true` reads labels
// as numbers (a JSON number or a string holding one). Bad JSON, a missing or mistyped field: file:line, or skipped
// with on_bad_record: skip.
#include <stagehand/dataset.h>
#include <stagehand/plugin.h>
#include <stagehand/tokenizer.h>
#include <stagehand/numbers.h>

#include <stagehand/sdk/collate.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "pair_files.h"

namespace stagehand {
namespace {
namespace fs = std::filesystem;
using pair_files::BadRecords;
using pair_files::Example;
using pair_files::GlueTask;
using pair_files::ReadSplit;
using pair_files::excerpt;
using pair_files::glue_task;
using pair_files::join;
using pair_files::parse_float;
using pair_files::read_jsonl;

struct PairSettings {
  std::string component;  // "glue" or "sentence_pairs", in messages
  int64_t max_length = 128;
  bool siamese = false;
  bool both = false;  // siamese and cross layouts in the same batch
  int threads = 2;
  bool regression = false;
  std::vector<std::string> labels;  // class names (classification)
  bool fixed_labels = true;         // labels from an option or the task, rather than from the train file
};

// Tokenized examples of one split. Cross: example i is ids[off[i], off[i+1]) with its token types; siamese: a is
// ids/off, b is ids_b/off_b (token types all 0).
struct Split {
  std::string name;
  bool labelled = true;
  std::vector<int32_t> ids, ids_b;
  std::vector<uint8_t> types;
  std::vector<int64_t> off{0}, off_b{0};
  std::vector<int32_t> ids_x;  // encoding both: the cross layout beside the siamese one
  std::vector<uint8_t> types_x;
  std::vector<int64_t> off_x{0};
  std::vector<int64_t> classes;
  std::vector<float> values;
  std::vector<std::string> example_ids;
  int64_t size() const { return static_cast<int64_t>(example_ids.size()); }
};

class PairDataset : public Dataset {
 public:
  PairDataset(PairSettings s, const Tokenizer& tok, std::vector<ReadSplit> read, int64_t skipped)
      : s_(std::move(s)) {
    const SpecialTokens& sp = tok.special();
    SH_CHECK(sp.pad >= 0,
             "{}: the tokenizer has no '{}' token to pad batches with; use a tokenizer whose vocabulary has one or set "
             "its pad_token",
             s_.component, sp.pad_token);
    pad_id_ = sp.pad;
    std::map<std::string, int64_t> label_id;
    for (size_t i = 0; i < s_.labels.size(); ++i) label_id[s_.labels[i]] = static_cast<int64_t>(i);
    EncodeOptions enc;
    enc.max_length = static_cast<int32_t>(s_.max_length);
    enc.truncation = Truncation::LongestFirst;
    enc.padding = Padding::None;
    enc.add_special_tokens = true;
    for (auto& r : read) {
      if (r.examples.empty()) {
        std::vector<std::string> files;
        for (const auto& p : r.files) files.push_back(p.string());
        throw Error(fmt::format("{}: the {} split ({}) holds no record; fix the file", s_.component, r.name,
                                join(files)));
      }
      Split out;
      out.name = r.name;
      out.labelled = r.labelled;
      std::map<std::string, const Example*> seen;
      std::vector<std::string> a, b;
      a.reserve(r.examples.size());
      b.reserve(r.examples.size());
      for (auto& e : r.examples) {
        const std::string where = fmt::format("{}:{}", r.files[static_cast<size_t>(e.file)].string(), e.line);
        auto [it, fresh] = seen.emplace(e.id, &e);
        SH_CHECK(fresh,
                 "{}: {}: example id '{}' is already used at {}:{}; ids must be unique within the {} split, fix the "
                 "file",
                 s_.component, where, e.id, r.files[static_cast<size_t>(it->second->file)].string(), it->second->line,
                 r.name);
        if (r.labelled) {
          if (s_.regression) {
            double v = 0;
            SH_CHECK(parse_float(e.label, v), "{}: {}: label '{}' is not a number; regression labels are numbers",
                     s_.component, where, excerpt(e.label));
            out.values.push_back(static_cast<float>(v));
          } else {
            auto l = label_id.find(e.label);
            SH_CHECK(l != label_id.end(),
                     "{}: {}: label '{}' is not one of the {} known labels ({}), which {}; fix the record or list "
                     "every label in 'labels'",
                     s_.component, where, excerpt(e.label), s_.labels.size(), join(s_.labels),
                     s_.fixed_labels ? "are fixed" : "come from the train file");
            out.classes.push_back(l->second);
          }
        }
        a.push_back(std::move(e.a));
        b.push_back(std::move(e.b));
      }
      for (auto& e : r.examples) out.example_ids.push_back(std::move(e.id));
      r.examples = {};
      if (s_.siamese) {
        if (s_.both) append(out.ids_x, &out.types_x, out.off_x, tok.encode_batch(a, &b, enc, s_.threads));
        append(out.ids, nullptr, out.off, tok.encode_batch(a, nullptr, enc, s_.threads));
        append(out.ids_b, nullptr, out.off_b, tok.encode_batch(b, nullptr, enc, s_.threads));
      } else {
        append(out.ids, &out.types, out.off, tok.encode_batch(a, &b, enc, s_.threads));
      }
      splits_.push_back(std::move(out));
    }
    hints_ = {{"num_labels", s_.regression ? 1 : static_cast<int64_t>(s_.labels.size())},
              {"vocab_size", tok.vocab_size()},
              {"pad_id", sp.pad},
              {"skipped_records", skipped}};
  }

  std::vector<std::string> splits() const override {
    std::vector<std::string> out;
    for (const auto& s : splits_) out.push_back(s.name);
    return out;
  }
  int64_t size(const std::string& split) const override { return find(split).size(); }
  std::vector<std::string> labels() const override { return s_.regression ? std::vector<std::string>{} : s_.labels; }
  std::map<std::string, int64_t> hints() const override { return hints_; }

  Batch batch(const std::string& split, const std::vector<int64_t>& indices) const override {
    const Split& s = find(split);
    sdk::check_indices(indices, s.size(), s_.component, split);
    int64_t longest = sdk::longest_row(s.off, indices);
    if (s_.siamese) longest = std::max(longest, sdk::longest_row(s.off_b, indices));
    const int64_t bsz = static_cast<int64_t>(indices.size());
    Batch out;
    out.ids.reserve(indices.size());
    for (int64_t i : indices) out.ids.push_back(s.example_ids[static_cast<size_t>(i)]);
    if (s_.siamese) {
      fill(out, "a.", s.ids, nullptr, s.off, indices, longest);
      fill(out, "b.", s.ids_b, nullptr, s.off_b, indices, longest);
      if (s_.both) {
        fill(out, "", s.ids_x, &s.types_x, s.off_x, indices, sdk::longest_row(s.off_x, indices));
      }
    } else {
      fill(out, "", s.ids, &s.types, s.off, indices, longest);
    }
    if (s.labelled) {
      if (s_.regression) {
        auto labels = torch::empty({bsz}, torch::kFloat32);
        float* p = labels.data_ptr<float>();
        for (int64_t r = 0; r < bsz; ++r) p[r] = s.values[static_cast<size_t>(indices[static_cast<size_t>(r)])];
        out.set("labels", labels);
      } else {
        auto labels = torch::empty({bsz}, torch::kInt64);
        int64_t* p = labels.data_ptr<int64_t>();
        for (int64_t r = 0; r < bsz; ++r) p[r] = s.classes[static_cast<size_t>(indices[static_cast<size_t>(r)])];
        out.set("labels", labels);
      }
    }
    return out;
  }

 private:
  static void append(std::vector<int32_t>& ids, std::vector<uint8_t>* types, std::vector<int64_t>& off,
                     const std::vector<Encoding>& encodings) {
    for (const auto& e : encodings) {
      ids.insert(ids.end(), e.ids.begin(), e.ids.end());
      if (types)
        for (int32_t t : e.type_ids) types->push_back(static_cast<uint8_t>(t));
      off.push_back(static_cast<int64_t>(ids.size()));
    }
  }

  void fill(Batch& out, const std::string& prefix, const std::vector<int32_t>& ids, const std::vector<uint8_t>* types,
            const std::vector<int64_t>& off, const std::vector<int64_t>& indices, int64_t longest) const {
    const int64_t bsz = static_cast<int64_t>(indices.size());
    sdk::PaddedTokens tokens(bsz, longest, pad_id_);
    for (int64_t r = 0; r < bsz; ++r) {
      const int64_t i = indices[static_cast<size_t>(r)];
      const auto k = static_cast<size_t>(off[i]);
      if (types)
        tokens.set_row(r, ids.data() + k, types->data() + k, off[i + 1] - off[i]);
      else
        tokens.set_row(r, ids.data() + k, off[i + 1] - off[i]);
    }
    tokens.put(out, prefix);
  }

  const Split& find(const std::string& split) const {
    for (const auto& s : splits_)
      if (s.name == split) return s;
    throw Error(fmt::format("{} has no split '{}'; its splits are: {}", s_.component, split, join(splits())));
  }

  PairSettings s_;
  int32_t pad_id_ = 0;
  std::vector<Split> splits_;
  std::map<std::string, int64_t> hints_;
};

// Settings common to both datasets' options.
PairSettings common_settings(const Options& o, const char* component) {
  PairSettings s;
  s.component = component;
  s.max_length = o.get<int64_t>("max_length");
  s.siamese = o.get<std::string>("encoding") != "cross";
  s.both = o.get<std::string>("encoding") == "both";
  s.threads = static_cast<int>(o.get<int64_t>("threads"));
  SH_CHECK(s.max_length >= (s.siamese ? 3 : 4),
           "{}: max_length {} leaves no room for text after the special tokens ({} with encoding {}); raise it",
           component, s.max_length, s.siamese ? 2 : 3, s.siamese ? "siamese" : "cross");
  return s;
}

void report_skipped(const std::string& component, const BadRecords& bad, int64_t other, const std::string& other_what) {
  // Components have no logger of their own; stderr is where the run log's console lines go too.
  if (bad.count > 0)
    std::cerr << fmt::format("{}: skipped {} malformed record(s) (on_bad_record: skip); the first: {}\n", component,
                             bad.count, bad.first);
  if (other > 0) std::cerr << fmt::format("{}: skipped {} record(s) {}\n", component, other, other_what);
}

// ---------------------------------------------------------------------------------------------------------- glue

// The files of one split: (file, source tag for ids) pairs; empty when an optional split has no file.
std::vector<std::pair<fs::path, std::string>> glue_files(const std::string& task, const fs::path& dir,
                                                         const std::string& split) {
  if (task == "allnli") {
    if (split == "train") return {{dir / "MNLI" / "train.tsv", "mnli"}, {dir / "SNLI" / "train.tsv", "snli"}};
    if (split == "validation") return {{dir / "MNLI" / "dev_matched.tsv", "mnli"}};
    return {{dir / "MNLI" / "test_matched.tsv", "mnli"}};
  }
  const std::string suffix = task == "mnli" ? "_matched" : task == "mnli-mm" ? "_mismatched" : "";
  if (split == "train") return {{dir / "train.tsv", ""}};
  if (split == "validation") return {{dir / ("dev" + suffix + ".tsv"), ""}};
  return {{dir / ("test" + suffix + ".tsv"), ""}};
}

std::shared_ptr<Dataset> make_glue(const Options& o, const BuildContext& ctx) {
  SH_CHECK(ctx.registry != nullptr, "glue: built without a registry, so its tokenizer cannot be built");
  PairSettings s = common_settings(o, "glue");
  const std::string task = o.get<std::string>("task");
  const fs::path dir = o.path("data_dir");
  const GlueTask t = glue_task(task);
  s.regression = t.regression;
  s.labels = t.classes;
  s.fixed_labels = true;
  BadRecords bad{"glue", o.get<std::string>("on_bad_record") == "skip"};
  int64_t no_gold = 0;
  auto tok = ctx.registry->create<Tokenizer>(o.node("tokenizer"), ctx);
  std::vector<ReadSplit> splits;
  for (const char* split : {"train", "validation", "test"}) {
    const auto files = glue_files(task, dir, split);
    const bool optional = std::string(split) == "test";
    bool all_there = true;
    for (const auto& [file, source] : files) {
      if (fs::is_regular_file(file)) continue;
      all_there = false;
      SH_CHECK(optional,
               "glue: no {} file '{}' for task {}; data_dir must be the task's folder as download_glue_data.py writes "
               "it{}",
               split, file.string(), task,
               task == "allnli" ? " (for allnli, the folder holding MNLI/ and SNLI/)"
                                : " (train.tsv, dev.tsv or dev_matched.tsv / dev_mismatched.tsv, test.tsv optional)");
    }
    if (!all_there) continue;
    ReadSplit r;
    r.name = split;
    for (const auto& [file, source] : files) {
      r.files.push_back(file);
      const bool labelled =
          pair_files::read_glue(task, t, file, static_cast<int>(r.files.size()) - 1, split, source, bad, no_gold,
                                r.examples);
      SH_CHECK(labelled || r.files.size() == 1, "glue: {} has no label column but other {} files have; fix the file",
               file.string(), split);
      r.labelled = labelled;
    }
    splits.push_back(std::move(r));
  }
  report_skipped("glue", bad, no_gold, "with gold_label '-' (no annotator consensus)");
  return std::make_shared<PairDataset>(std::move(s), *tok, std::move(splits), bad.count + no_gold);
}

// ------------------------------------------------------------------------------------------------ sentence_pairs

std::shared_ptr<Dataset> make_sentence_pairs(const Options& o, const BuildContext& ctx) {
  SH_CHECK(ctx.registry != nullptr, "sentence_pairs: built without a registry, so its tokenizer cannot be built");
  PairSettings s = common_settings(o, "sentence_pairs");
  s.regression = o.get<bool>("regression");
  s.fixed_labels = o.has("labels");
  SH_CHECK(!(s.regression && s.fixed_labels),
           "sentence_pairs: 'labels' is set but regression is true (labels are numbers); remove one of them");
  if (s.fixed_labels) {
    s.labels = o.get<std::vector<std::string>>("labels");
    SH_CHECK(!s.labels.empty(), "sentence_pairs: 'labels' is empty; list the class names or leave it unset");
    std::set<std::string> seen;
    for (const auto& l : s.labels)
      SH_CHECK(seen.insert(l).second, "sentence_pairs: label '{}' appears twice in 'labels'; list each once", l);
  }
  BadRecords bad{"sentence_pairs", o.get<std::string>("on_bad_record") == "skip"};
  std::vector<ReadSplit> splits;
  for (const char* split : {"train", "validation", "test"}) {
    if (!o.has(split)) continue;
    ReadSplit r;
    r.name = split;
    r.files.push_back(o.path(split));
    read_jsonl(r.files.front(), split, s.regression, bad, r);
    splits.push_back(std::move(r));
  }
  SH_CHECK(!splits.empty(), "sentence_pairs: no data file; give at least one of 'train', 'validation', 'test'");
  if (!s.regression && !s.fixed_labels) {
    SH_CHECK(splits.front().name == "train",
             "sentence_pairs: no 'train' file to learn the labels from; list them in 'labels' (in the order of the "
             "model's classes)");
    std::set<std::string> seen;
    for (const auto& e : splits.front().examples) seen.insert(e.label);
    s.labels.assign(seen.begin(), seen.end());
    bool numeric = !s.labels.empty();
    for (const auto& l : s.labels) {
      int64_t v = 0;
      numeric = numeric && parse_int(l, v);
    }
    if (numeric)
      std::sort(s.labels.begin(), s.labels.end(),
                [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  }
  for (const auto& r : splits)
    SH_CHECK(r.name != "train" || r.labelled, "sentence_pairs: the train file {} has no labels; give its records a "
             "'label' field", r.files.front().string());
  auto tok = ctx.registry->create<Tokenizer>(o.node("tokenizer"), ctx);
  report_skipped("sentence_pairs", bad, 0, "");
  return std::make_shared<PairDataset>(std::move(s), *tok, std::move(splits), bad.count);
}

// Options both datasets share.
Schema& pair_options(Schema& schema) {
  return schema.component("tokenizer", "tokenizer", "tokenizer spec, or the name of a tokenizer stage")
      .opt("max_length", int64_t{128},
           "tokens per encoding, special tokens included: of [CLS] a [SEP] b [SEP] (cross, longest-first "
           "truncation) or of each [CLS] s [SEP] (siamese)")
      .min(3)
      .choice("encoding", "cross", {"cross", "siamese", "both"},
              "cross: input_ids/attention_mask/token_type_ids of [CLS] a [SEP] b [SEP] (a cross-encoder); siamese: "
              "a.* and b.*, each sentence alone as [CLS] s [SEP] with token types 0 (a bi-encoder); both: the two "
              "layouts in every batch (a teacher and students evaluated on one split)")
      .choice("on_bad_record", "fail", {"fail", "skip"},
              "malformed records: fail with file:line, or skip them (counted in hints 'skipped_records')")
      .opt("threads", int64_t{2}, "threads that tokenize the texts")
      .min(1);
}

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  stagehand::OptionSpec task;  // a choice without a default: the task must be named
  task.name = "task";
  task.type = OptionType::String;
  task.choices = {"mrpc", "qqp", "qnli", "rte", "sts-b", "mnli", "mnli-mm", "snli", "allnli"};
  task.doc =
      "GLUE task (its file layout and labels); mnli validates on dev_matched, mnli-mm on dev_mismatched, allnli "
      "trains on MNLI + SNLI and validates on MNLI dev_matched; sts-b is a regression (float labels)";
  stagehand::Schema glue;
  glue.add(task)
      .path("data_dir",
            "the task's folder as download_glue_data.py writes it (train.tsv, dev.tsv or dev_matched.tsv / "
            "dev_mismatched.tsv, optional test.tsv or test_matched.tsv / test_mismatched.tsv); allnli: the folder "
            "holding MNLI/ and SNLI/");
  stagehand::pair_options(glue);
  stagehand::Schema pairs;
  pairs.optional("train", OptionType::Path, "training JSON lines file (its labels define the classes unless 'labels')")
      .optional("validation", OptionType::Path, "validation JSON lines file")
      .optional("test", OptionType::Path, "test JSON lines file (may leave out labels: the split then has none)")
      .list("labels", OptionType::String, stagehand::ConfigNode::null(),
            "class names in class-id order; unset: the train file's labels, sorted (numerically if integers)")
      .nullable()
      .opt("regression", false, "labels are numbers (float32 targets, num_labels 1) rather than class names");
  stagehand::pair_options(pairs);
  registrar
      .add<stagehand::Dataset>(
          "glue",
          "GLUE sentence-pair tasks (MRPC, QQP, QNLI, RTE, STS-B, MNLI, SNLI, AllNLI) from their TSV files, encoded "
          "for a cross-encoder or a siamese bi-encoder",
          glue,
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) { return stagehand::make_glue(o, ctx); })
      .with_example(stagehand::parse_yaml(
          "{type: glue, task: mrpc, data_dir: data/paraphrase/bible_mrpc, "
          "tokenizer: {type: wordpiece, vocab: tests/data/tokenizers/bert-base-uncased-vocab.txt}}",
          "example"));
  registrar
      .add<stagehand::Dataset>(
          "sentence_pairs",
          "sentence pairs with a class or a score from JSON lines {\"id\", \"a\", \"b\", \"label\"}, encoded for a "
          "cross-encoder or a siamese bi-encoder",
          pairs,
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
            return stagehand::make_sentence_pairs(o, ctx);
          })
      .with_example(stagehand::parse_yaml(
          "{type: sentence_pairs, train: tests/data/glue/pairs/train.jsonl, encoding: siamese, "
          "tokenizer: {type: wordpiece, vocab: tests/data/tokenizers/bert-base-uncased-vocab.txt}}",
          "example"));
}
