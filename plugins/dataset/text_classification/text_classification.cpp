// SPDX-License-Identifier: Apache-2.0
// Dataset `text_classification`: one file per split (JSON lines, CSV or TSV), a text (or a pair of texts) and a
// label per record. Records are read and tokenized once, at construction; `batch` only copies ids.
//
// Labels: the `labels` option fixes the class order; otherwise the classes are the labels of the train file,
// sorted (numerically when every label is an integer, so that "10" follows "9"). A label at validation or test
// time that the classes do not hold is always an error: the model has no output for it.
// Malformed records (bad JSON or invalid UTF-8, a missing field, a wrong number of columns, an empty text or
// label) stop construction with file:line, or are counted and skipped with `on_bad_record: skip`.
//
// `format: blurb` reads the relation-extraction TSV files of BioBERT and BLURB (GAD, ChemProt, DDI): tab-separated,
// no quoting (a double quote is literal text, as Python's csv.reader with quotechar=None reads them), and per file
// either 2 columns (sentence, label) or 3 (id, sentence, label), with or without a header line
// (`index<TAB>sentence<TAB>label` in BioBERT's test files). The layout is decided per file, so GAD's train.tsv
// (no header, 2 columns) and test.tsv (header, 3 columns) are read with one spec.
//
// `has_header: auto` decides per file: the first non-blank record is a header when one of its fields is the
// label column's name and another is the text column's name (ASCII case-insensitive, surrounding spaces
// ignored). The names are label_field and text_field when those are names; when they are column numbers (and
// always with format blurb) they are `label`, and `sentence` or `text`. So a data line is taken for a header only
// if its label is literally the word "label".
#include <stagehand/dataset.h>
#include <stagehand/plugin.h>
#include <stagehand/tokenizer.h>
#include <stagehand/numbers.h>

#include <stagehand/sdk/collate.h>
#include <stagehand/sdk/text_source.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <mutex>
#include <set>

#include "text_facts.h"
#include "text_records.h"

