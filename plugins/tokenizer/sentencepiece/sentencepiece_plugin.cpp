// SPDX-License-Identifier: Apache-2.0
// The `sentencepiece` tokenizer and tokenizer trainer. All SentencePiece work goes through the bridge
// (bridge_client.h): this plugin links the stagehand core, hence LibTorch, and must not link
// libsentencepiece itself.
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "bridge_client.h"
#include "albert_text.h"
#include "lowercase.h"
#include "stagehand/error.h"
#include "stagehand/stop.h"
#include "stagehand/plugin.h"
#include "stagehand/schema.h"
#include "stagehand/tokenizer.h"

namespace stagehand::spm {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kWordBoundary = "\xE2\x96\x81";  // U+2581, SentencePiece's whitespace mark
constexpr const char* kModelFile = "spm.model";
constexpr const char* kVocabFile = "spm.vocab";

std::string read_file(const fs::path& file, const char* what) {
  std::error_code ec;
  SH_CHECK(fs::is_regular_file(file, ec),
           "sentencepiece tokenizer: {} '{}' does not exist or is not a file; expected a SentencePiece .model "
           "file; fix option 'model' or train one with tokenizer_trainer 'sentencepiece'",
           what, file.string());
  std::ifstream in(file, std::ios::binary);
  SH_CHECK(in.good(), "sentencepiece tokenizer: cannot open {} '{}'; expected a readable file; check its permissions",
           what, file.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  SH_CHECK(out.good(), "sentencepiece: cannot write '{}' ({} bytes); expected a writable folder; check free space "
           "and permissions", file.string(), bytes.size());
}

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// ---------------------------------------------------------------- tokenizer

Schema tokenizer_schema() {
  return Schema()
      .path("model", "SentencePiece model file (.model), e.g. ALBERT's 30k-clean.model or one trained by "
                     "tokenizer_trainer 'sentencepiece'")
      .opt("cls_token", "[CLS]", "piece used as [CLS] (-1 if the model lacks it)")
      .opt("sep_token", "[SEP]", "piece used as [SEP]")
      .opt("pad_token", "<pad>", "piece used for padding")
      .opt("unk_token", "<unk>", "piece of unknown text")
      .opt("mask_token", "[MASK]", "piece used for masked-language-model masking")
      .opt("lowercase", false,
           "lowercase text before encoding (ALBERT's do_lower_case); maps capitals of ASCII, Latin-1, Latin "
           "Extended-A, Greek and Cyrillic")
      .opt("remove_space", false, "strip the text and join its words with single spaces (AlbertTokenizer's "
                                  "remove_space)")
      .opt("keep_accents", true, "false: decompose the text (NFKD) and drop combining marks, so that café is cafe "
                                 "(AlbertTokenizer's keep_accents)")
      .opt("albert_quirks", false, "AlbertTokenizer's fixed steps: `` and '' become \", and a piece ending in a digit "
                                   "and a comma (\"9,\") is encoded again with the comma on its own")
      .opt("special_tokens_in_text", false, "special tokens typed in the text ([MASK], [CLS], ...) are kept whole, as "
                                            "Hugging Face's Python tokenizers keep them")
      .list("lstrip_tokens", OptionType::String, ConfigNode::sequence({}),
            "special tokens that take the white space on their left when found in the text (ALBERT's [MASK])");
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const Options& o)
      : model_path_(o.path("model")),
        model_bytes_(read_file(model_path_, "model file")),
        model_(std::make_shared<Model>(model_bytes_, model_path_.string())),
        lowercase_(o.get<bool>("lowercase")),
        text_{o.get<bool>("lowercase"), o.get<bool>("remove_space"), o.get<bool>("keep_accents"),
              o.get<bool>("albert_quirks")},
        in_text_(o.get<bool>("special_tokens_in_text")),
        lstrip_tokens_(o.get<std::vector<std::string>>("lstrip_tokens")) {
    special_.cls_token = o.get<std::string>("cls_token");
    special_.sep_token = o.get<std::string>("sep_token");
    special_.pad_token = o.get<std::string>("pad_token");
    special_.unk_token = o.get<std::string>("unk_token");
    special_.mask_token = o.get<std::string>("mask_token");
    special_.unk = special_id(special_.unk_token);
    special_.pad = special_id(special_.pad_token);
    special_.cls = special_id(special_.cls_token);
    special_.sep = special_id(special_.sep_token);
    special_.mask = special_id(special_.mask_token);
    for (const auto& [token, id] : {std::pair{special_.cls_token, special_.cls}, {special_.sep_token, special_.sep},
                                    {special_.pad_token, special_.pad}, {special_.unk_token, special_.unk},
                                    {special_.mask_token, special_.mask}})
      if (id >= 0) {
        in_text_tokens_.push_back(token);
        in_text_ids_.push_back(id);
        in_text_lstrip_.push_back(std::find(lstrip_tokens_.begin(), lstrip_tokens_.end(), token) != lstrip_tokens_.end());
      }
  }

  std::vector<Piece> pieces(std::string_view text) const override {
    if (in_text_ || text_.remove_space || !text_.keep_accents || text_.albert_quirks) return albert_pieces(text);
    return plain_pieces(text);
  }

  std::vector<Piece> plain_pieces(std::string_view text) const {
    std::string lowered;
    std::string_view input = text;
    if (lowercase_) {
      lowered = lowercase_utf8(text);  // same byte length, so spans below are valid in `text`
      input = lowered;
    }
    std::vector<RawPiece> raw = model_->encode(input);
    std::vector<Piece> out;
    out.reserve(raw.size());
    int32_t word = -1;
    for (auto& r : raw) {
      Piece p;
      p.id = r.id;
      const bool starts_word = r.piece.compare(0, kWordBoundary.size(), kWordBoundary) == 0;
      if (starts_word || word < 0) ++word;
      p.word = word;
      // SentencePiece attributes the whitespace before a word to the word's first piece; offsets point at
      // the text itself, as Hugging Face's trimmed offsets do.
      uint32_t begin = std::min<uint32_t>(r.begin, static_cast<uint32_t>(input.size()));
      const uint32_t end = std::min<uint32_t>(std::max(r.end, begin), static_cast<uint32_t>(input.size()));
      if (starts_word) {
        while (begin < end && is_ascii_space(input[begin])) ++begin;
      }
      p.begin = static_cast<int32_t>(begin);
      p.end = static_cast<int32_t>(end);
      p.token = std::move(r.piece);
      out.push_back(std::move(p));
    }
    return out;
  }

  int32_t vocab_size() const override { return model_->vocab_size(); }
  int32_t token_to_id(std::string_view token) const override { return model_->piece_to_id(token); }
  std::string id_to_token(int32_t id) const override { return model_->id_to_piece(id); }
  const SpecialTokens& special() const override { return special_; }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::vector<int32_t> kept;
    kept.reserve(ids.size());
    for (const int32_t id : ids) {
      // Control pieces decode to nothing already; user-defined ones ([CLS] in trained models) would not.
      if (id >= 0 && (id == special_.cls || id == special_.sep || id == special_.pad || id == special_.mask)) {
        continue;
      }
      kept.push_back(id);
    }
    return model_->decode(kept);
  }

