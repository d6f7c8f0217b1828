// SPDX-License-Identifier: Apache-2.0
// GLUE TSV and sentence-pair JSONL files (pair_files.h).
#include "pair_files.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include <stagehand/error.h>
#include <stagehand/numbers.h>
#include <stagehand/files.h>
#include <stagehand/utf8.h>

namespace stagehand::pair_files {

using json = nlohmann::json;

namespace {

using sdk::BadRecord;

std::string trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return std::string(s.substr(first, s.find_last_not_of(" \t\r") - first + 1));
}

std::string json_text(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) throw BadRecord{fmt::format("no field '{}' (a string)", name)};
  if (!it->is_string())
    throw BadRecord{fmt::format("field '{}' is {}, expected a string", name, it->is_null() ? "null" : it->type_name())};
  return it->get<std::string>();
}

}  // namespace

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// A whole string as a finite number.
bool parse_float(const std::string& s, double& v) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(v);
}

GlueTask glue_task(const std::string& task) {
  const std::vector<std::string> binary{"0", "1"}, entail{"entailment", "not_entailment"},
      nli{"contradiction", "entailment", "neutral"};
  if (task == "mrpc") return {"#1 String", "#2 String", "Quality", "index", binary};
  if (task == "qqp") return {"question1", "question2", "is_duplicate", "id", binary};
  if (task == "qnli") return {"question", "sentence", "label", "index", entail};
  if (task == "rte") return {"sentence1", "sentence2", "label", "index", entail};
  if (task == "sts-b") return {"sentence1", "sentence2", "score", "index", {}, true};
  return {"sentence1", "sentence2", "gold_label", "index", nli, false, true};  // mnli, mnli-mm, snli, allnli
}

bool read_glue(const std::string& task, const GlueTask& t, const fs::path& file, int file_index,
               const std::string& split, const std::string& source, BadRecords& bad, int64_t& no_gold,
               std::vector<Example>& out) {
  std::string data = read_file(file);
  sdk::strip_bom(data);  // MRPC's files start with a byte order mark
  std::vector<std::string> header;
  int64_t a_col = -1, b_col = -1, label_col = -1, id_col = -1;
  sdk::Lines lines(data);
  std::string_view line;
  int line_no = 0;
  std::vector<std::string> fields;
  const std::set<std::string> classes(t.classes.begin(), t.classes.end());
  while (lines.next(line, line_no)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    fields.clear();
    for (size_t p = 0;;) {
      const size_t tab = line.find('\t', p);
      fields.emplace_back(line.substr(p, tab == std::string_view::npos ? std::string_view::npos : tab - p));
      if (tab == std::string_view::npos) break;
      p = tab + 1;
    }
    const std::string not_utf8 = utf8_problem(line);
    if (header.empty()) {
      SH_CHECK(not_utf8.empty(), "glue: {}:{}: the header is {}", file.string(), line_no, not_utf8);
      header = fields;
      auto col = [&](const std::string& name) -> int64_t {
        for (size_t i = 0; i < header.size(); ++i)
          if (trim(header[i]) == name) return static_cast<int64_t>(i);
        return -1;
      };
      a_col = col(t.a);
      b_col = col(t.b);
      label_col = col(t.label);
      id_col = col(t.id);
      const bool test = split == "test";
      SH_CHECK(a_col >= 0 && b_col >= 0 && (label_col >= 0 || test),
               "glue: {}:{}: not a GLUE {} header: it needs the columns '{}', '{}'{} (tab-separated, as "
               "download_glue_data.py writes them), but its columns are: {}; check task and data_dir",
               file.string(), line_no, task, t.a, t.b, test ? "" : fmt::format(" and '{}'", t.label),
               join(header, " | "));
      continue;
    }
    try {
      if (!not_utf8.empty()) throw BadRecord{"the line is " + not_utf8};
      if (fields.size() != header.size())
        throw BadRecord{fmt::format("{} tab-separated column(s), expected {} as in the header (line starts '{}')",
                                    fields.size(), header.size(), excerpt(line))};
      Example e;
      e.file = file_index;
      e.line = line_no;
      e.a = fields[static_cast<size_t>(a_col)];
      e.b = fields[static_cast<size_t>(b_col)];
      if (label_col >= 0) {
        e.label = trim(fields[static_cast<size_t>(label_col)]);
        if (t.nli && e.label == "-") {
          ++no_gold;
          continue;
        }
        if (t.regression) {
          double v = 0;
          if (!parse_float(e.label, v) || v < 0 || v > 5)
            throw BadRecord{fmt::format("score '{}' in column '{}' is not a number in [0, 5]", excerpt(e.label),
                                        t.label)};
        } else if (!classes.count(e.label)) {
          throw BadRecord{fmt::format("label '{}' in column '{}' is not one of {}'s labels ({})", excerpt(e.label),
                                      t.label, task, join(t.classes))};
        }
      }
      std::string key = id_col >= 0 ? trim(fields[static_cast<size_t>(id_col)]) : std::string();
      if (key.empty()) key = std::to_string(line_no);
      e.id = source.empty() ? fmt::format("{}:{}", split, key) : fmt::format("{}:{}:{}", split, source, key);
      out.push_back(std::move(e));
    } catch (const BadRecord& b) {
      bad.add(file, line_no, b.reason);
    }
  }
  SH_CHECK(!header.empty(), "glue: {} is empty; expected a GLUE {} file with a header line", file.string(), task);
  return label_col >= 0;
}

