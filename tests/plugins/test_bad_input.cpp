// SPDX-License-Identifier: Apache-2.0
// The bad-input suite, end to end through the runner: malformed records of every data format (JSONL, CSV, TSV,
// CoNLL/BioBERT, SQuAD, plain-text corpora), text that is not UTF-8, empty data, labels at evaluation that training
// never saw, malformed pipelines (YAML, types, unknown kinds, missing files) and plugins that throw or crash (a
// signal) while they load and register. Each must end with exactly one error line saying where (file:line), what,
// and how to fix it, and a non-zero exit; `on_bad_record: skip` (text classification, sentence pairs, token
// classification, SQuAD) counts what it skipped in the record; and a stage that fails on bad input loses nothing
// that earlier stages wrote (the fixed pipeline reuses them).
#include "support/test_support.h"
#include <fmt/format.h>

using namespace sh_test;

namespace {

const std::string kVocab = std::string(STAGEHAND_TEST_DATA) + "/tokenizers/bert-base-uncased-vocab.txt";

/// Twelve good records: "great fun and ..." (pos) / "awful mess and ..." (neg).
std::vector<std::pair<std::string, std::string>> good_records() {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < 12; ++i) out.emplace_back(i % 2 ? "awful mess and sad news" : "great fun and a lovely day", i % 2 ? "neg" : "pos");
  return out;
}

std::string jsonl(const std::vector<std::pair<std::string, std::string>>& recs) {
  std::string s;
  for (const auto& [t, l] : recs) s += fmt::format("{{\"text\": \"{}\", \"label\": \"{}\"}}\n", t, l);
  return s;
}

std::string csv(const std::vector<std::pair<std::string, std::string>>& recs) {
  std::string s = "text,label\n";
  for (const auto& [t, l] : recs) s += t + "," + l + "\n";
  return s;
}

/// A pipeline: `first` trains a tiny classifier on good data (what must not be lost), `second` evaluates it on
/// `eval_data` (a data spec).
std::string two_stage_pipeline(const std::string& eval_data, const std::string& eval_extra = "") {
  return fmt::format(R"(name: bad
seed: 3
threads: {{intra_op: 1, blas: 1}}
stages:
  first:
    kind: train
    data: {{type: text_classification, train: good.jsonl, tokenizer: {{type: wordpiece, vocab: {vocab}}}, max_length: 16}}
    model:
      type: classifier
      encoder: {{type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2,
                intermediate_size: 32, max_positions: 16}}
    loss: {{type: cross_entropy}}
    batch_size: 4
    steps: 2
  second:
    kind: evaluate
    models: [first]
    data: {eval}
{extra})",
                     fmt::arg("vocab", kVocab), fmt::arg("eval", eval_data), fmt::arg("extra", eval_extra));
}

std::string classification_data(const std::string& file, const std::string& extra = "") {
  return fmt::format("{{type: text_classification, train: good.jsonl, test: {}, tokenizer: {{type: wordpiece, vocab: "
                     "{}}}, max_length: 16{}}}",
                     file, kVocab, extra);
}

struct Outcome {
  CommandResult run;
  fs::path dir;
};

/// Asserts one error line (the runner's) holding every piece of `expected`, and a non-zero exit.
void expect_one_clear_error(const CommandResult& r, const std::vector<std::string>& expected) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(count_occurrences(r.output, "runner: error:"), 1u) << r.output;
  const auto at = r.output.find("runner: error:");
  const std::string line = at == std::string::npos ? "" : r.output.substr(at, r.output.find('\n', at) - at);
  for (const auto& e : expected) EXPECT_NE(line.find(e), std::string::npos) << "missing '" << e << "' in: " << line;
  EXPECT_EQ(r.output.find("Segmentation"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
}

}  // namespace

