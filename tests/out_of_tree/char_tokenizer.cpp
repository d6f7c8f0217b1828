// SPDX-License-Identifier: Apache-2.0
// A character-level tokenizer in one file: a trainer that collects the characters of a corpus and a
// tokenizer that maps every UTF-8 character to an id. Used by tests/scripts/test_out_of_tree.sh.
#include <fstream>
#include <map>
#include <unordered_map>

#include <stagehand/plugin.h>
#include <stagehand/tokenizer.h>
#include <stagehand/files.h>

namespace {

std::vector<std::pair<int32_t, int32_t>> utf8_chars(std::string_view s) {
  std::vector<std::pair<int32_t, int32_t>> out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    n = std::min(n, s.size() - i);
    out.emplace_back(static_cast<int32_t>(i), static_cast<int32_t>(i + n));
    i += n;
  }
  return out;
}

class CharTokenizer : public stagehand::Tokenizer {
 public:
  explicit CharTokenizer(const stagehand::Options& o) : vocab_file_(o.path("vocab")) {
    std::ifstream in(vocab_file_);
    SH_CHECK(in.good(), "char_tokenizer: cannot read vocabulary '{}'", vocab_file_.string());
    std::string line;
    while (std::getline(in, line)) {
      ids_.emplace(line, static_cast<int32_t>(tokens_.size()));
      tokens_.push_back(line);
    }
    auto id = [&](const std::string& t) { auto it = ids_.find(t); return it == ids_.end() ? -1 : it->second; };
    special_.pad = id("[PAD]");
    special_.unk = id("[UNK]");
    special_.cls = id("[CLS]");
    special_.sep = id("[SEP]");
    special_.mask = id("[MASK]");
    SH_CHECK(special_.unk >= 0, "char_tokenizer: vocabulary '{}' has no [UNK]", vocab_file_.string());
  }
  std::vector<stagehand::Piece> pieces(std::string_view text) const override {
    std::vector<stagehand::Piece> out;
    int32_t word = 0;
    bool in_word = false;
    for (auto [b, e] : utf8_chars(text)) {
      std::string ch(text.substr(static_cast<size_t>(b), static_cast<size_t>(e - b)));
      if (ch == " " || ch == "\t" || ch == "\n") {
        if (in_word) ++word;
        in_word = false;
        continue;
      }
      in_word = true;
      out.push_back({token_to_id(ch), ch, word, b, e});
    }
    return out;
  }
  int32_t vocab_size() const override { return static_cast<int32_t>(tokens_.size()); }
  int32_t token_to_id(std::string_view t) const override {
    auto it = ids_.find(std::string(t));
    return it == ids_.end() ? special_.unk : it->second;
  }
  std::string id_to_token(int32_t id) const override { return tokens_.at(static_cast<size_t>(id)); }
  const stagehand::SpecialTokens& special() const override { return special_; }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (auto id : ids) s += id_to_token(id);
    return s;
  }
  stagehand::ConfigNode save(const std::filesystem::path& dir) const override {
    std::filesystem::copy_file(vocab_file_, dir / "chars.txt", std::filesystem::copy_options::overwrite_existing);
    return stagehand::parse_yaml("{type: char_tokenizer, vocab: chars.txt}", "char_tokenizer");
  }

 private:
  std::filesystem::path vocab_file_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> tokens_;
  stagehand::SpecialTokens special_;
};

class CharTrainer : public stagehand::TokenizerTrainer {
 public:
  explicit CharTrainer(const stagehand::Options& o) : min_count_(o.get<int64_t>("min_count")) {}
  stagehand::ConfigNode train(const std::vector<std::filesystem::path>& files, const std::filesystem::path& out,
                              const std::function<bool()>&) const override {
    std::map<std::string, int64_t> counts;
    for (const auto& f : files) {
      std::string text = stagehand::read_file(f);
      for (auto [b, e] : utf8_chars(text)) ++counts[text.substr(static_cast<size_t>(b), static_cast<size_t>(e - b))];
    }
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (const auto& [ch, n] : counts)
      if (n >= min_count_ && ch != "\n" && ch != " " && ch != "\t") vocab += ch + "\n";
    stagehand::write_file_atomic(out / "chars.txt", vocab);
    return stagehand::parse_yaml("{type: char_tokenizer, vocab: chars.txt}", "char_tokenizer");
  }

 private:
  int64_t min_count_;
};

}  // namespace

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Tokenizer>(
      "char_tokenizer", "one token per UTF-8 character",
      stagehand::Schema().path("vocab", "file with one character per line (specials first)"),
      [](const stagehand::Options& o) { return std::make_shared<CharTokenizer>(o); });
  registrar.add<stagehand::TokenizerTrainer>(
      "char_tokenizer", "collects the characters of a corpus",
      stagehand::Schema().opt("min_count", int64_t{1}, "keep characters seen at least this often").min(1),
      [](const stagehand::Options& o) { return std::make_shared<CharTrainer>(o); });
}
