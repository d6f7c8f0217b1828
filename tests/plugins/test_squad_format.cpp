// SPDX-License-Identifier: Apache-2.0
// SQuAD 2.0 as the `squad` dataset and the `probe` stage use it (sdk/src/squad/squad.cpp, in the SDK this test
// links), with the real bert-base-uncased WordPiece vocabulary (ids = line number - 1: [CLS] 101, [SEP] 102,
// "who" 2040, "?" 1029, "1895" 6301, "(" 1006):
//  - the official SQuAD 2.0 scoring: normalisation, exact and token F1 by hand, several golds (max), no-answer gold,
//    golds that normalise to nothing, the HasAns/NoAns breakdown of a 4-question set worked out by hand;
//  - the reader: words and the first answer's words with multi-byte UTF-8 (answer_start counts characters), the
//    answer-not-found flag, and every malformed input named with file, JSON path and question id;
//  - doc-stride windows on a 60-word context: starts, lengths, context bounds, token-to-word map, an answer inside
//    two windows and outside the rest, an impossible question, query truncation, Hugging Face's answer-span
//    tightening;
//  - features framed by the tokenizer's layout: RoBERTa's `<s> q </s></s> ctx </s>` (type ids 0, 4 special tokens),
//    and layout none refused;
//  - decoding: the best span inside the context, at most max_answer_length tokens (end - start + 1), the null
//    threshold, later ties;
//  - the shipped cloze set (data/squad/brown_cloze): counts, every question built by its rules, the no-answer baseline;
//  - the `squad` dataset through the registry: splits, features, batch tensors, the shared examples (through the
//    typed interface squad::SquadSource, which other datasets do not implement).
#include <gtest/gtest.h>

#include <map>

#include <torch/types.h>

#include "support/test_support.h"
#include "support/plugin_support.h"
#include "stagehand/dataset.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"
#include "stagehand/tokenizer.h"
#include "stagehand/sdk/squad.h"

using namespace stagehand;
using sh_test::TempFolder;
using sh_test::write_text;
namespace fs = std::filesystem;

namespace {

Registry& registry() {
  static Registry* reg =
      sh_test::load_plugins({"tokenizer_wordpiece", "tokenizer_bpe", "dataset_squad", "dataset_text_corpus"});
  return *reg;
}

BuildContext context() { return sh_test::build_context(registry()); }

const std::string kWordpiece =
    fmt::format("{{type: wordpiece, vocab: {}/tokenizers/bert-base-uncased-vocab.txt}}", STAGEHAND_TEST_DATA);

std::shared_ptr<Tokenizer> wordpiece() { return registry().create<Tokenizer>(parse_yaml(kWordpiece, "t"), context()); }

/// RoBERTa's byte-level BPE of tests/data/hf-tiny/roberta (`<s>` 0, `</s>` 2), with its layout (roberta) or another.
std::shared_ptr<Tokenizer> roberta_bpe(const std::string& layout = "auto") {
  const fs::path dir = fs::path(STAGEHAND_TEST_DATA) / "hf-tiny" / "roberta";
  return registry().create<Tokenizer>(
      parse_yaml(fmt::format("{{type: bpe, vocab: {}, merges: {}, layout: {}}}", (dir / "vocab.json").string(),
                             (dir / "merges.txt").string(), layout),
                 "t"),
      context());
}

/// A SQuAD file of one paragraph; `qas` is the JSON list of questions.
std::string squad_json(const std::string& context, const std::string& qas) {
  return fmt::format(R"({{"version": "v2.0", "data": [{{"title": "T", "paragraphs": [{{"context": "{}", "qas": {}}}]}}]}})",
                     context, qas);
}

squad::Example example_of(const std::string& qid, std::vector<std::string> golds) {
  squad::Example e;
  e.qid = qid;
  for (auto& g : golds) e.answers.push_back({g, 0});
  e.is_impossible = e.answers.empty();
  return e;
}

}  // namespace

TEST(SquadScoring, NormalisationIsTheOfficialOne) {
  EXPECT_EQ(squad::normalize_answer("The Cat!"), "cat");
  EXPECT_EQ(squad::normalize_answer("  an   Apple \n"), "apple");
  EXPECT_EQ(squad::normalize_answer("U.S."), "us");                        // punctuation inside words goes
  EXPECT_EQ(squad::normalize_answer("theatre of the absurd"), "theatre of absurd");  // whole words only
  EXPECT_EQ(squad::normalize_answer("A"), "");
  EXPECT_EQ(squad::normalize_answer("Zürich's THÉÂTRE"), "zürichs théâtre");  // Python's str.lower on every letter
  EXPECT_EQ(squad::compute_exact("The Cat!", "cat"), 1.0);
  EXPECT_EQ(squad::compute_exact("cats", "cat"), 0.0);
}

