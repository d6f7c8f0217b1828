// SPDX-License-Identifier: Apache-2.0
// The wordpiece tokenizer and trainer plugin, loaded for real from the build's plugin folder.
//  - parity with Hugging Face `tokenizers` (fixtures from tests/data/tokenizers/make_wordpiece_fixtures.js):
//    ids, tokens, byte offsets, word indices and decoded text of ~1,100 varied texts in 4 option variants;
//    every Unicode code point (as "a" + c + "b") in 5 variants; Python BertTokenizer's cases.json;
//  - the tokenizer API: specials, vocabulary look-ups, save and reload, errors, thread safety;
//  - the trainer: vocabulary layout, options, determinism, stopping, agreement with tokenizers' trainer;
//  - throughput (printed, not asserted).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "stagehand/config.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"
#include "stagehand/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using stagehand::ConfigNode;
using stagehand::Piece;
using stagehand::Tokenizer;
using stagehand::TokenizerTrainer;

namespace {

const fs::path kData = STAGEHAND_TEST_DATA;
const fs::path kVocab = kData / "tokenizers" / "bert-base-uncased-vocab.txt";
const fs::path kFixtures = kData / "tokenizers" / "wordpiece_fixtures.jsonl";
const fs::path kCodepoints = kData / "tokenizers" / "wordpiece_codepoints.tsv";
const fs::path kHfTrainedVocab = kData / "tokenizers" / "wordpiece_hf_trained_vocab.txt";
const fs::path kCorpus = kData / "corpora" / "web_bible_excerpt.txt";
const fs::path kCases = kData / "hf-bert-tiny" / "cases.json";

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << file;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> read_all_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << file;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// A text as a JSON string, cut to `max` bytes, for failure messages.
std::string quoted(const std::string& text, size_t max = 160) {
  std::string cut = text.size() > max ? text.substr(0, max) : text;
  return json(cut).dump(-1, ' ', false, json::error_handler_t::replace) + (text.size() > max ? "..." : "");
}

// The plugin, loaded once into one registry for the whole test program.
class WordPiece : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = std::make_unique<stagehand::Registry>();
    loader_ = std::make_unique<stagehand::PluginLoader>(*registry_);
    loaded_ = loader_->load(fs::path(STAGEHAND_PLUGIN_DIR) / "tokenizer_wordpiece.so");
  }

  void SetUp() override {
    std::string why = loader_->refused().empty() ? "" : loader_->refused().front().reason;
    ASSERT_NE(loaded_, nullptr) << "tokenizer_wordpiece.so was refused: " << why;
  }

  static stagehand::BuildContext context(const fs::path& base = {}) {
    stagehand::BuildContext ctx;
    ctx.registry = registry_.get();
    ctx.base_dir = base;
    return ctx;
  }

  // A tokenizer from YAML options ("lowercase: false, ...") and a vocabulary file.
  static std::shared_ptr<Tokenizer> tokenizer(const std::string& options = "", const fs::path& vocab = kVocab) {
    std::string yaml = fmt::format("{{type: wordpiece, vocab: {}{}{}}}", json(vocab.string()).dump(),
                                   options.empty() ? "" : ", ", options);
    return registry_->create<Tokenizer>(stagehand::parse_yaml(yaml, "test"), context());
  }

  static std::shared_ptr<TokenizerTrainer> trainer(const std::string& options = "") {
    std::string yaml = fmt::format("{{type: wordpiece{}{}}}", options.empty() ? "" : ", ", options);
    return registry_->create<TokenizerTrainer>(stagehand::parse_yaml(yaml, "test"), context());
  }

  static std::unique_ptr<stagehand::Registry> registry_;
  static std::unique_ptr<stagehand::PluginLoader> loader_;
  static const stagehand::LoadedPlugin* loaded_;
};
std::unique_ptr<stagehand::Registry> WordPiece::registry_;
std::unique_ptr<stagehand::PluginLoader> WordPiece::loader_;
const stagehand::LoadedPlugin* WordPiece::loaded_ = nullptr;

// ---------------------------------------------------------------------------------------------------------
// Hugging Face parity: texts

// The option variants of wordpiece_fixtures.jsonl, in the plugin's YAML.
const std::vector<std::pair<std::string, std::string>> kVariants = {
    {"uncased", "lowercase: true"},
    {"cased", "lowercase: false"},
    {"uncased_keep_accents", "lowercase: true, strip_accents: false"},
    {"cased_strip_no_cjk", "lowercase: false, strip_accents: true, tokenize_chinese_chars: false"},
};

struct Expected {
  std::vector<int32_t> ids;
  std::vector<std::pair<int32_t, int32_t>> offsets;
  std::vector<int32_t> words;
  std::optional<std::string> decoded;
};

struct FixtureCase {
  std::string text;
  std::map<std::string, Expected> variants;
};

