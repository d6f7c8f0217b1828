// SPDX-License-Identifier: Apache-2.0
// The `bpe` tokenizer and tokenizer_trainer: byte-level BPE (GPT-2, RoBERTa) as Hugging Face tokenizers runs
// and trains it. Thin adapters from stagehand's interfaces to the dependency-free algorithm (byte_level.h,
// bpe_model.h, bpe_tokenizer.h, bpe_trainer.h) and the file readers (bpe_files.h).
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <stagehand/error.h>
#include <stagehand/files.h>
#include <stagehand/plugin.h>
#include <stagehand/schema.h>
#include <stagehand/stop.h>
#include <stagehand/tokenizer.h>

#include "bpe_files.h"
#include "bpe_model.h"
#include "bpe_tokenizer.h"
#include "bpe_trainer.h"

namespace stagehand::bpe {
namespace {

namespace fs = std::filesystem;

constexpr const char* kVocabFile = "vocab.json";
constexpr const char* kMergesFile = "merges.txt";
constexpr const char* kTokenizerFile = "tokenizer.json";
const char* const kSpecialKeys[] = {"unk_token", "cls_token", "sep_token", "pad_token", "mask_token"};

Schema tokenizer_schema() {
  Schema s;
  s.optional("vocab", OptionType::Path, "vocab.json: token -> id, as GPT-2 and RoBERTa ship it (with `merges`)")
      .optional("merges", OptionType::Path, "merges.txt: one merge \"a b\" per line, highest priority first (with "
                "`vocab`)")
      .optional("tokenizer_json", OptionType::Path, "instead of vocab and merges: a Hugging Face tokenizer.json "
                "whose model is BPE behind a ByteLevel pre-tokenizer (its added tokens, prefix space and "
                "post-processor are used)")
      .optional("add_prefix_space", OptionType::Bool, "put a space before text that does not start with one, so "
                "that a first word is spelt as later ones (absent: tokenizer.json's setting, else false)")
      .optional("trim_offsets", OptionType::Bool, "offsets leave out the spaces a token holds, as RoBERTa's "
                "(absent: tokenizer.json's post-processor, else true)")
      .choice("layout", "auto", {"auto", "roberta", "bert", "none"},
              "special tokens encode() adds: roberta `<s> a </s></s> b </s>`, bert `cls a sep b sep` (type ids 0/1), "
              "none (GPT-2); auto: tokenizer.json's post-processor, else roberta")
      .opt("unk_token", "<unk>", "the unknown token (used for a byte the vocabulary lacks; none when absent)")
      .opt("cls_token", "<s>", "the token that opens a text (a tokenizer.json's RobertaProcessing/BertProcessing "
           "names its own)")
      .opt("sep_token", "</s>", "the token that closes a text (likewise)")
      .opt("pad_token", "<pad>", "the padding token")
      .opt("mask_token", "<mask>", "the mask token")
      .opt("match_special_tokens", true, "special tokens and added tokens found verbatim in the text become those "
           "tokens (Hugging Face behaviour)")
      .list("lstrip_tokens", OptionType::String, ConfigNode::sequence({ConfigNode::of("<mask>")}),
            "special tokens and added_tokens that take the white space on their left with them, as RoBERTa's <mask> "
            "(a tokenizer.json's own added tokens keep the file's lstrip)")
      .list("added_tokens", OptionType::String, ConfigNode::sequence({}),
            "more tokens matched whole in text, e.g. GPT-2's <|endoftext|>; each must be in the vocabulary");
  return s;
}

// Adds `token` as an added token (lstrip when `lstrip` names it) unless it is one already; false when the
// vocabulary lacks it.
bool add_token(const Vocab& vocab, const std::string& token, const std::vector<std::string>& lstrip,
               TokenizerOptions& t) {
  const int32_t id = vocab.find(token);
  if (id < 0) return false;
  for (const AddedToken& a : t.added)
    if (a.content == token) return true;
  AddedToken a;
  a.content = token;
  a.id = id;
  a.lstrip = std::find(lstrip.begin(), lstrip.end(), token) != lstrip.end();
  t.added.push_back(std::move(a));
  return true;
}

// The tokens the options add: the special tokens the vocabulary has (`specials`: vocab.json + merges.txt, whose
// files say nothing of them; a tokenizer.json lists its own), and every added_tokens entry, which must be there.
void add_option_tokens(const Options& o, const Vocab& vocab, bool specials, const std::string& vocab_name,
                       TokenizerOptions& t) {
  const auto lstrip = o.get<std::vector<std::string>>("lstrip_tokens");
  if (specials)
    for (const char* key : kSpecialKeys) add_token(vocab, o.get<std::string>(key), lstrip, t);
  for (const std::string& token : o.get<std::vector<std::string>>("added_tokens")) {
    if (!add_token(vocab, token, lstrip, t))
      SH_FAIL_AT(o.node("added_tokens").location(), "bpe tokenizer: added token '{}' is not in {}; expected "
                 "vocabulary entries", token, vocab_name);
  }
}

// The tokenizer of vocab.json + merges.txt: the special tokens (and added_tokens) the vocabulary has are
// matched in text.
std::unique_ptr<BpeTokenizer> from_vocab_files(const Options& o, TokenizerOptions& t) {
  SH_CHECK(o.has("vocab") && o.has("merges"), "bpe tokenizer: {} without {}; expected both vocab (vocab.json) and "
           "merges (merges.txt), or tokenizer_json", o.has("vocab") ? "vocab" : "merges",
           o.has("vocab") ? "merges" : "vocab");
  Vocab vocab = read_vocab_json(o.path("vocab"));
  size_t first_line = 1;
  const std::vector<MergePair> merges = read_merges_txt(o.path("merges"), first_line);
  const int32_t unk = vocab.find(o.get<std::string>("unk_token"));
  add_option_tokens(o, vocab, true, o.path("vocab").string(), t);
  auto model = std::make_shared<BpeModel>(std::move(vocab), merges, unk, o.path("merges").string(), first_line);
  return std::make_unique<BpeTokenizer>(std::move(model), t);
}

// The tokenizer of a tokenizer.json: its added tokens, and those of added_tokens.
std::unique_ptr<BpeTokenizer> from_tokenizer_json(const Options& o, TokenizerJson& j, TokenizerOptions& t) {
  const int32_t unk = j.unk_token.empty() ? -1 : j.vocab.find(j.unk_token);
  add_option_tokens(o, j.vocab, false, o.path("tokenizer_json").string(), t);
  auto model = std::make_shared<BpeModel>(std::move(j.vocab), j.merges, unk, o.path("tokenizer_json").string(), 1);
  return std::make_unique<BpeTokenizer>(std::move(model), t);
}

class BpeTokenizerComponent final : public Tokenizer {
 public:
  explicit BpeTokenizerComponent(const Options& o) : options_(o) {
    SH_CHECK(o.has("tokenizer_json") != (o.has("vocab") || o.has("merges")),
             "bpe tokenizer: {}; expected either tokenizer_json or vocab and merges",
             o.has("tokenizer_json") ? "both tokenizer_json and vocab/merges are given" : "no vocabulary is given");
    TokenizerOptions t;
    std::string layout = "roberta";
    std::optional<std::string> cls, sep;
    t.trim_offsets = true;
    try {
      if (o.has("tokenizer_json")) {
        TokenizerJson j = read_tokenizer_json(o.path("tokenizer_json"));
        t = j.options;
        layout = j.layout;
        cls = j.cls_token, sep = j.sep_token;
        apply_overrides(o, t);
        impl_ = from_tokenizer_json(o, j, t);
      } else {
        apply_overrides(o, t);
        impl_ = from_vocab_files(o, t);
      }
    } catch (const Error& e) {
      if (e.location().known()) throw;
      const char* key = o.has("tokenizer_json") ? "tokenizer_json" : o.has("vocab") ? "vocab" : "merges";
      throw Error(e.message(), o.node(key).location());
    }
    set_specials(o, o.get<std::string>("layout") == "auto" ? layout : o.get<std::string>("layout"), cls, sep);
  }