TEST(SquadScoring, TokenF1ByHand) {
  // gold {big, red, dog} ("the" dropped), predicted {red, dog, barked}: 2 common, P = R = 2/3.
  EXPECT_NEAR(squad::compute_f1("the big red dog", "red dog barked"), 2.0 / 3, 1e-12);
  // Multiset counts: gold {b, b}, predicted {b}: P 1, R 1/2.
  EXPECT_NEAR(squad::compute_f1("b b", "b"), 2 * 1 * 0.5 / 1.5, 1e-12);
  EXPECT_EQ(squad::compute_f1("", ""), 1.0);  // both no-answer
  EXPECT_EQ(squad::compute_f1("", "cat"), 0.0);
  EXPECT_EQ(squad::compute_f1("cat", ""), 0.0);
  EXPECT_EQ(squad::compute_f1("cat", "dog"), 0.0);
}

TEST(SquadScoring, FourQuestionsWithTheHasAnsNoAnsBreakdown) {
  std::vector<squad::Example> ex = {example_of("q1", {"Denver Broncos", "The Denver Broncos"}),
                                    example_of("q2", {"red dog"}), example_of("q3", {}), example_of("q4", {})};
  // q1 exact 1 f1 1; q2 "big red dog" against "red dog": exact 0, P 2/3 R 1 -> F1 0.8; q3 "" right (1, 1);
  // q4 "cat" for an unanswerable question (0, 0).
  auto s = squad::evaluate(ex, {{"q1", "denver broncos."}, {"q2", "big red dog"}, {"q3", ""}, {"q4", "cat"}});
  EXPECT_DOUBLE_EQ(s.at("exact"), 50.0);
  EXPECT_NEAR(s.at("f1"), 100 * (1 + 0.8 + 1 + 0) / 4, 1e-9);
  EXPECT_EQ(s.at("total"), 4);
  EXPECT_DOUBLE_EQ(s.at("HasAns_exact"), 50.0);
  EXPECT_NEAR(s.at("HasAns_f1"), 90.0, 1e-9);
  EXPECT_EQ(s.at("HasAns_total"), 2);
  EXPECT_DOUBLE_EQ(s.at("NoAns_exact"), 50.0);
  EXPECT_DOUBLE_EQ(s.at("NoAns_f1"), 50.0);
  EXPECT_EQ(s.at("NoAns_total"), 2);
  // Only answerable questions: no NoAns_* keys, as the official script.
  auto only = squad::evaluate({ex[0]}, {{"q1", "Broncos"}});
  EXPECT_EQ(only.count("NoAns_exact"), 0u);
  EXPECT_NEAR(only.at("f1"), 100 * (2 * 1 * 0.5 / 1.5), 1e-9);  // max over golds: "denver broncos" P 1 R 1/2
  // A gold that normalises to nothing is not a gold; with none left the gold is "".
  EXPECT_EQ(squad::evaluate({example_of("q", {"the", "cat"})}, {{"q", ""}}).at("exact"), 0.0);
  EXPECT_EQ(squad::evaluate({example_of("q", {"."})}, {{"q", ""}}).at("exact"), 100.0);
  EXPECT_NE(sh_test::error_of([&] { squad::evaluate(ex, {{"q1", ""}}); }).find("no prediction for question 'q2'"),
            std::string::npos);
}

TEST(SquadReader, WordsAndAnswersWithMultiByteText) {
  TempFolder tmp;
  // "Zoë" and "Zürich" hold two-byte letters: answer_start counts characters (12), not bytes (13).
  write_text(tmp / "s.json",
             squad_json("Zoë met the cat in Zürich.",
                        R"([{"id": "a", "question": "Who?", "answers": [{"text": "cat", "answer_start": 12}]},
                            {"id": "b", "question": "Where?", "answers": [{"text": "Zürich", "answer_start": 19}]},
                            {"id": "c", "question": "Why?", "answers": [], "is_impossible": true,
                             "plausible_answers": [{"text": "cat", "answer_start": 12}]},
                            {"id": "d", "question": "What?", "answers": [{"text": "dog", "answer_start": 12}]}])"));
  auto ex = squad::read_squad(tmp / "s.json");
  ASSERT_EQ(ex.size(), 4u);
  EXPECT_EQ(ex[0].doc_words, (std::vector<std::string>{"Zoë", "met", "the", "cat", "in", "Zürich."}));
  EXPECT_EQ(ex[0].start_word, 3);
  EXPECT_EQ(ex[0].end_word, 3);
  EXPECT_TRUE(ex[0].answer_found);
  EXPECT_EQ(ex[1].start_word, 5);
  EXPECT_TRUE(ex[1].answer_found);
  EXPECT_TRUE(ex[2].is_impossible);
  EXPECT_TRUE(ex[2].answers.empty());
  EXPECT_EQ(ex[2].start_word, -1);
  EXPECT_FALSE(ex[3].answer_found);  // "dog" is not at character 12
  EXPECT_EQ(ex[0].title, "T");
}

