// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the SQuAD 2.0 reader (read_squad: JSON structure, answer offsets in characters, whitespace
// word split) and the official scoring's normalisation (normalize_answer, compute_exact, compute_f1) on what it
// reads. Any input must give examples or a stagehand::Error; F1 and exact match must stay in [0, 1]; skipping
// malformed entries must agree with the strict reader wherever that one succeeds.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_input.h"
#include "stagehand/sdk/squad.h"
#include "stagehand/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string file = fuzz_input::write_file("squad", ".json", data, size);
  // With on_bad_record: skip the reader must agree with the strict one wherever that one succeeds (nothing
  // skipped, the same questions), and may only fail where the file as a whole is unusable.
  std::vector<stagehand::squad::Example> examples;
  stagehand::squad::ReadReport report;
  bool lenient_ok = true;
  try {
    examples = stagehand::squad::read_squad(file, /*skip_bad=*/true, &report);
  } catch (const stagehand::Error&) {
    lenient_ok = false;
  }
  try {
    auto strict = stagehand::squad::read_squad(file);
    if (!lenient_ok || report.skipped != 0 || strict.size() != examples.size()) __builtin_trap();
  } catch (const stagehand::Error&) {
    if (lenient_ok && report.skipped == 0) __builtin_trap();  // strict failed on something skipping did not see
  }
  if (!lenient_ok) return 0;
  for (const auto& e : examples) {
    if (e.start_word > e.end_word || e.end_word >= static_cast<int32_t>(e.doc_words.size())) {
      if (!(e.start_word == -1 && e.end_word == -1) && e.answer_found) __builtin_trap();
    }
    for (const auto& a : e.answers) {
      const double em = stagehand::squad::compute_exact(a.text, e.question);
      const double f1 = stagehand::squad::compute_f1(a.text, e.context);
      if (!(em >= 0 && em <= 1 && f1 >= 0 && f1 <= 1)) __builtin_trap();
      (void)stagehand::squad::normalize_answer(a.text);
    }
  }
  return 0;
}