std::vector<FixtureCase> load_fixtures() {
  std::vector<std::string> lines = read_all_lines(kFixtures);
  EXPECT_GT(lines.size(), 1u);
  if (lines.empty()) return {};
  json header = json::parse(lines[0]);
  std::map<std::string, std::string> reference = header.at("reference").get<std::map<std::string, std::string>>();
  std::vector<FixtureCase> cases;
  for (size_t i = 1; i < lines.size(); ++i) {
    json j = json::parse(lines[i]);
    FixtureCase c;
    c.text = j.at("text").get<std::string>();
    std::map<std::string, json> full;
    for (const auto& [name, yaml] : kVariants) {
      const json& rec = j.at(name);
      json f;
      for (const char* key : {"ids", "offsets", "words"}) f[key] = rec.contains(key) ? rec[key] : full.at(reference.at(name))[key];
      full[name] = f;
      Expected e;
      e.ids = f["ids"].get<std::vector<int32_t>>();
      // offsets and words are stored as deltas
      std::vector<int32_t> d = f["offsets"].get<std::vector<int32_t>>();
      int32_t last = 0;
      for (size_t k = 0; k + 1 < d.size(); k += 2) {
        int32_t begin = last + d[k], end = begin + d[k + 1];
        e.offsets.emplace_back(begin, end);
        last = end;
      }
      int32_t w = 0;
      for (int32_t delta : f["words"].get<std::vector<int32_t>>()) e.words.push_back(w += delta);
      if (rec.contains("decoded")) e.decoded = rec["decoded"].get<std::string>();
      c.variants[name] = std::move(e);
    }
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), header.at("cases").get<size_t>());
  return cases;
}

const std::vector<FixtureCase>& fixtures() {
  static const std::vector<FixtureCase> cases = load_fixtures();
  return cases;
}

// "tok(id)@begin-end#word" around position `at`, for failure messages.
std::string describe(const Tokenizer& tok, const std::vector<int32_t>& ids,
                     const std::vector<std::pair<int32_t, int32_t>>& offsets, const std::vector<int32_t>& words,
                     size_t at) {
  std::string out;
  size_t from = at > 3 ? at - 3 : 0, to = std::min(ids.size(), at + 4);
  if (from > 0) out += "... ";
  for (size_t i = from; i < to; ++i) {
    std::string t = ids[i] >= 0 && ids[i] < tok.vocab_size() ? tok.id_to_token(ids[i]) : "?";
    out += fmt::format("{}{}({})@{}-{}#{} ", i == at ? ">>" : "", t, ids[i], i < offsets.size() ? offsets[i].first : -1,
                       i < offsets.size() ? offsets[i].second : -1, i < words.size() ? words[i] : -1);
  }
  if (to < ids.size()) out += "...";
  return out;
}

TEST_F(WordPiece, RegistersTokenizerAndTrainer) {
  const auto* t = registry_->find("tokenizer", "wordpiece");
  const auto* tr = registry_->find("tokenizer_trainer", "wordpiece");
  ASSERT_NE(t, nullptr);
  ASSERT_NE(tr, nullptr);
  EXPECT_EQ(loaded_->name, "tokenizer_wordpiece");
  for (const char* opt : {"vocab", "lowercase", "strip_accents", "tokenize_chinese_chars", "max_input_chars_per_word",
                          "unk_token", "cls_token", "sep_token", "pad_token", "mask_token"})
    EXPECT_NE(t->schema->find(opt), nullptr) << opt;
  for (const char* opt : {"vocab_size", "lowercase", "strip_accents", "min_frequency", "limit_alphabet",
                          "special_tokens", "max_lines"})
    EXPECT_NE(tr->schema->find(opt), nullptr) << opt;
}

