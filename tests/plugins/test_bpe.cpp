// SPDX-License-Identifier: Apache-2.0
// The bpe tokenizer and trainer plugin (byte-level BPE: GPT-2, RoBERTa), loaded from the build's plugin folder.
//  - parity with Hugging Face tokenizers 0.22 (fixtures from tests/data/tokenizers/make_bpe_fixtures.js): ids,
//    UTF-8 byte offsets and pre-token indices of ~900 texts with GPT-2's vocabulary in 3 variants (no prefix space,
//    RoBERTa's trimmed offsets, add_prefix_space), and the decoded text;
//  - the pre-tokenizing regex's class of every code point (bpe_codepoints.tsv), probed through the tokenizer;
//  - RoBERTa: roberta-tiny/tokenizer.json (merges as pairs and as "a b" strings) and the same vocabulary as
//    vocab.json + merges.txt give tokenizers' ids, offsets, special-token masks and type ids for texts and pairs
//    (`<s> a </s></s> b </s>`, <mask> taking the space on its left); the hf-tiny/roberta folder, read as the `hf`
//    tokenizer type reads it, gives transformers' input_ids;
//  - the trainer: the vocabulary and merges tokenizers' BpeTrainer learns, exactly; its options and stopping;
//  - frame_ids frames ids as encode()/encode_pair() do in the roberta, bert and none layouts;
//  - errors, save and reload, thread safety.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/plugin_support.h"
#include "support/test_support.h"
#include "stagehand/config.h"
#include "stagehand/error.h"
#include "stagehand/registry.h"
#include "stagehand/sdk/hf_checkpoint.h"
#include "stagehand/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using stagehand::Encoding;
using stagehand::Piece;
using stagehand::Tokenizer;
using stagehand::TokenizerTrainer;