  std::vector<Piece> pieces(std::string_view text) const override {
    std::vector<Token> tokens;
    tokens.reserve(text.size() / 3 + 4);
    impl_->tokenize(text, tokens);
    std::vector<Piece> out;
    out.reserve(tokens.size());
    for (const Token& t : tokens) out.push_back(Piece{t.id, impl_->token(t.id), t.word, t.begin, t.end});
    return out;
  }

  int32_t vocab_size() const override { return impl_->size(); }

  int32_t token_to_id(std::string_view token) const override {
    const int32_t id = impl_->find(token);
    return id >= 0 ? id : special_.unk;
  }

  std::string id_to_token(int32_t id) const override {
    SH_CHECK(id >= 0 && id < vocab_size(), "bpe tokenizer: id {} is out of range; expected 0..{}; use ids this "
             "tokenizer produced", id, vocab_size() - 1);
    return impl_->token(id);
  }

  const SpecialTokens& special() const override { return special_; }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::vector<int32_t> skip;
    for (int32_t id : {special_.pad, special_.unk, special_.cls, special_.sep, special_.mask})
      if (id >= 0) skip.push_back(id);
    return impl_->decode(ids, skip);
  }

  ConfigNode save(const fs::path& dir) const override;

 private:
  static void apply_overrides(const Options& o, TokenizerOptions& t) {
    if (o.has("add_prefix_space")) t.add_prefix_space = t.trim_keeps_prefix = o.get<bool>("add_prefix_space");
    if (o.has("trim_offsets")) t.trim_offsets = o.get<bool>("trim_offsets");
    if (!o.get<bool>("match_special_tokens")) t.match_added = false;
  }

