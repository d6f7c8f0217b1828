// SPDX-License-Identifier: Apache-2.0
#include "wordpiece_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "stagehand/error.h"

namespace stagehand::wordpiece {

namespace {

// Rust's char::is_whitespace (the White_Space property), used to trim vocabulary lines as tokenizers does.
bool is_white_space(char32_t c) {
  return (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Length of `s` without trailing whitespace.
size_t trimmed_length(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && end - start < 4) --start;
    char32_t c;
    size_t len = decode_utf8(reinterpret_cast<const unsigned char*>(s.data()) + start, end - start, &c);
    if (len != end - start || !is_white_space(c)) break;
    end = start;
  }
  return end;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  size_t at = s.find(from);
  while (at != std::string::npos) {
    s.replace(at, from.size(), to);
    at = s.find(from, at + to.size());
  }
}

}  // namespace

Vocab Vocab::from_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw stagehand::Error("cannot read vocabulary file '" + file.string() +
                             "'; expected a readable vocab.txt with one token per line; check the path and its "
                             "permissions");
  }
  in.seekg(0, std::ios::end);
  std::string data(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)), '\0');
  in.seekg(0, std::ios::beg);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (!in) {
    throw stagehand::Error("cannot read vocabulary file '" + file.string() +
                             "' to its end; expected a readable vocab.txt; check the file and its permissions");
  }
  std::vector<std::string> tokens;
  tokens.reserve(static_cast<size_t>(std::count(data.begin(), data.end(), '\n')) + 1);
  size_t start = 0;
  while (start < data.size()) {
    size_t nl = data.find('\n', start);
    size_t stop = nl == std::string::npos ? data.size() : nl;
    std::string_view line(data.data() + start, stop - start);
    tokens.emplace_back(line.substr(0, trimmed_length(line)));
    start = nl == std::string::npos ? data.size() : nl + 1;
  }
  if (tokens.empty()) {
    throw stagehand::Error("vocabulary file '" + file.string() +
                             "' is empty; expected one token per line (e.g. bert-base-uncased's vocab.txt); point "
                             "`vocab` at a WordPiece vocabulary");
  }
  return from_tokens(std::move(tokens));
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens) {
  Vocab v;
  v.tokens_ = std::move(tokens);
  v.build();
  return v;
}

void Vocab::build() {
  auto is_continuation = [&](std::string_view t) {
    return t.size() > prefix_.size() && t.compare(0, prefix_.size(), prefix_) == 0;
  };
  size_t continuations = 0, bytes = 0;
  for (const std::string& t : tokens_) {
    continuations += is_continuation(t);
    bytes += t.size();
  }
  starts_.reserve(tokens_.size() - continuations, bytes);
  continuations_.reserve(continuations, bytes);
  for (size_t id = 0; id < tokens_.size(); ++id) {
    std::string_view t = tokens_[id];
    if (is_continuation(t)) {
      continuations_.assign(t.substr(prefix_.size()), static_cast<int32_t>(id));
    } else {
      starts_.assign(t, static_cast<int32_t>(id));
    }
  }
}

int32_t Vocab::find(std::string_view token) const {
  if (token.size() > prefix_.size() && token.compare(0, prefix_.size(), prefix_) == 0)
    return continuations_.find(token.substr(prefix_.size()));
  return starts_.find(token);
}

