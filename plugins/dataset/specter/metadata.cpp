// SPDX-License-Identifier: Apache-2.0
// Paper metadata files (metadata.h).
#include "metadata.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include <stagehand/error.h>
#include <stagehand/files.h>

#include <stagehand/sdk/records.h>

namespace stagehand::specter {

namespace {
using json = nlohmann::json;

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos; }

// SAX handler for {paper_id: {"title": ..., "abstract": ..., ...}, ...}. Depth 1 is the top-level object, depth
// 2 a paper's object; anything deeper (authors, references, ...) is skipped.
class MetadataReader {
 public:
  MetadataReader(Metadata& m, const std::string& data) : m_(m), data_(data) {}

  bool null() { return scalar("null", true); }
  bool boolean(bool) { return scalar("a boolean", false); }
  bool number_integer(json::number_integer_t) { return scalar("a number", false); }
  bool number_unsigned(json::number_unsigned_t) { return scalar("a number", false); }
  bool number_float(json::number_float_t, const std::string&) { return scalar("a number", false); }
  bool binary(json::binary_t&) { return scalar("binary data", false); }
  bool string(std::string& s) {
    if (depth_ == 2) {
      if (field_ == "title") title_ = std::move(s);
      if (field_ == "abstract") abstract_ = std::move(s);
      return true;
    }
    return scalar("a string", false);
  }
  bool start_object(size_t) { return open("an object"); }
  bool start_array(size_t) { return open("a list"); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& k) {
    if (depth_ == 1)
      id_ = std::move(k);
    else if (depth_ == 2)
      field_ = std::move(k);
    return true;
  }
  bool parse_error(size_t pos, const std::string&, const nlohmann::detail::exception& e) {
    throw Error(
        fmt::format("{}: not valid JSON: {}; SPECTER/SciDocs metadata is one JSON object "
                    "{{paper_id: {{\"title\": ..., \"abstract\": ...}}, ...}}",
                    position(m_.file, data_, pos > 0 ? pos - 1 : 0),
                    sdk::json_error_reason(e.what(), sdk::JsonPosition::kDrop)));
  }

 private:
  bool scalar(const char* what, bool is_null) {
    if (depth_ == 0) top_level(what);
    if (depth_ == 1) wrong_paper(what);
    if (depth_ == 2 && (field_ == "title" || field_ == "abstract") && !is_null)
      throw Error(
          fmt::format("{}: paper '{}': '{}' is {}, expected a string or null", m_.file.string(), id_, field_, what));
    return true;
  }
  bool open(const char* what) {
    if (depth_ == 0 && std::string(what) != "an object") top_level(what);
    if (depth_ == 1 && std::string(what) != "an object") wrong_paper(what);
    if (depth_ == 2 && (field_ == "title" || field_ == "abstract"))
      throw Error(
          fmt::format("{}: paper '{}': '{}' is {}, expected a string or null", m_.file.string(), id_, field_, what));
    if (depth_ == 1) {
      title_.clear();
      abstract_.clear();
      field_.clear();
    }
    ++depth_;
    return true;
  }
  bool close() {
    if (depth_ == 2) commit();
    --depth_;
    return true;
  }
  [[noreturn]] void top_level(const char* what) {
    throw Error(
        fmt::format("{}: the file holds {}, expected one JSON object {{paper_id: {{\"title\": ..., "
                    "\"abstract\": ...}}, ...}} (SPECTER's metadata.json, SciDocs' paper_metadata_*.json)",
                    m_.file.string(), what));
  }
  [[noreturn]] void wrong_paper(const char* what) {
    throw Error(fmt::format("{}: paper '{}' is {}, expected an object with 'title' and 'abstract'", m_.file.string(),
                            id_, what));
  }
  void commit() {
    auto [it, added] = m_.index.emplace(id_, m_.size());
    if (added) {
      m_.ids.push_back(id_);
      m_.titles.push_back(std::move(title_));
      m_.abstracts.push_back(std::move(abstract_));
    } else {  // Python's json.load: the last value, at the first key's position
      m_.titles[static_cast<size_t>(it->second)] = std::move(title_);
      m_.abstracts[static_cast<size_t>(it->second)] = std::move(abstract_);
    }
    title_.clear();
    abstract_.clear();
  }

  Metadata& m_;
  const std::string& data_;
  int depth_ = 0;
  std::string id_, field_, title_, abstract_;
};

}  // namespace

bool Metadata::has_text(int64_t row) const {
  return !blank(titles[static_cast<size_t>(row)]) || !blank(abstracts[static_cast<size_t>(row)]);
}

std::string position(const fs::path& file, const std::string& data, size_t offset) {
  offset = std::min(offset, data.size());
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset; ++i)
    if (data[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  return fmt::format("{}:{}:{}", file.string(), line, offset - line_start + 1);
}

Metadata read_metadata(const fs::path& file) {
  Metadata m;
  m.file = file;
  std::string data = read_file(file);
  sdk::strip_bom(data);
  MetadataReader reader(m, data);
  json::sax_parse(data, &reader);
  SH_CHECK(m.size() > 0, "{}: holds no paper; expected {{paper_id: {{\"title\": ..., \"abstract\": ...}}, ...}}",
           file.string());
  return m;
}

}  // namespace stagehand::specter