  ConfigNode save(const fs::path& dir) const override {
    fs::create_directories(dir);
    const std::string name = model_path_.filename().string();
    // The bytes read at construction, so that the saved tokenizer is the one in use even if the source
    // file changed since.
    write_file(dir / name, model_bytes_);
    return ConfigNode::map({
        {"type", ConfigNode::of("sentencepiece")},
        {"model", ConfigNode::of(name)},
        {"cls_token", ConfigNode::of(special_.cls_token)},
        {"sep_token", ConfigNode::of(special_.sep_token)},
        {"pad_token", ConfigNode::of(special_.pad_token)},
        {"unk_token", ConfigNode::of(special_.unk_token)},
        {"mask_token", ConfigNode::of(special_.mask_token)},
        {"lowercase", ConfigNode::of(lowercase_)},
        {"remove_space", ConfigNode::of(text_.remove_space)},
        {"keep_accents", ConfigNode::of(text_.keep_accents)},
        {"albert_quirks", ConfigNode::of(text_.albert_quirks)},
        {"special_tokens_in_text", ConfigNode::of(in_text_)},
        {"lstrip_tokens", [&] {
           std::vector<ConfigNode> l;
           for (const auto& t : lstrip_tokens_) l.push_back(ConfigNode::of(t));
           return ConfigNode::sequence(std::move(l));
         }()},
    });
  }

