// SPDX-License-Identifier: Apache-2.0
// JSON lines, CSV, TSV and BLURB record files (text_records.h).
#include "text_records.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include <stagehand/error.h>
#include <stagehand/numbers.h>
#include <stagehand/files.h>
#include <stagehand/utf8.h>

#include <stagehand/sdk/records.h>

namespace stagehand::text_records {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using sdk::BadRecord;
using sdk::excerpt;

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos; }

// A JSON value as the text of a field: strings as they are, numbers and booleans as JSON writes them.
std::string json_field(const json& obj, const std::string& name, bool required) {
  auto it = obj.find(name);
  if (it == obj.end()) {
    if (!required) return {};
    std::string have;
    for (auto f = obj.begin(); f != obj.end(); ++f) have += (have.empty() ? "" : ", ") + f.key();
    throw BadRecord{fmt::format("no field '{}' (fields: {})", name, have.empty() ? "none" : have)};
  }
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return it->dump();
  if (it->is_null()) throw BadRecord{fmt::format("field '{}' is null", name)};
  throw BadRecord{fmt::format("field '{}' is {}, expected a string", name, it->is_array() ? "a list" : "an object")};
}

// A field option that is a 0-based column number rather than a column name.
bool column_number(const std::string& field, int64_t& c) { return parse_int(field, c) && c >= 0; }

// ASCII-lowercased, surrounding spaces removed: how has_header: auto compares header names.
std::string header_key(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  std::string out = s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The fields of a record for an error message, each shortened.
std::string join_fields(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) out += (out.empty() ? "'" : ", '") + excerpt(f, 20) + "'";
  return out;
}


// Parses every record of one file. Bad records are thrown as Errors or, with skip_bad, counted.
class FileReader {
 public:
  FileReader(const Settings& s, fs::path file, int64_t& skipped, std::string& first_skipped)
      : s_(s), file_(std::move(file)), bad_{"", s.skip_bad, skipped, first_skipped} {}
  /// The malformed records skipped so far, this file's included.
  const sdk::BadRecords& bad_records() const { return bad_; }

  std::vector<Record> read() {
    Format format = s_.format;
    if (s_.auto_format) {
      std::string ext = file_.extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
      if (ext == ".jsonl" || ext == ".json" || ext == ".ndjson")
        format = Format::Jsonl;
      else if (ext == ".csv")
        format = Format::Csv;
      else if (ext == ".tsv" || ext == ".tab")
        format = Format::Tsv;
      else
        throw Error(
            fmt::format("cannot tell the format of '{}' from its extension '{}'; "
                        "set format: jsonl | csv | tsv",
                        file_.string(), ext));
    }
    std::string data = read_file(file_);
    sdk::strip_bom(data);
    return format == Format::Jsonl ? read_jsonl(data)
                                   : read_delimited(std::move(data), format == Format::Csv ? ',' : '\t');
  }

 private:
  // The names a header line must hold under has_header: auto (see the top of this file).
  std::vector<std::string> auto_label_names() const {
    int64_t c = 0;
    if (s_.blurb || column_number(s_.label_field, c)) return {"label"};
    return {header_key(s_.label_field)};
  }
  std::vector<std::string> auto_text_names() const {
    int64_t c = 0;
    if (s_.blurb || column_number(s_.text_field, c)) return {"sentence", "text"};
    return {header_key(s_.text_field)};
  }
  bool looks_like_header(const std::vector<std::string>& fields) const {
    const auto label_names = auto_label_names(), text_names = auto_text_names();
    auto in = [](const std::vector<std::string>& names, const std::string& k) {
      return std::find(names.begin(), names.end(), k) != names.end();
    };
    bool has_label = false, has_text = false;
    for (const auto& f : fields) {
      const std::string k = header_key(f);
      // One field counts once, so a header needs two distinct fields.
      if (!has_label && in(label_names, k))
        has_label = true;
      else if (in(text_names, k))
        has_text = true;
    }
    return has_label && has_text;
  }
  std::string auto_header_names() const {
    std::string text;
    for (const auto& t : auto_text_names()) text += (text.empty() ? "'" : "' or '") + t;
    return fmt::format("field '{}' and field {}'", auto_label_names().front(), text);
  }

  void bad(int line, const std::string& reason) { bad_.add(file_, line, reason); }

