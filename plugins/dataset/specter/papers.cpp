// SPDX-License-Identifier: Apache-2.0
// Dataset `papers`: papers to embed or classify, from SciDocs' files.
//   reads   metadata: SciDocs' paper_metadata_*.json (or SPECTER's metadata.json), {paper_id: {title, abstract,
//           ...}}; optionally train_labels / validation_labels / test_labels: CSVs in SciDocs' mag/mesh layout (a header row such as
//           `pid,class_label`, then `paper_id,label` with an integer label; fields may be double-quoted, no comma
//           inside a field)
//   returns input_ids / attention_mask / token_type_ids (B, T) int64 of `[CLS] title [SEP] abstract [SEP]`
//           (paper_text.h), padded to the longest with the tokenizer's pad id; with labels also labels (B) int64
//           class ids; batch ids = the paper ids, exactly the metadata's keys.
// Splits: with labels the map's keys (train / validation / test), each in its file's order; without, one split
// "all" holding every paper of the metadata in file order. sort_by_length orders each split longest first (ties
// keep that order), which is what the embedding stage wants: consecutive batches pad little.
// Classes: the distinct labels of all the label files, in numeric order; class id = position (so SciDocs' MAG
// labels 0..18 keep their values); labels() gives them as strings.
// A labelled paper that the metadata lacks is an error naming csv:line and the id, or (missing: skip) left out and
// counted (hint 'skipped_papers'). Each paper is tokenized once, however many splits list it.
#include <algorithm>
#include <iostream>
#include <numeric>
#include <set>

#include <stagehand/dataset.h>
#include <stagehand/error.h>
#include <stagehand/numbers.h>
#include <stagehand/files.h>

#include <stagehand/sdk/records.h>

#include "paper_text.h"

