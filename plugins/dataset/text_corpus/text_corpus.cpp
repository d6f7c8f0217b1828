// SPDX-License-Identifier: Apache-2.0
// Dataset `text_corpus`: raw text for pre-training. Files hold one sentence a line and a blank line between
// documents (the layout of data/corpora/ and of ELECTRA's pre-training data). Sentences are tokenized once, at
// construction, then packed into examples `[CLS] tokens... [SEP]` of at most max_length tokens (framed as the
// tokenizer's encode() frames one text: `<s> ... </s>` for RoBERTa, nothing added for layout none):
//   - whole sentences of one document are added greedily; a sentence that does not fit in what is left of
//     the current example starts the next one;
//   - a sentence longer than a whole example (max_length - 2 tokens, or max_length with layout none) is cut into full examples, and its tail
//     starts the next one (later sentences of the document may join it);
//   - the end of a document (or of a file) ends the example: no example mixes two documents;
//   - examples shorter than min_length tokens ([CLS] and [SEP] included) are dropped.
// Documents, not examples, are split between train and validation, so that no document feeds both.
#include <stagehand/dataset.h>
#include <stagehand/plugin.h>
#include <stagehand/tokenizer.h>
#include <stagehand/seed.h>

#include <stagehand/sdk/collate.h>

#include "corpus_lines.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

