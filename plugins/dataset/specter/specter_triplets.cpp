// SPDX-License-Identifier: Apache-2.0
// Dataset `specter_triplets`: SPECTER's training triplets (query paper, a positive it cites, a negative), each paper
// as `[CLS] title [SEP] abstract [SEP]` (paper_text.h).
//   reads   either data_dir (SPECTER's data.json, metadata.json, train.txt, val.txt, test.txt; triplets sampled once,
//           at construction, by SPECTER's rules: triplet_sampling.h) or train_triplets / validation_triplets /
//           test_triplets (pre-built JSON lines per split)
//   returns query.input_ids / query.attention_mask / query.token_type_ids and the same under pos. and neg.:
//           (B, T) int64, each group padded to its own longest paper with the tokenizer's pad id, token types 0;
//           batch ids "query|pos|neg" (paper ids).
// Splits: train (train.txt, required), validation (val.txt), test (test.txt); a missing file is a missing split.
// The triplet list of a split is fixed once built; the train stage shuffles it.
// A query that yields no triplet (not in data.json, no candidate, a single candidate or candidates that all share
// one count) is skipped, as the original skips it; how many is printed and given as hint 'skipped_queries'.
// Each distinct paper is tokenized once; triplets refer to it by row.
//
// Pre-built triplets: one JSON object a line, {"query": Q, "pos": P, "neg": N}; each of Q, P, N is a paper id of
// `metadata` or an object {"paper_id"?: str, "title": str|null, "abstract": str|null}. Inline papers with the same
// paper_id, title and abstract are one paper; one without paper_id has the batch id "<split>:<line>:<role>" of its
// first appearance.
#include <algorithm>
#include <array>
#include <deque>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include <stagehand/dataset.h>
#include <stagehand/error.h>
#include <stagehand/files.h>
#include <stagehand/seed.h>

#include <stagehand/sdk/records.h>

#include "paper_text.h"
#include "triplet_sampling.h"

namespace stagehand::specter {
namespace {
using json = nlohmann::json;

constexpr const char* kOwner = "specter_triplets";
constexpr const char* kRoles[] = {"query", "pos", "neg"};

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

struct Split {
  std::string name;
  std::vector<std::array<int64_t, 3>> triplets;  // rows of the token store: query, pos, neg
  int64_t skipped_queries = 0;
  int64_t queries = 0;
};

// The papers that triplets use, each once, in order of first use; encoded together at the end.
class PaperTable {
 public:
  // Row of metadata paper `m` (added on first use).
  int64_t metadata_paper(const Metadata& meta, int64_t m) {
    if (metadata_rows_.empty()) metadata_rows_.assign(static_cast<size_t>(meta.size()), -1);
    int64_t& row = metadata_rows_[static_cast<size_t>(m)];
    if (row < 0) {
      row = static_cast<int64_t>(papers_.size());
      const auto i = static_cast<size_t>(m);
      papers_.push_back({meta.ids[i], &meta.titles[i], &meta.abstracts[i],
                         fmt::format("paper '{}' of {}", meta.ids[i], meta.file.string())});
    }
    return row;
  }
  // Row of an inline paper (added unless the same id and text were seen).
  int64_t inline_paper(const std::string& id, std::string title, std::string abstract, const std::string& batch_id,
                       const std::string& origin) {
    std::string key = id;
    key += '\0';
    key += title;
    key += '\0';
    key += abstract;
    auto [it, added] = inline_rows_.emplace(std::move(key), static_cast<int64_t>(papers_.size()));
    if (added) {
      texts_.push_back(std::move(title));
      const std::string* t = &texts_.back();
      texts_.push_back(std::move(abstract));
      papers_.push_back({id.empty() ? batch_id : id, t, &texts_.back(), origin});
    }
    return it->second;
  }
  const std::vector<PaperText>& papers() const { return papers_; }