 private:
  /// AlbertTokenizer's way (albert_text.h): special tokens in the text kept whole, each stretch between them
  /// normalised (offsets mapped back to the original), encoded, and "9,"-like pieces encoded again.
  std::vector<Piece> albert_pieces(std::string_view text) const {
    std::vector<Piece> out;
    int32_t word = -1;
    const std::vector<spm::Segment> segments =
        in_text_ ? spm::split_special(text, in_text_tokens_, in_text_lstrip_)
                 : std::vector<spm::Segment>{{0, static_cast<uint32_t>(text.size()), -1}};
    for (const auto& seg : segments) {
      if (seg.special >= 0) {
        const auto k = static_cast<size_t>(seg.special);
        out.push_back({in_text_ids_[k], in_text_tokens_[k], ++word, static_cast<int32_t>(seg.begin),
                       static_cast<int32_t>(seg.end)});
        continue;
      }
      const spm::Normalized n = spm::normalize(text.substr(seg.begin, seg.end - seg.begin), seg.begin, text_);
      for (auto& r : model_->encode(n.text)) {
        const bool starts_word = r.piece.compare(0, kWordBoundary.size(), kWordBoundary) == 0;
        if (starts_word || word < 0) ++word;
        uint32_t b = std::min<uint32_t>(r.begin, static_cast<uint32_t>(n.text.size()));
        const uint32_t e = std::min<uint32_t>(std::max(r.end, b), static_cast<uint32_t>(n.text.size()));
        while (starts_word && b < e && is_ascii_space(n.text[b])) ++b;
        const auto begin = static_cast<int32_t>(b < e ? n.begin[b] : (b < n.begin.size() ? n.begin[b] : seg.end));
        const auto end = static_cast<int32_t>(e > b ? n.end[e - 1] : static_cast<uint32_t>(begin));
        if (text_.albert_quirks && spm::digit_comma(r.piece)) {
          resplit(r.piece, begin, end, word, out);
          continue;
        }
        out.push_back({r.id, std::move(r.piece), word, begin, end});
      }
    }
    return out;
  }

  /// AlbertTokenizer._tokenize's re-split of a piece ending in a digit and a comma: the piece without the comma
  /// (and without its word-boundary marks) encoded again, its first piece losing a word-boundary mark the
  /// original did not have, then the comma as a piece of its own.
  void resplit(const std::string& piece, int32_t begin, int32_t end, int32_t word, std::vector<Piece>& out) const {
    std::string inner = piece.substr(0, piece.size() - 1);
    for (size_t at; (at = inner.find(kWordBoundary)) != std::string::npos;) inner.erase(at, kWordBoundary.size());
    std::vector<std::string> tokens;
    for (auto& r : model_->encode(inner)) tokens.push_back(std::move(r.piece));
    const bool had_boundary = piece.compare(0, kWordBoundary.size(), kWordBoundary) == 0;
    if (!had_boundary && !tokens.empty() && tokens[0].compare(0, kWordBoundary.size(), kWordBoundary) == 0) {
      if (tokens[0].size() == kWordBoundary.size())
        tokens.erase(tokens.begin());
      else
        tokens[0].erase(0, kWordBoundary.size());
    }
    tokens.push_back(",");
    for (size_t k = 0; k < tokens.size(); ++k) {
      const bool comma = k + 1 == tokens.size();
      out.push_back({model_->piece_to_id(tokens[k]), tokens[k], word, comma ? std::max(begin, end - 1) : begin,
                     comma ? end : std::max(begin, end - 1)});
    }
  }

  // PieceToId answers the unknown id for anything absent, so a special token that maps to <unk> without
  // being the unknown token itself does not exist in this vocabulary.
  int32_t special_id(const std::string& token) const {
    const int32_t id = model_->piece_to_id(token);
    const int32_t unk = model_->unk_id();
    if (id < 0 || (id == unk && token != model_->id_to_piece(unk))) return -1;
    return id;
  }

  fs::path model_path_;
  std::string model_bytes_;
  std::shared_ptr<const Model> model_;
  bool lowercase_ = false;
  spm::TextOptions text_;
  bool in_text_ = false;
  std::vector<std::string> lstrip_tokens_;
  std::vector<std::string> in_text_tokens_;  ///< the special tokens the vocabulary has, as typed in text
  std::vector<int32_t> in_text_ids_;
  std::vector<bool> in_text_lstrip_;
  SpecialTokens special_;
};

// ---------------------------------------------------------------- trainer

