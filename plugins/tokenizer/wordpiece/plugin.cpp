// SPDX-License-Identifier: Apache-2.0
// The `wordpiece` tokenizer and tokenizer_trainer: thin adapters from stagehand's interfaces to the
// dependency-free algorithm in wordpiece_tokenizer.h / wordpiece_trainer.h.
#include <csignal>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <stagehand/error.h>
#include <stagehand/files.h>
#include <stagehand/stop.h>
#include <stagehand/plugin.h>
#include <stagehand/schema.h>
#include <stagehand/tokenizer.h>

#include "wordpiece_tokenizer.h"
#include "wordpiece_trainer.h"

namespace stagehand::wordpiece {
namespace {

namespace fs = std::filesystem;

constexpr const char* kVocabFile = "vocab.txt";

// Options shared by the tokenizer and the trainer (the trainer writes them into the spec it returns).
Schema& add_common_options(Schema& s) {
  return s
      .opt("lowercase", true, "lower-case the text (BERT 'uncased'); full Unicode lower-casing, as tokenizers does")
      .optional("strip_accents", OptionType::Bool,
                "decompose (NFD) and drop non-spacing marks; absent: follows `lowercase`, as in Hugging Face")
      .opt("tokenize_chinese_chars", true, "make every CJK ideograph a word of its own")
      .opt("max_input_chars_per_word", 100, "longer words (in characters, after normalization) become unk_token")
      .min(1)
      .opt("unk_token", "[UNK]", "spelling of the unknown token (must be in the vocabulary)")
      .opt("cls_token", "[CLS]", "spelling of the classification token")
      .opt("sep_token", "[SEP]", "spelling of the separator token")
      .opt("pad_token", "[PAD]", "spelling of the padding token")
      .opt("mask_token", "[MASK]", "spelling of the mask token");
}

Schema tokenizer_schema() {
  Schema s;
  s.path("vocab", "WordPiece vocabulary: one token per line, line number = id (e.g. bert-base-uncased vocab.txt)");
  add_common_options(s);
  s.opt("match_special_tokens", true,
        "treat special-token spellings found verbatim in the text as those tokens (Hugging Face behaviour)");
  return s;
}

TokenizerOptions tokenizer_options(const Options& o) {
  TokenizerOptions t;
  t.normalizer.lowercase = o.get<bool>("lowercase");
  t.normalizer.strip_accents = o.has("strip_accents") ? o.get<bool>("strip_accents") : t.normalizer.lowercase;
  t.normalizer.tokenize_chinese_chars = o.get<bool>("tokenize_chinese_chars");
  t.max_input_chars_per_word = o.get<int32_t>("max_input_chars_per_word");
  t.unk_token = o.get<std::string>("unk_token");
  t.cls_token = o.get<std::string>("cls_token");
  t.sep_token = o.get<std::string>("sep_token");
  t.pad_token = o.get<std::string>("pad_token");
  t.mask_token = o.get<std::string>("mask_token");
  return t;
}

// The spec of a tokenizer with these options whose vocabulary is `vocab_file` (relative to the saved folder).
ConfigNode spec_of(const TokenizerOptions& t, const std::string& vocab_file) {
  return ConfigNode::map({
      {"type", ConfigNode::of("wordpiece")},
      {"vocab", ConfigNode::of(vocab_file)},
      {"lowercase", ConfigNode::of(t.normalizer.lowercase)},
      {"strip_accents", ConfigNode::of(t.normalizer.strip_accents)},
      {"tokenize_chinese_chars", ConfigNode::of(t.normalizer.tokenize_chinese_chars)},
      {"max_input_chars_per_word", ConfigNode::of(static_cast<int64_t>(t.max_input_chars_per_word))},
      {"match_special_tokens", ConfigNode::of(t.match_special_tokens)},
      {"unk_token", ConfigNode::of(t.unk_token)},
      {"cls_token", ConfigNode::of(t.cls_token)},
      {"sep_token", ConfigNode::of(t.sep_token)},
      {"pad_token", ConfigNode::of(t.pad_token)},
      {"mask_token", ConfigNode::of(t.mask_token)},
  });
}

// Errors point at the `vocab` option of the configuration.
std::unique_ptr<WordPieceTokenizer> load_tokenizer(const fs::path& vocab, TokenizerOptions options,
                                                   const Location& where) {
  try {
    return std::make_unique<WordPieceTokenizer>(Vocab::from_file(vocab), std::move(options), vocab.string());
  } catch (const Error& e) {
    if (e.location().known()) throw;
    throw Error(e.message(), where);  // the vocabulary's errors name the file; the location names the option
  }
}

class WordPieceTokenizerComponent final : public Tokenizer {
 public:
  explicit WordPieceTokenizerComponent(const Options& o) : vocab_path_(o.path("vocab")) {
    TokenizerOptions options = tokenizer_options(o);
    options.match_special_tokens = o.get<bool>("match_special_tokens");
    impl_ = load_tokenizer(vocab_path_, std::move(options), o.node("vocab").location());
    const TokenizerOptions& t = impl_->options();
    special_.unk = impl_->unk_id();
    special_.cls = impl_->cls_id();
    special_.sep = impl_->sep_id();
    special_.pad = impl_->pad_id();
    special_.mask = impl_->mask_id();
    special_.unk_token = t.unk_token;
    special_.cls_token = t.cls_token;
    special_.sep_token = t.sep_token;
    special_.pad_token = t.pad_token;
    special_.mask_token = t.mask_token;
  }

