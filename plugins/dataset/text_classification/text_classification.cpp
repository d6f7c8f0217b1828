// SPDX-License-Identifier: Apache-2.0
// Dataset `text_classification`: one file per split (JSON lines, CSV or TSV), a text (or a pair of texts) and a
// label per record. Records are read and tokenized once, at construction; `batch` only copies ids.
//
// Labels: the `labels` option fixes the class order; otherwise the classes are the labels of the train file,
// sorted (numerically when every label is an integer, so that "10" follows "9"). A label at validation or test
// time that the classes do not hold is always an error: the model has no output for it.
// Malformed records (bad JSON or invalid UTF-8, a missing field, a wrong number of columns, an empty text or
// label) stop construction with file:line, or are counted and skipped with `on_bad_record: skip`.
//
// `format: blurb` reads the relation-extraction TSV files of BioBERT and BLURB (GAD, ChemProt, DDI): tab-separated,
// no quoting (a double quote is literal text, as Python's csv.reader with quotechar=None reads them), and per file
// either 2 columns (sentence, label) or 3 (id, sentence, label), with or without a header line
// (`index<TAB>sentence<TAB>label` in BioBERT's test files). The layout is decided per file, so GAD's train.tsv
// (no header, 2 columns) and test.tsv (header, 3 columns) are read with one spec.
//
// `has_header: auto` decides per file: the first non-blank record is a header when one of its fields is the
// label column's name and another is the text column's name (ASCII case-insensitive, surrounding spaces
// ignored). The names are label_field and text_field when those are names; when they are column numbers (and
// always with format blurb) they are `label`, and `sentence` or `text`. So a data line is taken for a header only
// if its label is literally the word "label".
#include <stagehand/dataset.h>
#include <stagehand/plugin.h>
#include <stagehand/tokenizer.h>
#include <stagehand/util.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

namespace stagehand {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// A record as read from its file, before labels are mapped to ids.
struct Record {
  int line = 0;
  std::string id, text, pair, label;
};

// Thrown while parsing one record; becomes an Error, or a skipped record.
struct BadRecord {
  std::string reason;
};

enum class Format { Jsonl, Csv, Tsv };
enum class Header { Yes, No, Auto };

std::string excerpt(std::string_view s, size_t n = 40) {
  std::string out(s.substr(0, n));
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return s.size() > n ? out + "..." : out;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos; }

// RFC 4180 reader with line numbers: a field that starts with a double quote runs to the matching quote ("" is a
// literal quote) and may hold delimiters and newlines; quotes inside an unquoted field are literal. Without
// `quoting` every field runs to the next delimiter or line end and quotes are always literal (BioBERT's TSV files
// are written and read that way, and their sentences may start with a quote).
class DelimitedReader {
 public:
  DelimitedReader(std::string data, char delim, bool quoting = true)
      : data_(std::move(data)), delim_(delim), quoting_(quoting) {}

  // Next non-blank record; false at the end. `line` is the line the record starts on. Throws BadRecord after
  // moving past the damaged line, so that reading can go on.
  bool next(std::vector<std::string>& fields, int& line) {
    for (;;) {
      if (pos_ >= data_.size()) return false;
      line = line_;
      fields.clear();
      std::string field;
      bool quoted_any = false;
      for (;;) {
        if (quoting_ && pos_ < data_.size() && data_[pos_] == '"') {
          quoted_any = true;
          const int open_line = line_;
          const size_t open_pos = pos_;
          ++pos_;
          for (;;) {
            if (pos_ >= data_.size()) {
              // Resume on the line after the opening quote: the rest of the file is likely fine.
              pos_ = open_pos;
              line_ = open_line;
              skip_line();
              throw BadRecord{fmt::format("a quoted field opened on line {} is never closed", open_line)};
            }
            char c = data_[pos_++];
            if (c == '"') {
              if (pos_ < data_.size() && data_[pos_] == '"') {
                field += '"';
                ++pos_;
              } else {
                break;
              }
            } else {
              if (c == '\n') ++line_;
              field += c;
            }
          }
          if (pos_ < data_.size() && data_[pos_] != delim_ && data_[pos_] != '\n' && data_[pos_] != '\r') {
            std::string rest = excerpt(std::string_view(data_).substr(pos_), 20);
            skip_line();
            throw BadRecord{
                fmt::format("text after a closing quote ('{}'); double the quotes inside a quoted field", rest)};
          }
        } else {
          while (pos_ < data_.size() && data_[pos_] != delim_ && data_[pos_] != '\n') field += data_[pos_++];
          if (!field.empty() && field.back() == '\r' && (pos_ >= data_.size() || data_[pos_] == '\n')) field.pop_back();
        }
        fields.push_back(std::move(field));
        field.clear();
        if (pos_ < data_.size() && data_[pos_] == '\r') ++pos_;
        if (pos_ >= data_.size()) break;
        if (data_[pos_] == delim_) {
          ++pos_;
          continue;
        }
        if (data_[pos_] == '\n') {
          ++pos_;
          ++line_;
          break;
        }
      }
      if (fields.size() == 1 && !quoted_any && blank(fields[0])) continue;
      return true;
    }
  }