// The shipped cloze set of pipelines/layer-probes-scale.yaml (data/squad/brown_cloze, scripts/make_brown_cloze_squad.py)
// reads whole, with the counts data/squad/README.md gives, and every question is what the script's rules say: an
// answerable one is a sentence of its paragraph with the answer's words replaced by "what", the answer at its offset;
// an unanswerable one asks about a name that is not in the paragraph. All-no-answer scores the README's baseline.
TEST(SquadReader, ShippedBrownClozeSetFollowsItsRules) {
  const fs::path dir = fs::path(STAGEHAND_SOURCE_DIR) / "data" / "squad" / "brown_cloze";
  auto train = squad::read_squad(dir / "train-v2.0.json");
  auto dev = squad::read_squad(dir / "dev-v2.0.json");
  ASSERT_EQ(train.size(), 12005u);
  ASSERT_EQ(dev.size(), 436u);
  for (const auto* split : {&train, &dev}) {
    for (const auto& e : *split) {
      SCOPED_TRACE(e.qid + ": " + e.question);
      ASSERT_EQ(e.question.substr(e.question.size() - 2), " ?");
      const std::string body = e.question.substr(0, e.question.size() - 2);
      if (e.is_impossible) {
        EXPECT_TRUE(e.answers.empty());
        EXPECT_EQ(e.context.find(body), std::string::npos);  // its sentence is from another paragraph
        continue;
      }
      ASSERT_TRUE(e.answer_found);
      ASSERT_EQ(e.answers.size(), 1u);
      // The answer's words put back in place of "what" give a run of the paragraph's own text.
      // ("what" may also be one of the sentence's own words: one of its places must give the paragraph's text.)
      const std::string& name = e.answers[0].text;
      const std::string padded = " " + body + " ";
      bool found = false;
      for (size_t at = padded.find(" what "); at != std::string::npos && !found; at = padded.find(" what ", at + 1)) {
        std::string sentence = body;
        sentence.replace(at, 4, name);
        found = e.context.find(sentence) != std::string::npos;
      }
      EXPECT_TRUE(found);
    }
  }
  std::map<std::string, std::string> none;
  for (const auto& e : dev) none[e.qid] = "";
  auto s = squad::evaluate(dev, none);
  EXPECT_EQ(s.at("NoAns_total"), 82);
  EXPECT_NEAR(s.at("exact"), 100.0 * 82 / 436, 1e-9);  // 18.81
  EXPECT_NEAR(s.at("f1"), 100.0 * 82 / 436, 1e-9);
}

TEST(SquadReader, MalformedInputIsNamed) {
  TempFolder tmp;
  auto err = [&](const std::string& text) {
    write_text(tmp / "bad.json", text);
    return sh_test::error_of([&] { squad::read_squad(tmp / "bad.json"); });
  };
  EXPECT_NE(err("{\"data\": [").find("bad.json: not valid JSON"), std::string::npos);
  // A number past double's range (found by fuzz/fuzz_squad.cpp: it escaped as a JSON library exception).
  EXPECT_NE(err("{\"version\": 120100E1002, \"data\": []}").find("bad.json: not valid JSON"), std::string::npos);
  EXPECT_NE(err("{\"version\": 2}").find("has no \"data\""), std::string::npos);
  std::string m = err(squad_json("a b", R"([{"id": "x", "question": "q", "answers": []}, {"id": "y", "answers": []}])"));
  EXPECT_NE(m.find("data[0].paragraphs[0].qas[0] (question 'x') is answerable"), std::string::npos) << m;
  m = err(squad_json("a b", R"([{"id": "y", "answers": []}])"));
  EXPECT_NE(m.find("data[0].paragraphs[0].qas[0] (question 'y') has no \"question\""), std::string::npos) << m;
  m = err(squad_json("a b", R"([{"id": "z", "question": "q", "answers": [{"text": "b", "answer_start": "1"}]}])"));
  EXPECT_NE(m.find("answers[0].answer_start (question 'z') is a string, expected a number"), std::string::npos) << m;
  m = err(squad_json("a b", R"([{"id": "z", "question": "q", "answers": [{"text": "b", "answer_start": 7}]}])"));
  EXPECT_NE(m.find("(question 'z'): answer_start 7 with a 1-character answer lies outside the 3-character context"),
            std::string::npos) << m;
  m = err(squad_json("a b", R"([{"id": "z", "question": "q", "answers": [], "is_impossible": true},
                                {"id": "z", "question": "r", "answers": [], "is_impossible": true}])"));
  EXPECT_NE(m.find("question id 'z' appears twice"), std::string::npos) << m;
  EXPECT_NE(sh_test::error_of([&] { squad::read_squad(tmp / "missing.json"); }).find("missing.json does not exist"),
            std::string::npos);
}

