// SPDX-License-Identifier: Apache-2.0
// SQuAD 2.0 reading, features, decoding and scoring (squad.h). Tensor-free: fuzz/fuzz_squad.cpp compiles it.
#include "stagehand/sdk/squad.h"

#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include <stagehand/files.h>

namespace stagehand::squad {
namespace {

using json = nlohmann::json;

/// Byte offset of every code point of a UTF-8 string, plus the length at the end.
std::vector<size_t> code_point_offsets(const std::string& s) {
  std::vector<size_t> out;
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
  out.push_back(s.size());
  return out;
}

/// Hugging Face's _is_whitespace: space, tab, CR, LF and U+202F (narrow no-break space).
bool is_whitespace_at(const std::string& s, size_t i, size_t* width) {
  const char c = s[i];
  *width = 1;
  if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return true;
  if (s.compare(i, 3, "\xE2\x80\xAF") == 0) {
    *width = 3;
    return true;
  }
  return false;
}

std::vector<std::string> split_whitespace(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < s.size();) {
    size_t w;
    if (is_whitespace_at(s, i, &w)) {
      if (!cur.empty()) out.push_back(std::move(cur)), cur.clear();
    } else {
      cur.append(s, i, w);
    }
    i += w;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string join(const std::vector<std::string>& words, size_t first, size_t last) {
  std::string out;
  for (size_t i = first; i <= last && i < words.size(); ++i) out += (i == first ? "" : " ") + words[i];
  return out;
}

const json& field(const json& obj, const char* key, json::value_t type, const std::string& where,
                  const std::filesystem::path& file, const std::string& qid = "") {
  auto it = obj.find(key);
  const std::string what = qid.empty() ? "" : fmt::format(" (question '{}')", qid);
  SH_CHECK(it != obj.end(), "{}: {}{} has no \"{}\"; every SQuAD entry needs it", file.string(), where, what, key);
  const bool ok = it->type() == type || (type == json::value_t::number_integer &&
                                         it->type() == json::value_t::number_unsigned);
  SH_CHECK(ok, "{}: {}.{}{} is a {}, expected a {}", file.string(), where, key, what, it->type_name(),
           json(type).type_name());
  return *it;
}

}  // namespace

namespace {

// A malformed entry already turned into the error that names it (with the hint to skip), passing outer entries.
class Malformed : public Error {
 public:
  using Error::Error;
};

// Runs `read` on one entry (an article, a paragraph or a question): what it finds malformed is an error, or, when
// skipping, the entry is left out and counted.
template <class F>
void entry(F&& read, bool skip_bad, ReadReport& report) {
  try {
    read();
  } catch (const Malformed&) {
    throw;
  } catch (const Error& e) {
    if (!skip_bad) throw Malformed(fmt::format("{}; or set on_bad_record: skip to leave the entry out", e.what()));
    if (report.skipped++ == 0) report.first = e.what();
  }
}

}  // namespace

std::vector<Example> read_squad(const std::filesystem::path& file, bool skip_bad, ReadReport* report) {
  ReadReport local;
  ReadReport& rep = report ? *report : local;
  rep = {};
  SH_CHECK(std::filesystem::is_regular_file(file), "squad: {} does not exist (or is not a file); expected a SQuAD JSON "
           "file such as train-v2.0.json", file.string());
  json root;
  try {
    root = json::parse(read_file(file));
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number past double's range
    throw Error(fmt::format("{}: not valid JSON ({}); expected a SQuAD file", file.string(), e.what()));
  }
  SH_CHECK(root.is_object(), "{}: the top level is a {}, expected an object with \"data\"", file.string(),
           root.type_name());
  const json& data = field(root, "data", json::value_t::array, "the top level", file);
  std::vector<Example> out;
  std::set<std::string> seen;
  for (size_t a = 0; a < data.size(); ++a) entry([&] {
    const std::string at_a = fmt::format("data[{}]", a);
    SH_CHECK(data[a].is_object(), "{}: {} is a {}, expected an object", file.string(), at_a, data[a].type_name());
    std::string title;
    if (data[a].contains("title") && data[a]["title"].is_string()) title = data[a]["title"].get<std::string>();
    const json& paragraphs = field(data[a], "paragraphs", json::value_t::array, at_a, file);
    for (size_t p = 0; p < paragraphs.size(); ++p) entry([&] {
      const std::string at_p = fmt::format("{}.paragraphs[{}]", at_a, p);
      SH_CHECK(paragraphs[p].is_object(), "{}: {} is a {}, expected an object", file.string(), at_p,
               paragraphs[p].type_name());
      const std::string context = field(paragraphs[p], "context", json::value_t::string, at_p, file).get<std::string>();
      // Words and the word of every code point (a whitespace character belongs to the word before it).
      const std::vector<size_t> cps = code_point_offsets(context);
      std::vector<std::string> words;
      std::vector<int32_t> cp_word;
      bool prev_ws = true;
      for (size_t c = 0; c + 1 < cps.size(); ++c) {
        size_t w;
        const bool ws = is_whitespace_at(context, cps[c], &w);
        if (!ws) {
          if (prev_ws) words.emplace_back();
          words.back().append(context, cps[c], cps[c + 1] - cps[c]);
        }
        prev_ws = ws;
        cp_word.push_back(static_cast<int32_t>(words.size()) - 1);
      }
      const json& qas = field(paragraphs[p], "qas", json::value_t::array, at_p, file);
      for (size_t q = 0; q < qas.size(); ++q) entry([&] {
        const std::string at_q = fmt::format("{}.qas[{}]", at_p, q);
        SH_CHECK(qas[q].is_object(), "{}: {} is a {}, expected an object", file.string(), at_q, qas[q].type_name());
        Example ex;
        ex.qid = field(qas[q], "id", json::value_t::string, at_q, file).get<std::string>();
        SH_CHECK(!seen.count(ex.qid), "{}: {}: question id '{}' appears twice; ids must be unique", file.string(),
                 at_q, ex.qid);
        ex.question = field(qas[q], "question", json::value_t::string, at_q, file, ex.qid).get<std::string>();
        if (qas[q].contains("is_impossible")) {
          SH_CHECK(qas[q]["is_impossible"].is_boolean(), "{}: {}.is_impossible (question '{}') is a {}, expected true "
                   "or false", file.string(), at_q, ex.qid, qas[q]["is_impossible"].type_name());
          ex.is_impossible = qas[q]["is_impossible"].get<bool>();
        }
        ex.title = title;
        ex.context = context;
        ex.doc_words = words;
        const json& answers = field(qas[q], "answers", json::value_t::array, at_q, file, ex.qid);
        for (size_t k = 0; k < answers.size(); ++k) {
          const std::string at_k = fmt::format("{}.answers[{}]", at_q, k);
          SH_CHECK(answers[k].is_object(), "{}: {} (question '{}') is a {}, expected an object", file.string(), at_k,
                   ex.qid, answers[k].type_name());
          Answer ans;
          ans.text = field(answers[k], "text", json::value_t::string, at_k, file, ex.qid).get<std::string>();
          ans.start_char = field(answers[k], "answer_start", json::value_t::number_integer, at_k, file, ex.qid)
                               .get<int64_t>();
          const auto n_cp = static_cast<int64_t>(cps.size()) - 1;
          const auto len = static_cast<int64_t>(code_point_offsets(ans.text).size()) - 1;
          SH_CHECK(ans.start_char >= 0 && ans.start_char + len <= n_cp && len > 0,
                   "{}: {} (question '{}'): answer_start {} with a {}-character answer lies outside the {}-character "
                   "context; answer_start counts characters from 0",
                   file.string(), at_k, ex.qid, ans.start_char, len, n_cp);
          ex.answers.push_back(std::move(ans));
        }
        if (ex.is_impossible) {
          ex.answers.clear();  // SQuAD 2.0 keeps the decoys in plausible_answers; answers is empty
        } else {
          SH_CHECK(!ex.answers.empty(), "{}: {} (question '{}') is answerable (is_impossible is false or absent) but "
                   "has no answers; give its answers or set is_impossible: true", file.string(), at_q, ex.qid);
          const Answer& first = ex.answers.front();
          const auto len = static_cast<int64_t>(code_point_offsets(first.text).size()) - 1;
          ex.start_word = cp_word[static_cast<size_t>(first.start_char)];
          ex.end_word = cp_word[static_cast<size_t>(first.start_char + len - 1)];
          // Hugging Face's check: the words of the span must contain the whitespace-normalised answer.
          const std::string actual = ex.start_word >= 0 ? join(words, static_cast<size_t>(std::max(0, ex.start_word)),
                                                                static_cast<size_t>(std::max(0, ex.end_word)))
                                                         : "";
          const auto cleaned = split_whitespace(first.text);
          ex.answer_found = ex.start_word >= 0 && !cleaned.empty() &&
                            actual.find(join(cleaned, 0, cleaned.size() - 1)) != std::string::npos;
        }
        seen.insert(ex.qid);
        out.push_back(std::move(ex));
      }, skip_bad, rep);
    }, skip_bad, rep);
  }, skip_bad, rep);
  return out;
}

Example make_example(std::string qid, std::string question, std::string context) {
  Example ex;
  ex.qid = std::move(qid);
  ex.question = std::move(question);
  ex.context = std::move(context);
  ex.doc_words = split_whitespace(ex.context);
  ex.is_impossible = true;  // no gold answer
  return ex;
}

namespace {

/// A context's tokens: every doc word tokenized on its own (a word giving no pieces gets no token). In RoBERTa's
/// layout each word is tokenized with a space before it, as Hugging Face's squad_convert_examples_to_features does
/// for its RoBERTa-like tokenizers (`tokenize(word, add_prefix_space=True)`): a byte-level BPE word in running text
/// starts with the space symbol (Ġ), and the context's ids are those of the text, not of words cut out of it.
struct DocTokens {
  std::vector<int32_t> ids, to_word, word_to_tok;
  std::vector<std::string> tokens;
};

DocTokens tokenize_context(const Example& ex, const Tokenizer& tok,
                           std::unordered_map<std::string, std::vector<Piece>>& cache) {
  DocTokens d;
  const bool prefix_space = tok.special().layout == SpecialLayout::Roberta;
  for (size_t w = 0; w < ex.doc_words.size(); ++w) {
    d.word_to_tok.push_back(static_cast<int32_t>(d.ids.size()));
    auto it = cache.find(ex.doc_words[w]);
    if (it == cache.end())
      it = cache.emplace(ex.doc_words[w], tok.pieces(prefix_space ? " " + ex.doc_words[w] : ex.doc_words[w])).first;
    for (const Piece& p : it->second) {
      d.ids.push_back(p.id);
      d.tokens.push_back(p.token);
      d.to_word.push_back(static_cast<int32_t>(w));
    }
  }
  return d;
}

/// The first answer's tokens [first, second] in the context, or (-1, -1) when there is none.
std::pair<int64_t, int64_t> answer_tokens(const Example& ex, const Tokenizer& tok, const DocTokens& d) {
  if (ex.is_impossible || !ex.answer_found) return {-1, -1};
  const auto n = static_cast<int64_t>(d.ids.size());
  int64_t ans_start = d.word_to_tok[static_cast<size_t>(ex.start_word)];
  int64_t ans_end = static_cast<size_t>(ex.end_word) + 1 < d.word_to_tok.size()
                        ? d.word_to_tok[static_cast<size_t>(ex.end_word) + 1] - 1
                        : n - 1;
  // Hugging Face's _improve_answer_span: the tightest token span whose pieces spell the tokenized answer.
  std::string wanted;
  for (const auto& t : tok.tokenize(ex.answers.front().text)) wanted += (wanted.empty() ? "" : " ") + t;
  for (int64_t s = ans_start; s <= ans_end; ++s)
    for (int64_t t = ans_end; t >= s; --t) {
      std::string span;
      for (int64_t i = s; i <= t; ++i) span += (i == s ? "" : " ") + d.tokens[static_cast<size_t>(i)];
      if (span == wanted) return {s, t};
    }
  return {ans_start, ans_end};
}

/// Context tokens a window holds after the question and the layout's special tokens; checks the options.
int64_t window_room(const FeatureOptions& o, const SpecialTokens& sp, size_t query) {
  const int32_t n_special = special_token_count(sp, true);
  const int64_t room = o.max_seq_length - static_cast<int64_t>(query) - n_special;
  SH_CHECK(room > 0, "squad: max_seq_length {} leaves no room for the context after a {}-token question and {} "
           "special tokens; raise max_seq_length or lower max_query_length", o.max_seq_length, query, n_special);
  SH_CHECK(o.doc_stride <= room,
           "squad: doc_stride {} is larger than the {} context tokens a window holds (max_seq_length {} - question "
           "{} - {}), so windows would skip context; lower doc_stride",
           o.doc_stride, room, o.max_seq_length, query, n_special);
  return room;
}

/// One window: `query` and the context tokens [start, start + len) framed as the tokenizer frames a pair
/// (encode_pair), with the answer's positions when the window holds the whole answer.
Feature window_feature(const SpecialTokens& sp, const std::vector<int32_t>& query, const DocTokens& d,
                       int64_t start, int64_t len, std::pair<int64_t, int64_t> answer) {
  const auto first = d.ids.begin() + static_cast<std::ptrdiff_t>(start);
  const std::vector<int32_t> window(first, first + static_cast<std::ptrdiff_t>(len));
  FramedIds framed = frame_ids(sp, query, &window);
  Feature f;
  f.ids = std::move(framed.ids);
  f.type_ids = std::move(framed.type_ids);
  f.context_begin = framed.b_begin;
  f.context_end = framed.b_end;
  f.token_to_word.assign(f.ids.size(), -1);
  for (int64_t i = 0; i < len; ++i)
    f.token_to_word[static_cast<size_t>(f.context_begin + i)] = d.to_word[static_cast<size_t>(start + i)];
  if (answer.first >= start && answer.second < start + len) {
    f.start_position = static_cast<int32_t>(answer.first - start + f.context_begin);
    f.end_position = static_cast<int32_t>(answer.second - start + f.context_begin);
  }
  return f;
}

}  // namespace

std::vector<Feature> featurize(const std::vector<Example>& examples, const Tokenizer& tok,
                               const FeatureOptions& options, bool training, int64_t* skipped) {
  SH_CHECK(options.doc_stride > 0, "squad: doc_stride is {}; it must be at least 1", options.doc_stride);
  SH_CHECK(options.max_query_length > 0, "squad: max_query_length is {}; it must be at least 1",
           options.max_query_length);
  const SpecialTokens& sp = tok.special();
  SH_CHECK(sp.layout != SpecialLayout::None,
           "squad: the tokenizer's special-token layout is 'none', so a window would have no first [CLS]-like token "
           "for unanswerable questions to point at; expected layout 'bert' or 'roberta'; use a tokenizer with one of "
           "those (e.g. `layout: roberta` on a bpe tokenizer)");
  SH_CHECK(sp.cls >= 0 && sp.sep >= 0, "squad: the tokenizer has no [CLS] or [SEP] token; SQuAD features need both");
  std::vector<Feature> out;
  int64_t skip = 0;
  std::unordered_map<std::string, std::vector<Piece>> cache;
  for (size_t e = 0; e < examples.size(); ++e) {
    const Example& ex = examples[e];
    if (training && !ex.is_impossible && !ex.answer_found) {
      ++skip;  // Hugging Face: "Could not find answer", the example is left out of training
      continue;
    }
    std::vector<int32_t> query = tok.encode_ids(ex.question);
    if (static_cast<int64_t>(query.size()) > options.max_query_length)
      query.resize(static_cast<size_t>(options.max_query_length));
    const int64_t room = window_room(options, sp, query.size());
    const DocTokens doc = tokenize_context(ex, tok, cache);
    const auto answer = answer_tokens(ex, tok, doc);
    const auto n = static_cast<int64_t>(doc.ids.size());
    for (int64_t k = 0; k * options.doc_stride < n; ++k) {
      const int64_t start = k * options.doc_stride, len = std::min(n - start, room);
      out.push_back(window_feature(sp, query, doc, start, len, answer));
      out.back().example_index = static_cast<int64_t>(e);
      out.back().window = k;
      if (start + len >= n) break;
    }
  }
  if (skipped) *skipped = skip;
  return out;
}

Prediction decode(const float* s, const float* e, const Feature& f, int max_answer_length, double null_threshold) {
  Prediction p;
  const double null_score = static_cast<double>(s[0]) + static_cast<double>(e[0]);
  double best = -std::numeric_limits<double>::infinity();
  int32_t bj = -1, bk = -1;
  for (int32_t j = f.context_begin; j < f.context_end; ++j) {
    // At most max_answer_length tokens (end - start + 1), as Hugging Face's and BERT's run_squad decoding.
    const int32_t stop = std::min<int32_t>(j + max_answer_length, f.context_end);
    for (int32_t k = j; k < stop; ++k) {
      const double v = static_cast<double>(s[j]) + static_cast<double>(e[k]);
      if (v >= best) best = v, bj = j, bk = k;  // later ties win, as the reference's >=
    }
  }
  if (bj >= 0 && best >= null_score + null_threshold) {
    p.null = false;
    p.score = best;
    p.start_token = bj;
    p.end_token = bk;
    p.start_word = f.token_to_word[static_cast<size_t>(bj)];
    p.end_word = f.token_to_word[static_cast<size_t>(bk)];
  } else {
    p.score = null_score;
  }
  return p;
}

std::string answer_text(const Example& ex, const Prediction& p) {
  if (p.null || p.start_word < 0 || p.end_word < p.start_word) return "";
  return join(ex.doc_words, static_cast<size_t>(p.start_word), static_cast<size_t>(p.end_word));
}

std::string normalize_answer(const std::string& s) {
  // lower(): every code point through towlower of a UTF-8 locale (Python's str.lower), re-encoded.
  static locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  std::string lower;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n == 1 || !utf8 || i + static_cast<size_t>(n) > s.size()) {
      lower += static_cast<char>(n == 1 ? std::tolower(c) : c);
      ++i;
      continue;
    }
    uint32_t cp = c & (0xFF >> (n + 1));
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
    append_utf8(lower, static_cast<uint32_t>(towlower_l(static_cast<wint_t>(cp), utf8)));
    i += static_cast<size_t>(n);
  }
  // remove_punc: Python's string.punctuation (ASCII only).
  static const std::string punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  std::string no_punc;
  for (char c : lower)
    if (punct.find(c) == std::string::npos) no_punc += c;
  // remove_articles: \b(a|an|the)\b -> " ". Word characters: ASCII letters and digits, '_' (already removed) and
  // every non-ASCII byte (letters of other scripts, as Python's Unicode \w).
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || (c & 0x80) || c == '_'; };
  std::string no_art;
  for (size_t i = 0; i < no_punc.size();) {
    if (!word_char(no_punc[i])) {
      no_art += no_punc[i++];
      continue;
    }
    size_t j = i;
    while (j < no_punc.size() && word_char(no_punc[j])) ++j;
    const std::string w = no_punc.substr(i, j - i);
    no_art += (w == "a" || w == "an" || w == "the") ? " " : w;
    i = j;
  }
  // white_space_fix: split on whitespace, join with one space.
  std::string out;
  std::string cur;
  for (char c : no_art) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      if (!cur.empty()) out += (out.empty() ? "" : " ") + cur, cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out += (out.empty() ? "" : " ") + cur;
  return out;
}