  std::vector<Piece> pieces(std::string_view text) const override {
    std::vector<Token> tokens;
    tokens.reserve(text.size() / 4 + 4);
    impl_->tokenize(text, tokens);
    std::vector<Piece> out;
    out.reserve(tokens.size());
    const Vocab& vocab = impl_->vocab();
    for (const Token& t : tokens) out.push_back(Piece{t.id, vocab.token(t.id), t.word, t.begin, t.end});
    return out;
  }

  int32_t vocab_size() const override { return impl_->vocab().size(); }

  int32_t token_to_id(std::string_view token) const override {
    int32_t id = impl_->vocab().find(token);
    return id >= 0 ? id : impl_->unk_id();
  }

  std::string id_to_token(int32_t id) const override {
    SH_CHECK(id >= 0 && id < vocab_size(),
             "wordpiece tokenizer ({}): id {} is out of range; expected 0..{}; use ids this tokenizer produced",
             vocab_path_.string(), id, vocab_size() - 1);
    return impl_->vocab().token(id);
  }

  const SpecialTokens& special() const override { return special_; }

  std::string decode(const std::vector<int32_t>& ids) const override {
    try {
      return impl_->decode(ids);
    } catch (const std::out_of_range& e) {
      throw Error(fmt::format("wordpiece tokenizer ({}): {}", vocab_path_.string(), e.what()));
    }
  }

  ConfigNode save(const fs::path& dir) const override {
    std::error_code ec;
    fs::create_directories(dir, ec);
    SH_CHECK(!ec, "wordpiece tokenizer: cannot create folder '{}' ({}); expected a writable location; check the "
             "path and its permissions", dir.string(), ec.message());
    const fs::path target = dir / kVocabFile;
    if (!(fs::exists(target) && fs::equivalent(target, vocab_path_))) {
      fs::copy_file(vocab_path_, target, fs::copy_options::overwrite_existing, ec);
      SH_CHECK(!ec, "wordpiece tokenizer: cannot copy vocabulary '{}' to '{}' ({}); expected a writable folder; "
               "check free space and permissions", vocab_path_.string(), target.string(), ec.message());
    }
    return spec_of(impl_->options(), kVocabFile);
  }

 private:
  fs::path vocab_path_;
  std::unique_ptr<WordPieceTokenizer> impl_;
  SpecialTokens special_;
};

Schema trainer_schema() {
  Schema s;
  s.opt("vocab_size", 30522, "vocabulary size to reach (fewer if the corpus runs out of pairs; more only if the "
                             "special tokens and the alphabet alone exceed it)")
      .min(1)
      .opt("min_frequency", 2, "stop merging when the most frequent pair occurs fewer times")
      .min(0)
      .opt("limit_alphabet", 1000, "keep at most this many distinct characters (the most frequent); -1: all")
      .min(-1)
      .list("special_tokens", OptionType::String,
            ConfigNode::sequence({ConfigNode::of("[PAD]"), ConfigNode::of("[UNK]"), ConfigNode::of("[CLS]"),
                                  ConfigNode::of("[SEP]"), ConfigNode::of("[MASK]")}),
            "tokens placed first in the vocabulary, in this order (ids 0, 1, ...); must include unk_token")
      .opt("max_lines", 0, "read at most this many lines over all files (0: all)")
      .min(0);
  add_common_options(s);
  return s;
}

class WordPieceTrainerComponent final : public TokenizerTrainer {
 public:
  explicit WordPieceTrainerComponent(const Options& o) : tokenizer_(tokenizer_options(o)) {
    options_.vocab_size = static_cast<size_t>(o.get<int64_t>("vocab_size"));
    options_.min_frequency = static_cast<uint64_t>(o.get<int64_t>("min_frequency"));
    options_.limit_alphabet = o.get<int64_t>("limit_alphabet");
    options_.special_tokens = o.get<std::vector<std::string>>("special_tokens");
    max_lines_ = static_cast<uint64_t>(o.get<int64_t>("max_lines"));
    bool has_unk = false;
    for (const std::string& s : options_.special_tokens) has_unk = has_unk || s == tokenizer_.unk_token;
    if (!has_unk) {
      SH_FAIL_AT(o.node("special_tokens").location(),
                 "special_tokens [{}] lack unk_token '{}'; expected it among them (the tokenizer "
                 "needs it); add it to special_tokens or set unk_token to one of them",
                 fmt::join(options_.special_tokens, ", "), tokenizer_.unk_token);
    }
  }

