// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the readers of the SPECTER datasets and its triplet sampler, without LibTorch: paper metadata
// (metadata.cpp: a streaming JSON parser over {paper_id: {title, abstract}}) when the first input byte is even,
// else SPECTER's citation data (triplet_sampling.cpp: data.json, {query: {candidate: {"count": c}}}) against a fixed
// metadata of ten papers, followed by sampling every query's triplets with options the byte picks. Any input must
// give a result or a stagehand::Error; read papers and triplets must point at papers that exist, and the triplet
// rules hold (the positive is ranked above the negative by more than the margin, hard negatives are candidates).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>

#include "fuzz_input.h"
#include "metadata.h"
#include "stagehand/error.h"
#include "triplet_sampling.h"

namespace sp = stagehand::specter;

namespace {

const sp::Metadata& ten_papers() {
  static const sp::Metadata m = [] {
    std::string text = "{";
    for (int i = 0; i < 10; ++i)
      text += std::string(i ? ", " : "") + "\"p" + std::to_string(i) + "\": {\"title\": " +
              (i == 9 ? "null" : "\"Paper " + std::to_string(i) + "\"") + ", \"abstract\": null}";
    text += "}";
    return sp::read_metadata(
        fuzz_input::write_file("specter-meta", ".json", reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }();
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t knobs = 0;
  if (!fuzz_input::take_knobs(data, size, knobs)) return 0;
  const std::string file = fuzz_input::write_file("specter", ".json", data, size);
  if ((knobs & 1) == 0) {
    sp::Metadata m;
    try {
      m = sp::read_metadata(file);
    } catch (const stagehand::Error&) {
      return 0;
    }
    if (m.size() <= 0 || m.titles.size() != m.ids.size() || m.abstracts.size() != m.ids.size()) __builtin_trap();
    for (int64_t i = 0; i < m.size(); ++i) {
      if (m.find(m.ids[static_cast<size_t>(i)]) != i) __builtin_trap();
      (void)m.has_text(i);
    }
    return 0;
  }
  const sp::Metadata& meta = ten_papers();
  sp::CitationData cites;
  try {
    cites = sp::read_citation_data(file, meta);
  } catch (const stagehand::Error&) {
    return 0;
  }
  sp::SamplingOptions o;
  o.samples_per_query = 1 + ((knobs >> 1) & 7);
  o.ratio_hard_negatives = ((knobs >> 4) & 3) / 3.0;
  o.margin_fraction = (knobs >> 6) / 3.0;
  sp::TripletSampler sampler(o, meta);
  std::mt19937_64 rng(knobs);
  for (const auto& [query, candidates] : cites.queries) {
    if (query < 0 || query >= meta.size()) __builtin_trap();
    for (const auto& c : candidates)
      if (c.paper < 0 || c.paper >= meta.size()) __builtin_trap();
    std::vector<sp::Triplet> out;
    try {
      sampler.sample(query, candidates, rng, out);
    } catch (const stagehand::Error&) {
      continue;  // e.g. no paper left to be an easy negative
    }
    if (static_cast<int64_t>(out.size()) > o.samples_per_query) __builtin_trap();
    for (const auto& t : out) {
      if (t.query != query || t.pos < 0 || t.pos >= meta.size() || t.neg < 0 || t.neg >= meta.size()) __builtin_trap();
      if (t.pos == t.neg || t.pos == query || t.neg == query) __builtin_trap();
    }
  }
  return 0;
}