TEST(SquadReader, SkippingLeavesOutMalformedEntriesAndCountsThem) {
  TempFolder tmp;
  // Article 0: a good question, one without "question", one whose answer lies outside the context, a repeat of the
  // first id, and a good impossible one. Article 1: a paragraph without "context" (its two questions go with it),
  // then a good paragraph. Article 2: no "paragraphs".
  write_text(tmp / "s.json", R"({"version": "v2.0", "data": [
    {"title": "A", "paragraphs": [{"context": "a b c", "qas": [
      {"id": "ok1", "question": "q", "answers": [{"text": "b", "answer_start": 2}]},
      {"id": "noq", "answers": []},
      {"id": "far", "question": "q", "answers": [{"text": "b", "answer_start": 9}]},
      {"id": "ok1", "question": "again", "answers": [], "is_impossible": true},
      {"id": "ok2", "question": "q", "answers": [], "is_impossible": true}]}]},
    {"title": "B", "paragraphs": [
      {"qas": [{"id": "lost1", "question": "q", "answers": []}, {"id": "lost2", "question": "q", "answers": []}]},
      {"context": "x y", "qas": [{"id": "ok3", "question": "q", "answers": [{"text": "y", "answer_start": 2}]}]}]},
    {"title": "C"}]})");
  // Strict: the first malformed entry is named, with the way out.
  const std::string m = sh_test::error_of([&] { squad::read_squad(tmp / "s.json"); });
  EXPECT_NE(m.find("data[0].paragraphs[0].qas[1] (question 'noq') has no \"question\""), std::string::npos) << m;
  EXPECT_NE(m.find("or set on_bad_record: skip to leave the entry out"), std::string::npos) << m;
  EXPECT_EQ(m.find("skip to leave the entry out; or set"), std::string::npos) << "the hint is given once: " << m;

  squad::ReadReport report;
  auto ex = squad::read_squad(tmp / "s.json", /*skip_bad=*/true, &report);
  std::vector<std::string> ids;
  for (const auto& e : ex) ids.push_back(e.qid);
  EXPECT_EQ(ids, (std::vector<std::string>{"ok1", "ok2", "ok3"}));
  // noq, far, the repeated ok1, the paragraph without context, the article without paragraphs.
  EXPECT_EQ(report.skipped, 5);
  EXPECT_NE(report.first.find("(question 'noq') has no \"question\""), std::string::npos) << report.first;
  EXPECT_EQ(ex[0].start_word, 1);
  EXPECT_EQ(ex[2].start_word, 1);
  EXPECT_EQ(ex[2].doc_words, (std::vector<std::string>{"x", "y"}));

  // What no skipping can mend stays an error: a file that is not JSON, or has no "data".
  write_text(tmp / "bad.json", "{\"data\": [");
  EXPECT_NE(sh_test::error_of([&] { squad::read_squad(tmp / "bad.json", true); }).find("not valid JSON"),
            std::string::npos);
  write_text(tmp / "bad.json", "{\"version\": 2}");
  EXPECT_NE(sh_test::error_of([&] { squad::read_squad(tmp / "bad.json", true); }).find("has no \"data\""),
            std::string::npos);
}