TEST(BadInput, MalformedRecordsOfEveryTextFormatNameFileAndLineAndCanBeSkippedAndCounted) {
  struct Case {
    const char* name;
    std::string file, content;
    std::vector<std::string> expected;
  };
  auto recs = good_records();
  std::string latin1 = csv(recs);
  latin1.insert(latin1.find("great fun", latin1.find('\n', latin1.find('\n') + 1)), "caf\xe9 ");  // line 4
  std::string broken_json = jsonl(recs);
  broken_json.insert(broken_json.find('\n', broken_json.find('\n') + 1) + 1, "{\"text\": \"unterminated\n");  // line 3
  std::string latin1_json = jsonl(recs);
  latin1_json.insert(latin1_json.find("great fun"), "na\xefve ");  // line 1
  std::string tsv = "text\tlabel\n";
  for (const auto& [t, l] : recs) tsv += t + "\t" + l + "\n";
  tsv.insert(tsv.find('\n', tsv.find('\n', tsv.find('\n') + 1) + 1) + 1, "only one column\n");  // line 4
  const std::vector<Case> cases = {
      {"csv, not UTF-8", "bad.csv", latin1,
       {"bad.csv:4: malformed record: field 1 is not valid UTF-8 (its byte 4 is 0xe9)", "iconv", "on_bad_record: skip"}},
      {"jsonl, broken JSON", "bad.jsonl", broken_json, {"bad.jsonl:3: malformed record: not valid JSON", "on_bad_record: skip"}},
      {"jsonl, not UTF-8", "bad2.jsonl", latin1_json, {"bad2.jsonl:1: malformed record: not valid JSON", "UTF-8"}},
      {"tsv, a short row", "bad.tsv", tsv, {"bad.tsv:4: malformed record: 1 column(s), expected 2", "on_bad_record: skip"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    TempFolder dir;
    write_text(dir.path() / "good.jsonl", jsonl(recs));
    write_text(dir.path() / c.file, c.content);
    write_text(dir.path() / "p.yaml", two_stage_pipeline(classification_data(c.file)));
    CommandResult r = runner("p.yaml --runs-dir runs", dir.path());
    expect_one_clear_error(r, c.expected);
    // The stage before the bad data is kept: fixing nothing but the option, the next run reuses it.
    write_text(dir.path() / "p.yaml", two_stage_pipeline(classification_data(c.file, ", on_bad_record: skip")));
    CommandResult skip = runner("p.yaml --runs-dir runs", dir.path());
    ASSERT_EQ(skip.exit_code, 0) << skip.output;
    EXPECT_NE(skip.output.find("[first] reused cached output"), std::string::npos) << skip.output;
    EXPECT_NE(skip.output.find("skipped 1 malformed record(s)"), std::string::npos) << skip.output;
    const std::string record = read_text(dir.path() / "runs" / "bad" / "latest" / "record.yaml");
    EXPECT_NE(record.find("skipped_records: 1"), std::string::npos) << record;
  }
}

TEST(BadInput, TokenFilesCorporaAndSquadNameFileAndLine) {
  TempFolder dir;
  write_text(dir.path() / "ner.tsv", "Aspirin\tB-Chemical\nhelps\tO\n\ncaf\xc3\tO\n");
  write_text(dir.path() / "ner2.tsv", "Aspirin\tB-Chemical\nhelps O\n");
  write_text(dir.path() / "corpus.txt", "A first line.\nA second line.\n\nna\xefve third line\n");
  write_text(dir.path() / "squad.json", "{\"version\": \"v2.0\", \"data\": [{\"title\": \"x\", \"paragraphs\": [}]}\n");
  auto pipeline = [&](const std::string& stage) {
    return fmt::format("name: tok\nseed: 1\nstages:\n  s:\n{}\n", stage);
  };
  auto train_on = [&](const std::string& data, const std::string& model) {
    return fmt::format(R"(    kind: train
    data: {}
    model: {}
    loss: {{type: cross_entropy}}
    steps: 1)",
                       data, model);
  };
  const std::string tok = fmt::format("{{type: wordpiece, vocab: {}}}", kVocab);
  const std::string enc = "{type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2, "
                          "intermediate_size: 32, max_positions: 64}";
  struct Case {
    const char* name;
    std::string stage;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"BioBERT NER, not UTF-8",
       train_on(fmt::format("{{type: token_classification, train: ner.tsv, tokenizer: {}}}", tok),
                fmt::format("{{type: tagger, encoder: {}}}", enc)),
       {"ner.tsv:4: the line is not valid UTF-8 (its byte 4 is 0xc3)", "iconv"}},
      {"BioBERT NER, no tab",
       train_on(fmt::format("{{type: token_classification, train: ner2.tsv, tokenizer: {}}}", tok),
                fmt::format("{{type: tagger, encoder: {}}}", enc)),
       {"ner2.tsv:2: found 'helps O' with no tab; expected word<TAB>label"}},
      {"corpus, not UTF-8",
       fmt::format("    kind: pretraining_data\n    tokenizer: {}\n    files: [corpus.txt]\n    max_length: 16", tok),
       {"corpus.txt:4: the line is not valid UTF-8 (its byte 3 is 0xef)"}},
      {"SQuAD, broken JSON",
       train_on(fmt::format("{{type: squad, train: squad.json, tokenizer: {}}}", tok),
                fmt::format("{{type: extractive_qa, encoder: {}}}", enc)),
       {"squad.json", "JSON"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_text(dir.path() / "p.yaml", pipeline(c.stage));
    expect_one_clear_error(runner("p.yaml --runs-dir runs", dir.path()), c.expected);
  }
}

TEST(BadInput, TokenFilesAndSquadEntriesCanBeSkippedAndCounted) {
  TempFolder dir;
  // One good sentence, one with a line that has no tab.
  write_text(dir.path() / "ner.tsv", "Aspirin\tB-Chemical\nhelps\tO\n\nThe\tO\ncells O\n");
  // Two good questions and one whose answer lies outside its context.
  write_text(dir.path() / "squad.json", R"({"version": "v2.0", "data": [{"title": "t", "paragraphs": [
      {"context": "Aspirin helps.", "qas": [
        {"id": "a", "question": "What helps?", "answers": [{"text": "Aspirin", "answer_start": 0}]},
        {"id": "b", "question": "What hurts?", "answers": [{"text": "helps", "answer_start": 80}]},
        {"id": "c", "question": "Who?", "answers": [], "is_impossible": true}]}]}]})");
  const std::string tok = fmt::format("{{type: wordpiece, vocab: {}}}", kVocab);
  const std::string enc = "{type: transformer, vocab_size: 30522, hidden_size: 16, num_layers: 1, num_heads: 2, "
                          "intermediate_size: 32, max_positions: 64}";
  auto pipeline = [&](const std::string& data, const std::string& model) {
    const char* loss = model.find("extractive_qa") != std::string::npos ? "span" : "cross_entropy";
    return fmt::format("name: skip\nseed: 1\nthreads: {{intra_op: 1, blas: 1}}\nstages:\n  s:\n    kind: train\n"
                       "    data: {}\n    model: {}\n    loss: {{type: {}}}\n    steps: 1\n",
                       data, model, loss);
  };
  struct Case {
    const char* name;
    std::string data, model;
    std::vector<std::string> expected;
    std::string skipped_line;
  };
  const std::vector<Case> cases = {
      {"BioBERT NER", fmt::format("{{type: token_classification, train: ner.tsv, tokenizer: {}@EXTRA@}}", tok),
       fmt::format("{{type: tagger, encoder: {}}}", enc),
       {"ner.tsv:5: found 'cells O' with no tab", "or set on_bad_record: skip to leave its sentence out"},
       "skipped 1 sentence(s) with a malformed line"},
      {"SQuAD", fmt::format("{{type: squad, train: squad.json, max_seq_length: 32, doc_stride: 8, tokenizer: {}@EXTRA@}}", tok),
       fmt::format("{{type: extractive_qa, encoder: {}}}", enc),
       {"squad.json: data[0].paragraphs[0].qas[1].answers[0] (question 'b'): answer_start 80",
        "or set on_bad_record: skip to leave the entry out"},
       "skipped 1 malformed entry"},
  };
  auto with = [](std::string data, const std::string& extra) { return data.replace(data.find("@EXTRA@"), 7, extra); };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_text(dir.path() / "p.yaml", pipeline(with(c.data, ""), c.model));
    expect_one_clear_error(runner("p.yaml --runs-dir runs", dir.path()), c.expected);
    write_text(dir.path() / "p.yaml", pipeline(with(c.data, ", on_bad_record: skip"), c.model));
    CommandResult r = runner("p.yaml --runs-dir runs", dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(c.skipped_line), std::string::npos) << r.output;
    const std::string record = read_text(dir.path() / "runs" / "skip" / "latest" / "record.yaml");
    EXPECT_NE(record.find("skipped_records: 1"), std::string::npos) << record;
  }
}

