// SPDX-License-Identifier: Apache-2.0
// SPECTER's citation data and triplet sampling (allenai/specter, specter/data_utils/triplet_sampling.py, used by
// create_training_files.py), re-implemented from its rules:
//
// data.json = {query_id: {candidate_id: {"count": c}, ...}, ...}: c = 5 for a direct citation, 1 for a citation of
// a citation (any number works). Per query, the candidates are sorted by count, highest first (a stable sort: ties
// keep their data.json order), and
//   spread = max - min (0 with one candidate), margin = margin_fraction * spread, raised to ceil(margin) when max
//   and min are integers and spread == 1 ("otherwise any margin_fraction will pass");
//   hard triplets (only with >= 2 candidates and margin != 0): the hard negatives are the candidates with
//     count < max - margin; n = ceil(ratio_hard_negatives * samples_per_query), lowered to pos_len * neg_len
//     (neg_len hard negatives, pos_len = the other candidates); each draws a negative uniformly from the hard
//     negatives, then a positive uniformly from the candidates with count > neg.count + margin;
//   easy triplets (only with >= 2 candidates): samples_per_query - (hard triplets made) of them, each drawing a
//     positive uniformly from the candidates with count > min + margin (none: no easy triplet), then a negative
//     uniformly from the papers of the metadata that are neither the query nor one of its candidates (the
//     original's pool: create_training_files.py passes metadata.keys()).
// With the defaults (5 per query, ratio 0.3, margin fraction 0.5) a query with 5- and 1-count candidates gets
// 2 hard triplets (1 if it has only one of each) and 3 (4) easy ones; a query whose candidates all have one count,
// or with a single candidate, gets none.
//
// Deliberate differences, documented:
//  - draws come from std::mt19937_64 (unbiased bounded draws by rejection), not numpy's global RandomState, so
//    the triplets differ from the original's for the same seed; the rules and their proportions are the same;
//  - easy negatives are drawn among papers that have a title or an abstract (the original draws among all ids and
//    later drops triplets whose paper has no title; here such a paper cannot be drawn, so no triplet is lost);
//  - when no paper is left to be an easy negative the original crashes (randint(0)); here it is an Error naming
//    the query.
// triplet_sampling_parallel.py (the variant create_training_files.py calls) differs from triplet_sampling.py in
// needing > 2 candidates for any triplet; this follows triplet_sampling.py, as SPECTER's README describes it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "metadata.h"

namespace stagehand::specter {

struct Candidate {
  int64_t paper = 0;  ///< metadata row
  double count = 0;
};

/// data.json: the candidates of each query (by metadata row), in file order.
struct CitationData {
  fs::path file;
  std::unordered_map<int64_t, std::vector<Candidate>> queries;
  int64_t self_citations = 0;  ///< candidates equal to their query, left out
};

/// Reads data.json; every query and candidate id must be a paper of `metadata` (else an Error naming the file and
/// the id). A key given twice keeps its first position and its last value, as Python's json.load does. A query
/// listed among its own candidates is left out of them and counted in `self_citations` (deliberate: SPECTER's code
/// does not check, and such a triplet has its query as positive).
CitationData read_citation_data(const fs::path& file, const Metadata& metadata);

struct Triplet {
  int64_t query = 0, pos = 0, neg = 0;  ///< metadata rows
  bool hard = false;
};

struct SamplingOptions {
  int64_t samples_per_query = 5;
  double ratio_hard_negatives = 0.3;
  double margin_fraction = 0.5;
};

/// A uniform draw from [0, n) (n > 0), without modulo bias.
uint64_t draw_below(std::mt19937_64& rng, uint64_t n);

class TripletSampler {
 public:
  /// `metadata` gives the easy-negative pool: its papers that have a title or an abstract.
  TripletSampler(const SamplingOptions& options, const Metadata& metadata);
  /// Appends the triplets of one query (see the top of this file) to `out`; returns how many were made.
  size_t sample(int64_t query, std::vector<Candidate> candidates, std::mt19937_64& rng,
                std::vector<Triplet>& out) const;

 private:
  SamplingOptions o_;
  const Metadata& metadata_;
  std::vector<int64_t> pool_;
  std::vector<uint8_t> in_pool_;
};

}  // namespace stagehand::specter