  void finish(Record& r) {
    if (blank(r.text))
      throw BadRecord{s_.blurb ? std::string("empty sentence") : fmt::format("empty text in field '{}'", s_.text_field)};
    if (s_.has_pair && !r.single && blank(r.pair)) throw BadRecord{fmt::format("empty text in field '{}'", s_.pair_field)};
    // Labels are trimmed of every white space character, as texts are tested for blankness: a quoted "pos\n" is the
    // class pos, and a label of vertical tabs is empty (found by fuzz_records: only spaces and tabs were trimmed).
    constexpr const char* kSpace = " \t\r\n\f\v";
    const size_t first = r.label.find_first_not_of(kSpace);
    r.label = first == std::string::npos ? std::string()
                                         : r.label.substr(first, r.label.find_last_not_of(kSpace) - first + 1);
    if (s_.lowercase_labels)
      std::transform(r.label.begin(), r.label.end(), r.label.begin(), [](unsigned char c) { return std::tolower(c); });
    if (r.label.empty())
      throw BadRecord{s_.blurb ? std::string("empty label") : fmt::format("empty label in field '{}'", s_.label_field)};
    if (r.id.empty()) r.id = std::to_string(r.line);  // no id column, or an empty id: the line number
  }

  std::vector<Record> read_jsonl(const std::string& data) {
    std::vector<Record> out;
    sdk::Lines lines(data);
    std::string_view line;
    int line_no = 0;
    while (lines.next(line, line_no)) {
      if (blank(line)) continue;
      try {
        json obj;
        try {
          obj = json::parse(line);
        } catch (const json::exception& e) {
          throw BadRecord{
              fmt::format("not valid JSON ({})", sdk::json_error_reason(e.what(), sdk::JsonPosition::kColumn))};
        }
        if (!obj.is_object()) throw BadRecord{fmt::format("expected a JSON object, got '{}'", excerpt(line))};
        Record r;
        r.line = line_no;
        r.text = json_field(obj, s_.text_field, true);
        if (s_.has_pair) {  // a file may mix single texts (no second field, or null) and pairs
          auto it = obj.find(s_.pair_field);
          r.single = it == obj.end() || it->is_null();
          if (!r.single) r.pair = json_field(obj, s_.pair_field, true);
        }
        r.label = json_field(obj, s_.label_field, true);
        if (s_.has_id) r.id = json_field(obj, s_.id_field, true);
        finish(r);
        out.push_back(std::move(r));
      } catch (const BadRecord& b) {
        bad(line_no, b.reason);
      }
    }
    return out;
  }