 private:
  std::vector<PaperText> papers_;
  std::vector<int64_t> metadata_rows_;
  std::unordered_map<std::string, int64_t> inline_rows_;
  std::deque<std::string> texts_;  // stable addresses for PaperText
};

class SpecterTriplets : public Dataset {
 public:
  SpecterTriplets(const Options& o, const BuildContext& ctx) {
    const bool from_dir = o.has("data_dir"), from_files = !split_files(o, "triplets").empty();
    SH_CHECK(from_dir != from_files,
             "{}; give data_dir (SPECTER's data.json, metadata.json, train.txt, ...) to sample triplets, or "
             "train_triplets: FILE.jsonl (and validation_triplets, test_triplets) for pre-built ones",
             from_dir ? "both data_dir and *_triplets are set" : "neither data_dir nor train_triplets is set");
    const int64_t max_length = o.get<int64_t>("max_length");
    const int threads = static_cast<int>(o.get<int64_t>("threads"));
    SamplingOptions so;
    so.samples_per_query = o.get<int64_t>("samples_per_query");
    so.ratio_hard_negatives = o.get<double>("ratio_hard_negatives");
    so.margin_fraction = o.get<double>("margin_fraction");
    const auto seed = static_cast<uint64_t>(o.get<int64_t>("seed"));
    PaperEncoder encoder(make_tokenizer(o, ctx), max_length);
    pad_id_ = encoder.pad_id();

    std::optional<Metadata> meta;
    PaperTable table;
    if (from_dir) {
      const fs::path dir = o.path("data_dir");
      const fs::path meta_file = o.has("metadata") ? o.path("metadata") : dir / "metadata.json";
      for (const fs::path& f : {dir / "data.json", meta_file, dir / "train.txt"})
        SH_CHECK(fs::is_regular_file(f),
                 "'{}' does not exist; data_dir needs SPECTER's data.json, metadata.json (or the option metadata) "
                 "and train.txt (val.txt and test.txt are optional)",
                 f.string());
      meta = read_metadata(meta_file);
      const CitationData cites = read_citation_data(dir / "data.json", *meta);
      if (cites.self_citations > 0)
        std::cerr << fmt::format("specter_triplets: {}: {} quer{} listed among their own candidates; those entries "
                                 "are left out\n",
                                 cites.file.string(), cites.self_citations, cites.self_citations == 1 ? "y is" : "ies are");
      const TripletSampler sampler(so, *meta);
      for (const auto& [split, name] : {std::pair<std::string, const char*>{"train", "train.txt"},
                                        {"validation", "val.txt"},
                                        {"test", "test.txt"}}) {
        const fs::path file = dir / name;
        if (!fs::is_regular_file(file)) continue;
        splits_.push_back(sample_split(split, file, *meta, cites, sampler, seed, table));
      }
    } else {
      if (o.has("metadata")) meta = read_metadata(o.path("metadata"));
      for (const auto& [split, file] : split_files(o, "triplets"))
        splits_.push_back(read_triplets(split, file, meta ? &*meta : nullptr, table));
    }

    store_ = encoder.encode_all(table.papers(), threads);
    int64_t skipped = 0;
    for (const auto& s : splits_) {
      skipped += s.skipped_queries;
      if (s.skipped_queries > 0)
        // Components have no logger of their own; stderr is where the run log's console lines go too.
        std::cerr << fmt::format(
            "specter_triplets: {}: {} of {} queries gave no triplet (not in data.json, no candidate, a single "
            "candidate or candidates that all share one count) and were skipped, as SPECTER skips them\n",
            s.name, s.skipped_queries, s.queries);
    }
    hints_ = {{"vocab_size", encoder.tokenizer().vocab_size()}, {"pad_id", pad_id_}, {"skipped_queries", skipped}};
  }

  std::vector<std::string> splits() const override {
    std::vector<std::string> out;
    for (const auto& s : splits_) out.push_back(s.name);
    return out;
  }
  int64_t size(const std::string& split) const override { return static_cast<int64_t>(find(split).triplets.size()); }
  std::map<std::string, int64_t> hints() const override { return hints_; }