TEST_F(WordPiece, MatchesHuggingFaceOnFixtureTexts) {
  const auto& cases = fixtures();
  ASSERT_GT(cases.size(), 1000u);
  size_t checked = 0, mismatched = 0, tokens = 0;
  std::vector<std::string> reports;
  for (const auto& [name, yaml] : kVariants) {
    std::shared_ptr<Tokenizer> tok = tokenizer(yaml);
    for (size_t i = 0; i < cases.size(); ++i) {
      const FixtureCase& c = cases[i];
      const Expected& e = c.variants.at(name);
      std::vector<Piece> pieces = tok->pieces(c.text);
      std::vector<int32_t> ids, words;
      std::vector<std::pair<int32_t, int32_t>> offsets;
      bool tokens_ok = true;
      for (const Piece& p : pieces) {
        ids.push_back(p.id);
        offsets.emplace_back(p.begin, p.end);
        words.push_back(p.word);
        tokens_ok = tokens_ok && p.token == tok->id_to_token(p.id);
      }
      ++checked;
      tokens += ids.size();
      std::string what;
      if (ids != e.ids) {
        what = "tokens";
      } else if (offsets != e.offsets) {
        what = "offsets";
      } else if (words != e.words) {
        what = "word indices";
      } else if (!tokens_ok) {
        what = "Piece::token spelling";
      } else if (e.decoded && tok->decode(ids) != *e.decoded) {
        what = fmt::format("decode: expected {} got {}", quoted(*e.decoded), quoted(tok->decode(ids)));
      }
      if (what.empty()) continue;
      ++mismatched;
      if (reports.size() < 8) {
        size_t at = 0;
        while (at < ids.size() && at < e.ids.size() && ids[at] == e.ids[at] && offsets[at] == e.offsets[at] &&
               words[at] == e.words[at])
          ++at;
        reports.push_back(fmt::format("case {} [{}] {} differ; text {}\n    expected: {}\n    got:      {}", i, name,
                                      what, quoted(c.text), describe(*tok, e.ids, e.offsets, e.words, at),
                                      describe(*tok, ids, offsets, words, at)));
      }
    }
  }
  std::string all;
  for (const std::string& r : reports) all += "\n  " + r;
  EXPECT_EQ(mismatched, 0u) << mismatched << " of " << checked << " (text, variant) cases differ from Hugging Face; "
                            << "first ones:" << all;
  std::printf("[ parity ] %zu texts x %zu variants = %zu cases, %zu tokens: %zu differ from Hugging Face\n",
              cases.size(), kVariants.size(), checked, tokens, mismatched);
}

// ---------------------------------------------------------------------------------------------------------
// Hugging Face parity: every code point