TEST(SquadFeatures, DocStrideWindowsOnALongContext) {
  // 60 words "1" .. "60", one token each; question "who?" = 2 tokens. max_seq_length 24 leaves 24 - 2 - 3 = 19
  // context tokens a window; doc_stride 8: windows start at 0, 8, ..., 48 (the first to reach token 59).
  std::string context;
  for (int i = 1; i <= 60; ++i) context += (i > 1 ? " " : "") + std::to_string(i);
  const auto at30 = context.find(" 30 ") + 1;
  TempFolder tmp;
  write_text(tmp / "s.json", squad_json(context, fmt::format(R"([
      {{"id": "a", "question": "who?", "answers": [{{"text": "30", "answer_start": {}}}]}},
      {{"id": "b", "question": "who?", "answers": [], "is_impossible": true}}])",
                                                             at30)));
  auto ex = squad::read_squad(tmp / "s.json");
  auto tok = wordpiece();
  squad::FeatureOptions fo{24, 8, 64};
  auto f = squad::featurize(ex, *tok, fo, true);
  ASSERT_EQ(f.size(), 14u);  // 7 windows per question
  const std::vector<int32_t> cls_query_sep = {101, 2040, 1029, 102};
  for (int k = 0; k < 7; ++k) {
    const auto& w = f[static_cast<size_t>(k)];
    EXPECT_EQ(w.example_index, 0);
    EXPECT_EQ(w.window, k);
    const int len = k < 6 ? 19 : 12;
    ASSERT_EQ(w.ids.size(), static_cast<size_t>(4 + len + 1));
    EXPECT_EQ(std::vector<int32_t>(w.ids.begin(), w.ids.begin() + 4), cls_query_sep);
    EXPECT_EQ(w.ids.back(), 102);
    EXPECT_EQ(w.context_begin, 4);
    EXPECT_EQ(w.context_end, 4 + len);
    EXPECT_EQ(w.token_to_word[4], 8 * k);          // first context token = word 8k
    EXPECT_EQ(w.token_to_word[3], -1);
    EXPECT_EQ(w.token_to_word.back(), -1);
    EXPECT_EQ(w.type_ids[3], 0);
    EXPECT_EQ(w.type_ids[4], 1);
    EXPECT_EQ(w.type_ids.back(), 1);
    EXPECT_EQ(w.ids[4], tok->token_to_id(std::to_string(8 * k + 1)));
    // "30" is word 29: inside windows 2 (words 16..34) and 3 (24..42) only.
    if (k == 2) {
      EXPECT_EQ(w.start_position, 29 - 16 + 4);
      EXPECT_EQ(w.end_position, 29 - 16 + 4);
    } else if (k == 3) {
      EXPECT_EQ(w.start_position, 29 - 24 + 4);
    } else {
      EXPECT_EQ(w.start_position, 0) << "window " << k;
      EXPECT_EQ(w.end_position, 0) << "window " << k;
    }
    // The impossible question: [CLS] in every window.
    EXPECT_EQ(f[static_cast<size_t>(7 + k)].start_position, 0);
    EXPECT_EQ(f[static_cast<size_t>(7 + k)].end_position, 0);
  }
  // The query cut to 1 token: 20 context tokens a window.
  auto cut = squad::featurize(ex, *tok, {24, 8, 1}, true);
  EXPECT_EQ(cut[0].context_begin, 3);
  EXPECT_EQ(cut[0].context_end, 23);
  // A stride larger than a window, and no room at all, are refused.
  EXPECT_NE(sh_test::error_of([&] { squad::featurize(ex, *tok, {24, 20, 64}, true); }).find("doc_stride 20 is larger than the 19"),
            std::string::npos);
  EXPECT_NE(sh_test::error_of([&] { squad::featurize(ex, *tok, {5, 1, 64}, true); }).find("leaves no room"), std::string::npos);
}

TEST(SquadFeatures, AnswerSpanIsTightenedAndUnfoundAnswersAreLeftOutOfTraining) {
  TempFolder tmp;
  // The word "(1895-1943)." is 6 pieces; the answer "1895" is one of them (Hugging Face's _improve_answer_span).
  write_text(tmp / "s.json", squad_json("He lived (1895-1943). Then",
                                        R"([{"id": "a", "question": "born?", "answers": [{"text": "1895", "answer_start": 10}]},
                                            {"id": "b", "question": "born?", "answers": [{"text": "Then", "answer_start": 0}]}])"));
  auto ex = squad::read_squad(tmp / "s.json");
  EXPECT_TRUE(ex[0].answer_found);
  EXPECT_FALSE(ex[1].answer_found);
  auto tok = wordpiece();
  int64_t skipped = -1;
  auto f = squad::featurize(ex, *tok, {64, 16, 16}, true, &skipped);
  ASSERT_EQ(f.size(), 1u);  // "b" left out of training
  EXPECT_EQ(skipped, 1);
  // [CLS] born ? [SEP] he lived ( 1895 - 1943 ) . then [SEP]: "1895" is position 7.
  EXPECT_EQ(f[0].ids[7], 6301);
  EXPECT_EQ(f[0].start_position, 7);
  EXPECT_EQ(f[0].end_position, 7);
  // Not training: every question keeps its features ("b" points at [CLS]).
  auto all = squad::featurize(ex, *tok, {64, 16, 16}, false, &skipped);
  EXPECT_EQ(all.size(), 2u);
  EXPECT_EQ(skipped, 0);
  EXPECT_EQ(all[1].start_position, 0);
}

