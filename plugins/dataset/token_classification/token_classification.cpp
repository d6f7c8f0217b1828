// SPDX-License-Identifier: Apache-2.0
// Dataset `token_classification`: sentences of labelled words for tagging tasks (named entities, chunks), one file
// per split, read and tokenized once at construction; `batch` only copies ids.
//
// Files:
//   biobert  one `word<TAB>label` per line, a blank line between sentences: the NER files BioBERT distributes
//            (train.tsv, devel.tsv, test.tsv) and ELECTRA's tagging tasks read.
//   conll    whitespace-separated columns (CoNLL-2000/2003 style): the word in `word_column`, the label in
//            `label_column` (negative counts from the end, -1 = last), a blank line between sentences.
//   auto     conll for files ending in .conll, biobert for everything else (CoNLL-2003's eng.train has no
//            extension: it fails on its first line with a hint to set format: conll).
// In both, lines whose word is -DOCSTART- (CoNLL's document marker) are skipped, a UTF-8 byte order mark and CR
// line ends are ignored, and several blank lines count as one.
//
// Labels: tags O, B-X, I-X, E-X, S-X, or untyped B, I, E, S (one anonymous type, as in BioBERT's NER files). The
// tags of each sentence are turned into entities by the conlleval/seqeval chunk rules (tag_scheme.h) and written
// back in `scheme`. For BIO files that is the identity, except that an I-X after O or after another type becomes
// B-X (IOB1 files, or BIO files with such slips, start an entity there, as conlleval reads them). With
// scheme: bioes, a one-token entity becomes S-X and the last token of a longer one E-X. BIOES files work too.
// The label set is "O" first, then the other labels of the train file sorted (byte order), or the `labels` option.
// With scheme: none the labels are plain word classes (part of speech: data/pos/brown_universal), used as written:
// no tag parsing, no conversion, no "O" required; the set is the train file's labels sorted, or `labels`.
// A label the set does not hold, in any split, is an error naming file:line.
// Malformed lines (not UTF-8, no tab or too many, an empty word or label, too few columns, a label that is not a
// tag) are errors naming file:line; with on_bad_record: skip, the sentence holding one is left out instead and
// counted (hint skipped_records, which train/evaluate/predict stages put in the record). A label the train file
// never had is not malformed: it stays an error.
//
// Examples: [CLS] pieces of word 1 ... pieces of word n [SEP], framed as the tokenizer's encode() frames one text
// (frame_ids: `<s> ... </s>` for RoBERTa, nothing added for layout none). Each word is tokenized on its own,
// without special tokens; a word the tokenizer turns into nothing (e.g. only characters the normalizer removes)
// becomes the unk token, so that every word has a first sub-token. The word's label goes on its first sub-token; its
// other sub-tokens, [CLS], [SEP] and padding get -100 (ignored by cross_entropy). Words are kept whole: the first word
// whose pieces no longer fit in max_length (with [CLS] and [SEP]) and every word after it get no sub-token (as
// ELECTRA's tagging featurizer does); their gold labels stay in word_labels, so the `ner` evaluator scores them
// as predicted "O". They are counted in the hint `truncated_words`.
#include <stagehand/dataset.h>
#include <stagehand/plugin.h>
#include <stagehand/tokenizer.h>

#include <stagehand/sdk/collate.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <unordered_map>

#include "token_files.h"