  Batch batch(const std::string& split, const std::vector<int64_t>& indices) const override {
    const Split& s = find(split);
    const auto n = static_cast<int64_t>(s.triplets.size());
    std::array<std::vector<int64_t>, 3> rows;
    Batch out;
    out.ids.reserve(indices.size());
    for (int64_t i : indices) {
      SH_CHECK(i >= 0 && i < n, "{}: example index {} is out of range for split '{}' ({} triplets)", kOwner, i, split,
               n);
      const auto& t = s.triplets[static_cast<size_t>(i)];
      for (size_t k = 0; k < 3; ++k) rows[k].push_back(t[k]);
      out.ids.push_back(fmt::format("{}|{}|{}", store_.paper_ids[static_cast<size_t>(t[0])],
                                    store_.paper_ids[static_cast<size_t>(t[1])],
                                    store_.paper_ids[static_cast<size_t>(t[2])]));
    }
    for (size_t k = 0; k < 3; ++k) put_texts(out, std::string(kRoles[k]) + ".", store_, rows[k], pad_id_);
    return out;
  }

 private:
  static Split sample_split(const std::string& split, const fs::path& file, const Metadata& meta,
                            const CitationData& cites, const TripletSampler& sampler, uint64_t seed,
                            PaperTable& table) {
    Split out;
    out.name = split;
    // One generator per split, so that a split's triplets do not depend on the other splits.
    std::mt19937_64 rng(derive_seed(seed, split));
    std::vector<Triplet> triplets;
    const std::string data = read_file(file);
    sdk::Lines lines(data);
    std::string_view text;
    int line = 0;
    while (lines.next(text, line)) {
      const std::string id = trim(std::string(text));
      if (id.empty()) continue;
      ++out.queries;
      const int64_t q = meta.find(id);
      SH_CHECK(q >= 0, "{}:{}: query '{}' is not a paper of the metadata ({}, {} papers); fix the id or add the paper",
               file.string(), line, id, meta.file.string(), meta.size());
      auto it = cites.queries.find(q);
      if (it == cites.queries.end() || sampler.sample(q, it->second, rng, triplets) == 0) ++out.skipped_queries;
    }
    SH_CHECK(!triplets.empty(),
             "{}: no triplet: none of its {} queries has candidates in {} that give one (a query needs at least two "
             "candidates with different counts); check that the file lists query ids of data.json",
             file.string(), out.queries, cites.file.string());
    out.triplets.reserve(triplets.size());
    for (const auto& t : triplets)
      out.triplets.push_back(
          {table.metadata_paper(meta, t.query), table.metadata_paper(meta, t.pos), table.metadata_paper(meta, t.neg)});
    return out;
  }

  static Split read_triplets(const std::string& split, const fs::path& file, const Metadata* meta, PaperTable& table) {
    Split out;
    out.name = split;
    const std::string data = read_file(file);
    sdk::Lines lines(data);
    std::string_view line_text;
    int line = 0;
    while (lines.next(line_text, line)) {
      const std::string text(line_text);
      if (trim(text).empty()) continue;
      json obj;
      try {
        obj = json::parse(text);
      } catch (const json::exception& e) {
        throw Error(
            fmt::format("{}:{}: not valid JSON ({}); expected one triplet a line, {{\"query\": ..., "
                        "\"pos\": ..., \"neg\": ...}}",
                        file.string(), line, sdk::json_error_reason(e.what(), sdk::JsonPosition::kDrop)));
      }
      SH_CHECK(obj.is_object(),
               "{}:{}: a line is a {}, expected an object {{\"query\": ..., \"pos\": ..., \"neg\": ...}}",
               file.string(), line, obj.type_name());
      std::array<int64_t, 3> t{};
      for (size_t k = 0; k < 3; ++k) t[k] = paper(obj, kRoles[k], split, file, line, meta, table);
      out.triplets.push_back(t);
    }
    SH_CHECK(!out.triplets.empty(),
             "{}: holds no triplet; expected one JSON object a line, "
             "{{\"query\": ..., \"pos\": ..., \"neg\": ...}}",
             file.string());
    return out;
  }