namespace stagehand {
namespace {

/// Each record encoded once: a pair file's records without a second text (`singles`, ascending) as single texts, the
/// others as pairs.
std::vector<Encoding> encode_records(const Tokenizer& tok, const std::vector<std::string>& a,
                                     const std::vector<std::string>* b, const std::vector<size_t>& singles,
                                     const EncodeOptions& enc, int threads) {
  if (singles.empty()) return tok.encode_batch(a, b, enc, threads);
  std::vector<std::string> pa, pb, sa;
  std::vector<bool> single(a.size(), false);
  for (size_t i : singles) single[i] = true;
  for (size_t i = 0; i < a.size(); ++i) {
    if (single[i]) {
      sa.push_back(a[i]);
    } else {
      pa.push_back(a[i]);
      pb.push_back((*b)[i]);
    }
  }
  std::vector<Encoding> pairs = tok.encode_batch(pa, &pb, enc, threads), ones = tok.encode_batch(sa, nullptr, enc, threads);
  std::vector<Encoding> out;
  out.reserve(a.size());
  size_t p = 0, o = 0;
  for (size_t i = 0; i < a.size(); ++i) out.push_back(std::move(single[i] ? ones[o++] : pairs[p++]));
  return out;
}
namespace fs = std::filesystem;
using text_records::Format;
using text_records::Header;
using text_records::Record;
using text_records::Settings;
using text_classification::fixed_labels_of;
using text_classification::labels_of_records;
using text_classification::settings_from;

// Tokenized examples of one split: example i is ids[offsets[i], offsets[i+1]).
struct Split {
  std::string name;
  std::vector<int32_t> ids;
  std::vector<uint8_t> type_ids;
  std::vector<int64_t> offsets{0};
  std::vector<int64_t> labels;
  std::vector<std::string> example_ids;
  std::vector<std::string> texts, pairs;  // as read, before tokenizing
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

class TextClassification : public Dataset, public sdk::TextSource {
 public:
  TextClassification(const Options& o, const BuildContext& ctx) {
    SH_CHECK(ctx.registry != nullptr, "built without a registry, so its tokenizer cannot be built");
    const Settings s = settings_from(o);
    const int64_t max_length = o.get<int64_t>("max_length");
    const int threads = static_cast<int>(o.get<int64_t>("threads"));
    std::vector<std::pair<std::string, fs::path>> files;
    for (const char* split : {"train", "validation", "test"})
      if (o.has(split)) files.emplace_back(split, o.path(split));
    const bool fixed_labels = o.has("labels");
    if (fixed_labels) labels_ = fixed_labels_of(o, s);
    auto tok = ctx.registry->create<Tokenizer>(o.node("tokenizer"), ctx);

    SH_CHECK(!files.empty(), "no data file; give at least one of 'train', 'validation', 'test'");
    const SpecialTokens& sp = tok->special();
    SH_CHECK(sp.pad >= 0,
             "the tokenizer has no '{}' token to pad batches with; use a tokenizer "
             "whose vocabulary has one or set its pad_token",
             sp.pad_token);
    SH_CHECK(max_length >= (s.has_pair ? 4 : 3),
             "max_length {} leaves no room for text after the special tokens; raise it", max_length);
    pad_id_ = sp.pad;

    std::vector<std::vector<Record>> records;
    std::string first_skipped;
    for (const auto& [split, file] : files) {
      records.push_back(text_records::read_records(s, file, skipped_, first_skipped));
    }
    if (!fixed_labels) {
      SH_CHECK(files.front().first == "train",
               "no 'train' file to learn the labels from; list them in 'labels' (in the order "
               "of the model's classes)");
      labels_ = labels_of_records(records.front());
    }
    std::map<std::string, int64_t> label_id;
    for (size_t i = 0; i < labels_.size(); ++i) label_id[labels_[i]] = static_cast<int64_t>(i);
    std::string known;
    for (const auto& l : labels_) known += (known.empty() ? "" : ", ") + l;

    EncodeOptions enc;
    enc.max_length = static_cast<int32_t>(max_length);
    enc.truncation = Truncation::LongestFirst;
    enc.padding = Padding::None;
    enc.add_special_tokens = true;
    for (size_t f = 0; f < files.size(); ++f) {
      const auto& [split, file] = files[f];
      auto& recs = records[f];
      SH_CHECK(!recs.empty(), "{} file '{}' holds no record", split, file.string());
      Split out;
      out.name = split;
      std::vector<std::string> a, b;
      std::vector<size_t> singles;  // records of a pair file without a second text
      for (auto& r : recs) {
        if (r.single) singles.push_back(a.size());
        auto it = label_id.find(r.label);
        SH_CHECK(it != label_id.end(),
                 "{}:{}: label '{}' is not one of the {} known labels ({}), which {}; fix the "
                 "record or list every label in 'labels'",
                 file.string(), r.line, r.label, labels_.size(), known,
                 fixed_labels ? "'labels' lists" : "come from the train file");
        out.labels.push_back(it->second);
        out.example_ids.push_back(std::move(r.id));
        a.push_back(std::move(r.text));
        if (s.has_pair) b.push_back(std::move(r.pair));
      }
      recs = {};
      auto encodings = encode_records(*tok, a, s.has_pair ? &b : nullptr, singles, enc, threads);
      for (const auto& e : encodings) {
        out.ids.insert(out.ids.end(), e.ids.begin(), e.ids.end());
        for (int32_t t : e.type_ids) out.type_ids.push_back(static_cast<uint8_t>(t));
        out.offsets.push_back(static_cast<int64_t>(out.ids.size()));
      }
      out.texts = std::move(a);  // kept for stages that read words (sdk::TextSource)
      out.pairs = std::move(b);
      splits_.push_back(std::move(out));
    }
    hints_ = {{"num_labels", static_cast<int64_t>(labels_.size())},
              {"vocab_size", tok->vocab_size()},
              {"pad_id", sp.pad},
              {"skipped_records", skipped_}};
    if (skipped_ > 0)
      // Components have no logger of their own; stderr is where the run log's console lines go too.
      std::cerr << fmt::format(
          "text_classification: skipped {} malformed record(s) (on_bad_record: skip); the first: "
          "{}\n",
          skipped_, first_skipped);
  }

  std::vector<std::string> splits() const override {
    std::vector<std::string> out;
    for (const auto& s : splits_) out.push_back(s.name);
    return out;
  }
  int64_t size(const std::string& split) const override { return find(split).size(); }
  std::vector<std::string> labels() const override { return labels_; }
  const std::vector<std::string>& texts(const std::string& split) const override { return find(split).texts; }
  const std::vector<std::string>& text_pairs(const std::string& split) const override { return find(split).pairs; }
  std::map<std::string, int64_t> hints() const override { return hints_; }

  Batch batch(const std::string& split, const std::vector<int64_t>& indices) const override {
    const Split& s = find(split);
    sdk::check_indices(indices, s.size(), "text_classification", split);
    const int64_t bsz = static_cast<int64_t>(indices.size());
    sdk::PaddedTokens tokens(bsz, sdk::longest_row(s.offsets, indices), pad_id_);
    auto labels = torch::empty({bsz}, torch::kInt64);
    int64_t* labels_p = labels.data_ptr<int64_t>();
    Batch out;
    out.ids.reserve(indices.size());
    for (int64_t r = 0; r < bsz; ++r) {
      const int64_t i = indices[static_cast<size_t>(r)];
      const auto k = static_cast<size_t>(s.offsets[i]);
      tokens.set_row(r, s.ids.data() + k, s.type_ids.data() + k, s.offsets[i + 1] - s.offsets[i]);
      labels_p[r] = s.labels[static_cast<size_t>(i)];
      out.ids.push_back(s.example_ids[static_cast<size_t>(i)]);
    }
    tokens.put(out);
    out.set("labels", labels);
    return out;
  }