  std::vector<Record> read_delimited(std::string data, char delim) {
    sdk::DelimitedReader reader(std::move(data), delim, /*quoting=*/!s_.blurb);
    std::vector<Record> out;
    std::vector<std::string> fields;
    int line = 0;
    int64_t text_col = -1, pair_col = -1, label_col = -1, id_col = -1;
    size_t columns = 0;
    bool has_header = false;  // this file's
    std::vector<std::string> header;
    // Column of a field option: its name in the header, or a 0-based number (without a header, and with
    // has_header: auto whether or not this file has one).
    auto column_of = [&](const std::string& name, const char* option) -> int64_t {
      int64_t c = -1;
      const bool number = column_number(name, c);
      if (has_header && !(s_.header == Header::Auto && number)) {
        // has_header: auto found the header by case-insensitive names, so it looks them up the same way.
        for (size_t i = 0; i < header.size(); ++i)
          if (header[i] == name || (s_.header == Header::Auto && header_key(header[i]) == header_key(name)))
            return static_cast<int64_t>(i);
        std::string have;
        for (const auto& h : header) have += (have.empty() ? "" : ", ") + h;
        throw Error(
            fmt::format("{}:{}: the header has no column '{}' (its columns: {}); set "
                        "{} to one of them",
                        file_.string(), line, name, have, option));
      }
      if (number) return c;
      if (s_.header == Header::Auto)
        throw Error(fmt::format(
            "{}:{}: has_header is auto and the first line is not a header (it has no {}; its fields: {}), so fields "
            "are column numbers (0 = first), but {} is '{}'; set {} to a column number or add a header line",
            file_.string(), line, auto_header_names(), join_fields(fields), option, name, option));
      throw Error(
          fmt::format("{} is '{}', but has_header is false, so fields are column numbers (0 = first); "
                      "set {} to a column number or set has_header: true",
                      option, name, option));
    };
    // format blurb: the layout follows from the number of columns of the file's first line.
    auto blurb_layout = [&]() {
      SH_CHECK(columns == 2 || columns == 3,
               "{}:{}: {} tab-separated column(s) in the {} ({}); format blurb reads 2 columns (sentence, label) or 3 "
               "(id, sentence, label); fix the file, or read it with format: tsv and explicit fields",
               file_.string(), line, columns, has_header ? "header" : "first record", join_fields(fields));
      if (has_header) {
        const std::string t = header_key(header[columns - 2]), l = header_key(header[columns - 1]);
        SH_CHECK((t == "sentence" || t == "text") && l == "label",
                 "{}:{}: the header ({}) is not a BLURB header: format blurb expects its last two columns to be "
                 "'sentence' and 'label' (as in index<TAB>sentence<TAB>label); fix the header, or set has_header: "
                 "false if that line is data",
                 file_.string(), line, join_fields(header));
      }
      id_col = columns == 3 ? 0 : -1;
      text_col = static_cast<int64_t>(columns) - 2;
      label_col = static_cast<int64_t>(columns) - 1;
    };
    bool header_done = false;
    for (;;) {
      try {
        if (!reader.next(fields, line)) break;
      } catch (const BadRecord& b) {
        if (!header_done) throw Error(fmt::format("{}:{}: unreadable header: {}", file_.string(), line, b.reason));
        bad(line, b.reason);
        continue;
      }
      {
        std::string problem;
        for (size_t i = 0; i < fields.size() && problem.empty(); ++i)
          if (std::string p = utf8_problem(fields[i]); !p.empty()) problem = fmt::format("field {} is {}", i + 1, p);
        if (!problem.empty()) {
          if (!header_done) throw Error(fmt::format("{}:{}: {}", file_.string(), line, problem));
          bad(line, problem);
          continue;
        }
      }
      if (!header_done) {
        header_done = true;
        has_header = s_.header == Header::Yes || (s_.header == Header::Auto && looks_like_header(fields));
        if (has_header) header = fields;
        columns = fields.size();
        if (s_.blurb) {
          blurb_layout();
        } else {
          text_col = column_of(s_.text_field, "text_field");
          if (s_.has_pair) pair_col = column_of(s_.pair_field, "text_pair_field");
          label_col = column_of(s_.label_field, "label_field");
          if (s_.has_id) id_col = column_of(s_.id_field, "id_field");
        }
        for (int64_t c : {text_col, pair_col, label_col, id_col})
          SH_CHECK(c < static_cast<int64_t>(columns),
                   "{}:{}: column {} does not exist: the first record has {} column(s)", file_.string(), line, c,
                   columns);
        if (has_header) continue;
      }
      try {
        if (fields.size() != columns)
          throw BadRecord{fmt::format("{} column(s), expected {} as in {} (fields: {})", fields.size(), columns,
                                      has_header ? "the header" : "the first record", join_fields(fields))};
        Record r;
        r.line = line;
        r.text = fields[static_cast<size_t>(text_col)];
        if (s_.has_pair) {  // an empty cell: a single text
          r.pair = fields[static_cast<size_t>(pair_col)];
          r.single = blank(r.pair);
        }
        r.label = fields[static_cast<size_t>(label_col)];
        if (id_col >= 0) r.id = fields[static_cast<size_t>(id_col)];
        finish(r);
        out.push_back(std::move(r));
      } catch (const BadRecord& b) {
        bad(line, b.reason);
      }
    }
    return out;
  }

  const Settings& s_;
  fs::path file_;
  sdk::BadRecords bad_;
};

}  // namespace

std::vector<Record> read_records(const Settings& s, const fs::path& file, int64_t& skipped,
                                 std::string& first_skipped) {
  FileReader reader(s, file, skipped, first_skipped);
  std::vector<Record> out = reader.read();
  SH_CHECK(!s.has_pair || out.empty() || !std::all_of(out.begin(), out.end(), [](const Record& r) { return r.single; }),
           "{}: no record has a second text in field '{}' (text_pair_field); a file may mix single texts and pairs, "
           "but this one has no pair: check the field name, or leave text_pair_field unset",
           file.string(), s.pair_field);
  skipped = reader.bad_records().count;
  first_skipped = reader.bad_records().first;
  return out;
}

}  // namespace stagehand::text_records