TEST(BadInput, EmptyDataAndLabelsTrainingNeverSaw) {
  TempFolder dir;
  auto recs = good_records();
  write_text(dir.path() / "good.jsonl", jsonl(recs));
  write_text(dir.path() / "empty.jsonl", "\n\n");
  recs[5].second = "maybe";
  write_text(dir.path() / "unseen.jsonl", jsonl(recs));

  write_text(dir.path() / "p.yaml", two_stage_pipeline(classification_data("empty.jsonl")));
  expect_one_clear_error(runner("p.yaml --runs-dir runs", dir.path()), {"empty.jsonl", "holds no record"});

  write_text(dir.path() / "p.yaml", two_stage_pipeline(classification_data("unseen.jsonl")));
  CommandResult r = runner("p.yaml --runs-dir runs", dir.path());
  expect_one_clear_error(r, {"unseen.jsonl:6", "'maybe'"});
  // The trained stage survived both failures.
  EXPECT_NE(r.output.find("[first] reused cached output"), std::string::npos) << r.output;
}

TEST(BadInput, MalformedPipelinesAndPluginsThatThrowOrCrashDuringRegistration) {
  TempFolder dir;
  write_text(dir.path() / "good.jsonl", jsonl(good_records()));
  struct Case {
    const char* name;
    std::string yaml;
    std::vector<std::string> expected;
  };
  const std::string good = two_stage_pipeline(classification_data("good.jsonl"));
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::vector<Case> cases = {
      {"YAML syntax", with("    batch_size: 4", "    batch_size: [4"), {"p.yaml:"}},
      {"wrong type", with("    batch_size: 4", "    batch_size: four"), {"p.yaml:13:17", "batch_size", "expected an int, got 'four'"}},
      {"unknown kind", with("kind: evaluate", "kind: evaluat"), {"p.yaml:", "evaluat"}},
      {"unknown plugin option", with("    steps: 2", "    stepz: 2"), {"p.yaml:", "stepz"}},
      {"missing file", with("test: good.jsonl", "test: nowhere.jsonl"), {"nowhere.jsonl"}},
      {"throwing plugin",
       good + fmt::format("plugins: [{}]\n", kFixtureThrows.string()),
       {"fixture_throws.so", "registration threw", "fixture registration failure"}},
      // Crashes (signals) are caught while a plugin is opened and registers: one line, exit 1, no run folder.
      {"plugin that segfaults in a static initializer",
       good + fmt::format("plugins: [{}]\n", kFixtureSegfaults.string()),
       {"fixture_segfaults.so' crashed while it was being opened (its static initializers): SIGSEGV",
        "nothing of it was registered", "remove it from the pipeline's 'plugins:' list"}},
      {"plugin that aborts in its registration",
       good + fmt::format("plugins: [{}]\n", kFixtureAborts.string()),
       {"fixture_aborts.so' crashed while it was registering its components: SIGABRT", "runner test-plugin"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_text(dir.path() / "p.yaml", c.yaml);
    CommandResult r = runner("p.yaml --runs-dir runs", dir.path());
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_EQ(count_occurrences(r.output, "runner: error:"), 1u) << r.output;
    for (const auto& e : c.expected) EXPECT_NE(r.output.find(e), std::string::npos) << "missing '" << e << "' in: " << r.output;
    // Refused before anything ran: no run folder was started.
    EXPECT_FALSE(fs::exists(dir.path() / "runs" / "bad")) << r.output;
  }
  // The same line from `runner test-plugin`, the place to look at a plugin on its own.
  CommandResult r = runner("test-plugin " + kFixtureAborts.string(), dir.path());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(count_occurrences(r.output, "runner: error:"), 1u) << r.output;
  EXPECT_NE(r.output.find("crashed while it was registering its components: SIGABRT"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("remove it from the command line"), std::string::npos) << r.output;
}