namespace stagehand {
namespace {
namespace fs = std::filesystem;
using token_files::Format;
using token_files::ReadSettings;
using token_files::Sentence;
using token_files::Skipped;
using token_files::excerpt;

constexpr const char* kOwner = "token_classification";
constexpr int64_t kIgnore = -100;  // torch's cross_entropy ignore_index default

// Tokenized examples of one split. Example i: tokens [tok_offsets[i], tok_offsets[i+1]) of ids/token_labels,
// words [word_offsets[i], word_offsets[i+1]) of word_labels/word_starts.
struct Split {
  std::string name;
  std::vector<int32_t> ids;
  std::vector<int32_t> token_labels;
  std::vector<int64_t> tok_offsets{0};
  std::vector<int32_t> word_labels;
  std::vector<int32_t> word_starts;
  std::vector<int64_t> word_offsets{0};
  int64_t size() const { return static_cast<int64_t>(tok_offsets.size()) - 1; }
};

// Frames the word pieces of the sentence that starts at token `first_token` (and word `first_word`) of `out` as
// encode() frames one text (frame_ids: `[CLS] pieces [SEP]`, or nothing for layout none); the special tokens get
// label kIgnore and the word starts move past the leading ones.
void frame_sentence(Split& out, size_t first_token, size_t first_word, const SpecialTokens& sp) {
  const auto at = static_cast<std::ptrdiff_t>(first_token);
  const std::vector<int32_t> pieces(out.ids.begin() + at, out.ids.end());
  const std::vector<int32_t> labels(out.token_labels.begin() + at, out.token_labels.end());
  FramedIds framed = frame_ids(sp, pieces);
  out.ids.resize(first_token);
  out.ids.insert(out.ids.end(), framed.ids.begin(), framed.ids.end());
  out.token_labels.resize(first_token);
  out.token_labels.resize(first_token + framed.ids.size(), static_cast<int32_t>(kIgnore));
  std::copy(labels.begin(), labels.end(), out.token_labels.begin() + at + framed.a_begin);
  for (size_t w = first_word; w < out.word_starts.size(); ++w)
    if (out.word_starts[w] >= 0) out.word_starts[w] += framed.a_begin;
}

class TokenClassification : public Dataset {
 public:
  TokenClassification(const Options& o, const BuildContext& ctx) {
    SH_CHECK(ctx.registry != nullptr, "{}: built without a registry, so its tokenizer cannot be built", kOwner);
    ReadSettings rs;
    const std::string format = o.get<std::string>("format");
    rs.auto_format = format == "auto";
    rs.format = format == "conll" ? Format::Conll : Format::BioBert;
    rs.word_column = o.get<int64_t>("word_column");
    rs.label_column = o.get<int64_t>("label_column");
    const std::string scheme_option = o.get<std::string>("scheme");
    // scheme none: labels are plain classes (part of speech), not entity tags; nothing is parsed or converted.
    const bool plain = scheme_option == "none";
    const ner::Scheme scheme = scheme_option == "bioes" ? ner::Scheme::Bioes : ner::Scheme::Bio;
    const int64_t max_length = o.get<int64_t>("max_length");
    std::vector<std::pair<std::string, fs::path>> files;
    for (const char* split : {"train", "validation", "test"})
      if (o.has(split)) files.emplace_back(split, o.path(split));
    const bool fixed_labels = o.has("labels");
    if (fixed_labels) labels_ = o.get<std::vector<std::string>>("labels");
    auto tok = ctx.registry->create<Tokenizer>(o.node("tokenizer"), ctx);

    SH_CHECK(!files.empty(), "{}: no data file; give at least one of 'train', 'validation', 'test'", kOwner);
    const SpecialTokens& sp = tok->special();
    // Layout none (GPT-2) frames a text with nothing, as encode() does: then only padding is needed.
    const bool framed = sp.layout != SpecialLayout::None;
    const std::pair<int32_t, std::string> needed[] = {{sp.pad, sp.pad_token}, {framed ? sp.cls : 0, sp.cls_token},
                                                      {framed ? sp.sep : 0, sp.sep_token}};
    for (const auto& [id, name] : needed)
      SH_CHECK(id >= 0,
               "{}: the tokenizer has no '{}' token, which every example needs ([CLS] words [SEP], padding); use a "
               "tokenizer whose vocabulary has it or set its spelling in the tokenizer options",
               kOwner, name);
    pad_id_ = sp.pad;

    const char* scheme_name = plain ? "none" : scheme == ner::Scheme::Bioes ? "bioes" : "bio";
    if (fixed_labels && plain) {
      SH_CHECK(!labels_.empty(), "{}: 'labels' is empty; list the classes or leave it unset", kOwner);
      std::set<std::string> seen;
      for (const auto& l : labels_)
        SH_CHECK(seen.insert(l).second, "{}: label '{}' appears twice in 'labels'; list each once", kOwner, l);
    } else if (fixed_labels) {
      SH_CHECK(!labels_.empty(), "{}: 'labels' is empty; list the tags (O first is usual) or leave it unset", kOwner);
      std::set<std::string> seen;
      for (const auto& l : labels_) {
        SH_CHECK(seen.insert(l).second, "{}: label '{}' appears twice in 'labels'; list each once", kOwner, l);
        ner::Tag t;
        SH_CHECK(ner::parse_tag(l, t) && (scheme == ner::Scheme::Bioes || t.prefix == 'O' || t.prefix == 'B' ||
                                          t.prefix == 'I'),
                 "{}: 'labels' has '{}', which is not a tag of scheme {}; expected O, {} (or untyped {})", kOwner, l,
                 scheme_name, scheme == ner::Scheme::Bioes ? "B-/I-/E-/S-<type>" : "B-<type>, I-<type>",
                 scheme == ner::Scheme::Bioes ? "B, I, E, S" : "B, I");
      }
      // Truncated words are predicted "O" by the evaluator, and most sentences have O words: the set needs it.
      SH_CHECK(seen.count("O"), "{}: 'labels' has no 'O'; add it (the tag of words outside every entity)", kOwner);
    }

    std::vector<std::vector<Sentence>> sentences;
    Skipped skipped;
    skipped.enabled = o.get<std::string>("on_bad_record") == "skip";
    for (const auto& [split, file] : files) {
      const int64_t skipped_before = skipped.count;
      sentences.push_back(read_sentences(rs, file, skipped));
      if (!plain) convert(sentences.back(), file, scheme, skipped);
      const int64_t skipped_here = skipped.count - skipped_before;
      SH_CHECK(!sentences.back().empty(),
               "{}:1: the {} file holds no sentence{}; expected lines of word<TAB>label (or columns with format: "
               "conll), a blank line between sentences",
               file.string(), split,
               skipped_here > 0 ? fmt::format(" but the {} malformed one(s) on_bad_record: skip left out", skipped_here)
                                : "");
    }
    skipped_records_ = skipped.count;
    if (!fixed_labels) {
      SH_CHECK(files.front().first == "train",
               "{}: no 'train' file to learn the labels from; list them in 'labels' (in the order of the model's "
               "classes, e.g. [O, B-X, I-X])",
               kOwner);
      std::set<std::string> seen;
      for (const auto& sentence : sentences.front())
        for (const auto& w : sentence)
          if (plain || w.label != "O") seen.insert(w.label);
      if (!plain) labels_ = {"O"};
      labels_.insert(labels_.end(), seen.begin(), seen.end());
    }
    std::map<std::string, int32_t> label_id;
    for (size_t i = 0; i < labels_.size(); ++i) label_id[labels_[i]] = static_cast<int32_t>(i);
    std::string known;
    for (const auto& l : labels_) known += (known.empty() ? "" : ", ") + l;

    // Words repeat a lot; each distinct word is tokenized once.
    std::unordered_map<std::string, std::vector<int32_t>> cache;
    const int64_t budget = max_length - special_token_count(sp, false);  // room for word pieces between [CLS], [SEP]
    int64_t truncated_sentences = 0, total_words = 0;
    for (size_t f = 0; f < files.size(); ++f) {
      const auto& [split, file] = files[f];
      Split out;
      out.name = split;
      for (const auto& sentence : sentences[f]) {
        const size_t first_token = out.ids.size(), first_word = out.word_starts.size();
        int64_t used = 0;
        bool full = false;
        for (const auto& w : sentence) {
          auto it = label_id.find(w.label);
          SH_CHECK(it != label_id.end(),
                   "{}:{}: label '{}' (in scheme {}) is not one of the {} known labels ({}), which {}; fix the file "
                   "or list every label in 'labels'",
                   file.string(), w.line, w.label, scheme_name, labels_.size(), known,
                   fixed_labels ? "'labels' lists" : "come from the train file");
          out.word_labels.push_back(it->second);
          ++total_words;
          auto c = cache.find(w.text);
          if (c == cache.end()) {
            std::vector<int32_t> ids = tok->encode_ids(w.text);
            if (ids.empty()) {
              SH_CHECK(sp.unk >= 0,
                       "{}:{}: the word '{}' tokenizes to nothing and the tokenizer has no unknown token to stand in "
                       "for it; remove the word or use a tokenizer with an unk token",
                       file.string(), w.line, excerpt(w.text));
              ids.push_back(sp.unk);
            }
            c = cache.emplace(w.text, std::move(ids)).first;
          }
          const auto& pieces = c->second;
          if (full || used + static_cast<int64_t>(pieces.size()) > budget) {
            full = true;
            out.word_starts.push_back(-1);
            ++truncated_words_;
            continue;
          }
          out.word_starts.push_back(static_cast<int32_t>(used));  // frame_sentence adds the leading specials
          for (size_t k = 0; k < pieces.size(); ++k) {
            out.ids.push_back(pieces[k]);
            out.token_labels.push_back(k == 0 ? it->second : static_cast<int32_t>(kIgnore));
          }
          used += static_cast<int64_t>(pieces.size());
        }
        truncated_sentences += full;
        frame_sentence(out, first_token, first_word, sp);
        out.tok_offsets.push_back(static_cast<int64_t>(out.ids.size()));
        out.word_offsets.push_back(static_cast<int64_t>(out.word_labels.size()));
      }
      sentences[f] = {};
      splits_.push_back(std::move(out));
    }
    hints_ = {{"num_labels", static_cast<int64_t>(labels_.size())},
              {"vocab_size", tok->vocab_size()},
              {"pad_id", sp.pad},
              {"truncated_words", truncated_words_},
              {"skipped_records", skipped_records_}};
    if (skipped_records_ > 0)
      std::cerr << fmt::format(
          "{}: skipped {} sentence(s) with a malformed line (on_bad_record: skip); the first: {}\n", kOwner,
          skipped_records_, skipped.first);
    if (truncated_words_ > 0)
      // Components have no logger of their own; stderr is where the run log's console lines go too.
      std::cerr << fmt::format(
          "{}: {} of {} word(s), in {} sentence(s), did not fit max_length {} and get no sub-token (the ner "
          "evaluator counts them as predicted O); raise max_length to keep them\n",
          kOwner, truncated_words_, total_words, truncated_sentences, max_length);
  }

