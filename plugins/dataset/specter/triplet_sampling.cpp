// SPDX-License-Identifier: Apache-2.0
// data.json reader and SPECTER's triplet sampling (see triplet_sampling.h for the rules).
#include "triplet_sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include <stagehand/error.h>
#include <stagehand/files.h>

#include <stagehand/sdk/records.h>

namespace stagehand::specter {

namespace {
using json = nlohmann::json;

// SAX handler for {query: {candidate: {"count": c, ...}, ...}, ...}: depth 1 is the top-level object, 2 a query's
// candidates, 3 a candidate's object; anything deeper is skipped.
class CitationReader {
 public:
  CitationReader(CitationData& d, const Metadata& m, const std::string& data) : d_(d), m_(m), data_(data) {}

  bool null() { return scalar("null"); }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(json::number_integer_t v) { return number(static_cast<double>(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return number(static_cast<double>(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return number(v); }
  bool binary(json::binary_t&) { return scalar("binary data"); }
  bool string(std::string&) { return scalar("a string"); }
  bool start_object(size_t) {
    if (depth_ == 1) begin_query();
    if (depth_ == 2) begin_candidate();
    if (depth_ == 3 && field_ == "count") wrong_count("an object");
    ++depth_;
    return true;
  }
  bool start_array(size_t) {
    if (depth_ <= 2) scalar("a list");
    if (depth_ == 3 && field_ == "count") wrong_count("a list");
    ++depth_;
    return true;
  }
  bool end_object() {
    if (depth_ == 3) end_candidate();
    if (depth_ == 2) end_query();
    --depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool key(std::string& k) {
    if (depth_ == 1)
      query_id_ = std::move(k);
    else if (depth_ == 2)
      candidate_id_ = std::move(k);
    else if (depth_ == 3)
      field_ = std::move(k);
    return true;
  }
  bool parse_error(size_t pos, const std::string&, const nlohmann::detail::exception& e) {
    throw Error(
        fmt::format("{}: not valid JSON: {}; SPECTER's data.json is one JSON object "
                    "{{query_id: {{candidate_id: {{\"count\": 5}}, ...}}, ...}}",
                    position(d_.file, data_, pos > 0 ? pos - 1 : 0),
                    sdk::json_error_reason(e.what(), sdk::JsonPosition::kDrop)));
  }

 private:
  bool number(double v) {
    if (depth_ == 3 && field_ == "count") {
      if (!std::isfinite(v))
        throw Error(fmt::format("{}: candidate '{}' of query '{}': count {} is not a finite number", d_.file.string(),
                                candidate_id_, query_id_, v));
      count_ = v;
      has_count_ = true;
      return true;
    }
    return scalar("a number");
  }
  bool scalar(const char* what) {
    if (depth_ == 0)
      throw Error(
          fmt::format("{}: the file holds {}, expected one JSON object {{query_id: {{candidate_id: "
                      "{{\"count\": 5}}, ...}}, ...}} (SPECTER's data.json)",
                      d_.file.string(), what));
    if (depth_ == 1)
      throw Error(fmt::format("{}: query '{}' is {}, expected an object {{candidate_id: {{\"count\": 5}}, ...}}",
                              d_.file.string(), query_id_, what));
    if (depth_ == 2)
      throw Error(fmt::format("{}: candidate '{}' of query '{}' is {}, expected an object {{\"count\": 5}}",
                              d_.file.string(), candidate_id_, query_id_, what));
    if (depth_ == 3 && field_ == "count") wrong_count(what);
    return true;
  }
  [[noreturn]] void wrong_count(const char* what) {
    throw Error(
        fmt::format("{}: candidate '{}' of query '{}': 'count' is {}, expected a number (5: cited, 1: cited "
                    "by a cited paper)",
                    d_.file.string(), candidate_id_, query_id_, what));
  }
  int64_t row_of(const std::string& id, const std::string& what) const {
    const int64_t row = m_.find(id);
    if (row < 0)
      throw Error(
          fmt::format("{}: {} '{}' is not a paper of the metadata ({}, {} papers); every query and candidate "
                      "needs its title and abstract there",
                      d_.file.string(), what, id, m_.file.string(), m_.size()));
    return row;
  }
  void begin_query() {
    query_row_ = row_of(query_id_, "query");
    candidates_.clear();
    position_.clear();
  }
  void end_query() { d_.queries[query_row_] = std::move(candidates_); }
  void begin_candidate() {
    candidate_row_ = row_of(candidate_id_, fmt::format("candidate of query '{}'", query_id_));
    has_count_ = false;
    field_.clear();
  }
  void end_candidate() {
    if (!has_count_)
      throw Error(fmt::format("{}: candidate '{}' of query '{}' has no 'count' (5: cited, 1: cited by a cited paper)",
                              d_.file.string(), candidate_id_, query_id_));
    // A paper listed among its own candidates (found by fuzz_specter) would become its own positive or be excluded
    // from the easy-negative pool twice over; SPECTER's code does not check. It is left out and counted.
    if (candidate_row_ == query_row_) {
      ++d_.self_citations;
      return;
    }
    auto [it, added] = position_.emplace(candidate_row_, candidates_.size());
    if (added)
      candidates_.push_back({candidate_row_, count_});
    else
      candidates_[it->second].count = count_;
  }

  CitationData& d_;
  const Metadata& m_;
  const std::string& data_;
  int depth_ = 0;
  std::string query_id_, candidate_id_, field_;
  int64_t query_row_ = 0, candidate_row_ = 0;
  double count_ = 0;
  bool has_count_ = false;
  std::vector<Candidate> candidates_;
  std::unordered_map<int64_t, size_t> position_;
};

// Python's is_int: round(n) == n.
bool is_int(double v) { return std::round(v) == v; }

}  // namespace

CitationData read_citation_data(const fs::path& file, const Metadata& metadata) {
  CitationData d;
  d.file = file;
  std::string data = read_file(file);
  sdk::strip_bom(data);
  CitationReader reader(d, metadata, data);
  json::sax_parse(data, &reader);
  return d;
}

uint64_t draw_below(std::mt19937_64& rng, uint64_t n) {
  // 2^64 mod n values at the bottom are rejected, so that every residue is equally likely.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

TripletSampler::TripletSampler(const SamplingOptions& options, const Metadata& metadata)
    : o_(options), metadata_(metadata), in_pool_(static_cast<size_t>(metadata.size()), 0) {
  for (int64_t r = 0; r < metadata.size(); ++r)
    if (metadata.has_text(r)) {
      pool_.push_back(r);
      in_pool_[static_cast<size_t>(r)] = 1;
    }
}

size_t TripletSampler::sample(int64_t query, std::vector<Candidate> c, std::mt19937_64& rng,
                              std::vector<Triplet>& out) const {
  if (c.empty()) return 0;
  std::stable_sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.count > b.count; });
  const size_t n = c.size();
  const double max = c.front().count, min = c.back().count;
  const double spread = n > 1 ? max - min : 0.0;
  double margin = o_.margin_fraction * spread;
  if (is_int(max) && is_int(min) && spread == 1) margin = std::ceil(margin);
  const size_t before = out.size();

  // Hard triplets: a lower-count candidate as the negative.
  if (n >= 2 && margin != 0) {
    size_t first_neg = n;
    for (size_t j = 0; j < n; ++j)
      if (c[j].count < max - margin) {
        first_neg = j;
        break;
      }
    const size_t neg_len = n - first_neg, pos_len = first_neg;
    if (neg_len > 0) {
      auto wanted = static_cast<size_t>(std::ceil(o_.ratio_hard_negatives * static_cast<double>(o_.samples_per_query)));
      wanted = std::min(wanted, pos_len * neg_len);
      for (size_t i = 0; i < wanted; ++i) {
        const Candidate& neg = c[first_neg + draw_below(rng, neg_len)];
        // The positives: every candidate down to the last with count > neg.count + margin (c[0] always is one).
        size_t last = 0;
        for (size_t j = n; j-- > 0;)
          if (c[j].count > neg.count + margin) {
            last = j;
            break;
          }
        const Candidate& pos = c[draw_below(rng, last + 1)];
        out.push_back({query, pos.paper, neg.paper, true});
      }
    }
  }

  // Easy triplets: a paper outside the query's candidates as the negative.
  const auto hard = static_cast<int64_t>(out.size() - before);
  const int64_t easy = o_.samples_per_query - hard;
  if (n >= 2 && easy > 0) {
    size_t pos_len = 0;
    for (size_t j = n; j-- > 0;)
      if (c[j].count > margin + min) {
        pos_len = j + 1;
        break;
      }
    if (pos_len > 0) {
      std::vector<int64_t> taken;  // the query and its candidates: never an easy negative
      taken.reserve(n + 1);
      taken.push_back(query);
      for (const auto& x : c) taken.push_back(x.paper);
      std::sort(taken.begin(), taken.end());
      taken.erase(std::unique(taken.begin(), taken.end()), taken.end());
      size_t blocked = 0;
      for (int64_t t : taken) blocked += in_pool_[static_cast<size_t>(t)];
      SH_CHECK(pool_.size() > blocked,
               "query '{}': no paper is left to draw an easy negative from: every paper of the metadata with a title "
               "or an abstract ({}) is the query or one of its {} candidates; add papers to the metadata",
               metadata_.ids[static_cast<size_t>(query)], pool_.size(), n);
      for (int64_t i = 0; i < easy; ++i) {
        const Candidate& pos = c[draw_below(rng, pos_len)];
        int64_t neg = 0;
        do {
          neg = pool_[draw_below(rng, pool_.size())];
        } while (std::binary_search(taken.begin(), taken.end(), neg));
        out.push_back({query, pos.paper, neg, false});
      }
    }
  }
  return out.size() - before;
}

}  // namespace stagehand::specter