  ConfigNode train(const std::vector<fs::path>& files, const fs::path& out_dir,
                   const std::function<bool()>& should_stop) const override {
    SH_CHECK(!files.empty(), "wordpiece trainer: no training files given; expected at least one text file with one "
             "sentence per line; check the stage's corpus option");
    WordCounter counter(tokenizer_.normalizer);
    uint64_t lines = 0;
    std::string line;
    for (const fs::path& file : files) {
      std::ifstream in(file, std::ios::binary);
      SH_CHECK(in.good(), "wordpiece trainer: cannot read training file '{}'; expected a readable text file with "
               "one sentence per line; fix the path or its permissions", file.string());
      while ((max_lines_ == 0 || lines < max_lines_) && std::getline(in, line)) {
        counter.add(line);
        if (++lines % 4096 == 0 && should_stop && should_stop()) interrupted();
      }
    }
    SH_CHECK(counter.total() > 0, "wordpiece trainer: no words in {} line(s) of {} file(s) (first '{}'); expected "
             "text to learn a vocabulary from; check the corpus files", lines, files.size(), files.front().string());
    std::vector<std::string> vocab;
    try {
      vocab = train_wordpiece(counter, options_, should_stop);
    } catch (const TrainingStopped&) {
      interrupted();
    }
    std::string text;
    for (const std::string& t : vocab) {
      text += t;
      text += '\n';
    }
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    SH_CHECK(!ec, "wordpiece trainer: cannot create output folder '{}' ({}); expected a writable location",
             out_dir.string(), ec.message());
    write_file_atomic(out_dir / kVocabFile, text);
    return spec_of(tokenizer_, kVocabFile);
  }

 private:
  [[noreturn]] static void interrupted() {
    // The executor records which signal stopped the run; SIGINT when none did (a stop requested otherwise).
    throw Interrupted(stop_signal() != 0 ? stop_signal() : SIGINT);
  }

  TokenizerOptions tokenizer_;
  TrainerOptions options_;
  uint64_t max_lines_ = 0;
};

}  // namespace
}  // namespace stagehand::wordpiece

STAGEHAND_PLUGIN(registrar) {
  using stagehand::wordpiece::WordPieceTokenizerComponent;
  using stagehand::wordpiece::WordPieceTrainerComponent;
  registrar.add<stagehand::Tokenizer>(
      "wordpiece", "BERT WordPiece tokenizer (vocab.txt), Hugging Face tokenizers-compatible normalization",
      stagehand::wordpiece::tokenizer_schema(),
      [](const stagehand::Options& o) { return std::make_shared<WordPieceTokenizerComponent>(o); });
  registrar.add<stagehand::TokenizerTrainer>(
      "wordpiece", "learns a WordPiece vocabulary from text files like Hugging Face's WordPieceTrainer (writes vocab.txt)",
      stagehand::wordpiece::trainer_schema(),
      [](const stagehand::Options& o) { return std::make_shared<WordPieceTrainerComponent>(o); })
      // The size asked for: a corpus that runs out of pairs gives fewer, and the stage that builds an encoder then
      // takes the trained vocabulary's size instead (a value derived here is replaced, never a written one).
      .with_facts([](const stagehand::Options& o, const stagehand::FactLookup&) {
        return stagehand::PlanFacts{{"vocab_size", o.get<int64_t>("vocab_size")}};
      });
}