  std::vector<std::string> splits() const override {
    std::vector<std::string> out;
    for (const auto& s : splits_) out.push_back(s.name);
    return out;
  }
  int64_t size(const std::string& split) const override { return find(split).size(); }
  std::vector<std::string> labels() const override { return labels_; }
  std::map<std::string, int64_t> hints() const override { return hints_; }

  Batch batch(const std::string& split, const std::vector<int64_t>& indices) const override {
    const Split& s = find(split);
    sdk::check_indices(indices, s.size(), kOwner, split);
    const int64_t longest = sdk::longest_row(s.tok_offsets, indices);
    const int64_t most_words = sdk::longest_row(s.word_offsets, indices);
    const int64_t bsz = static_cast<int64_t>(indices.size());
    // ELECTRA's tagging featurizer sets segment ids to 1 for every token [Q]; we use 0 (PaddedTokens' token types),
    // the id of a single text everywhere else (BERT, Hugging Face's token classification), so a pretrained
    // segment-0 embedding is used.
    sdk::PaddedTokens tokens(bsz, longest, pad_id_);
    auto labels = torch::full({bsz, longest}, kIgnore, torch::kInt64);
    auto word_labels = torch::full({bsz, most_words}, int64_t{-1}, torch::kInt64);
    auto word_starts = torch::full({bsz, most_words}, int64_t{-1}, torch::kInt64);
    int64_t* labels_p = labels.data_ptr<int64_t>();
    int64_t* wl_p = word_labels.data_ptr<int64_t>();
    int64_t* ws_p = word_starts.data_ptr<int64_t>();
    Batch out;
    out.ids.reserve(indices.size());
    for (int64_t r = 0; r < bsz; ++r) {
      const int64_t i = indices[static_cast<size_t>(r)];
      const auto first = static_cast<size_t>(s.tok_offsets[i]);
      const int64_t n = s.tok_offsets[i + 1] - s.tok_offsets[i];
      tokens.set_row(r, s.ids.data() + first, n);
      std::copy_n(s.token_labels.data() + first, n, labels_p + r * longest);
      for (int64_t k = s.word_offsets[i], j = r * most_words; k < s.word_offsets[i + 1]; ++k, ++j) {
        wl_p[j] = s.word_labels[static_cast<size_t>(k)];
        ws_p[j] = s.word_starts[static_cast<size_t>(k)];
      }
      out.ids.push_back(fmt::format("{}:{}", split, i));
    }
    tokens.put(out);
    out.set("labels", labels);
    out.set("word_labels", word_labels);
    out.set("word_starts", word_starts);
    return out;
  }

