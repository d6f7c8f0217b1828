// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the readers of the `glue` and `sentence_pairs` datasets (pair_files.cpp): GLUE TSV files of
// every task layout (MRPC, QQP, QNLI, RTE, STS-B, NLI), train or test split, and sentence-pair JSON lines
// (classification or regression), each in both on_bad_record modes as the first input byte picks. Any input must
// give examples or a stagehand::Error; every example's line inside the file and its id non-empty; skipping agrees
// with the strict reader wherever that one succeeds, and fails only where the strict one fails too.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_input.h"
#include "pair_files.h"
#include "stagehand/error.h"

namespace pf = stagehand::pair_files;

namespace {

const char* const kTasks[] = {"mrpc", "qqp", "qnli", "rte", "sts-b", "mnli", "snli", "allnli"};

struct Outcome {
  bool ok = false;
  std::vector<pf::Example> examples;
  int64_t skipped = 0, no_gold = 0;
};

Outcome read(uint8_t knobs, const std::string& file, bool skip) {
  Outcome o;
  pf::BadRecords bad{"fuzz", skip};
  const std::string split = (knobs >> 4) & 1 ? "test" : "train";
  try {
    if (knobs & 8) {
      pf::ReadSplit r;
      r.name = split;
      pf::read_jsonl(file, split, (knobs >> 5) & 1, bad, r);
      o.examples = std::move(r.examples);
    } else {
      const std::string task = kTasks[knobs & 7];
      pf::read_glue(task, pf::glue_task(task), file, 0, split, (knobs >> 5) & 1 ? "snli" : "", bad, o.no_gold,
                    o.examples);
    }
    o.ok = true;
  } catch (const stagehand::Error&) {
  }
  o.skipped = bad.count;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Knob byte: bits 0-2 the GLUE task, 3 JSON lines instead, 4 the test split, 5 regression (JSONL) or a source tag
  // in ids (GLUE).
  uint8_t knobs = 0;
  if (!fuzz_input::take_knobs(data, size, knobs)) return 0;
  const std::string file = fuzz_input::write_file("pairs", ".tsv", data, size);
  const int64_t lines = fuzz_input::lines_in(data, size);
  const Outcome lenient = read(knobs, file, true), strict = read(knobs, file, false);
  if (!lenient.ok && strict.ok) __builtin_trap();
  if (strict.ok && (lenient.skipped != 0 || lenient.examples.size() != strict.examples.size())) __builtin_trap();
  if (!strict.ok && lenient.ok && lenient.skipped == 0) __builtin_trap();
  for (const auto& e : lenient.examples)
    if (e.line < 1 || e.line > lines || e.id.empty()) __builtin_trap();
  return 0;
}