Schema trainer_schema() {
  return Schema()
      .choice("model_type", "unigram", {"unigram", "bpe"}, "SentencePiece algorithm")
      .opt("vocab_size", int64_t{8000}, "number of pieces, special ones included")
      .min(4)
      .opt("character_coverage", 1.0, "share of characters covered by the vocabulary (0.9995 for large alphabets)")
      .min(0.5)
      .max(1.0)
      .opt("input_sentence_size", int64_t{0}, "sentences sampled for training; 0 = all")
      .min(0)
      .opt("shuffle_input_sentence", true, "sample input_sentence_size sentences at random instead of the first")
      .opt("seed", int64_t{-1}, "seed of SentencePiece's random generator; -1 = derived from the run's seed")
      .min(-1)
      .list("user_defined_symbols", OptionType::String,
            ConfigNode::sequence({ConfigNode::of("[CLS]"), ConfigNode::of("[SEP]"), ConfigNode::of("[MASK]")}),
            "pieces always kept whole (also when they appear in text)")
      .list("control_symbols", OptionType::String, ConfigNode::sequence(),
            "pieces reserved for the model, never produced from text")
      .opt("pad_id", int64_t{0}, "id of pad_piece (-1: none)")
      .min(-1)
      .opt("unk_id", int64_t{1}, "id of unk_piece")
      .min(0)
      .opt("bos_id", int64_t{-1}, "id of <s> (-1: none)")
      .min(-1)
      .opt("eos_id", int64_t{-1}, "id of </s> (-1: none)")
      .min(-1)
      .opt("pad_piece", "<pad>", "spelling of the padding piece")
      .opt("unk_piece", "<unk>", "spelling of the unknown piece")
      .opt("cls_token", "[CLS]", "cls_token of the resulting tokenizer")
      .opt("sep_token", "[SEP]", "sep_token of the resulting tokenizer")
      .opt("mask_token", "[MASK]", "mask_token of the resulting tokenizer")
      .opt("lowercase", false, "lowercase the corpus, and the text the resulting tokenizer encodes")
      .opt("num_threads", int64_t{1},
           "training threads; a given value gives byte-identical models run after run, but unigram models "
           "differ between values (EM sums in per-thread order)")
      .min(1)
      .max(128)
      .opt("verbose", false, "let SentencePiece log its progress to stderr")
      .optional("extra", OptionType::Map,
                "further SentencePieceTrainer flags, e.g. {max_sentence_length: 8192, split_digits: true}");
}

std::string flag_value(const ConfigNode& node, const std::string& key) {
  if (node.is_scalar()) return node.text();
  if (node.is_sequence()) {
    std::string joined;
    for (const auto& item : node.items()) {
      SH_CHECK(item.is_scalar(), "sentencepiece trainer: extra.{} has a {} item; expected scalars", key,
               item.type_name());
      joined += (joined.empty() ? "" : ",") + item.text();
    }
    return joined;
  }
  SH_FAIL_AT(node.location(), "sentencepiece trainer: extra.{} is a {}; expected a scalar or a list of scalars", key,
             node.type_name());
}

class SentencePieceTrainerImpl final : public TokenizerTrainer {
 public:
  // Every option is read here, at build time, so that option mistakes fail before any training starts
  // (and `runner test-plugin` sees the schema match the reads).
  SentencePieceTrainerImpl(const Options& o, const BuildContext& ctx)
      : model_type_(o.get<std::string>("model_type")),
        vocab_size_(o.get<int64_t>("vocab_size")),
        lowercase_(o.get<bool>("lowercase")) {
    const int64_t seed = o.get<int64_t>("seed");
    // SetRandomGeneratorSeed treats 0xFFFFFFFF as "unseeded"; fold the 64-bit run seed below it.
    const uint64_t wide = seed >= 0 ? static_cast<uint64_t>(seed) : ctx.seed;
    seed_ = static_cast<uint32_t>(wide ^ (wide >> 32));
    if (seed_ == 0xFFFFFFFFu) seed_ = 0xFFFFFFFEu;

    flags_.emplace_back("model_type", model_type_);
    flags_.emplace_back("vocab_size", std::to_string(vocab_size_));
    flags_.emplace_back("character_coverage", fmt::format("{}", o.get<double>("character_coverage")));
    flags_.emplace_back("input_sentence_size", std::to_string(o.get<int64_t>("input_sentence_size")));
    flags_.emplace_back("shuffle_input_sentence", o.get<bool>("shuffle_input_sentence") ? "true" : "false");
    flags_.emplace_back("user_defined_symbols", symbol_list(o, "user_defined_symbols"));
    flags_.emplace_back("control_symbols", symbol_list(o, "control_symbols"));
    for (const char* id : {"pad_id", "unk_id", "bos_id", "eos_id"}) {
      flags_.emplace_back(id, std::to_string(o.get<int64_t>(id)));
    }
    const std::string pad_piece = o.get<std::string>("pad_piece");
    const std::string unk_piece = o.get<std::string>("unk_piece");
    flags_.emplace_back("pad_piece", pad_piece);
    flags_.emplace_back("unk_piece", unk_piece);
    flags_.emplace_back("num_threads", std::to_string(o.get<int64_t>("num_threads")));
    // SentencePiece logs every step at INFO; 2 keeps its errors only.
    flags_.emplace_back("minloglevel", o.get<bool>("verbose") ? "0" : "2");
    if (o.has("extra")) {
      for (const auto& [key, value] : o.node("extra").entries()) {
        if (key == "input" || key == "model_prefix" || key == "minloglevel") {
          SH_FAIL_AT(value.location(),
                     "sentencepiece trainer: extra.{} is set by stagehand itself; remove it (use 'verbose' for logs)",
                     key);
        }
        flags_.emplace_back(key, flag_value(value, key));
      }
    }

    spec_ = ConfigNode::map({
        {"type", ConfigNode::of("sentencepiece")},
        {"model", ConfigNode::of(kModelFile)},
        {"cls_token", ConfigNode::of(o.get<std::string>("cls_token"))},
        {"sep_token", ConfigNode::of(o.get<std::string>("sep_token"))},
        {"pad_token", ConfigNode::of(pad_piece)},
        {"unk_token", ConfigNode::of(unk_piece)},
        {"mask_token", ConfigNode::of(o.get<std::string>("mask_token"))},
        {"lowercase", ConfigNode::of(lowercase_)},
    });
  }