 private:
  const Split& find(const std::string& split) const {
    for (const auto& s : splits_)
      if (s.name == split) return s;
    std::string have;
    for (const auto& s : splits_) have += (have.empty() ? "" : ", ") + s.name;
    throw Error(fmt::format("{} has no split '{}'; its splits are: {} (give a file for it with the option of that "
                            "name)",
                            kOwner, split, have));
  }

  int32_t pad_id_ = 0;
  int64_t truncated_words_ = 0;
  int64_t skipped_records_ = 0;
  std::vector<std::string> labels_;
  std::vector<Split> splits_;
  std::map<std::string, int64_t> hints_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar
      .add<stagehand::Dataset>(
          "token_classification",
          "sentences of labelled words (BioBERT word<TAB>label or CoNLL columns) for NER and other tagging tasks",
          stagehand::Schema()
              .component("tokenizer", "tokenizer", "tokenizer spec, or the name of a tokenizer stage")
              .optional("train", OptionType::Path, "training file (its labels define the classes unless 'labels' is set)")
              .optional("validation", OptionType::Path, "validation file (BioBERT: devel.tsv)")
              .optional("test", OptionType::Path, "test file")
              .choice("format", "auto", {"auto", "biobert", "conll"},
                      "biobert: word<TAB>label lines; conll: whitespace-separated columns; auto: conll for files "
                      "ending in .conll, biobert otherwise")
              .opt("word_column", int64_t{0}, "conll: column of the word (0 = first; negative counts from the end)")
              .opt("label_column", int64_t{-1}, "conll: column of the label (-1 = last; 0 = first)")
              .choice("scheme", "bio", {"bio", "bioes", "none"},
                      "tag scheme the model is trained on; the files' tags (BIO, IOB1 or BIOES) are converted to it; "
                      "none: plain word classes (e.g. part of speech), used as written")
              .choice("on_bad_record", "fail", {"fail", "skip"},
                      "a malformed line (not UTF-8, wrong fields, a label that is not a tag): fail with file:line, "
                      "or leave its whole sentence out (counted in hint skipped_records)")
              .opt("max_length", int64_t{128},
                   "tokens per example, [CLS] and [SEP] included; words past it get no sub-token (counted in hint "
                   "truncated_words)")
              .min(3)
              .list("labels", OptionType::String, stagehand::ConfigNode::null(),
                    "tags in class-id order, in `scheme`, with O; unset: O then the train file's tags, sorted "
                    "(scheme none: the train file's labels, sorted)")
              .nullable(),
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
            return std::make_shared<stagehand::TokenClassification>(o, ctx);
          })
      .with_example(stagehand::parse_yaml(
          "{type: token_classification, train: data/ner/brown_np/devel.tsv, "
          "tokenizer: {type: wordpiece, vocab: tests/data/tokenizers/bert-base-uncased-vocab.txt}}",
          "example"));
}
