// SPDX-License-Identifier: Apache-2.0
// Record files (records.h). Tensor-free: the fuzz targets compile this file without LibTorch.
#include "stagehand/sdk/records.h"

#include <stagehand/error.h>

namespace stagehand::sdk {

namespace {

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos; }

}  // namespace

size_t bom_length(std::string_view data) { return data.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0; }

void strip_bom(std::string& data) { data.erase(0, bom_length(data)); }

bool Lines::next(std::string_view& line, int& number) {
  if (pos_ >= data_.size()) return false;
  size_t end = data_.find('\n', pos_);
  if (end == std::string_view::npos) end = data_.size();
  line = data_.substr(pos_, end - pos_);
  pos_ = end + 1;
  number = ++number_;
  return true;
}

std::string excerpt(std::string_view s, size_t n) {
  std::string out(s.substr(0, n));
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return s.size() > n ? out + "..." : out;
}

std::string json_error_reason(const std::string& what, JsonPosition position) {
  // "[json.exception.parse_error.101] parse error at line 1, column 3: syntax error ..."
  std::string s = what;
  if (auto p = s.find("] "); p != std::string::npos) s = s.substr(p + 2);
  if (position == JsonPosition::kColumn) {
    if (auto p = s.find("at line 1, "); p != std::string::npos) s.erase(p + 3, 8);
  } else if (position == JsonPosition::kDrop && s.rfind("parse error", 0) == 0) {
    if (auto p = s.find(": "); p != std::string::npos) s = s.substr(p + 2);
  }
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return s;
}

void BadRecords::add(const std::filesystem::path& file, int line, const std::string& reason) {
  const std::string where = fmt::format("{}:{}", file.string(), line);
  if (!skip) {
    const std::string prefix = component.empty() ? std::string() : component + ": ";
    throw Error(
        fmt::format("{}{}: malformed record: {}; fix the file or set on_bad_record: skip", prefix, where, reason));
  }
  if (count++ == 0) first = fmt::format("{}: {}", where, reason);
}

bool DelimitedReader::next(std::vector<std::string>& fields, int& line) {
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

void DelimitedReader::skip_line() {
  while (pos_ < data_.size() && data_[pos_] != '\n') ++pos_;
  if (pos_ < data_.size()) {
    ++pos_;
    ++line_;
  }
}

}  // namespace stagehand::sdk