  static int64_t paper(const json& obj, const char* role, const std::string& split, const fs::path& file, int line,
                       const Metadata* meta, PaperTable& table) {
    auto it = obj.find(role);
    SH_CHECK(it != obj.end(), "{}:{}: no field '{}'; a triplet is {{\"query\": ..., \"pos\": ..., \"neg\": ...}}",
             file.string(), line, role);
    if (it->is_string()) {
      const std::string id = it->get<std::string>();
      SH_CHECK(meta != nullptr,
               "{}:{}: '{}' is the paper id '{}', but no metadata is set to look it up in; set the option metadata "
               "(a metadata.json) or give the paper inline as {{\"title\": ..., \"abstract\": ...}}",
               file.string(), line, role, id);
      const int64_t m = meta->find(id);
      SH_CHECK(m >= 0,
               "{}:{}: {} paper '{}' is not a paper of the metadata ({}, {} papers); fix the id or add the paper",
               file.string(), line, role, id, meta->file.string(), meta->size());
      return table.metadata_paper(*meta, m);
    }
    SH_CHECK(
        it->is_object(),
        "{}:{}: '{}' is a {}, expected a paper id (string) or an object {{\"paper_id\"?, \"title\", \"abstract\"}}",
        file.string(), line, role, it->type_name());
    auto text = [&](const char* field) -> std::string {
      auto f = it->find(field);
      if (f == it->end() || f->is_null()) return {};
      SH_CHECK(f->is_string(), "{}:{}: the {} paper's '{}' is a {}, expected a string or null", file.string(), line,
               role, field, f->type_name());
      return f->get<std::string>();
    };
    const std::string id = text("paper_id");
    const std::string where = fmt::format("{}:{}: the {} paper{}", file.string(), line, role,
                                          id.empty() ? std::string() : fmt::format(" '{}'", id));
    return table.inline_paper(id, text("title"), text("abstract"), fmt::format("{}:{}:{}", split, line, role), where);
  }

  const Split& find(const std::string& split) const {
    return find_split(splits_, split, kOwner, "validation comes from val.txt and test from test.txt, or from validation_triplets and test_triplets");
  }

  int32_t pad_id_ = 0;
  std::vector<Split> splits_;
  TokenStore store_;
  std::map<std::string, int64_t> hints_;
};

}  // namespace

Schema specter_triplets_schema() {
  return Schema()
      .optional("data_dir", OptionType::Path,
                "SPECTER's training folder: data.json ({query: {candidate: {count: 5|1}}}), metadata.json, train.txt "
                "(required), val.txt (split validation) and test.txt (query ids, one a line); triplets are sampled "
                "from it once, at construction")
      .optional("train_triplets", OptionType::Path,
                "pre-built triplets of split train instead of data_dir: JSON lines {\"query\": Q, \"pos\": P, "
                "\"neg\": N}, each a paper id of `metadata` or an object {paper_id?, title, abstract}")
      .optional("validation_triplets", OptionType::Path, "pre-built triplets of split validation")
      .optional("test_triplets", OptionType::Path, "pre-built triplets of split test")
      .optional("metadata", OptionType::Path,
                "paper metadata {paper_id: {title, abstract, ...}}; with data_dir it replaces data_dir/metadata.json; "
                "with triplets it is needed when they name papers by id")
      .component("tokenizer", "tokenizer", "tokenizer spec, or the name of a tokenizer stage")
      .opt("max_length", int64_t{256},
           "tokens per paper, [CLS] title [SEP] abstract [SEP] with the text cut to max_length - 2 (SPECTER's "
           "run-exp-simple.sh: 256)")
      .min(8)
      .opt("samples_per_query", int64_t{5}, "triplets sampled per query paper (SPECTER's --samples_per_query)")
      .min(1)
      .opt("ratio_hard_negatives", 0.3,
           "share of a query's triplets whose negative is a lower-count candidate: ceil(ratio * samples_per_query), "
           "at most (positives x hard negatives); the rest are easy (a random uncited paper)")
      .min(0)
      .max(1)
      .opt("margin_fraction", 0.5,
           "margin = margin_fraction * (max - min count) of a query (ceil'd when the counts are integers 1 apart); "
           "a positive's count must exceed the negative's by more than it")
      .min(0)
      .opt("seed", int64_t{321},
           "seed of the triplet draws (SPECTER's 321); split S draws from std::mt19937_64(derive_seed(seed, S)), so "
           "the triplets follow SPECTER's rules but not Python's random draws")
      .min(0)
      .opt("threads", int64_t{2}, "threads that tokenize the papers")
      .min(1);
}

std::shared_ptr<Dataset> make_specter_triplets(const Options& o, const BuildContext& ctx) {
  return std::make_shared<SpecterTriplets>(o, ctx);
}

}  // namespace stagehand::specter