namespace {
std::vector<std::string> tokens_of(const std::string& s) {
  std::vector<std::string> out;
  std::string n = normalize_answer(s), cur;
  for (char c : n) {
    if (c == ' ') {
      if (!cur.empty()) out.push_back(cur), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}
}  // namespace

double compute_exact(const std::string& gold, const std::string& predicted) {
  return normalize_answer(gold) == normalize_answer(predicted) ? 1.0 : 0.0;
}

double compute_f1(const std::string& gold, const std::string& predicted) {
  const auto g = tokens_of(gold), p = tokens_of(predicted);
  if (g.empty() || p.empty()) return g == p ? 1.0 : 0.0;
  std::map<std::string, int64_t> counts;
  for (const auto& t : g) ++counts[t];
  int64_t same = 0;
  for (const auto& t : p) {
    auto it = counts.find(t);
    if (it != counts.end() && it->second > 0) --it->second, ++same;
  }
  if (same == 0) return 0.0;
  const double precision = static_cast<double>(same) / static_cast<double>(p.size());
  const double recall = static_cast<double>(same) / static_cast<double>(g.size());
  return 2 * precision * recall / (precision + recall);
}

std::map<std::string, double> evaluate(const std::vector<Example>& examples,
                                       const std::map<std::string, std::string>& predictions) {
  double exact = 0, f1 = 0, has_exact = 0, has_f1 = 0, no_exact = 0, no_f1 = 0;
  int64_t has_total = 0, no_total = 0;
  for (const Example& ex : examples) {
    auto it = predictions.find(ex.qid);
    SH_CHECK(it != predictions.end(), "squad: no prediction for question '{}'; every question needs one (\"\" for no "
             "answer)", ex.qid);
    std::vector<std::string> golds;
    for (const auto& a : ex.answers)
      if (!normalize_answer(a.text).empty()) golds.push_back(a.text);
    if (golds.empty()) golds.push_back("");
    double e = 0, f = 0;
    for (const auto& g : golds) {
      e = std::max(e, compute_exact(g, it->second));
      f = std::max(f, compute_f1(g, it->second));
    }
    exact += e, f1 += f;
    if (!ex.answers.empty()) {
      has_exact += e, has_f1 += f, ++has_total;
    } else {
      no_exact += e, no_f1 += f, ++no_total;
    }
  }
  const auto total = static_cast<double>(examples.size());
  std::map<std::string, double> out{{"exact", total > 0 ? 100 * exact / total : 0.0},
                                    {"f1", total > 0 ? 100 * f1 / total : 0.0},
                                    {"total", total}};
  if (has_total > 0) {
    out["HasAns_exact"] = 100 * has_exact / static_cast<double>(has_total);
    out["HasAns_f1"] = 100 * has_f1 / static_cast<double>(has_total);
    out["HasAns_total"] = static_cast<double>(has_total);
  }
  if (no_total > 0) {
    out["NoAns_exact"] = 100 * no_exact / static_cast<double>(no_total);
    out["NoAns_f1"] = 100 * no_f1 / static_cast<double>(no_total);
    out["NoAns_total"] = static_cast<double>(no_total);
  }
  return out;
}

SquadSource::~SquadSource() = default;

}  // namespace stagehand::squad