 private:
  void skip_line() {
    while (pos_ < data_.size() && data_[pos_] != '\n') ++pos_;
    if (pos_ < data_.size()) {
      ++pos_;
      ++line_;
    }
  }
  std::string data_;
  char delim_;
  bool quoting_;
  size_t pos_ = 0;
  int line_ = 1;
};

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

std::string nlohmann_reason(const json::exception& e) {
  // "[json.exception.parse_error.101] parse error at line 1, column 3: ..." -> "parse error at column 3: ..."
  std::string s = e.what();
  if (auto p = s.find("] "); p != std::string::npos) s = s.substr(p + 2);
  if (auto p = s.find("at line 1, "); p != std::string::npos) s.erase(p + 3, 8);
  // Its "last read" excerpt may hold the offending bytes: keep the message printable ASCII.
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return s;
}

bool parse_int(const std::string& s, int64_t& v) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size() || s.size() > 18) return false;
  for (size_t k = i; k < s.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
  v = std::stoll(s);
  return true;
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

struct Settings {
  Format format = Format::Jsonl;
  bool auto_format = true;
  bool blurb = false;  // BioBERT/BLURB relation TSV: positional columns, layout and header decided per file
  std::string text_field, pair_field, label_field, id_field;
  bool has_pair = false, has_id = false;
  Header header = Header::Yes;
  bool lowercase_labels = false;
  bool skip_bad = false;
};

// Parses every record of one file. Bad records are thrown as Errors or, with skip_bad, counted.
class FileReader {
 public:
  FileReader(const Settings& s, fs::path file, int64_t& skipped, std::string& first_skipped)
      : s_(s), file_(std::move(file)), skipped_(skipped), first_skipped_(first_skipped) {}

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
    if (data.rfind("\xEF\xBB\xBF", 0) == 0) data.erase(0, 3);  // a UTF-8 byte order mark is not text
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

  void bad(int line, const std::string& reason) {
    std::string where = fmt::format("{}:{}", file_.string(), line);
    if (!s_.skip_bad)
      throw Error(
          fmt::format("{}: malformed record: {}; fix the file or set on_bad_record: "
                      "skip",
                      where, reason));
    if (skipped_++ == 0) first_skipped_ = fmt::format("{}: {}", where, reason);
  }

  void finish(Record& r) {
    if (blank(r.text))
      throw BadRecord{s_.blurb ? std::string("empty sentence") : fmt::format("empty text in field '{}'", s_.text_field)};
    if (s_.has_pair && blank(r.pair)) throw BadRecord{fmt::format("empty text in field '{}'", s_.pair_field)};
    const size_t first = r.label.find_first_not_of(" \t");
    r.label =
        first == std::string::npos ? std::string() : r.label.substr(first, r.label.find_last_not_of(" \t") - first + 1);
    if (s_.lowercase_labels)
      std::transform(r.label.begin(), r.label.end(), r.label.begin(), [](unsigned char c) { return std::tolower(c); });
    if (r.label.empty())
      throw BadRecord{s_.blurb ? std::string("empty label") : fmt::format("empty label in field '{}'", s_.label_field)};
    if (r.id.empty()) r.id = std::to_string(r.line);  // no id column, or an empty id: the line number
  }

  std::vector<Record> read_jsonl(const std::string& data) {
    std::vector<Record> out;
    int line_no = 0;
    size_t pos = 0;
    while (pos < data.size()) {
      size_t end = data.find('\n', pos);
      if (end == std::string::npos) end = data.size();
      std::string_view line(data.data() + pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (blank(line)) continue;
      try {
        json obj;
        try {
          obj = json::parse(line);
        } catch (const json::exception& e) {
          throw BadRecord{fmt::format("not valid JSON ({})", nlohmann_reason(e))};
        }
        if (!obj.is_object()) throw BadRecord{fmt::format("expected a JSON object, got '{}'", excerpt(line))};
        Record r;
        r.line = line_no;
        r.text = json_field(obj, s_.text_field, true);
        if (s_.has_pair) r.pair = json_field(obj, s_.pair_field, true);
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
    DelimitedReader reader(std::move(data), delim, /*quoting=*/!s_.blurb);
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
        if (s_.has_pair) r.pair = fields[static_cast<size_t>(pair_col)];
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
  int64_t& skipped_;
  std::string& first_skipped_;
};

// Tokenized examples of one split: example i is ids[offsets[i], offsets[i+1]).
struct Split {
  std::string name;
  std::vector<int32_t> ids;
  std::vector<uint8_t> type_ids;
  std::vector<int64_t> offsets{0};
  std::vector<int64_t> labels;
  std::vector<std::string> example_ids;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

class TextClassification : public Dataset {
 public:
  TextClassification(const Options& o, const BuildContext& ctx) {
    SH_CHECK(ctx.registry != nullptr, "built without a registry, so its tokenizer cannot be built");
    Settings s;
    const std::string format = o.get<std::string>("format");
    s.auto_format = format == "auto";
    s.blurb = format == "blurb";
    s.format = format == "csv" ? Format::Csv : (format == "tsv" || s.blurb) ? Format::Tsv : Format::Jsonl;
    s.text_field = o.get<std::string>("text_field");
    s.has_pair = o.has("text_pair_field");
    if (s.has_pair) s.pair_field = o.get<std::string>("text_pair_field");
    s.label_field = o.get<std::string>("label_field");
    s.has_id = o.has("id_field");
    if (s.has_id) s.id_field = o.get<std::string>("id_field");
    // Unset: a header in every CSV/TSV file (the behaviour before `auto` existed), decided per file for blurb.
    const std::string header = o.has("has_header") ? o.get<std::string>("has_header") : s.blurb ? "auto" : "true";
    s.header = header == "auto" ? Header::Auto : header == "false" ? Header::No : Header::Yes;
    if (s.blurb) {
      // The layout fixes the columns; a field option would be silently ignored, so it is refused instead.
      SH_CHECK(!s.has_pair && !s.has_id && s.text_field == "text" && s.label_field == "label",
               "format blurb reads its columns by position (sentence, label, or id, sentence, label), but {} is set; "
               "remove it, or use format: tsv with explicit fields",
               s.has_pair ? "text_pair_field" : s.has_id ? "id_field" : s.text_field != "text" ? "text_field"
                                                                                            : "label_field");
    }
    s.lowercase_labels = o.get<bool>("lowercase_labels");
    s.skip_bad = o.get<std::string>("on_bad_record") == "skip";
    const int64_t max_length = o.get<int64_t>("max_length");
    const int threads = static_cast<int>(o.get<int64_t>("threads"));
    std::vector<std::pair<std::string, fs::path>> files;
    for (const char* split : {"train", "validation", "test"})
      if (o.has(split)) files.emplace_back(split, o.path(split));
    const bool fixed_labels = o.has("labels");
    if (fixed_labels) labels_ = o.get<std::vector<std::string>>("labels");
    auto tok = ctx.registry->create<Tokenizer>(o.node("tokenizer"), ctx);

    SH_CHECK(!files.empty(), "no data file; give at least one of 'train', 'validation', 'test'");
    const SpecialTokens& sp = tok->special();
    SH_CHECK(sp.pad >= 0,
             "the tokenizer has no '{}' token to pad batches with; use a tokenizer "
             "whose vocabulary has one or set its pad_token",
             sp.pad_token);
    SH_CHECK(max_length >= (s.has_pair ? 4 : 3),
             "max_length {} leaves no room for text after the special tokens; raise it", max_length);
    pad_id_ = sp.pad;

    if (fixed_labels) {
      for (auto& l : labels_)
        if (s.lowercase_labels)
          std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
      std::set<std::string> seen;
      for (const auto& l : labels_)
        SH_CHECK(seen.insert(l).second, "label '{}' appears twice in 'labels'; list each once", l);
      SH_CHECK(!labels_.empty(), "'labels' is empty; list the class names or leave it unset");
    }

    std::vector<std::vector<Record>> records;
    std::string first_skipped;
    for (const auto& [split, file] : files) {
      FileReader reader(s, file, skipped_, first_skipped);
      records.push_back(reader.read());
    }
    if (!fixed_labels) {
      SH_CHECK(files.front().first == "train",
               "no 'train' file to learn the labels from; list them in 'labels' (in the order "
               "of the model's classes)");
      std::set<std::string> seen;
      for (const auto& r : records.front()) seen.insert(r.label);
      labels_.assign(seen.begin(), seen.end());
      bool numeric = !labels_.empty();
      for (const auto& l : labels_) {
        int64_t v = 0;
        numeric = numeric && parse_int(l, v);
      }
      if (numeric)
        std::sort(labels_.begin(), labels_.end(),
                  [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
    }
    std::map<std::string, int64_t> label_id;
    for (size_t i = 0; i < labels_.size(); ++i) label_id[labels_[i]] = static_cast<int64_t>(i);
    std::string known;
    for (const auto& l : labels_) known += (known.empty() ? "" : ", ") + l;

    EncodeOptions enc;
    enc.max_length = static_cast<int32_t>(max_length);
    enc.truncation = Truncation::LongestFirst;
    enc.padding = Padding::None;
    enc.add_special_tokens = true;
    for (size_t f = 0; f < files.size(); ++f) {
      const auto& [split, file] = files[f];
      auto& recs = records[f];
      SH_CHECK(!recs.empty(), "{} file '{}' holds no record", split, file.string());
      Split out;
      out.name = split;
      std::vector<std::string> a, b;
      for (auto& r : recs) {
        auto it = label_id.find(r.label);
        SH_CHECK(it != label_id.end(),
                 "{}:{}: label '{}' is not one of the {} known labels ({}), which {}; fix the "
                 "record or list every label in 'labels'",
                 file.string(), r.line, r.label, labels_.size(), known,
                 fixed_labels ? "'labels' lists" : "come from the train file");
        out.labels.push_back(it->second);
        out.example_ids.push_back(std::move(r.id));
        a.push_back(std::move(r.text));
        if (s.has_pair) b.push_back(std::move(r.pair));
      }
      recs = {};
      auto encodings = tok->encode_batch(a, s.has_pair ? &b : nullptr, enc, threads);
      for (const auto& e : encodings) {
        out.ids.insert(out.ids.end(), e.ids.begin(), e.ids.end());
        for (int32_t t : e.type_ids) out.type_ids.push_back(static_cast<uint8_t>(t));
        out.offsets.push_back(static_cast<int64_t>(out.ids.size()));
      }
      splits_.push_back(std::move(out));
    }
    hints_ = {{"num_labels", static_cast<int64_t>(labels_.size())},
              {"vocab_size", tok->vocab_size()},
              {"pad_id", sp.pad},
              {"skipped_records", skipped_}};
    if (skipped_ > 0)
      // Components have no logger of their own; stderr is where the run log's console lines go too.
      std::cerr << fmt::format(
          "text_classification: skipped {} malformed record(s) (on_bad_record: skip); the first: "
          "{}\n",
          skipped_, first_skipped);
  }

  std::vector<std::string> splits() const override {
    std::vector<std::string> out;
    for (const auto& s : splits_) out.push_back(s.name);
    return out;
  }
  int64_t size(const std::string& split) const override { return find(split).size(); }
  std::vector<std::string> labels() const override { return labels_; }
  std::map<std::string, int64_t> hints() const override { return hints_; }

  Batch batch(const std::string& split, const std::vector<int64_t>& indices) const override {
    const Split& s = find(split);
    const int64_t n = s.size();
    int64_t longest = 0;
    for (int64_t i : indices) {
      SH_CHECK(i >= 0 && i < n, "text_classification: example index {} is out of range for split '{}' ({} examples)", i,
               split, n);
      longest = std::max(longest, s.offsets[i + 1] - s.offsets[i]);
    }
    const int64_t bsz = static_cast<int64_t>(indices.size());
    auto input_ids = torch::full({bsz, longest}, static_cast<int64_t>(pad_id_), torch::kInt64);
    auto mask = torch::zeros({bsz, longest}, torch::kInt64);
    auto types = torch::zeros({bsz, longest}, torch::kInt64);
    auto labels = torch::empty({bsz}, torch::kInt64);
    int64_t* ids_p = input_ids.data_ptr<int64_t>();
    int64_t* mask_p = mask.data_ptr<int64_t>();
    int64_t* types_p = types.data_ptr<int64_t>();
    int64_t* labels_p = labels.data_ptr<int64_t>();
    Batch out;
    out.ids.reserve(indices.size());
    for (int64_t r = 0; r < bsz; ++r) {
      const int64_t i = indices[static_cast<size_t>(r)];
      for (int64_t k = s.offsets[i], j = r * longest; k < s.offsets[i + 1]; ++k, ++j) {
        ids_p[j] = s.ids[static_cast<size_t>(k)];
        types_p[j] = s.type_ids[static_cast<size_t>(k)];
        mask_p[j] = 1;
      }
      labels_p[r] = s.labels[static_cast<size_t>(i)];
      out.ids.push_back(s.example_ids[static_cast<size_t>(i)]);
    }
    out.set("input_ids", input_ids);
    out.set("attention_mask", mask);
    out.set("token_type_ids", types);
    out.set("labels", labels);
    return out;
  }

 private:
  const Split& find(const std::string& split) const {
    for (const auto& s : splits_)
      if (s.name == split) return s;
    std::string have;
    for (const auto& s : splits_) have += (have.empty() ? "" : ", ") + s.name;
    throw Error(
        fmt::format("text_classification has no split '{}'; its splits are: {} (give a file for it with "
                    "the option of that name)",
                    split, have));
  }

  int32_t pad_id_ = 0;
  int64_t skipped_ = 0;
  std::vector<std::string> labels_;
  std::vector<Split> splits_;
  std::map<std::string, int64_t> hints_;
};

}  // namespace
}  // namespace stagehand

namespace {
// A string choice rather than a bool, so that `auto` fits; YAML true/false still read as before.
stagehand::OptionSpec has_header_option() {
  stagehand::OptionSpec spec;
  spec.name = "has_header";
  spec.type = stagehand::OptionType::String;
  spec.choices = {"true", "false", "auto"};
  spec.nullable = true;
  spec.doc =
      "CSV/TSV header row: true: every file starts with one naming the columns; false: none, fields are 0-based "
      "column numbers; auto: per file, the first line is a header when it has a field equal to the label column's "
      "name and another equal to the text column's name (ASCII case-insensitive; the names are label_field and "
      "text_field when those are names, else 'label' and 'sentence' or 'text'), and column-number fields work "
      "either way; unset: true, or auto with format blurb";
  return spec;
}
}  // namespace

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar
      .add<stagehand::Dataset>(
          "text_classification", "labelled texts or text pairs from JSON lines, CSV or TSV files, one file per split",
          stagehand::Schema()
              .component("tokenizer", "tokenizer", "tokenizer spec, or the name of a tokenizer stage")
              .optional("train", OptionType::Path,
                        "training file (its labels define the classes unless 'labels' is set)")
              .optional("validation", OptionType::Path, "validation file")
              .optional("test", OptionType::Path, "test file")
              .choice("format", "auto", {"auto", "jsonl", "csv", "tsv", "blurb"},
                      "file format; auto: by extension (.jsonl/.json/.ndjson, .csv, .tsv/.tab); blurb: BioBERT/BLURB "
                      "relation TSV (GAD, ChemProt, DDI): tab-separated without quoting, per file 2 columns "
                      "(sentence, label) or 3 (id, sentence, label, the id becoming the example id), header line "
                      "optional (has_header unset means auto); the field options must stay unset")
              .opt("text_field", "text",
                   "field (JSON key or CSV/TSV column name; a 0-based column number with has_header false or auto) of "
                   "the text")
              .optional("text_pair_field", OptionType::String,
                        "field of the second text, for pair classification ([CLS] a [SEP] b [SEP], segment ids 0/1)")
              .opt("label_field", "label", "field of the label (strings; JSON numbers and booleans are read as text)")
              .optional("id_field", OptionType::String, "field of the example id; unset: the record's line number")
              .add(has_header_option())
              .opt("max_length", int64_t{128}, "tokens per example, special tokens included (longest-first truncation)")
              .min(3)
              .list("labels", OptionType::String, stagehand::ConfigNode::null(),
                    "class names in class-id order; unset: the train file's labels, sorted (numerically if integers)")
              .nullable()
              .opt("lowercase_labels", false, "lowercase labels (ASCII letters) before matching them")
              .choice("on_bad_record", "fail", {"fail", "skip"},
                      "malformed records: fail with file:line, or skip them (counted in hints 'skipped_records')")
              .opt("threads", int64_t{2}, "threads that tokenize the texts")
              .min(1),
          [](const stagehand::Options& o, const stagehand::BuildContext& ctx) {
            return std::make_shared<stagehand::TextClassification>(o, ctx);
          })
      .with_example(stagehand::parse_yaml(
          "{type: text_classification, train: data/spam/train.jsonl, validation: data/spam/dev.jsonl, "
          "tokenizer: {type: sentencepiece, model: tests/data/tokenizers/albert-30k-clean.model}}",
          "example"));
}