  void set_specials(const Options& o, const std::string& layout, const std::optional<std::string>& cls,
                    const std::optional<std::string>& sep) {
    special_.unk_token = o.get<std::string>("unk_token");
    // A tokenizer.json's post-processor names its own cls and sep.
    special_.cls_token = o.get<std::string>("cls_token");
    special_.sep_token = o.get<std::string>("sep_token");
    if (cls) special_.cls_token = *cls;
    if (sep) special_.sep_token = *sep;
    special_.pad_token = o.get<std::string>("pad_token");
    special_.mask_token = o.get<std::string>("mask_token");
    special_.unk = impl_->find(special_.unk_token);
    special_.cls = impl_->find(special_.cls_token);
    special_.sep = impl_->find(special_.sep_token);
    special_.pad = impl_->find(special_.pad_token);
    special_.mask = impl_->find(special_.mask_token);
    special_.layout = layout == "bert" ? SpecialLayout::Bert : layout == "none" ? SpecialLayout::None
                                                                                : SpecialLayout::Roberta;
    layout_ = layout;
  }

  Options options_;
  std::unique_ptr<BpeTokenizer> impl_;
  SpecialTokens special_;
  std::string layout_;
};

void copy_into(const fs::path& from, const fs::path& dir, const char* name) {
  const fs::path target = dir / name;
  if (fs::exists(target) && fs::equivalent(target, from)) return;
  std::error_code ec;
  fs::copy_file(from, target, fs::copy_options::overwrite_existing, ec);
  SH_CHECK(!ec, "bpe tokenizer: cannot copy '{}' to '{}' ({}); expected a writable folder; check free space and "
           "permissions", from.string(), target.string(), ec.message());
}

// The files (copied) and every setting resolved, so that the saved spec rebuilds this tokenizer alone.
ConfigNode BpeTokenizerComponent::save(const fs::path& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  SH_CHECK(!ec, "bpe tokenizer: cannot create folder '{}' ({}); expected a writable location; check the path and "
           "its permissions", dir.string(), ec.message());
  ConfigNode::MapEntries e;
  e.emplace_back("type", ConfigNode::of("bpe"));
  if (options_.has("tokenizer_json")) {
    copy_into(options_.path("tokenizer_json"), dir, kTokenizerFile);
    e.emplace_back("tokenizer_json", ConfigNode::of(kTokenizerFile));
  } else {
    copy_into(options_.path("vocab"), dir, kVocabFile);
    copy_into(options_.path("merges"), dir, kMergesFile);
    e.emplace_back("vocab", ConfigNode::of(kVocabFile));
    e.emplace_back("merges", ConfigNode::of(kMergesFile));
  }
  e.emplace_back("lstrip_tokens", options_.node("lstrip_tokens"));
  e.emplace_back("added_tokens", options_.node("added_tokens"));
  const TokenizerOptions& t = impl_->options();
  e.emplace_back("add_prefix_space", ConfigNode::of(t.add_prefix_space));
  e.emplace_back("trim_offsets", ConfigNode::of(t.trim_offsets));
  e.emplace_back("layout", ConfigNode::of(layout_));
  e.emplace_back("unk_token", ConfigNode::of(special_.unk_token));
  e.emplace_back("cls_token", ConfigNode::of(special_.cls_token));
  e.emplace_back("sep_token", ConfigNode::of(special_.sep_token));
  e.emplace_back("pad_token", ConfigNode::of(special_.pad_token));
  e.emplace_back("mask_token", ConfigNode::of(special_.mask_token));
  e.emplace_back("match_special_tokens", ConfigNode::of(t.match_added));
  return ConfigNode::map(std::move(e));
}

Schema trainer_schema() {
  Schema s;
  s.opt("vocab_size", 30000, "vocabulary size to reach, special tokens and byte symbols included (fewer if the "
                             "corpus runs out of pairs)")
      .min(1)
      .opt("min_frequency", 2, "stop merging when the most frequent pair occurs fewer times")
      .min(0)
      .list("special_tokens", OptionType::String,
            ConfigNode::sequence({ConfigNode::of("<s>"), ConfigNode::of("<pad>"), ConfigNode::of("</s>"),
                                  ConfigNode::of("<unk>"), ConfigNode::of("<mask>")}),
            "tokens placed first in the vocabulary, in this order (ids 0, 1, ...); RoBERTa's by default")
      .opt("full_alphabet", true, "start from all 256 byte symbols (false: only those the corpus has, as tokenizers' "
           "BpeTrainer without initial_alphabet)")
      .opt("add_prefix_space", false, "put a space before each line, as the tokenizer will (the trained spec keeps it)")
      .opt("max_lines", 0, "read at most this many lines over all files (0: all)")
      .min(0);
  return s;
}

[[noreturn]] void interrupted() { throw Interrupted(stop_signal() != 0 ? stop_signal() : SIGINT); }

// Counts the words of the corpus, line by line with each line's ending, as tokenizers' train_from_files reads.
WordCounter count_words(const std::vector<fs::path>& files, bool prefix, uint64_t max_lines,
                        const std::function<bool()>& should_stop) {
  SH_CHECK(!files.empty(), "bpe trainer: no training files given; expected at least one text file; check the "
           "stage's corpus option");
  WordCounter counter(prefix);
  uint64_t lines = 0;
  std::string line;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    SH_CHECK(in.good(), "bpe trainer: cannot read training file '{}'; expected a readable text file; fix the path "
             "or its permissions", file.string());
    while ((max_lines == 0 || lines < max_lines) && std::getline(in, line)) {
      if (!in.eof()) line += '\n';
      counter.add(line);
      if (++lines % 4096 == 0 && should_stop && should_stop()) interrupted();
    }
  }
  SH_CHECK(!counter.counts().empty(), "bpe trainer: no text in {} line(s) of {} file(s) (first '{}'); expected "
           "text to learn merges from; check the corpus files", lines, files.size(), files.front().string());
  return counter;
}