 private:
  const Split& find(const std::string& split) const {
    for (const auto& s : splits_)
      if (s.name == split) return s;
    std::string have;
    for (const auto& s : splits_) have += (have.empty() ? "" : ", ") + s.name;
    throw Error(
        fmt::format("text_classification has no split '{}'; its splits are: {} (give a file for it with "
                    "the option of that name)",
                    split, have));
  }

  int32_t pad_id_ = 0;
  int64_t skipped_ = 0;
  std::vector<std::string> labels_;
  std::vector<Split> splits_;
  std::map<std::string, int64_t> hints_;
};

}  // namespace
}  // namespace stagehand

namespace {
// A string choice rather than a bool, so that `auto` fits; YAML true/false still read as before.
stagehand::OptionSpec has_header_option() {
  stagehand::OptionSpec spec;
  spec.name = "has_header";
  spec.type = stagehand::OptionType::String;
  spec.choices = {"true", "false", "auto"};
  spec.nullable = true;
  spec.doc =
      "CSV/TSV header row: true: every file starts with one naming the columns; false: none, fields are 0-based "
      "column numbers; auto: per file, the first line is a header when it has a field equal to the label column's "
      "name and another equal to the text column's name (ASCII case-insensitive; the names are label_field and "
      "text_field when those are names, else 'label' and 'sentence' or 'text'), and column-number fields work "
      "either way; unset: true, or auto with format blurb";
  return spec;
}
}  // namespace

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar
      .add<stagehand::Dataset>(
          "text_classification", "labelled texts or text pairs from JSON lines, CSV or TSV files, one file per split",
          stagehand::Schema()
              .component("tokenizer", "tokenizer", "tokenizer spec, or the name of a tokenizer stage")
              .optional("train", OptionType::Path,
                        "training file (its labels define the classes unless 'labels' is set)")
              .optional("validation", OptionType::Path, "validation file")
              .optional("test", OptionType::Path, "test file")
              .choice("format", "auto", {"auto", "jsonl", "csv", "tsv", "blurb"},
                      "file format; auto: by extension (.jsonl/.json/.ndjson, .csv, .tsv/.tab); blurb: BioBERT/BLURB "
                      "relation TSV (GAD, ChemProt, DDI): tab-separated without quoting, per file 2 columns "
                      "(sentence, label) or 3 (id, sentence, label, the id becoming the example id), header line "
                      "optional (has_header unset means auto); the field options must stay unset")
              .opt("text_field", "text",
                   "field (JSON key or CSV/TSV column name; a 0-based column number with has_header false or auto) of "
                   "the text")
              .optional("text_pair_field", OptionType::String,
                        "field of the second text, for pair classification (framed by the tokenizer: [CLS] a [SEP] b [SEP], "
                        "segment ids 0/1, for BERT); a record without it (absent or null; an empty CSV/TSV cell) is a "
                        "single text")
              .opt("label_field", "label", "field of the label (strings; JSON numbers and booleans are read as text)")
              .optional("id_field", OptionType::String, "field of the example id; unset: the record's line number")
              .add(has_header_option())
              .opt("max_length", int64_t{128}, "tokens per example, special tokens included (longest-first truncation)")
              .min(3)
              .list("labels", OptionType::String, stagehand::ConfigNode::null(),
                    "class names in class-id order; unset: the train file's labels, sorted (numerically if integers)")
              .nullable()
              .opt("lowercase_labels", false, "lowercase labels (ASCII letters) before matching them")
              .choice("on_bad_record", "fail", {"fail", "skip"},
                      "malformed records: fail with file:line, or skip them (counted in hints 'skipped_records')")
              .opt("threads", int64_t{2}, "threads that tokenize the texts")
              .min(1),
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
            return std::make_shared<stagehand::TextClassification>(o, ctx);
          })
      .with_facts(stagehand::text_classification::facts)
      .with_example(stagehand::parse_yaml(
          "{type: text_classification, train: data/spam/train.jsonl, validation: data/spam/dev.jsonl, "
          "tokenizer: {type: sentencepiece, model: tests/data/tokenizers/albert-30k-clean.model}}",
          "example"));
}