void read_jsonl(const fs::path& file, const std::string& split, bool regression, BadRecords& bad, ReadSplit& r) {
  const std::string data = read_file(file);
  sdk::Lines lines(data, sdk::bom_length(data));
  std::string_view line;
  int line_no = 0, first_line = 0;
  bool first_labelled = false;
  while (lines.next(line, line_no)) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    try {
      json obj;
      try {
        obj = json::parse(line);
      } catch (const json::exception& e) {
        throw BadRecord{
            fmt::format("not valid JSON ({})", sdk::json_error_reason(e.what(), sdk::JsonPosition::kKeep))};
      }
      if (!obj.is_object()) throw BadRecord{fmt::format("expected a JSON object, got '{}'", excerpt(line))};
      Example e;
      e.line = line_no;
      e.a = json_text(obj, "a");
      e.b = json_text(obj, "b");
      if (auto id = obj.find("id"); id != obj.end() && !id->is_null()) {
        if (id->is_string())
          e.id = id->get<std::string>();
        else if (id->is_number_integer())
          e.id = id->dump();
        else
          throw BadRecord{fmt::format("field 'id' is {}, expected a string or an integer", id->type_name())};
        if (e.id.empty()) throw BadRecord{"field 'id' is empty"};
      } else {
        e.id = fmt::format("{}:{}", split, line_no);
      }
      auto label = obj.find("label");
      const bool labelled = label != obj.end() && !label->is_null();
      if (labelled) {
        if (label->is_string())
          e.label = trim(label->get<std::string>());
        else if (label->is_number())
          e.label = label->dump();
        else
          throw BadRecord{fmt::format("field 'label' is {}, expected a string or a number", label->type_name())};
        double v = 0;
        if (e.label.empty()) throw BadRecord{"field 'label' is empty"};
        if (regression && !parse_float(e.label, v))
          throw BadRecord{fmt::format("label '{}' is not a number (regression: true)", excerpt(e.label))};
      }
      if (first_line == 0) {
        first_line = line_no;
        first_labelled = labelled;
      } else if (labelled != first_labelled) {
        throw Error(fmt::format(
            "sentence_pairs: {}:{}: this record has {} 'label' but the file's first record (line {}) has {}; give "
            "every record of a file a label, or none (a split without labels)",
            file.string(), line_no, labelled ? "a" : "no", first_line, first_labelled ? "one" : "none"));
      }
      r.examples.push_back(std::move(e));
    } catch (const BadRecord& b) {
      bad.add(file, line_no, b.reason);
    }
  }
  r.labelled = first_line == 0 || first_labelled;
}

}  // namespace stagehand::pair_files
