// SPDX-License-Identifier: Apache-2.0
#pragma once
/// SQuAD 2.0: the JSON reader, Hugging Face's feature windows (squad_convert_examples_to_features), span decoding
/// and the official SQuAD 2.0 scoring. Used by the `squad` dataset (reading, features) and the `probe` stage
/// (decoding, scoring). Tensor-free: fuzz/fuzz_squad.cpp compiles sdk/src/squad/squad.cpp without LibTorch.
///
/// The `squad` dataset shares its examples and features with stages through SquadSource, which it implements:
/// a stage dynamic_casts its Dataset to `const squad::SquadSource*`.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <stagehand/tokenizer.h>

#include "stagehand/sdk/export.h"

namespace stagehand::squad {

struct Answer {
  std::string text;
  int64_t start_char = 0;  ///< as in the file: characters (code points) into the context
};

struct Example {
  std::string qid, title, question, context;
  std::vector<std::string> doc_words;  ///< the context split on whitespace, as Hugging Face's SquadExample
  std::vector<Answer> answers;         ///< gold answers (empty when unanswerable)
  bool is_impossible = false;
  int32_t start_word = -1, end_word = -1;  ///< the first answer's words; -1 when unanswerable
  bool answer_found = true;  ///< false when the first answer's text is not at its offset (skipped in training)
};

struct FeatureOptions {
  int64_t max_seq_length = 384;
  int64_t doc_stride = 128;
  int64_t max_query_length = 64;
};

/// One window of a question's context, framed as the tokenizer's encode_pair frames a pair (frame_ids):
/// `[CLS] query [SEP] window [SEP]` with type ids 1 from the window on (SpecialLayout::Bert), or
/// `<s> query </s></s> window </s>` with type ids all 0 (SpecialLayout::Roberta).
struct Feature {
  int64_t example_index = 0;
  int64_t window = 0;
  std::vector<int32_t> ids, type_ids;
  int32_t context_begin = 0;  ///< first context token
  int32_t context_end = 0;    ///< the final [SEP] / </s> (exclusive end of the context)
  std::vector<int32_t> token_to_word;  ///< doc word of each token; -1 outside the context
  int32_t start_position = 0, end_position = 0;  ///< the answer's tokens; 0 ([CLS]) when none in this window
};

/// What the `squad` dataset shares (SquadSource): per split its examples and features.
struct Splits {
  std::map<std::string, std::vector<Example>> examples;
  std::map<std::string, std::vector<Feature>> features;
};

/// A dataset that serves SQuAD features and shares the questions behind them (gold answers, context words), which
/// scoring its batches' predictions needs. The `squad` dataset implements it beside stagehand::Dataset; a stage
/// asks for it with dynamic_cast<const squad::SquadSource*>(dataset) (nullptr: not SQuAD data). Its type info lives
/// in the SDK library (the destructor is its key function), so the cast works across plugins.
class STAGEHAND_SDK_API SquadSource {
 public:
  virtual ~SquadSource();
  /// Per split its examples and features; valid as long as the dataset.
  virtual const Splits& squad_splits() const = 0;
};

/// Entries read_squad left out with `skip_bad`: how many, and the problem of the first.
struct ReadReport {
  int64_t skipped = 0;
  std::string first;
};

/// Reads a SQuAD 2.0 (or 1.1) JSON file; errors name the file, the JSON path and the question id. A file that is
/// not JSON, or has no "data" array, is always an error. A malformed entry (a question with a missing or mistyped
/// field, an answer outside its context, an answerable question without answers, a repeated id; a paragraph
/// without "context" or "qas"; an article without "paragraphs") is an error too, or, with `skip_bad`, left out
/// with everything under it and counted in `report`.
STAGEHAND_SDK_API std::vector<Example> read_squad(const std::filesystem::path& file, bool skip_bad = false,
                                                  ReadReport* report = nullptr);

/// A question about a context given as text (not read from a file): its words split as read_squad splits them,
/// no gold answer. What `runner predict` answers.
STAGEHAND_SDK_API Example make_example(std::string qid, std::string question, std::string context);

/// Features of every example (the tokenizer's layout must be bert or roberta: unanswerable windows point at the
/// first token); with `training`, examples whose answer was not found give none (counted in
/// `skipped` when given).
STAGEHAND_SDK_API std::vector<Feature> featurize(const std::vector<Example>& examples, const Tokenizer& tokenizer,
                                                 const FeatureOptions& options, bool training,
                                                 int64_t* skipped = nullptr);

struct Prediction {
  bool null = true;
  double score = 0;  ///< the best span's score, or the null score
  int32_t start_token = 0, end_token = 0;
  int32_t start_word = -1, end_word = -1;
};

/// The prediction of one feature from its start and end scores (feature.ids.size() values each, or more): the best
/// span inside the context of at most `max_answer_length` tokens (end - start + 1 <= max_answer_length, as Hugging
/// Face's postprocess_qa_predictions and BERT's run_squad), against the null score at position 0.
STAGEHAND_SDK_API Prediction decode(const float* start_scores, const float* end_scores, const Feature& feature,
                                    int max_answer_length = 17, double null_threshold = 0.0);

/// The answer text: "" for null, else the context's words from the first to the last word of the span.
STAGEHAND_SDK_API std::string answer_text(const Example& example, const Prediction& prediction);

/// The official script's normalisation: lower case, no punctuation, no articles, single spaces.
STAGEHAND_SDK_API std::string normalize_answer(const std::string& s);
STAGEHAND_SDK_API double compute_exact(const std::string& gold, const std::string& predicted);
STAGEHAND_SDK_API double compute_f1(const std::string& gold, const std::string& predicted);

/// The official SQuAD 2.0 scores of `predictions` (qid -> text): exact, f1 (percent), total, and HasAns_* /
/// NoAns_* (exact, f1, total) for the parts that have questions. A question without a prediction is an error.
STAGEHAND_SDK_API std::map<std::string, double> evaluate(const std::vector<Example>& examples,
                                                         const std::map<std::string, std::string>& predictions);

}  // namespace stagehand::squad