// Hugging Face's RoBERTa features: `<s> question </s></s> context </s>`, every type id 0, and 4 special tokens
// (a window holds max_seq_length - question - 4 context tokens); the answer positions still point at its tokens.
TEST(SquadFeatures, RobertaLayoutFramesQuestionAndContextAsRoberta) {
  TempFolder tmp;
  const std::string context = "alpha beta gamma delta epsilon zeta eta theta";
  write_text(tmp / "s.json", squad_json(context, fmt::format(R"([{{"id": "a", "question": "which one?",
      "answers": [{{"text": "gamma delta", "answer_start": {}}}]}}])", context.find("gamma"))));
  auto ex = squad::read_squad(tmp / "s.json");
  auto tok = roberta_bpe();
  const SpecialTokens& sp = tok->special();
  ASSERT_EQ(sp.layout, SpecialLayout::Roberta);
  ASSERT_EQ(std::vector<int32_t>({sp.cls, sp.sep}), std::vector<int32_t>({0, 2}));
  const std::vector<int32_t> query = tok->encode_ids("which one?");
  std::vector<int32_t> doc, doc_word, answer;
  for (size_t w = 0; w < ex[0].doc_words.size(); ++w)
    for (int32_t id : tok->encode_ids(" " + ex[0].doc_words[w])) {  // each word with its space: Ġword
      if (w == 2 || w == 3) answer.push_back(id);
      doc.push_back(id), doc_word.push_back(static_cast<int32_t>(w));
    }
  const auto answer_at = static_cast<int32_t>(tok->encode_ids(" alpha").size() + tok->encode_ids(" beta").size());
  EXPECT_NE(doc.front(), tok->encode_ids("alpha").front()) << "the context's first word is tokenized as in running text";

  auto f = squad::featurize(ex, *tok, {64, 16, 16}, true);
  ASSERT_EQ(f.size(), 1u);
  std::vector<int32_t> want = {0};
  want.insert(want.end(), query.begin(), query.end());
  want.insert(want.end(), {2, 2});
  want.insert(want.end(), doc.begin(), doc.end());
  want.push_back(2);
  EXPECT_EQ(f[0].ids, want);
  EXPECT_EQ(f[0].type_ids, std::vector<int32_t>(want.size(), 0));
  const auto begin = static_cast<int32_t>(query.size() + 3);
  EXPECT_EQ(f[0].context_begin, begin);
  EXPECT_EQ(f[0].context_end, static_cast<int32_t>(want.size() - 1));
  std::vector<int32_t> words(want.size(), -1);
  std::copy(doc_word.begin(), doc_word.end(), words.begin() + begin);
  EXPECT_EQ(f[0].token_to_word, words);
  EXPECT_EQ(f[0].start_position, begin + answer_at);
  EXPECT_EQ(f[0].end_position, begin + answer_at + static_cast<int32_t>(answer.size()) - 1);
  EXPECT_EQ(std::vector<int32_t>(f[0].ids.begin() + f[0].start_position, f[0].ids.begin() + f[0].end_position + 1),
            answer);

  // 4 special tokens: max_seq_length question + 4 + 3 holds 3 context tokens a window, filled to the last id.
  const auto tight = static_cast<int64_t>(query.size()) + 4 + 3;
  auto windows = squad::featurize(ex, *tok, {tight, 3, 16}, false);
  ASSERT_GT(windows.size(), 1u);
  EXPECT_EQ(windows[0].context_end - windows[0].context_begin, 3);
  EXPECT_EQ(static_cast<int64_t>(windows[0].ids.size()), tight);
  EXPECT_NE(sh_test::error_of([&] { squad::featurize(ex, *tok, {tight - 3, 1, 16}, false); })
                .find(fmt::format("after a {}-token question and 4 special tokens", query.size())),
            std::string::npos);
}