WordPieceTokenizer::WordPieceTokenizer(Vocab vocab, TokenizerOptions options, const std::string& source)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  unk_id_ = vocab_.find(options_.unk_token);
  if (unk_id_ < 0) {
    throw stagehand::Error("vocabulary '" + source + "' (" + std::to_string(vocab_.size()) +
                             " tokens, first '" + (vocab_.size() > 0 ? vocab_.token(0) : std::string()) + "') has no unknown token '" + options_.unk_token +
                             "'; expected a line '" + options_.unk_token +
                             "'; add it to the vocabulary or set `unk_token` to the spelling the vocabulary uses");
  }
  cls_id_ = vocab_.find(options_.cls_token);
  sep_id_ = vocab_.find(options_.sep_token);
  pad_id_ = vocab_.find(options_.pad_token);
  mask_id_ = vocab_.find(options_.mask_token);
  std::vector<std::string> specials;
  if (options_.match_special_tokens) {
    // The order Hugging Face's BertWordPieceTokenizer registers them in; only those in the vocabulary.
    std::pair<const std::string*, int32_t> all[] = {{&options_.unk_token, unk_id_},
                                                    {&options_.sep_token, sep_id_},
                                                    {&options_.cls_token, cls_id_},
                                                    {&options_.pad_token, pad_id_},
                                                    {&options_.mask_token, mask_id_}};
    for (const auto& [spelling, id] : all) {
      if (id < 0 || spelling->empty()) continue;
      specials.push_back(*spelling);
      special_ids_.push_back(id);
    }
  }
  pre_ = BertPreTokenizer(options_.normalizer, std::move(specials));
}

struct WordPieceTokenizer::Sink {
  const WordPieceTokenizer& self;
  std::vector<Token>& out;
  int32_t words = 0;

  void word(const Word& w) { self.wordpiece(w, words++, out); }
  void special(int index, int32_t begin, int32_t end) {
    out.push_back(Token{self.special_ids_[static_cast<size_t>(index)], words++, begin, end});
  }
};

void WordPieceTokenizer::tokenize(std::string_view text, std::vector<Token>& out) const {
  Sink sink{*this, out};
  pre_.run(text, sink);
}

// Greedy longest-match-first, as in BERT: the longest vocabulary entry that starts the rest of the word
// (with the continuation prefix after the first piece); a word with an unmatchable rest is one [UNK].
void WordPieceTokenizer::wordpiece(const Word& word, int32_t index, std::vector<Token>& out) const {
  if (word.size > options_.max_input_chars_per_word) {
    out.push_back(Token{unk_id_, index, word.begin(), word.end()});
    return;
  }
  const size_t mark = out.size();
  const CharSpan* chars = word.chars;
  int32_t start = 0;
  while (start < word.size) {
    const StringMap& map = start == 0 ? vocab_.word_starts() : vocab_.continuations();
    const uint32_t from = chars[start].pos;
    const size_t longest = map.max_key_length();
    int32_t end = word.size;
    while (end > start && chars[end].pos - from > longest) --end;
    int32_t id = -1;
    for (; end > start; --end) {
      id = map.find(word.text.substr(from, chars[end].pos - from));
      if (id >= 0) break;
    }
    if (id < 0) {
      out.resize(mark);
      out.push_back(Token{unk_id_, index, word.begin(), word.end()});
      return;
    }
    out.push_back(Token{id, index, chars[start].begin, chars[end - 1].end});
    start = end;
  }
}

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  std::string piece;
  bool first = true;
  for (size_t at = 0; at < ids.size(); ++at) {
    const int32_t id = ids[at];
    if (id < 0 || id >= vocab_.size()) {
      throw std::out_of_range("cannot decode id " + std::to_string(id) + " (position " + std::to_string(at) +
                              "); expected 0.." + std::to_string(vocab_.size() - 1) +
                              ", the ids of this vocabulary; decode only ids this tokenizer produced");
    }
    if (is_special(id)) continue;
    const std::string& token = vocab_.token(id);
    const std::string& prefix = vocab_.prefix();
    if (first) {
      piece = token;
    } else if (token.compare(0, prefix.size(), prefix) == 0) {
      piece.assign(token, prefix.size(), std::string::npos);
    } else {
      piece.assign(1, ' ');
      piece += token;
    }
    first = false;
    // tokenizers applies its clean-up to each piece on its own (so " do not" never spans two pieces).
    static constexpr std::pair<std::string_view, std::string_view> kCleanup[] = {
        {" .", "."},     {" ?", "?"},     {" !", "!"},           {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"},   {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kCleanup) replace_all(piece, from, to);
    text += piece;
  }
  return text;
}

}  // namespace stagehand::wordpiece