class BpeTrainerComponent final : public TokenizerTrainer {
 public:
  explicit BpeTrainerComponent(const Options& o)
      : prefix_(o.get<bool>("add_prefix_space")), max_lines_(static_cast<uint64_t>(o.get<int64_t>("max_lines"))) {
    options_.vocab_size = static_cast<size_t>(o.get<int64_t>("vocab_size"));
    options_.min_frequency = static_cast<uint64_t>(o.get<int64_t>("min_frequency"));
    options_.special_tokens = o.get<std::vector<std::string>>("special_tokens");
    options_.full_alphabet = o.get<bool>("full_alphabet");
  }

  ConfigNode train(const std::vector<fs::path>& files, const fs::path& out_dir,
                   const std::function<bool()>& should_stop) const override {
    const WordCounter counter = count_words(files, prefix_, max_lines_, should_stop);
    TrainedBpe trained;
    try {
      trained = train_bpe(counter, options_, should_stop);
    } catch (const TrainingStopped&) {
      interrupted();
    }
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    SH_CHECK(!ec, "bpe trainer: cannot create output folder '{}' ({}); expected a writable location",
             out_dir.string(), ec.message());
    std::string merges = "#version: 0.2\n";
    for (const auto& [a, b] : trained.merges) merges += a + " " + b + "\n";
    write_file_atomic(out_dir / kVocabFile, vocab_json_text(trained.vocab));
    write_file_atomic(out_dir / kMergesFile, merges);
    return ConfigNode::map({{"type", ConfigNode::of("bpe")},
                            {"vocab", ConfigNode::of(kVocabFile)},
                            {"merges", ConfigNode::of(kMergesFile)},
                            {"add_prefix_space", ConfigNode::of(prefix_)}});
  }

 private:
  bool prefix_;
  uint64_t max_lines_;
  TrainerOptions options_;
};

}  // namespace
}  // namespace stagehand::bpe

STAGEHAND_PLUGIN(registrar) {
  using stagehand::bpe::BpeTokenizerComponent;
  using stagehand::bpe::BpeTrainerComponent;
  registrar
      .add<stagehand::Tokenizer>(
          "bpe", "byte-level BPE tokenizer (GPT-2, RoBERTa: vocab.json + merges.txt or tokenizer.json), as Hugging "
          "Face tokenizers encodes",
          stagehand::bpe::tokenizer_schema(),
          [](const stagehand::Options& o) { return std::make_shared<BpeTokenizerComponent>(o); })
      .with_example(stagehand::parse_yaml("{type: bpe, tokenizer_json: tests/data/tokenizers/roberta-tiny/tokenizer.json}",
                                          "example"));
  registrar.add<stagehand::TokenizerTrainer>(
      "bpe", "learns byte-level BPE merges from text files like Hugging Face's BpeTrainer (writes vocab.json and "
      "merges.txt)",
      stagehand::bpe::trainer_schema(),
      [](const stagehand::Options& o) { return std::make_shared<BpeTrainerComponent>(o); })
      .with_facts([](const stagehand::Options& o, const stagehand::FactLookup&) {
        return stagehand::PlanFacts{{"vocab_size", o.get<int64_t>("vocab_size")}};
      });
}
