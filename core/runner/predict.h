// SPDX-License-Identifier: Apache-2.0
// `runner predict`: a trained stage's model on raw text from standard input or a file, one JSON line per input
// (predict.cpp).
#pragma once

#include <string>
#include <vector>

namespace stagehand {

struct PredictOptions {
  std::string run;        ///< a run folder or its record.yaml, or a fine-tuned Hugging Face folder
  std::string stage;      ///< the stage whose model predicts (a train stage); not for a Hugging Face folder
  std::string file;       ///< input lines; empty: standard input
  bool pair = false;      ///< each line TEXT_A<TAB>TEXT_B
  int batch_size = 32;
  int max_answer_length = 30;  ///< extractive QA: the end token at most this many tokens after the start
  std::vector<std::string> plugins;
};

/// Prints, per input line: {"text", "label", "probabilities": {label: p}} for a classifier, {"text", "tokens",
/// "tags"} for a tagger, {"text", "embedding"} for a model with embeddings; for a stage trained on SQuAD data (lines
/// QUESTION<TAB>CONTEXT, --pair) {"question", "context", "answer", "no_answer", "score"}.
int cmd_predict(const PredictOptions& options);

}  // namespace stagehand