namespace {

const fs::path kData = fs::path(STAGEHAND_TEST_DATA);
const fs::path kTok = kData / "tokenizers";
const fs::path kGpt2Vocab = kTok / "gpt2" / "vocab.json";
const fs::path kGpt2Merges = kTok / "gpt2" / "merges.txt";
const fs::path kTinyJson = kTok / "roberta-tiny" / "tokenizer.json";
const fs::path kTinyLegacy = kTok / "roberta-tiny" / "tokenizer_legacy_merges.json";
const fs::path kRobertaDir = kData / "hf-tiny" / "roberta";
const fs::path kCorpus = kData / "corpora" / "web_bible_excerpt.txt";

stagehand::Registry& registry() {
  static stagehand::Registry* reg = sh_test::load_plugins({"tokenizer_bpe"});
  return *reg;
}

std::shared_ptr<Tokenizer> tokenizer(const std::string& options) {
  return sh_test::make_component<Tokenizer>(registry(), "{type: bpe, " + options + "}");
}

std::string gpt2_files() {
  return fmt::format("vocab: {}, merges: {}", json(kGpt2Vocab.string()).dump(), json(kGpt2Merges.string()).dump());
}

std::shared_ptr<TokenizerTrainer> trainer(const std::string& options = "") {
  return sh_test::make_component<TokenizerTrainer>(registry(),
                                                   "{type: bpe" + std::string(options.empty() ? "" : ", ") + options + "}");
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << file;
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
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

// ---------------------------------------------------------------------------------------------------------
// GPT-2 parity: bpe_fixtures.jsonl

// The variants of bpe_fixtures.jsonl in the plugin's options.
const std::vector<std::pair<std::string, std::string>> kVariants = {
    {"gpt2", "add_prefix_space: false, trim_offsets: false, layout: none"},
    {"trim_offsets", "add_prefix_space: false, trim_offsets: true, layout: none"},
    {"prefix_space", "add_prefix_space: true, trim_offsets: false, layout: none"},
};

struct Expected {
  std::vector<int32_t> ids;
  std::vector<std::pair<int32_t, int32_t>> offsets;
  std::vector<int32_t> words;
};

struct FixtureCase {
  std::string text;
  std::map<std::string, Expected> variants;
};

Expected expected_of(const json& f) {
  Expected e;
  e.ids = f.at("ids").get<std::vector<int32_t>>();
  const auto d = f.at("offsets").get<std::vector<int32_t>>();  // deltas: begin - previous end, length
  int32_t last = 0;
  for (size_t k = 0; k + 1 < d.size(); k += 2) {
    const int32_t begin = last + d[k], end = begin + d[k + 1];
    e.offsets.emplace_back(begin, end);
    last = end;
  }
  int32_t w = 0;
  for (int32_t delta : f.at("words").get<std::vector<int32_t>>()) e.words.push_back(w += delta);
  return e;
}

std::vector<FixtureCase> load_fixtures() {
  const std::vector<std::string> lines = lines_of(kTok / "bpe_fixtures.jsonl");
  EXPECT_GT(lines.size(), 1u);
  if (lines.size() < 2) return {};
  const json header = json::parse(lines[0]);
  const auto reference = header.at("reference").get<std::map<std::string, std::string>>();
  std::vector<FixtureCase> cases;
  for (size_t i = 1; i < lines.size(); ++i) {
    const json j = json::parse(lines[i]);
    FixtureCase c;
    c.text = j.at("text").get<std::string>();
    std::map<std::string, json> full;
    for (const auto& [name, options] : kVariants) {
      const json& rec = j.at(name);
      json f;
      for (const char* key : {"ids", "offsets", "words"})
        f[key] = rec.contains(key) ? rec[key] : full.at(reference.at(name))[key];
      full[name] = f;
      c.variants[name] = expected_of(f);
    }
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), header.at("cases").get<size_t>());
  return cases;
}

// "token(id)@begin-end#word" around position `at`, for failure messages.
std::string describe(const Tokenizer& tok, const std::vector<int32_t>& ids,
                     const std::vector<std::pair<int32_t, int32_t>>& offsets, const std::vector<int32_t>& words,
                     size_t at) {
  std::string out;
  const size_t from = at > 3 ? at - 3 : 0, to = std::min(ids.size(), at + 4);
  for (size_t i = from; i < to; ++i) {
    const std::string t = ids[i] >= 0 && ids[i] < tok.vocab_size() ? tok.id_to_token(ids[i]) : "?";
    out += fmt::format("{}{}({})@{}-{}#{} ", i == at ? ">>" : "", t, ids[i], i < offsets.size() ? offsets[i].first : -1,
                       i < offsets.size() ? offsets[i].second : -1, i < words.size() ? words[i] : -1);
  }
  return out;
}

TEST(Bpe, RegistersTokenizerAndTrainer) {
  const auto* t = registry().find("tokenizer", "bpe");
  const auto* tr = registry().find("tokenizer_trainer", "bpe");
  ASSERT_NE(t, nullptr);
  ASSERT_NE(tr, nullptr);
  for (const char* opt : {"vocab", "merges", "tokenizer_json", "add_prefix_space", "trim_offsets", "layout",
                          "unk_token", "cls_token", "sep_token", "pad_token", "mask_token", "match_special_tokens",
                          "lstrip_tokens", "added_tokens"})
    EXPECT_NE(t->schema->find(opt), nullptr) << opt;
  for (const char* opt : {"vocab_size", "min_frequency", "special_tokens", "full_alphabet", "add_prefix_space"})
    EXPECT_NE(tr->schema->find(opt), nullptr) << opt;
}

TEST(Bpe, MatchesHuggingFaceOnFixtureTexts) {
  const std::vector<FixtureCase> cases = load_fixtures();
  ASSERT_GT(cases.size(), 900u);
  for (const auto& [name, options] : kVariants) {
    SCOPED_TRACE(name);
    auto tok = tokenizer(gpt2_files() + ", " + options);
    size_t failures = 0, tokens = 0;
    for (const FixtureCase& c : cases) {
      const Expected& want = c.variants.at(name);
      std::vector<int32_t> ids, words;
      std::vector<std::pair<int32_t, int32_t>> offsets;
      for (const Piece& p : tok->pieces(c.text)) {
        ids.push_back(p.id);
        offsets.emplace_back(p.begin, p.end);
        words.push_back(p.word);
      }
      tokens += ids.size();
      const std::string decoded = tok->decode(ids);
      const std::string text_back = name == "prefix_space" && !c.text.empty() && c.text[0] != ' ' ? " " + c.text : c.text;
      if (ids == want.ids && offsets == want.offsets && words == want.words && decoded == text_back) continue;
      if (++failures > 5) continue;
      size_t at = 0;
      while (at < ids.size() && at < want.ids.size() && ids[at] == want.ids[at] && offsets[at] == want.offsets[at] &&
             words[at] == want.words[at])
        ++at;
      ADD_FAILURE() << "text " << json(c.text.substr(0, 200)).dump() << "\n  ours: "
                    << describe(*tok, ids, offsets, words, at)
                    << "\n  HF:   " << describe(*tok, want.ids, want.offsets, want.words, at)
                    << (decoded == text_back ? "" : "\n  decode differs: " + json(decoded.substr(0, 200)).dump());
    }
    EXPECT_EQ(failures, 0u) << failures << " of " << cases.size() << " texts differ";
    EXPECT_GT(tokens, 50000u);
  }
}

// bpe_codepoints.tsv says which regex class each code point has; the tokenizer's pre-token (word) indices show
// the class it uses: "a" c "b" is one pre-token for a letter, "1" c "2" for a number, "!" c "!" one for other and
// three for white space (two for U+0020, which joins the "!" after it).
TEST(Bpe, MatchesHuggingFaceOnEveryCodePoint) {
  auto tok = tokenizer(gpt2_files() + ", layout: none");
  auto words = [&](const std::string& text) {
    const auto ps = tok->pieces(text);
    return ps.empty() ? 0 : ps.back().word + 1;
  };
  size_t checked = 0, wrong = 0;
  for (const std::string& line : lines_of(kTok / "bpe_codepoints.tsv")) {
    if (line.empty() || line[0] == '#') continue;
    const size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    const auto first = static_cast<char32_t>(std::stoul(line.substr(0, t1), nullptr, 16));
    const auto last = static_cast<char32_t>(std::stoul(line.substr(t1 + 1, t2 - t1 - 1), nullptr, 16));
    const char want = line[t2 + 1];
    for (char32_t cp = first; cp <= last; ++cp) {
      const std::string c = utf8(cp);
      char got = 'O';
      if (words("a" + c + "b") == 1)
        got = 'L';
      else if (words("1" + c + "2") == 1)
        got = 'N';
      else if (words("!" + c + "!") != 1)
        got = 'S';
      ++checked;
      if (got != want && ++wrong <= 10) ADD_FAILURE() << fmt::format("U+{:04X}: class {}, expected {}", uint32_t(cp), got, want);
    }
  }
  EXPECT_EQ(checked, 0x110000u - 0x800u);  // every code point but the surrogates
  EXPECT_EQ(wrong, 0u);
}

// ---------------------------------------------------------------------------------------------------------
// RoBERTa

struct TinyCase {
  std::string a;
  std::optional<std::string> b;
  json want;
};

std::vector<TinyCase> tiny_cases() {
  std::vector<TinyCase> out;
  const auto lines = lines_of(kTok / "roberta-tiny" / "fixtures.jsonl");
  for (size_t i = 1; i < lines.size(); ++i) {
    const json j = json::parse(lines[i]);
    TinyCase c{j.at("text_a").get<std::string>(), std::nullopt, j};
    if (!j.at("text_b").is_null()) c.b = j.at("text_b").get<std::string>();
    out.push_back(std::move(c));
  }
  EXPECT_EQ(out.size(), json::parse(lines.at(0)).at("cases").get<size_t>());
  return out;
}

void expect_tiny_fixtures(const Tokenizer& tok) {
  for (const TinyCase& c : tiny_cases()) {
    SCOPED_TRACE(c.a + (c.b ? " | " + *c.b : ""));
    stagehand::EncodeOptions o;
    o.max_length = 0;
    const Encoding e = c.b ? tok.encode_pair(c.a, *c.b, o) : tok.encode(c.a, o);
    EXPECT_EQ(e.ids, c.want.at("ids").get<std::vector<int32_t>>());
    EXPECT_EQ(e.type_ids, c.want.at("type_ids").get<std::vector<int32_t>>());
    std::vector<uint8_t> special;
    for (int v : c.want.at("special").get<std::vector<int>>()) special.push_back(static_cast<uint8_t>(v));
    EXPECT_EQ(e.special_tokens_mask, special);
    EXPECT_EQ(e.offsets, (c.want.at("offsets").get<std::vector<std::pair<int32_t, int32_t>>>()));
    std::vector<int32_t> seq;
    for (const json& s : c.want.at("sequence")) seq.push_back(s.is_null() ? -1 : s.get<int32_t>());
    EXPECT_EQ(e.sequence_ids, seq);
  }
}

TEST(Bpe, RobertaTokenizerJsonMatchesHuggingFace) {
  for (const fs::path& file : {kTinyJson, kTinyLegacy}) {
    SCOPED_TRACE(file.filename().string());
    auto tok = tokenizer("tokenizer_json: " + json(file.string()).dump());
    EXPECT_EQ(tok->vocab_size(), 2005);
    const auto& s = tok->special();
    EXPECT_EQ(s.layout, stagehand::SpecialLayout::Roberta);
    EXPECT_EQ(std::vector<int32_t>({s.cls, s.pad, s.sep, s.unk, s.mask}), std::vector<int32_t>({0, 1, 2, 3, 2004}));
    expect_tiny_fixtures(*tok);
  }
}

TEST(Bpe, RobertaVocabAndMergesMatchHuggingFace) {
  auto tok = tokenizer(fmt::format("vocab: {}, merges: {}", json((kRobertaDir / "vocab.json").string()).dump(),
                                   json((kRobertaDir / "merges.txt").string()).dump()));
  expect_tiny_fixtures(*tok);
  // Without <mask>'s lstrip, the space before it becomes a token of its own.
  auto plain = tokenizer(fmt::format("vocab: {}, merges: {}, lstrip_tokens: []",
                                     json((kRobertaDir / "vocab.json").string()).dump(),
                                     json((kRobertaDir / "merges.txt").string()).dump()));
  const std::vector<int32_t> ids = plain->encode_ids("It is <mask>.");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(std::vector<int32_t>(ids.end() - 3, ids.end()), (std::vector<int32_t>{224, 2004, 17}));
  // Without matching, "<mask>" is text.
  auto unmatched = tokenizer(fmt::format("vocab: {}, merges: {}, match_special_tokens: false",
                                         json((kRobertaDir / "vocab.json").string()).dump(),
                                         json((kRobertaDir / "merges.txt").string()).dump()));
  const std::vector<int32_t> text_ids = unmatched->encode_ids("a <mask>");
  EXPECT_EQ(std::count(text_ids.begin(), text_ids.end(), 2004), 0);
  EXPECT_GT(text_ids.size(), 3u);
}

TEST(Bpe, HuggingFaceRobertaFolderGivesTransformersIds) {
  const stagehand::ConfigNode spec = stagehand::hf::tokenizer_spec(kRobertaDir);
  EXPECT_EQ(spec.at("type").as_string(), "bpe");
  auto tok = registry().create<Tokenizer>(spec, sh_test::build_context(registry()));
  const json cases = json::parse(sh_test::read_text(kRobertaDir / "cases.json"));
  ASSERT_EQ(cases.at("cases").size(), 4u);
  for (size_t i = 0; i < cases.at("cases").size(); ++i) {
    const json& c = cases.at("cases")[i];
    const Encoding e = c.at("text_b").is_null()
                           ? tok->encode(c.at("text_a").get<std::string>())
                           : tok->encode_pair(c.at("text_a").get<std::string>(), c.at("text_b").get<std::string>());
    std::vector<int32_t> want = cases.at("input_ids")[i].get<std::vector<int32_t>>();
    want.resize(cases.at("lengths")[i].get<size_t>());
    EXPECT_EQ(e.ids, want) << "case " << i;
    std::vector<std::string> tokens;
    for (int32_t id : e.ids) tokens.push_back(tok->id_to_token(id));
    EXPECT_EQ(tokens, c.at("tokens").get<std::vector<std::string>>()) << "case " << i;
  }
}

TEST(Bpe, PairLayoutsAndTruncation) {
  auto roberta = tokenizer("tokenizer_json: " + json(kTinyJson.string()).dump());
  stagehand::EncodeOptions o;
  o.max_length = 8;
  const Encoding e = roberta->encode_pair("Hello world again and again", "Second segment here", o);
  ASSERT_EQ(e.size(), 8u);  // 4 special tokens, 4 pieces of text
  EXPECT_EQ(e.ids.front(), 0);
  EXPECT_EQ(std::count(e.ids.begin(), e.ids.end(), 2), 3);
  EXPECT_EQ(e.type_ids, std::vector<int32_t>(8, 0));
  EXPECT_EQ(e.truncated, static_cast<int32_t>(roberta->pieces("Hello world again and again").size() +
                                              roberta->pieces("Second segment here").size() - 4));
  auto bert = tokenizer("tokenizer_json: " + json(kTinyJson.string()).dump() + ", layout: bert");
  const Encoding b = bert->encode_pair("Hello", "world");
  EXPECT_EQ(std::count(b.ids.begin(), b.ids.end(), 2), 2);
  EXPECT_EQ(b.type_ids.back(), 1);
  // The truncation modes with BERT's three special tokens.
  const std::string a = "one two three four five six", b2 = "seven eight";
  const size_t na = bert->pieces(a).size(), nb = bert->pieces(b2).size();
  ASSERT_GT(na, nb + 2);
  o.max_length = static_cast<int32_t>(na + nb + 3 - 2);
  for (auto [mode, want_a, want_b] : {std::make_tuple(stagehand::Truncation::LongestFirst, na - 2, nb),
                                      std::make_tuple(stagehand::Truncation::OnlyFirst, na - 2, nb),
                                      std::make_tuple(stagehand::Truncation::OnlySecond, na, nb - 2)}) {
    o.truncation = mode;
    const Encoding t = bert->encode_pair(a, b2, o);
    EXPECT_EQ(t.size(), static_cast<size_t>(o.max_length));
    EXPECT_EQ(static_cast<size_t>(std::count(t.sequence_ids.begin(), t.sequence_ids.end(), 0)), want_a);
    EXPECT_EQ(static_cast<size_t>(std::count(t.sequence_ids.begin(), t.sequence_ids.end(), 1)), want_b);
    EXPECT_EQ(t.truncated, 2);
  }
  o.truncation = stagehand::Truncation::None;
  const std::string too_long = sh_test::error_of([&] { bert->encode_pair(a, b2, o); });
  EXPECT_NE(too_long.find("over max_length"), std::string::npos) << too_long;
  auto gpt2 = tokenizer(gpt2_files() + ", layout: none");
  const Encoding g = gpt2->encode_pair("Hello", " world");
  EXPECT_EQ(g.ids, (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(g.type_ids, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(g.special_tokens_mask, (std::vector<uint8_t>{0, 0}));
}

// frame_ids, the framing code that tokenizes by hand uses (SQuAD windows, packed corpora), frames ids exactly as
// encode()/encode_pair() do in every layout, and says where a and b lie.
TEST(Bpe, FrameIdsIsEncodesFramingInEveryLayout) {
  const std::string a = "Hello world", b = "Second segment";
  for (const char* layout : {"roberta", "bert", "none"}) {
    SCOPED_TRACE(layout);
    auto tok = tokenizer("tokenizer_json: " + json(kTinyJson.string()).dump() + ", layout: " + layout);
    const auto& sp = tok->special();
    const std::vector<int32_t> ia = tok->encode_ids(a), ib = tok->encode_ids(b);
    const Encoding single = tok->encode(a), pair = tok->encode_pair(a, b);
    const stagehand::FramedIds one = stagehand::frame_ids(sp, ia), two = stagehand::frame_ids(sp, ia, &ib);
    EXPECT_EQ(one.ids, single.ids);
    EXPECT_EQ(one.type_ids, single.type_ids);
    EXPECT_EQ(two.ids, pair.ids);
    EXPECT_EQ(two.type_ids, pair.type_ids);
    EXPECT_EQ(one.ids.size(), ia.size() + static_cast<size_t>(stagehand::special_token_count(sp, false)));
    EXPECT_EQ(two.ids.size(), ia.size() + ib.size() + static_cast<size_t>(stagehand::special_token_count(sp, true)));
    // a and b where encode's sequence ids put them; without b, b is the empty range at the end.
    const auto first = [&](int32_t seq) {
      return static_cast<int32_t>(std::find(pair.sequence_ids.begin(), pair.sequence_ids.end(), seq) -
                                  pair.sequence_ids.begin());
    };
    EXPECT_EQ(two.a_begin, first(0));
    EXPECT_EQ(two.a_end, two.a_begin + static_cast<int32_t>(ia.size()));
    EXPECT_EQ(two.b_begin, first(1));
    EXPECT_EQ(two.b_end, two.b_begin + static_cast<int32_t>(ib.size()));
    EXPECT_EQ(one.b_begin, static_cast<int32_t>(one.ids.size()));
    EXPECT_EQ(one.b_end, one.b_begin);
    // Without special tokens: a then b, type ids 0 then 1, whatever the layout.
    const stagehand::FramedIds plain = stagehand::frame_ids(sp, ia, &ib, false);
    EXPECT_EQ(plain.b_begin, static_cast<int32_t>(ia.size()));
    EXPECT_EQ(plain.type_ids.back(), 1);
  }
  // Layouts' counts: RoBERTa `<s> a </s></s> b </s>`, BERT `[CLS] a [SEP] b [SEP]`, none.
  stagehand::SpecialTokens sp;
  const std::vector<std::pair<stagehand::SpecialLayout, std::pair<int32_t, int32_t>>> counts = {
      {stagehand::SpecialLayout::Roberta, {2, 4}},
      {stagehand::SpecialLayout::Bert, {2, 3}},
      {stagehand::SpecialLayout::None, {0, 0}}};
  for (const auto& [layout, n] : counts) {
    sp.layout = layout;
    EXPECT_EQ(stagehand::special_token_count(sp, false), n.first);
    EXPECT_EQ(stagehand::special_token_count(sp, true), n.second);
  }
  // A layout that adds tokens needs them in the vocabulary.
  sp.layout = stagehand::SpecialLayout::Bert;
  const std::string err = sh_test::error_of([&] { stagehand::frame_ids(sp, {5}); });
  EXPECT_NE(err.find("no '[CLS]' or '[SEP]' token"), std::string::npos) << err;
}

// ---------------------------------------------------------------------------------------------------------
// The tokenizer API

TEST(Bpe, SavesAndReloads) {
  sh_test::TempFolder tmp;
  const std::string text = "The capital of France is <mask>. It's 10:30 😀";
  for (const std::string& options : {"tokenizer_json: " + json(kTinyJson.string()).dump(),
                                     "vocab: " + json((kRobertaDir / "vocab.json").string()).dump() + ", merges: " +
                                         json((kRobertaDir / "merges.txt").string()).dump() + ", add_prefix_space: true"}) {
    auto tok = tokenizer(options);
    const fs::path dir = tmp / std::to_string(options.size());
    const stagehand::ConfigNode spec = tok->save(dir);
    stagehand::BuildContext ctx = sh_test::build_context(registry());
    ctx.base_dir = dir;
    auto back = registry().create<Tokenizer>(spec, ctx);
    EXPECT_EQ(back->encode(text).ids, tok->encode(text).ids) << options;
    EXPECT_EQ(back->encode(text).offsets, tok->encode(text).offsets) << options;
  }
}

TEST(Bpe, DecodesAndLooksUpTokens) {
  auto tok = tokenizer("tokenizer_json: " + json(kTinyJson.string()).dump());
  const std::string text = "Zeile mit Umlauten: äöü ß 😀";
  EXPECT_EQ(tok->decode(tok->encode(text).ids), text);  // <s> and </s> left out
  EXPECT_EQ(tok->token_to_id("Ġworld"), 999);
  EXPECT_EQ(tok->token_to_id("<mask>"), 2004);
  EXPECT_EQ(tok->token_to_id("no such token"), 3);  // <unk>
  EXPECT_EQ(tok->id_to_token(2004), "<mask>");
  // Half of a character's bytes: the rest is replaced, not cut into invalid UTF-8.
  EXPECT_EQ(tok->decode({176, 257}), "\xEF\xBF\xBD");
  const std::string out_of_range = sh_test::error_of([&] { tok->decode({5000}); });
  EXPECT_NE(out_of_range.find("5000"), std::string::npos) << out_of_range;
  const std::string bad_id = sh_test::error_of([&] { tok->id_to_token(-1); });
  EXPECT_NE(bad_id.find("out of range"), std::string::npos) << bad_id;
}

TEST(Bpe, IsThreadSafe) {
  auto tok = tokenizer(gpt2_files());
  std::vector<std::string> texts;
  for (const std::string& line : lines_of(kCorpus)) texts.push_back(line);
  texts.resize(std::min<size_t>(texts.size(), 400));
  std::vector<std::vector<int32_t>> want;
  for (const auto& t : texts) want.push_back(tok->encode_ids(t));
  auto fresh = tokenizer(gpt2_files());  // an empty cache, filled by all threads at once
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int k = 0; k < 4; ++k)
    pool.emplace_back([&, k] {
      for (size_t i = 0; i < texts.size(); ++i) {
        const size_t at = (i * 7 + static_cast<size_t>(k) * 101) % texts.size();
        if (fresh->encode_ids(texts[at]) != want[at]) ++wrong;
      }
    });
  for (auto& t : pool) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Bpe, ErrorsSayWhatToFix) {
  sh_test::TempFolder tmp;
  const std::string missing = sh_test::error_of([&] {
    tokenizer(fmt::format("vocab: {}, merges: {}", json((tmp / "nope.json").string()).dump(), json(kGpt2Merges.string()).dump()));
  });
  EXPECT_NE(missing.find("nope.json"), std::string::npos) << missing;

  sh_test::write_text(tmp / "bad.json", "{\"a\": 0, ");
  const std::string bad = sh_test::error_of([&] {
    tokenizer(fmt::format("vocab: {}, merges: {}", json((tmp / "bad.json").string()).dump(), json(kGpt2Merges.string()).dump()));
  });
  EXPECT_NE(bad.find("bad.json"), std::string::npos) << bad;
  EXPECT_NE(bad.find("not valid JSON"), std::string::npos) << bad;

  sh_test::write_text(tmp / "small.json", R"({"a": 0, "b": 1, "ab": 2, "c": 3})");
  sh_test::write_text(tmp / "merges.txt", "#version: 0.2\na b\nab x\n");
  const std::string unknown = sh_test::error_of([&] {
    tokenizer(fmt::format("vocab: {}, merges: {}", json((tmp / "small.json").string()).dump(),
                          json((tmp / "merges.txt").string()).dump()));
  });
  EXPECT_NE(unknown.find("merges.txt"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("line 3"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("'x'"), std::string::npos) << unknown;
  EXPECT_EQ(unknown.find('\n'), std::string::npos) << unknown;

  sh_test::write_text(tmp / "malformed.txt", "a b c\n");
  const std::string malformed = sh_test::error_of([&] {
    tokenizer(fmt::format("vocab: {}, merges: {}", json((tmp / "small.json").string()).dump(),
                          json((tmp / "malformed.txt").string()).dump()));
  });
  EXPECT_NE(malformed.find("'a b c' is not a merge"), std::string::npos) << malformed;

  const std::string neither = sh_test::error_of([&] { tokenizer("layout: none"); });
  EXPECT_NE(neither.find("expected either tokenizer_json or vocab and merges"), std::string::npos) << neither;
  const std::string only_vocab = sh_test::error_of([&] { tokenizer("vocab: " + json(kGpt2Vocab.string()).dump()); });
  EXPECT_NE(only_vocab.find("vocab without merges"), std::string::npos) << only_vocab;

  sh_test::write_text(tmp / "wordpiece.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": null})");
  const std::string wordpiece = sh_test::error_of([&] { tokenizer("tokenizer_json: " + json((tmp / "wordpiece.json").string()).dump()); });
  EXPECT_NE(wordpiece.find("expected a BPE model"), std::string::npos) << wordpiece;

  const std::string added = sh_test::error_of([&] { tokenizer(gpt2_files() + ", added_tokens: ['<nope>']"); });
  EXPECT_NE(added.find("<nope>"), std::string::npos) << added;
  const std::string added_json = sh_test::error_of(
      [&] { tokenizer("tokenizer_json: " + json(kTinyJson.string()).dump() + ", added_tokens: ['<nope>']"); });
  EXPECT_NE(added_json.find("'<nope>' is not in"), std::string::npos) << added_json;
  EXPECT_NE(added_json.find("tokenizer.json"), std::string::npos) << added_json;

  const std::string typo = sh_test::error_of([&] { tokenizer(gpt2_files() + ", add_prefix_spcae: true"); });
  EXPECT_NE(typo.find("add_prefix_space"), std::string::npos) << typo;

  const std::string no_files = sh_test::error_of([&] { trainer()->train({}, tmp / "out", {}); });
  EXPECT_NE(no_files.find("no training files"), std::string::npos) << no_files;
  const std::string absent = sh_test::error_of([&] { trainer()->train({tmp / "absent.txt"}, tmp / "out", {}); });
  EXPECT_NE(absent.find("absent.txt"), std::string::npos) << absent;
}

TEST(Bpe, AddedTokensOfGpt2) {
  auto tok = tokenizer(gpt2_files() + ", layout: none, added_tokens: ['<|endoftext|>']");
  EXPECT_EQ(tok->encode_ids("a<|endoftext|>b"), (std::vector<int32_t>{64, 50256, 65}));
  auto plain = tokenizer(gpt2_files() + ", layout: none");
  EXPECT_GT(plain->encode_ids("a<|endoftext|>b").size(), 3u);
}

// ---------------------------------------------------------------------------------------------------------
// The trainer

std::vector<std::pair<std::string, int64_t>> vocab_by_id(const fs::path& file) {
  const json j = json::parse(sh_test::read_text(file));
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& [k, v] : j.items()) out.emplace_back(k, v.get<int64_t>());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

// tokenizers' BpeTrainer as make_bpe_fixtures.js ran it: vocab_size 30000 (not reached), min_frequency 0, no
// special tokens, only the byte symbols that occur.
TEST(Bpe, TrainerMatchesHuggingFaceTrainerExactly) {
  sh_test::TempFolder tmp;
  const stagehand::ConfigNode spec =
      trainer("vocab_size: 30000, min_frequency: 0, special_tokens: [], full_alphabet: false")
          ->train({kCorpus}, tmp / "out", {});
  const auto ours = vocab_by_id(tmp / "out" / "vocab.json");
  const auto hf = vocab_by_id(kTok / "bpe_hf_trained_vocab.json");
  EXPECT_EQ(ours.size(), hf.size());
  EXPECT_EQ(ours, hf);
  const auto our_merges = lines_of(tmp / "out" / "merges.txt");
  const auto hf_merges = lines_of(kTok / "bpe_hf_trained_merges.txt");
  EXPECT_EQ(our_merges.size(), hf_merges.size());
  EXPECT_EQ(our_merges, hf_merges);
  // The trained spec builds a tokenizer that gives the text back.
  stagehand::BuildContext ctx = sh_test::build_context(registry());
  ctx.base_dir = tmp / "out";
  auto tok = registry().create<Tokenizer>(spec, ctx);
  const std::string line = lines_of(kCorpus).at(3);
  EXPECT_EQ(tok->decode(tok->encode_ids(line)), line);
  EXPECT_LT(tok->encode_ids(line).size(), line.size() / 2);
}

TEST(Bpe, TrainerOptionsAndStopping) {
  sh_test::TempFolder tmp;
  trainer("vocab_size: 400, min_frequency: 2")->train({kCorpus}, tmp / "a", {});
  const auto v = vocab_by_id(tmp / "a" / "vocab.json");
  ASSERT_EQ(v.size(), 400u);
  EXPECT_EQ(v[0].first, "<s>");
  EXPECT_EQ(v[4].first, "<mask>");
  EXPECT_EQ(v[5].first, "!");        // then all 256 byte symbols in code point order
  EXPECT_EQ(v[5 + 255].first, "Ń");  // U+0143, the last byte symbol
  // vocab_size N gives the first N tokens of a longer run: the loop stops, it does not choose differently.
  trainer("vocab_size: 500, min_frequency: 2")->train({kCorpus}, tmp / "b", {});
  const auto longer = vocab_by_id(tmp / "b" / "vocab.json");
  EXPECT_TRUE(std::equal(v.begin(), v.end(), longer.begin()));
  // min_frequency: a high bar stops early.
  trainer("vocab_size: 30000, min_frequency: 400")->train({kCorpus}, tmp / "c", {});
  EXPECT_LT(vocab_by_id(tmp / "c" / "vocab.json").size(), 400u);
  // Stopping: Interrupted, nothing written.
  const std::string stopped = sh_test::error_of([&] { trainer()->train({kCorpus}, tmp / "d", [] { return true; }); });
  EXPECT_FALSE(fs::exists(tmp / "d" / "vocab.json")) << stopped;
}

}  // namespace