namespace stagehand {
namespace {
using corpus_lines::Corpus;
using corpus_lines::read_corpus;
namespace fs = std::filesystem;

// Packed examples of one split: example i is tokens[offsets[i], offsets[i+1]), [CLS] and [SEP] included.
struct PackedSplit {
  std::string name;
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets{0};
  int64_t size() const { return static_cast<int64_t>(offsets.size()) - 1; }
};

std::vector<std::vector<int32_t>> tokenize_all(const Tokenizer& tok, const std::vector<std::string>& sentences,
                                               int threads) {
  std::vector<std::vector<int32_t>> ids(sentences.size());
  std::atomic<size_t> next{0};
  constexpr size_t kChunk = 256;
  auto work = [&] {
    for (size_t begin = next.fetch_add(kChunk); begin < sentences.size(); begin = next.fetch_add(kChunk)) {
      size_t end = std::min(sentences.size(), begin + kChunk);
      for (size_t i = begin; i < end; ++i) ids[i] = tok.encode_ids(sentences[i]);
    }
  };
  size_t n = std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), sentences.size() / kChunk + 1);
  if (n <= 1) {
    work();
    return ids;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(n);
  for (size_t t = 0; t < n; ++t) {
    pool.emplace_back([&, t] {
      try {
        work();
      } catch (...) {
        errors[t] = std::current_exception();
        next.store(sentences.size());  // the others stop early
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return ids;
}

class TextCorpus : public Dataset {
 public:
  TextCorpus(const Options& o, const BuildContext& ctx) {
    SH_CHECK(ctx.registry != nullptr, "built without a registry, so its tokenizer cannot be built");
    const auto files = o.paths("files");
    max_length_ = o.get<int64_t>("max_length");
    min_length_ = o.get<int64_t>("min_length");
    const double validation_fraction = o.get<double>("validation_fraction");
    const int64_t seed_option = o.get<int64_t>("seed");
    const int64_t max_examples = o.get<int64_t>("max_examples");
    const int threads = static_cast<int>(o.get<int64_t>("threads"));
    auto tok = ctx.registry->create<Tokenizer>(o.node("tokenizer"), ctx);

    SH_CHECK(!files.empty(), "option 'files' matches no file; give text files (globs allowed)");
    SH_CHECK(min_length_ <= max_length_,
             "min_length {} is over max_length {}, so every example would be dropped; lower min_length", min_length_,
             max_length_);
    const SpecialTokens& sp = tok->special();
    // Layout none (GPT-2) frames a text with nothing, as encode() does: then only padding is needed.
    const bool framed = sp.layout != SpecialLayout::None;
    SH_CHECK(((sp.cls >= 0 && sp.sep >= 0) || !framed) && sp.pad >= 0,
             "the tokenizer lacks '{}', '{}' or '{}' (ids {}, {}, {}), which every example needs; "
             "use a tokenizer whose vocabulary has them or set its cls_token/sep_token/pad_token",
             sp.cls_token, sp.sep_token, sp.pad_token, sp.cls, sp.sep, sp.pad);
    hints_ = {{"vocab_size", tok->vocab_size()}, {"pad_id", sp.pad}, {"max_length", max_length_}};
    if (sp.cls >= 0) hints_["cls_id"] = sp.cls;
    if (sp.sep >= 0) hints_["sep_id"] = sp.sep;
    if (sp.mask >= 0) hints_["mask_id"] = sp.mask;
    pad_id_ = sp.pad;

    Corpus corpus;
    read_corpus(files, corpus);
    SH_CHECK(corpus.documents() > 0, "the files hold no text ({}{}); give text files, one sentence a line",
             files.front().string(), files.size() > 1 ? fmt::format(" and {} more", files.size() - 1) : "");
    auto ids = tokenize_all(*tok, corpus.sentences, threads);
    corpus.sentences = {};

    // Validation documents: those with the smallest keys, a fixed function of (seed, document index).
    const size_t n_docs = corpus.documents();
    size_t n_validation = static_cast<size_t>(std::llround(validation_fraction * static_cast<double>(n_docs)));
    if (validation_fraction > 0 && n_validation == 0 && n_docs > 1) n_validation = 1;
    n_validation = std::min(n_validation, n_docs - 1);  // train keeps at least one document
    const uint64_t seed = seed_option >= 0 ? static_cast<uint64_t>(seed_option) : ctx.seed;
    std::vector<bool> is_validation(n_docs, false);
    if (n_validation > 0) {
      std::vector<std::pair<uint64_t, size_t>> keys(n_docs);
      for (size_t d = 0; d < n_docs; ++d) keys[d] = {derive_seed(seed, fmt::format("text_corpus:{}", d)), d};
      std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(n_validation), keys.end());
      for (size_t i = 0; i < n_validation; ++i) is_validation[keys[i].second] = true;
    }

    splits_.resize(validation_fraction > 0 ? 2 : 1);
    splits_[0].name = "train";
    if (splits_.size() > 1) splits_[1].name = "validation";
    for (size_t d = 0; d < n_docs; ++d) {
      PackedSplit& s = splits_[is_validation[d] ? 1 : 0];
      if (max_examples > 0 && s.size() >= max_examples) continue;
      pack_document(ids, corpus.doc_begin[d], corpus.doc_begin[d + 1], sp, s);
    }
    for (auto& s : splits_) {
      if (max_examples > 0 && s.size() > max_examples) {
        s.offsets.resize(static_cast<size_t>(max_examples) + 1);
        s.tokens.resize(static_cast<size_t>(s.offsets.back()));
      }
      s.tokens.shrink_to_fit();
    }
    SH_CHECK(splits_[0].size() > 0,
             "no training example of at least min_length {} tokens in {} document(s) of {}; lower "
             "min_length or give more text",
             min_length_, n_docs - n_validation, files.front().string());
  }

  std::vector<std::string> splits() const override {
    std::vector<std::string> out;
    for (const auto& s : splits_) out.push_back(s.name);
    return out;
  }

  int64_t size(const std::string& split) const override { return find(split).size(); }

  Batch batch(const std::string& split, const std::vector<int64_t>& indices) const override {
    const PackedSplit& s = find(split);
    sdk::check_indices(indices, s.size(), "text_corpus", split);
    const int64_t b = static_cast<int64_t>(indices.size());
    sdk::PaddedTokens tokens(b, sdk::longest_row(s.offsets, indices), pad_id_);
    Batch out;
    out.ids.reserve(indices.size());
    for (int64_t r = 0; r < b; ++r) {
      const int64_t i = indices[static_cast<size_t>(r)];
      tokens.set_row(r, s.tokens.data() + s.offsets[i], s.offsets[i + 1] - s.offsets[i]);
      out.ids.push_back(fmt::format("{}:{}", split, i));
    }
    tokens.put(out);
    return out;
  }

  std::map<std::string, int64_t> hints() const override { return hints_; }

 private:
  const PackedSplit& find(const std::string& split) const {
    for (const auto& s : splits_)
      if (s.name == split) return s;
    std::string have;
    for (const auto& s : splits_) have += (have.empty() ? "" : ", ") + s.name;
    throw Error(
        fmt::format("text_corpus has no split '{}'; its splits are: {} (set validation_fraction > 0 for "
                    "a validation split)",
                    split, have));
  }

  void pack_document(const std::vector<std::vector<int32_t>>& ids, size_t first, size_t last, const SpecialTokens& sp,
                     PackedSplit& out) const {
    const int32_t n_special = special_token_count(sp, false);
    const size_t room = static_cast<size_t>(max_length_ - n_special);
    std::vector<int32_t> cur;
    auto emit = [&] {
      if (!cur.empty() && static_cast<int64_t>(cur.size()) + n_special >= min_length_) {
        const FramedIds framed = frame_ids(sp, cur);
        out.tokens.insert(out.tokens.end(), framed.ids.begin(), framed.ids.end());
        out.offsets.push_back(static_cast<int64_t>(out.tokens.size()));
      }
      cur.clear();
    };
    for (size_t i = first; i < last; ++i) {
      const auto& s = ids[i];
      if (s.empty()) continue;
      if (cur.size() + s.size() > room) emit();
      size_t pos = 0;
      for (; s.size() - pos > room; pos += room) {
        cur.assign(s.begin() + static_cast<std::ptrdiff_t>(pos), s.begin() + static_cast<std::ptrdiff_t>(pos + room));
        emit();
      }
      cur.insert(cur.end(), s.begin() + static_cast<std::ptrdiff_t>(pos), s.end());
    }
    emit();
  }

  int64_t max_length_ = 128;
  int64_t min_length_ = 8;
  int32_t pad_id_ = 0;
  std::vector<PackedSplit> splits_;
  std::map<std::string, int64_t> hints_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar
      .add<stagehand::Dataset>(
          "text_corpus",
          "raw text (one sentence a line, blank line between documents) packed into [CLS] ... [SEP] examples",
          stagehand::Schema()
              .paths("files", "text files (globs allowed): one sentence a line, a blank line between documents")
              .component("tokenizer", "tokenizer", "tokenizer spec, or the name of a tokenizer stage")
              .opt("max_length", int64_t{128}, "tokens per example, [CLS] and [SEP] included")
              .min(3)
              .opt("min_length", int64_t{8}, "drop examples shorter than this many tokens ([CLS] and [SEP] included)")
              .min(3)
              .opt("validation_fraction", 0.05, "share of the documents held out as the 'validation' split (0: none)")
              .min(0)
              .max(0.9)
              .opt("seed", int64_t{-1}, "seed of the train/validation document split; -1 = the run's seed")
              .min(-1)
              .opt("max_examples", int64_t{0}, "keep at most this many examples per split (0 = all)")
              .min(0)
              .opt("threads", int64_t{2}, "threads that tokenize the corpus")
              .min(1),
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
            return std::make_shared<stagehand::TextCorpus>(o, ctx);
          })
      .with_example(stagehand::parse_yaml(
          "{type: text_corpus, files: [data/corpora/web_bible_heldout.txt], max_length: 64, "
          "tokenizer: {type: sentencepiece, model: tests/data/tokenizers/albert-30k-clean.model}}",
          "example"));
}