// Layout none adds no first token for unanswerable windows to point at: featurize says so.
TEST(SquadFeatures, LayoutNoneIsRefusedWithTheFix) {
  TempFolder tmp;
  write_text(tmp / "s.json",
             squad_json("the cat sat", R"([{"id": "d", "question": "who?", "answers": [], "is_impossible": true}])"));
  auto ex = squad::read_squad(tmp / "s.json");
  const std::string err = sh_test::error_of([&] { squad::featurize(ex, *roberta_bpe("none"), {64, 16, 16}, false); });
  EXPECT_NE(err.find("layout is 'none'"), std::string::npos) << err;
  EXPECT_NE(err.find("expected layout 'bert' or 'roberta'"), std::string::npos) << err;
}

TEST(SquadDecoding, BestSpanInsideTheContextAgainstTheNullScore) {
  squad::Feature f;
  f.ids.assign(10, 5);
  f.context_begin = 4;
  f.context_end = 9;  // position 9 is the final [SEP]
  f.token_to_word = {-1, -1, -1, -1, 0, 1, 2, 3, 4, -1};
  squad::Example ex;
  ex.doc_words = {"zero", "one", "two", "three", "four"};
  // null = 1 + 1; best inside the context s5 + e6 = 5; the [SEP]'s 9 + 9 and the question's are never spans.
  std::vector<float> s = {1, 8, 8, 0, 0, 3, 0, 0, 0, 9}, e = {1, 8, 8, 0, 0, 0, 2, 0, 0, 9};
  auto p = squad::decode(s.data(), e.data(), f);
  EXPECT_FALSE(p.null);
  EXPECT_EQ(p.start_token, 5);
  EXPECT_EQ(p.end_token, 6);
  EXPECT_EQ(p.score, 5.0);
  EXPECT_EQ(squad::answer_text(ex, p), "one two");
  // The threshold: an answer when 5 >= 2 + t.
  EXPECT_FALSE(squad::decode(s.data(), e.data(), f, 17, 3.0).null);
  auto null = squad::decode(s.data(), e.data(), f, 17, 3.5);
  EXPECT_TRUE(null.null);
  EXPECT_EQ(null.score, 2.0);
  EXPECT_EQ(squad::answer_text(ex, null), "");
  // End never before start: s7 = 5, e5 = 5 is not a span; the best is then s7 + e7 or s5 + e5... all 5: later wins.
  std::vector<float> s2 = {0, 0, 0, 0, 0, 0, 0, 5, 0, 0}, e2 = {0, 0, 0, 0, 0, 5, 0, 0, 0, 0};
  auto p2 = squad::decode(s2.data(), e2.data(), f);
  EXPECT_EQ(p2.start_token, 7);
  EXPECT_EQ(p2.end_token, 8);  // ties at 5 for (7,7) and (7,8): the later one
  // At most max_answer_length tokens: s4 + e8 = 10 (5 tokens) with the default, out of reach with 3 (then the tie at 5 that
  // comes last in the search, (8, 8)).
  std::vector<float> s3 = {0, 0, 0, 0, 5, 0, 0, 0, 0, 0}, e3 = {0, 0, 0, 0, 0, 0, 0, 0, 5, 0};
  auto far = squad::decode(s3.data(), e3.data(), f);
  EXPECT_EQ(far.start_token, 4);
  EXPECT_EQ(far.end_token, 8);
  EXPECT_EQ(far.score, 10.0);
  auto near = squad::decode(s3.data(), e3.data(), f, 3);
  EXPECT_EQ(near.start_token, 8);
  EXPECT_EQ(near.end_token, 8);
  EXPECT_EQ(near.score, 5.0);
}

// An answer has at most max_answer_length tokens (Hugging Face's postprocess_qa_predictions and BERT's run_squad
// skip end - start + 1 > max_answer_length): the best span, 4 tokens, is out of reach with 3, where the best
// 3-token span wins.
TEST(SquadDecoding, MaxAnswerLengthCountsTokensOfTheSpan) {
  squad::Feature f;
  f.ids.assign(10, 5);
  f.context_begin = 4;
  f.context_end = 9;
  f.token_to_word = {-1, -1, -1, -1, 0, 1, 2, 3, 4, -1};
  // s4 + e7 = 10 (tokens 4..7: 4 tokens), s4 + e6 = 9 (3 tokens), null 0.
  std::vector<float> s = {0, 0, 0, 0, 5, 0, 0, 0, 0, 0}, e = {0, 0, 0, 0, 0, 0, 4, 5, 0, 0};
  auto three = squad::decode(s.data(), e.data(), f, 3);
  EXPECT_FALSE(three.null);
  EXPECT_EQ(three.start_token, 4);
  EXPECT_EQ(three.end_token, 6);
  EXPECT_EQ(three.score, 9.0);
  auto four = squad::decode(s.data(), e.data(), f, 4);
  EXPECT_EQ(four.start_token, 4);
  EXPECT_EQ(four.end_token, 7);
  EXPECT_EQ(four.score, 10.0);
  // max_answer_length 1: single tokens only; s4 + e4 and s7 + e7 tie at 5, the later wins.
  auto one = squad::decode(s.data(), e.data(), f, 1);
  EXPECT_EQ(one.start_token, 7);
  EXPECT_EQ(one.end_token, 7);
}