namespace stagehand::specter {
namespace {

constexpr const char* kOwner = "papers";

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

// Comma-separated fields, trimmed, a surrounding pair of double quotes removed.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = line.find(',', start);
    std::string f = trim(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
    out.push_back(std::move(f));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

struct Row {
  int line = 0;
  int64_t paper = 0;  // metadata row
  int64_t label = 0;  // the label as written
};

struct Split {
  std::string name;
  std::vector<int64_t> rows;    // token-store rows
  std::vector<int64_t> labels;  // class ids (empty without labels)
};

class Papers : public Dataset {
 public:
  Papers(const Options& o, const BuildContext& ctx) {
    const int64_t max_length = o.get<int64_t>("max_length");
    const int threads = static_cast<int>(o.get<int64_t>("threads"));
    const bool skip_missing = o.get<std::string>("missing") == "skip";
    const bool sort_by_length = o.get<bool>("sort_by_length");
    PaperEncoder encoder(make_tokenizer(o, ctx), max_length);
    pad_id_ = encoder.pad_id();
    const Metadata meta = read_metadata(o.path("metadata"));

    // The examples of each split, as metadata rows (and labels as written).
    std::vector<std::pair<std::string, std::vector<Row>>> rows;
    const auto label_files = split_files(o, "labels");
    labelled_ = !label_files.empty();
    if (labelled_) {
      for (const auto& [split, file] : label_files) rows.emplace_back(split, read_labels(file, meta, skip_missing));
    } else {
      std::vector<Row> all(static_cast<size_t>(meta.size()));
      for (int64_t r = 0; r < meta.size(); ++r) all[static_cast<size_t>(r)].paper = r;
      rows.emplace_back("all", std::move(all));
    }

    std::map<int64_t, int64_t> class_of;  // label as written -> class id
    if (labelled_) {
      std::set<int64_t> seen;
      for (const auto& [split, rs] : rows)
        for (const auto& r : rs) seen.insert(r.label);
      for (int64_t l : seen) {
        class_of[l] = static_cast<int64_t>(labels_.size());
        labels_.push_back(std::to_string(l));
      }
    }

    // Each paper once, in order of first use.
    std::vector<int64_t> store_row(static_cast<size_t>(meta.size()), -1);
    std::vector<PaperText> papers;
    for (auto& [name, rs] : rows) {
      Split s;
      s.name = name;
      for (const auto& r : rs) {
        int64_t& row = store_row[static_cast<size_t>(r.paper)];
        if (row < 0) {
          row = static_cast<int64_t>(papers.size());
          const auto i = static_cast<size_t>(r.paper);
          papers.push_back({meta.ids[i], &meta.titles[i], &meta.abstracts[i],
                            fmt::format("paper '{}' of {}", meta.ids[i], meta.file.string())});
        }
        s.rows.push_back(row);
        if (labelled_) s.labels.push_back(class_of.at(r.label));
      }
      splits_.push_back(std::move(s));
    }
    store_ = encoder.encode_all(papers, threads);

    if (sort_by_length)
      for (auto& s : splits_) {
        std::vector<size_t> order(s.rows.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return store_.length(s.rows[a]) > store_.length(s.rows[b]); });
        std::vector<int64_t> rows_sorted, labels_sorted;
        for (size_t i : order) {
          rows_sorted.push_back(s.rows[i]);
          if (labelled_) labels_sorted.push_back(s.labels[i]);
        }
        s.rows = std::move(rows_sorted);
        s.labels = std::move(labels_sorted);
      }

    hints_ = {{"vocab_size", encoder.tokenizer().vocab_size()}, {"pad_id", pad_id_}};
    if (labelled_) {
      hints_["num_labels"] = static_cast<int64_t>(labels_.size());
      hints_["skipped_papers"] = skipped_;
    }
    if (skipped_ > 0)
      std::cerr << fmt::format("papers: left out {} labelled paper(s) that {} lacks (missing: skip); the first: {}\n",
                               skipped_, meta.file.string(), first_skipped_);
  }

  std::vector<std::string> splits() const override {
    std::vector<std::string> out;
    for (const auto& s : splits_) out.push_back(s.name);
    return out;
  }
  int64_t size(const std::string& split) const override { return static_cast<int64_t>(find(split).rows.size()); }
  std::vector<std::string> labels() const override { return labels_; }
  std::map<std::string, int64_t> hints() const override { return hints_; }

  Batch batch(const std::string& split, const std::vector<int64_t>& indices) const override {
    const Split& s = find(split);
    const auto n = static_cast<int64_t>(s.rows.size());
    std::vector<int64_t> rows;
    rows.reserve(indices.size());
    Batch out;
    out.ids.reserve(indices.size());
    auto labels = torch::empty({static_cast<int64_t>(indices.size())}, torch::kInt64);
    int64_t* labels_p = labels.data_ptr<int64_t>();
    for (size_t b = 0; b < indices.size(); ++b) {
      const int64_t i = indices[b];
      SH_CHECK(i >= 0 && i < n, "{}: example index {} is out of range for split '{}' ({} papers)", kOwner, i, split, n);
      rows.push_back(s.rows[static_cast<size_t>(i)]);
      out.ids.push_back(store_.paper_ids[static_cast<size_t>(rows.back())]);
      if (labelled_) labels_p[b] = s.labels[static_cast<size_t>(i)];
    }
    put_texts(out, "", store_, rows, pad_id_);
    if (labelled_) out.set("labels", labels);
    return out;
  }

 private:
  std::vector<Row> read_labels(const fs::path& file, const Metadata& meta, bool skip_missing) {
    std::vector<Row> out;
    const std::string data = read_file(file);
    sdk::Lines lines(data, sdk::bom_length(data));
    std::string_view line_text;
    int line = 0;
    bool header = true;
    while (lines.next(line_text, line)) {
      const std::string text(line_text);
      if (trim(text).empty()) continue;
      const auto fields = csv_fields(text);
      int64_t label = 0;
      if (header) {
        header = false;
        // pandas.read_csv, as SciDocs reads these files, always takes the first row for the header; a first row
        // that reads as data would be lost silently, so it is refused.
        SH_CHECK(!(fields.size() == 2 && parse_int(fields[1], label)),
                 "{}:{}: the first row '{}' looks like data, but SciDocs' label files start with a header row (e.g. "
                 "pid,class_label); add one",
                 file.string(), line, trim(text));
        continue;
      }
      SH_CHECK(fields.size() == 2, "{}:{}: {} field(s) in '{}', expected 2: paper_id,label", file.string(), line,
               fields.size(), trim(text));
      SH_CHECK(!fields[0].empty(), "{}:{}: empty paper id in '{}'", file.string(), line, trim(text));
      SH_CHECK(parse_int(fields[1], label), "{}:{}: label '{}' of paper '{}' is not an integer (SciDocs' class ids)",
               file.string(), line, fields[1], fields[0]);
      const int64_t paper = meta.find(fields[0]);
      if (paper < 0) {
        SH_CHECK(skip_missing,
                 "{}:{}: paper '{}' is not in the metadata ({}, {} papers); fix the id, use the metadata file that "
                 "goes with these labels, or set missing: skip to leave such papers out",
                 file.string(), line, fields[0], meta.file.string(), meta.size());
        if (skipped_++ == 0) first_skipped_ = fmt::format("{}:{}: '{}'", file.string(), line, fields[0]);
        continue;
      }
      out.push_back({line, paper, label});
    }
    SH_CHECK(!out.empty(), "{}: holds no labelled paper{}; expected a header row, then paper_id,label rows",
             file.string(), skipped_ > 0 ? " that the metadata has" : "");
    return out;
  }

  const Split& find(const std::string& split) const {
    return find_split(splits_, split, kOwner, "'all' without label files, else those of train_labels, validation_labels, test_labels");
  }

  bool labelled_ = false;
  int32_t pad_id_ = 0;
  int64_t skipped_ = 0;
  std::string first_skipped_;
  std::vector<std::string> labels_;
  std::vector<Split> splits_;
  TokenStore store_;
  std::map<std::string, int64_t> hints_;
};

}  // namespace

Schema papers_schema() {
  return Schema()
      .path("metadata",
            "SciDocs' paper_metadata_*.json or SPECTER's metadata.json: {paper_id: {title, abstract, ...}}; the keys "
            "are the batch ids")
      .component("tokenizer", "tokenizer", "tokenizer spec, or the name of a tokenizer stage")
      .opt("max_length", int64_t{512},
           "tokens per paper, [CLS] title [SEP] abstract [SEP] with the text cut to max_length - 2")
      .min(8)
      .optional("train_labels", OptionType::Path,
                "class labels of split train, a CSV in SciDocs' mag/mesh layout (a header row, then paper_id,label "
                "with an integer label); with no *_labels option: one split 'all' with every paper")
      .optional("validation_labels", OptionType::Path, "class labels of split validation (SciDocs' val.csv)")
      .optional("test_labels", OptionType::Path, "class labels of split test")
      .choice("missing", "error", {"error", "skip"},
              "a labelled paper that the metadata lacks: fail naming csv:line and the id, or leave it out (counted "
              "in hint skipped_papers)")
      .opt("sort_by_length", false,
           "order each split's papers by token count, longest first (ties in file order), so that consecutive "
           "batches pad little (for embedding); false: file order")
      .opt("threads", int64_t{2}, "threads that tokenize the papers")
      .min(1);
}

std::shared_ptr<Dataset> make_papers(const Options& o, const BuildContext& ctx) {
  return std::make_shared<Papers>(o, ctx);
}

}  // namespace stagehand::specter