bool sweep_excluded(char32_t c) {  // as in make_wordpiece_fixtures.js
  return c == 0 || (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
bool surrogate(char32_t c) { return c >= 0xD800 && c <= 0xDFFF; }

// One character of a signature: fixed, or relative to the swept code point.
struct SigChar {
  bool relative;
  int64_t value;
};
// A token of a signature: [UNK], or "##"? + one character.
struct SigToken {
  bool unk = false;
  bool continuation = false;
  SigChar ch{false, 0};
};
using Signature = std::vector<std::vector<SigToken>>;  // words of tokens

Signature parse_signature(const std::string& sig) {
  Signature out;
  std::vector<std::string> words;
  for (size_t at = 0;;) {
    size_t bar = sig.find(" | ", at);
    words.push_back(sig.substr(at, bar == std::string::npos ? std::string::npos : bar - at));
    if (bar == std::string::npos) break;
    at = bar + 3;
  }
  for (const std::string& w : words) {
    std::vector<SigToken> toks;
    std::istringstream in(w);
    for (std::string t; in >> t;) {
      SigToken tok;
      if (t == "[UNK]") {
        tok.unk = true;
        toks.push_back(tok);
        continue;
      }
      std::vector<SigChar> chars;
      for (size_t i = 0; i < t.size();) {
        if (t[i] == '{') {
          size_t close = t.find('}', i);
          std::string v = t.substr(i + 1, close - i - 1);
          chars.push_back(v[0] == '=' ? SigChar{false, std::stoll(v.substr(1), nullptr, 16)} : SigChar{true, std::stoll(v)});
          i = close + 1;
        } else {
          chars.push_back(SigChar{false, static_cast<unsigned char>(t[i])});
          ++i;
        }
      }
      if (chars.size() == 3 && !chars[0].relative && chars[0].value == '#' && !chars[1].relative &&
          chars[1].value == '#') {
        tok.continuation = true;
        tok.ch = chars[2];
      } else if (chars.size() == 1) {
        tok.ch = chars[0];
      } else {
        throw std::runtime_error("unexpected token in signature: " + sig);
      }
      toks.push_back(tok);
    }
    out.push_back(toks);
  }
  return out;
}

TEST_F(WordPiece, MatchesHuggingFaceOnEveryCodePoint) {
  // The columns of wordpiece_codepoints.tsv.
  const std::vector<std::pair<std::string, std::string>> variants = {
      {"plain", "lowercase: false, strip_accents: false, tokenize_chinese_chars: false"},
      {"lowercase", "lowercase: true, strip_accents: false, tokenize_chinese_chars: false"},
      {"strip_accents", "lowercase: false, strip_accents: true, tokenize_chinese_chars: false"},
      {"chinese", "lowercase: false, strip_accents: false, tokenize_chinese_chars: true"},
      {"uncased", "lowercase: true"},
  };
  struct Row {
    char32_t first, last;
    std::vector<Signature> sigs;
  };
  std::vector<Row> rows;
  for (const std::string& line : read_all_lines(kCodepoints)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::istringstream in(line);
    for (std::string x; std::getline(in, x, '\t');) f.push_back(x);
    ASSERT_EQ(f.size(), 2 + variants.size()) << line;
    Row r{static_cast<char32_t>(std::stoul(f[0], nullptr, 16)), static_cast<char32_t>(std::stoul(f[1], nullptr, 16)), {}};
    for (size_t v = 0; v < variants.size(); ++v) r.sigs.push_back(parse_signature(f[2 + v]));
    rows.push_back(std::move(r));
  }
  ASSERT_GT(rows.size(), 1000u);
  const Signature identity = parse_signature("a ##{0} ##b");

  // Expected (word, character, continuation?) triples; character -1 stands for [UNK].
  struct Want {
    int32_t word;
    int64_t ch;
    bool continuation;
  };
  auto expected_for = [&](char32_t cp, size_t v, size_t& row, std::vector<Want>& out) {
    while (row < rows.size() && rows[row].last < cp) ++row;
    const Signature& sig = row < rows.size() && rows[row].first <= cp ? rows[row].sigs[v] : identity;
    out.clear();
    for (size_t w = 0; w < sig.size(); ++w)
      for (const SigToken& t : sig[w])
        out.push_back(Want{static_cast<int32_t>(w), t.unk ? -1 : (t.ch.relative ? int64_t(cp) + t.ch.value : t.ch.value),
                           t.continuation});
  };

  // One plane at a time, with a vocabulary of [UNK] and, alone and with "##", every character of the plane
  // and every character the expectations name: small tables keep this quick.
  sh_test::TempFolder tmp;
  std::vector<int32_t> id_of(0x110000, -1);
  size_t checked = 0, mismatched = 0;
  std::vector<std::string> reports;
  std::vector<Want> want;
  std::vector<std::pair<int32_t, int32_t>> expected, got;  // (word, id)
  std::string text;
  for (char32_t plane = 0; plane < 0x110000; plane += 0x10000) {
    std::vector<char32_t> chars;
    auto add = [&](int64_t c) {
      if (c < 0 || c >= 0x110000 || surrogate(char32_t(c)) || sweep_excluded(char32_t(c)) || id_of[c] >= 0) return;
      id_of[c] = 0;
      chars.push_back(static_cast<char32_t>(c));
    };
    for (size_t v = 0, row = 0; v < variants.size(); ++v, row = 0) {
      for (char32_t cp = plane; cp < plane + 0x10000; ++cp) {
        if (surrogate(cp)) continue;
        add(cp);
        expected_for(cp, v, row, want);
        for (const Want& w : want) add(w.ch);
      }
    }
    std::string vocab = "[UNK]\n";
    int32_t next = 1;
    for (char32_t c : chars) {
      id_of[c] = next;
      next += 2;
      std::string u = utf8(c);
      vocab += u + "\n##" + u + "\n";
    }
    const fs::path file = tmp / fmt::format("plane{}.txt", plane >> 16);
    sh_test::write_text(file, vocab);

    for (size_t v = 0; v < variants.size(); ++v) {
      std::shared_ptr<Tokenizer> tok = tokenizer(variants[v].second, file);
      size_t row = 0;
      for (char32_t cp = plane; cp < plane + 0x10000; ++cp) {
        if (surrogate(cp)) continue;
        expected_for(cp, v, row, want);
        expected.clear();
        for (const Want& w : want)
          expected.emplace_back(w.word, w.ch < 0 ? 0 : id_of[w.ch] + (w.continuation ? 1 : 0));
        text = "a" + utf8(cp) + "b";
        got.clear();
        for (const Piece& p : tok->pieces(text)) got.emplace_back(p.word, p.id);
        ++checked;
        if (got == expected) continue;
        ++mismatched;
        if (reports.size() < 10) {
          auto show = [&](const std::vector<std::pair<int32_t, int32_t>>& toks) {
            std::string out;
            for (const auto& [w, id] : toks) out += fmt::format("{}:{} ", w, quoted(id >= 0 ? tok->id_to_token(id) : "?"));
            return out;
          };
          reports.push_back(fmt::format("U+{:04X} [{}] expected {}got {}", static_cast<uint32_t>(cp), variants[v].first,
                                        show(expected), show(got)));
        }
      }
    }
    for (char32_t c : chars) id_of[c] = -1;
  }
  std::string all;
  for (const std::string& r : reports) all += "\n  " + r;
  EXPECT_EQ(mismatched, 0u) << mismatched << " of " << checked
                            << " (code point, variant) cases differ from Hugging Face; first ones:" << all;
  std::printf("[ parity ] %zu code points x %zu variants = %zu cases: %zu differ from Hugging Face\n",
              checked / variants.size(), variants.size(), checked, mismatched);
}

// ---------------------------------------------------------------------------------------------------------
// Python BertTokenizer's reference cases (hf-bert-tiny/cases.json)

TEST_F(WordPiece, MatchesPythonBertTokenizerCases) {
  json doc = json::parse(read_bytes(kCases));
  std::shared_ptr<Tokenizer> tok = tokenizer();
  const json& cases = doc.at("cases");
  ASSERT_EQ(cases.size(), 4u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    std::vector<std::string> tokens = {"[CLS]"};
    for (const Piece& p : tok->pieces(c.at("text_a").get<std::string>())) tokens.push_back(p.token);
    tokens.push_back("[SEP]");
    if (!c.at("text_b").is_null()) {
      for (const Piece& p : tok->pieces(c.at("text_b").get<std::string>())) tokens.push_back(p.token);
      tokens.push_back("[SEP]");
    }
    EXPECT_EQ(tokens, c.at("tokens").get<std::vector<std::string>>()) << "case " << i;

    // The same through the core's encoding (special tokens, segments, padding to the batch length).
    stagehand::EncodeOptions opts;
    opts.max_length = static_cast<int32_t>(doc.at("input_ids")[i].size());
    opts.padding = stagehand::Padding::MaxLength;
    stagehand::Encoding e = c.at("text_b").is_null()
                                ? tok->encode(c.at("text_a").get<std::string>(), opts)
                                : tok->encode_pair(c.at("text_a").get<std::string>(), c.at("text_b").get<std::string>(), opts);
    EXPECT_EQ(e.ids, doc.at("input_ids")[i].get<std::vector<int32_t>>()) << "case " << i;
    EXPECT_EQ(e.type_ids, doc.at("token_type_ids")[i].get<std::vector<int32_t>>()) << "case " << i;
    std::vector<int> mask(e.attention_mask.begin(), e.attention_mask.end());
    EXPECT_EQ(mask, doc.at("attention_mask")[i].get<std::vector<int>>()) << "case " << i;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The tokenizer API

TEST_F(WordPiece, SpecialTokensAndVocabularyLookups) {
  std::shared_ptr<Tokenizer> tok = tokenizer();
  EXPECT_EQ(tok->vocab_size(), 30522);
  const stagehand::SpecialTokens& s = tok->special();
  EXPECT_EQ(s.pad, 0);
  EXPECT_EQ(s.unk, 100);
  EXPECT_EQ(s.cls, 101);
  EXPECT_EQ(s.sep, 102);
  EXPECT_EQ(s.mask, 103);
  EXPECT_EQ(s.unk_token, "[UNK]");
  EXPECT_EQ(tok->token_to_id("hello"), 7592);
  EXPECT_EQ(tok->token_to_id("##ing"), 2075);
  EXPECT_EQ(tok->token_to_id("no-such-token"), 100);
  EXPECT_EQ(tok->id_to_token(7592), "hello");
  EXPECT_EQ(tok->id_to_token(2075), "##ing");
  EXPECT_THROW(tok->id_to_token(30522), stagehand::Error);
  EXPECT_THROW(tok->id_to_token(-1), stagehand::Error);
  EXPECT_THROW(tok->decode({7592, 40000}), stagehand::Error);

  // Special-token spellings in the text are those tokens (each its own word); lower-case ones are not.
  std::vector<Piece> p = tok->pieces("a[SEP]b [mask]");
  std::vector<std::string> toks;
  for (const Piece& x : p) toks.push_back(x.token);
  EXPECT_EQ(toks, (std::vector<std::string>{"a", "[SEP]", "b", "[", "mask", "]"}));
  EXPECT_EQ(p[1].begin, 1);
  EXPECT_EQ(p[1].end, 6);
  EXPECT_EQ(p[1].word, 1);
  std::shared_ptr<Tokenizer> literal = tokenizer("match_special_tokens: false");
  toks.clear();
  for (const Piece& x : literal->pieces("a[SEP]b")) toks.push_back(x.token);
  EXPECT_EQ(toks, (std::vector<std::string>{"a", "[", "sep", "]", "b"}));

  // decode: specials skipped, continuations glued, no space before . , ! ?
  EXPECT_EQ(tok->decode({101, 7592, 1010, 2088, 999, 102, 0}), "hello, world!");
  EXPECT_EQ(tok->decode(tok->encode_ids("Unaffable tokenizers, really?")), "unaffable tokenizers, really?");

  // Invalid UTF-8 bytes decode as U+FFFD, which cleaning drops; offsets still cover the original bytes.
  std::vector<Piece> broken = tok->pieces("ab\xff" "cd \xe2\x82");
  std::vector<Piece> clean = tok->pieces("abcd");
  ASSERT_EQ(broken.size(), clean.size());
  for (size_t i = 0; i < clean.size(); ++i) EXPECT_EQ(broken[i].token, clean[i].token);
  EXPECT_EQ(broken.front().begin, 0);
  EXPECT_EQ(broken.back().end, 5);

  // Options change the result.
  auto first = [](const std::shared_ptr<Tokenizer>& t, const std::string& text) { return t->pieces(text).at(0).token; };
  EXPECT_EQ(first(tok, "Café"), "cafe");
  EXPECT_EQ(first(tokenizer("strip_accents: false"), "Café"), "[UNK]");  // the vocabulary has no "é"
  EXPECT_EQ(tokenizer("max_input_chars_per_word: 3")->pieces("four").at(0).token, "[UNK]");
  std::vector<Piece> joined = tokenizer("tokenize_chinese_chars: false")->pieces("北京");
  std::vector<Piece> apart = tok->pieces("北京");
  ASSERT_EQ(joined.size(), 2u);
  ASSERT_EQ(apart.size(), 2u);
  EXPECT_EQ(joined[1].token, "##京");
  EXPECT_EQ(joined[1].word, 0);
  EXPECT_EQ(apart[1].token, "京");
  EXPECT_EQ(apart[1].word, 1);
}

TEST_F(WordPiece, SavesAndReloads) {
  std::shared_ptr<Tokenizer> tok = tokenizer("lowercase: true, strip_accents: false, max_input_chars_per_word: 50");
  sh_test::TempFolder tmp;
  ConfigNode spec = tok->save(tmp.path() / "saved");
  EXPECT_EQ(spec.at("type").as_string(), "wordpiece");
  EXPECT_EQ(spec.at("vocab").as_string(), "vocab.txt");
  EXPECT_FALSE(spec.at("strip_accents").as_bool());
  EXPECT_EQ(spec.at("max_input_chars_per_word").as_int(), 50);
  EXPECT_EQ(read_bytes(tmp.path() / "saved" / "vocab.txt"), read_bytes(kVocab));
  // Relative paths in the spec resolve against the build context's base folder.
  auto again = registry_->create<Tokenizer>(spec, context(tmp.path() / "saved"));
  for (size_t i = 0; i < fixtures().size(); i += 7) {
    const std::string& text = fixtures()[i].text;
    EXPECT_EQ(again->encode_ids(text), tok->encode_ids(text)) << quoted(text);
  }
  // Saving into the folder it was loaded from leaves the vocabulary alone.
  ConfigNode spec2 = again->save(tmp.path() / "saved");
  EXPECT_TRUE(spec2.equals(spec));
  EXPECT_EQ(read_bytes(tmp.path() / "saved" / "vocab.txt"), read_bytes(kVocab));
}

TEST_F(WordPiece, ErrorsSayWhatToFix) {
  sh_test::TempFolder tmp;
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const stagehand::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  std::string missing = message([&] { tokenizer("", tmp.path() / "nope.txt"); });
  EXPECT_NE(missing.find("nope.txt"), std::string::npos) << missing;

  sh_test::write_text(tmp / "no_unk.txt", "[PAD]\nhello\n##ing\n");
  std::string no_unk = message([&] { tokenizer("", tmp.path() / "no_unk.txt"); });
  EXPECT_NE(no_unk.find("[UNK]"), std::string::npos) << no_unk;
  EXPECT_NE(no_unk.find("no_unk.txt"), std::string::npos) << no_unk;
  EXPECT_NE(no_unk.find("unk_token"), std::string::npos) << no_unk;
  // The same vocabulary works once unk_token names a token it has.
  EXPECT_EQ(tokenizer("unk_token: '[PAD]'", tmp.path() / "no_unk.txt")->pieces("hello xyz").at(1).token, "[PAD]");

  sh_test::write_text(tmp / "empty.txt", "");
  std::string empty = message([&] { tokenizer("", tmp.path() / "empty.txt"); });
  EXPECT_NE(empty.find("empty"), std::string::npos) << empty;

  std::string typo = message([&] { tokenizer("lowercsae: true"); });
  EXPECT_NE(typo.find("lowercase"), std::string::npos) << typo;

  std::string trainer_unk = message([&] { trainer("special_tokens: ['[PAD]', '[CLS]']"); });
  EXPECT_NE(trainer_unk.find("unk_token"), std::string::npos) << trainer_unk;
  std::string no_files = message([&] { trainer()->train({}, tmp.path() / "out", {}); });
  EXPECT_NE(no_files.find("no training files"), std::string::npos) << no_files;
  std::string bad_file = message([&] { trainer()->train({tmp.path() / "absent.txt"}, tmp.path() / "out", {}); });
  EXPECT_NE(bad_file.find("absent.txt"), std::string::npos) << bad_file;
}

TEST_F(WordPiece, IsThreadSafe) {
  std::shared_ptr<Tokenizer> tok = tokenizer();
  const auto& cases = fixtures();
  std::vector<std::vector<int32_t>> serial;
  for (const auto& c : cases) serial.push_back(tok->encode_ids(c.text));
  std::vector<size_t> wrong(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < wrong.size(); ++t) {
    threads.emplace_back([&, t] {
      for (size_t r = 0; r < 3; ++r)
        for (size_t i = (t * 97) % cases.size(), n = 0; n < cases.size(); ++n, i = (i + 1) % cases.size())
          if (tok->encode_ids(cases[i].text) != serial[i]) ++wrong[t];
    });
  }
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < wrong.size(); ++t) EXPECT_EQ(wrong[t], 0u) << "thread " << t;
}

// ---------------------------------------------------------------------------------------------------------
// The trainer

std::vector<std::string> vocab_lines(const fs::path& file) { return read_all_lines(file); }

TEST_F(WordPiece, TrainsAVocabularyAndATokenizerThatRoundTrips) {
  sh_test::TempFolder tmp;
  auto tr = trainer("vocab_size: 2000, min_frequency: 2");
  ConfigNode spec = tr->train({kCorpus}, tmp.path() / "trained", [] { return false; });
  EXPECT_EQ(spec.at("type").as_string(), "wordpiece");
  EXPECT_EQ(spec.at("vocab").as_string(), "vocab.txt");
  EXPECT_TRUE(spec.at("lowercase").as_bool());

  std::vector<std::string> vocab = vocab_lines(tmp.path() / "trained" / "vocab.txt");
  EXPECT_EQ(vocab.size(), 2000u);
  ASSERT_GE(vocab.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(vocab.begin(), vocab.begin() + 5),
            (std::vector<std::string>{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}));
  EXPECT_EQ(std::set<std::string>(vocab.begin(), vocab.end()).size(), vocab.size()) << "duplicate tokens";
  size_t continuations = 0;
  for (const std::string& t : vocab) {
    if (t.rfind("##", 0) == 0) ++continuations;
    EXPECT_EQ(t.find_first_of(" \t\r\n"), std::string::npos) << quoted(t);
  }
  EXPECT_GT(continuations, 200u);
  for (const char* word : {"the", "and", "god", "##s", "##ed", "##ing"})
    EXPECT_NE(std::find(vocab.begin(), vocab.end(), word), vocab.end()) << word;

  // The trained tokenizer: frequent words are single pieces, the corpus needs no [UNK].
  auto tok = registry_->create<Tokenizer>(spec, context(tmp.path() / "trained"));
  EXPECT_EQ(tok->special().pad, 0);
  EXPECT_EQ(tok->special().unk, 1);
  EXPECT_EQ(tok->special().cls, 2);
  EXPECT_EQ(tok->special().mask, 4);
  std::vector<std::string> lines = read_all_lines(kCorpus);
  size_t unknown = 0;
  for (size_t i = 0; i < lines.size(); i += 10)
    for (const Piece& p : tok->pieces(lines[i])) unknown += p.id == tok->special().unk;
  EXPECT_EQ(unknown, 0u);
  EXPECT_EQ(tok->pieces("And God said").size(), 3u);
  const std::string sample = lines.at(3);
  EXPECT_EQ(tok->decode(tok->encode_ids("In the beginning, God created the heavens.")),
            "in the beginning, god created the heavens.");

  // Save and reload: same vocabulary bytes, same spec, same encodings.
  ConfigNode saved = tok->save(tmp.path() / "copy");
  EXPECT_EQ(read_bytes(tmp.path() / "copy" / "vocab.txt"), read_bytes(tmp.path() / "trained" / "vocab.txt"));
  auto copy = registry_->create<Tokenizer>(saved, context(tmp.path() / "copy"));
  EXPECT_EQ(copy->encode_ids(sample), tok->encode_ids(sample));
  EXPECT_TRUE(saved.equals(spec)) << stagehand::to_yaml(saved) << "\nvs\n" << stagehand::to_yaml(spec);
}

TEST_F(WordPiece, TrainerOptionsAndDeterminism) {
  sh_test::TempFolder tmp;
  auto read = [&](const std::string& dir) { return read_bytes(tmp.path() / dir / "vocab.txt"); };
  trainer("vocab_size: 1500")->train({kCorpus}, tmp.path() / "a", {});
  trainer("vocab_size: 1500")->train({kCorpus}, tmp.path() / "b", {});
  EXPECT_EQ(read("a"), read("b")) << "training is not deterministic";

  // Cased training keeps capitals; special_tokens choose the first ids; unk_token goes into the spec.
  ConfigNode cased = trainer("vocab_size: 1500, lowercase: false, special_tokens: ['<unk>', '<pad>'], unk_token: '<unk>'")
                         ->train({kCorpus}, tmp.path() / "cased", {});
  std::vector<std::string> v = vocab_lines(tmp.path() / "cased" / "vocab.txt");
  EXPECT_EQ(v.at(0), "<unk>");
  EXPECT_EQ(v.at(1), "<pad>");
  EXPECT_NE(std::find(v.begin(), v.end(), "God"), v.end());
  EXPECT_EQ(cased.at("unk_token").as_string(), "<unk>");
  EXPECT_FALSE(cased.at("lowercase").as_bool());
  EXPECT_FALSE(cased.at("strip_accents").as_bool());

  // limit_alphabet bounds the single characters; max_lines reads less; a high min_frequency stops early.
  trainer("vocab_size: 1500, limit_alphabet: 20")->train({kCorpus}, tmp.path() / "alpha", {});
  std::vector<std::string> alpha = vocab_lines(tmp.path() / "alpha" / "vocab.txt");
  size_t singles = 0;
  for (const std::string& t : alpha) singles += t.size() == 1;
  EXPECT_LE(singles, 20u);
  trainer("vocab_size: 30000, min_frequency: 0, max_lines: 50")->train({kCorpus}, tmp.path() / "few", {});
  trainer("vocab_size: 30000, min_frequency: 0")->train({kCorpus}, tmp.path() / "all", {});
  EXPECT_LT(vocab_lines(tmp.path() / "few" / "vocab.txt").size(), vocab_lines(tmp.path() / "all" / "vocab.txt").size());
  trainer("vocab_size: 30000, min_frequency: 50")->train({kCorpus}, tmp.path() / "freq", {});
  EXPECT_LT(vocab_lines(tmp.path() / "freq" / "vocab.txt").size(), 1500u);
}

TEST_F(WordPiece, TrainerStopsWhenAsked) {
  sh_test::TempFolder tmp;
  int polls = 0;
  try {
    trainer()->train({kCorpus}, tmp.path() / "out", [&] { return ++polls > 1; });
    ADD_FAILURE() << "training did not stop";
  } catch (const stagehand::Interrupted& e) {
    EXPECT_EQ(e.signal_number(), SIGINT);
  }
  EXPECT_GE(polls, 2);
  EXPECT_FALSE(fs::exists(tmp.path() / "out" / "vocab.txt"));
}

// tokenizers' WordPieceTrainer with its defaults (vocab_size 30000, min_frequency 0, every character, no
// special tokens) on the same corpus. Its own runs differ slightly (ties between equally frequent pairs
// follow hash-map order: two runs share ~99% of their tokens), so: the same alphabet, the same first merges
// in the same order, and nearly the same set of tokens.
TEST_F(WordPiece, TrainerAgreesWithHuggingFaceTrainer) {
  sh_test::TempFolder tmp;
  trainer("vocab_size: 30000, min_frequency: 0, limit_alphabet: -1, special_tokens: ['[UNK]']")
      ->train({kCorpus}, tmp.path() / "out", {});
  std::vector<std::string> ours = vocab_lines(tmp.path() / "out" / "vocab.txt");
  ASSERT_FALSE(ours.empty());
  EXPECT_EQ(ours.front(), "[UNK]");
  ours.erase(ours.begin());
  std::vector<std::string> hf = vocab_lines(kHfTrainedVocab);
  // The initial symbols: single characters, alone or with "##".
  auto is_initial = [](const std::string& t) {
    std::string rest = t.rfind("##", 0) == 0 ? t.substr(2) : t;
    size_t code_points = 0;
    for (unsigned char b : rest) code_points += (b & 0xC0) != 0x80;
    return code_points == 1;
  };
  auto split = [&](const std::vector<std::string>& v) {
    size_t n = 0;
    while (n < v.size() && is_initial(v[n])) ++n;
    return std::make_pair(std::set<std::string>(v.begin(), v.begin() + n), std::vector<std::string>(v.begin() + n, v.end()));
  };
  auto [our_initial, our_merges] = split(ours);
  auto [hf_initial, hf_merges] = split(hf);
  EXPECT_EQ(our_initial, hf_initial);
  ASSERT_GE(our_merges.size(), 80u);
  ASSERT_GE(hf_merges.size(), 80u);
  EXPECT_EQ(std::vector<std::string>(our_merges.begin(), our_merges.begin() + 80),
            std::vector<std::string>(hf_merges.begin(), hf_merges.begin() + 80));
  std::set<std::string> a(ours.begin(), ours.end()), b(hf.begin(), hf.end()), both, either;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::inserter(both, both.end()));
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::inserter(either, either.end()));
  double jaccard = static_cast<double>(both.size()) / static_cast<double>(either.size());
  EXPECT_GE(jaccard, 0.97) << "ours " << a.size() << " tokens, Hugging Face " << b.size() << ", shared " << both.size();
  EXPECT_NEAR(static_cast<double>(ours.size()), static_cast<double>(hf.size()), 0.01 * static_cast<double>(hf.size()));
  std::printf("[ parity ] trainer: %zu tokens vs Hugging Face's %zu, %zu shared (Jaccard %.3f)\n", a.size(), b.size(),
              both.size(), jaccard);
}

// ---------------------------------------------------------------------------------------------------------
}  // namespace