TEST(SquadDataset, BatchesOfFeaturesAndTheSharedExamples) {
  TempFolder tmp;
  std::string text;
  for (int i = 1; i <= 60; ++i) text += (i > 1 ? " " : "") + std::to_string(i);
  write_text(tmp / "train.json",
             squad_json(text, fmt::format(R"([{{"id": "a", "question": "who?", "answers": [{{"text": "30",
                                                  "answer_start": {}}}]}}])",
                                             text.find(" 30 ") + 1)));
  write_text(tmp / "dev.json", squad_json("the cat sat", R"([{"id": "d", "question": "who?", "answers": [], "is_impossible": true}])"));
  auto data = registry().create<Dataset>(
      parse_yaml(fmt::format("{{type: squad, train: {}, validation: {}, tokenizer: {}, max_seq_length: 24, doc_stride: 8}}",
                             (tmp / "train.json").string(), (tmp / "dev.json").string(), kWordpiece),
                 "t"),
      context());
  EXPECT_EQ(data->splits(), (std::vector<std::string>{"train", "validation"}));
  EXPECT_EQ(data->size("train"), 7);
  EXPECT_EQ(data->size("validation"), 1);
  Batch b = data->batch("train", {2, 6});
  EXPECT_EQ(b.ids, (std::vector<std::string>{"a#2", "a#6"}));
  EXPECT_EQ(b.at("input_ids").sizes(), (std::vector<int64_t>{2, 24}));
  EXPECT_EQ(b.at("attention_mask")[1].sum().item<int64_t>(), 4 + 12 + 1);  // the last window is shorter
  EXPECT_EQ(b.at("input_ids")[1][23].item<int64_t>(), 0);                   // padded with [PAD]
  EXPECT_EQ(b.at("token_to_word")[1][23].item<int64_t>(), -1);
  EXPECT_EQ(b.at("token_to_word")[0][4].item<int64_t>(), 16);
  EXPECT_EQ(b.at("start_positions")[0].item<int64_t>(), 17);
  EXPECT_EQ(b.at("start_positions")[1].item<int64_t>(), 0);
  EXPECT_EQ(b.at("context_begin")[0].item<int64_t>(), 4);
  EXPECT_EQ(b.at("context_end")[1].item<int64_t>(), 16);
  EXPECT_EQ(b.at("example_index")[1].item<int64_t>(), 0);
  EXPECT_EQ(b.at("token_type_ids")[0][4].item<int64_t>(), 1);
  const auto* source = dynamic_cast<const squad::SquadSource*>(data.get());
  ASSERT_NE(source, nullptr);
  const squad::Splits* shared = &source->squad_splits();
  EXPECT_EQ(shared->examples.at("validation").at(0).qid, "d");
  EXPECT_EQ(shared->features.at("train").size(), 7u);
  EXPECT_NE(sh_test::error_of([&] { data->batch("test", {0}); }).find("no split 'test'"), std::string::npos);
  EXPECT_NE(sh_test::error_of([&] { data->batch("train", {7}); }).find("feature index 7 is out of range"), std::string::npos);
}

// The probe stage finds the questions by a dynamic_cast of its Dataset to squad::SquadSource, across plugins (the
// interface's type info is the SDK's); a dataset that is not SQuAD data is no SquadSource, so the stage refuses it.
TEST(SquadDataset, OnlySquadDataIsASquadSource) {
  TempFolder tmp;
  write_text(tmp / "corpus.txt", "the cat sat on the mat .\nthe dog sat on the log .\n");
  auto corpus = registry().create<Dataset>(
      parse_yaml(fmt::format("{{type: text_corpus, files: [{}], tokenizer: {}, min_length: 3, validation_fraction: 0}}",
                             (tmp / "corpus.txt").string(), kWordpiece),
                 "t"),
      context());
  EXPECT_GT(corpus->size("train"), 0);
  EXPECT_EQ(dynamic_cast<const squad::SquadSource*>(corpus.get()), nullptr);
}