  ConfigNode train(const std::vector<fs::path>& files, const fs::path& out_dir,
                   const std::function<bool()>& should_stop) const override {
    SH_CHECK(!files.empty(), "sentencepiece trainer: no training files given; expected at least one text file with "
             "one sentence per line; check the trainer's input option");
    for (const auto& f : files) {
      std::error_code ec;
      SH_CHECK(fs::is_regular_file(f, ec), "sentencepiece trainer: training file '{}' does not exist; expected a "
               "text file with one sentence per line; fix the path", f.string());
    }

    TrainRequest request;
    request.files = files;
    request.flags = flags_;
    request.seed = seed_;
    request.lowercase = lowercase_;
    request.should_stop = should_stop;
    TrainResult result;
    try {
      result = spm::train(request);
    } catch (const Error& e) {
      throw Error(fmt::format("{} (model_type {}, vocab_size {}, {} file(s), first '{}'); adjust the option it names "
                              "or train on a larger corpus",
                              e.message(), model_type_, vocab_size_, files.size(), files.front().string()));
    }
    // Training itself cannot be stopped midway; the corpus scan polls should_stop, and so does this. The
    // signal is not known here; the executor reports its own.
    if (result.cancelled || (should_stop && should_stop())) throw Interrupted(stop_signal() != 0 ? stop_signal() : SIGINT);

    fs::create_directories(out_dir);
    write_file(out_dir / kModelFile, result.model);
    write_file(out_dir / kVocabFile, result.vocab);
    return spec_.clone();
  }

 private:
  // SentencePiece takes repeated flags comma-separated, so a symbol cannot contain a comma.
  static std::string symbol_list(const Options& o, const std::string& option) {
    std::string joined;
    for (const auto& s : o.get<std::vector<std::string>>(option)) {
      SH_CHECK(!s.empty() && s.find(',') == std::string::npos,
               "sentencepiece trainer: {} has '{}'; expected a non-empty piece without commas; remove or rename it",
               option, s);
      joined += (joined.empty() ? "" : ",") + s;
    }
    return joined;
  }

  std::string model_type_;
  int64_t vocab_size_ = 0;
  bool lowercase_ = false;
  uint32_t seed_ = 0;
  std::vector<std::pair<std::string, std::string>> flags_;
  ConfigNode spec_;
};

}  // namespace
}  // namespace stagehand::spm

STAGEHAND_PLUGIN(registrar) {
  using stagehand::spm::SentencePieceTokenizer;
  using stagehand::spm::SentencePieceTrainerImpl;
  registrar.add<stagehand::Tokenizer>(
      "sentencepiece", "SentencePiece tokenizer (unigram or BPE .model files, e.g. ALBERT's)",
      stagehand::spm::tokenizer_schema(),
      [](const stagehand::Options& o) { return std::make_shared<SentencePieceTokenizer>(o); });
  registrar.add<stagehand::TokenizerTrainer>(
      "sentencepiece", "trains a SentencePiece unigram or BPE model (writes spm.model and spm.vocab)",
      stagehand::spm::trainer_schema(),
      [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
        return std::make_shared<SentencePieceTrainerImpl>(o, ctx);
      })
      // SentencePiece makes exactly vocab_size pieces or fails, so the size is known before training.
      .with_facts([](const stagehand::Options& o, const stagehand::FactLookup&) {
        return stagehand::PlanFacts{{"vocab_size", o.get<int64_t>("vocab_size")}};
      });
}
