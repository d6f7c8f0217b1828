// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading record files as the datasets do: the lines of a file with their numbers, a byte order mark dropped,
/// RFC 4180 CSV/TSV records, nlohmann::json's errors as message text, and the on_bad_record policy (fail naming
/// file:line, or skip and count). Used by the datasets text_classification (JSONL, CSV, TSV), sentence_pairs (GLUE
/// TSV, JSONL), token_classification (BioBERT/CoNLL lines) and specter (JSON, JSONL, CSV). Tensor-free: the fuzz
/// targets (fuzz/) compile sdk/src/records.cpp with the readers, without LibTorch.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk {

/// Bytes of a UTF-8 byte order mark at the start of `data`: 3, or 0 without one. A byte order mark is not text.
STAGEHAND_SDK_API size_t bom_length(std::string_view data);
/// Drops a UTF-8 byte order mark from the start of `data`.
STAGEHAND_SDK_API void strip_bom(std::string& data);

/// The lines of a text, numbered from 1, each without its '\n'. A '\r' before the '\n' is kept: the formats differ
/// on what it means (a blank, part of a field, to be dropped). The text must outlive the reader.
class STAGEHAND_SDK_API Lines {
 public:
  explicit Lines(std::string_view data, size_t start = 0) : data_(data), pos_(start) {}
  /// The next line and its number; false at the end of the text.
  bool next(std::string_view& line, int& number);

 private:
  std::string_view data_;
  size_t pos_ = 0;
  int number_ = 0;
};

/// At most `n` bytes of `s` for a message, line breaks and tabs as spaces, "..." when cut.
STAGEHAND_SDK_API std::string excerpt(std::string_view s, size_t n = 40);

/// Whether nlohmann::json's "parse error at line L, column C: " stays in json_error_reason's text.
enum class JsonPosition {
  kKeep,    ///< as nlohmann::json writes it
  kColumn,  ///< without "line 1, ": the text parsed was one line, which the caller names itself
  kDrop,    ///< without "parse error at ...: ": the caller names the position itself
};

/// The message of a nlohmann::json exception (`what`) for an error of ours: without its "[json.exception...] " tag,
/// printable ASCII (its "last read" excerpt may hold the offending bytes), the position as `position` says.
STAGEHAND_SDK_API std::string json_error_reason(const std::string& what, JsonPosition position);

/// A malformed record, thrown by the code that parses one and caught by the reader, which hands it to BadRecords.
struct BadRecord {
  std::string reason;
};

/// The on_bad_record policy: fail at the first malformed record, naming file:line and the fix, or (skip) count
/// them and keep the first's file:line and reason for the run log.
struct STAGEHAND_SDK_API BadRecords {
  std::string component;  ///< starts the error message ("glue: ..."); empty: it starts with file:line
  bool skip = false;
  int64_t count = 0;
  std::string first;  ///< "file:line: reason" of the first record skipped
  /// A malformed record at file:line: an Error, or (skip) counted and, when it is the first, described.
  void add(const std::filesystem::path& file, int line, const std::string& reason);
};

/// RFC 4180 reader with line numbers: a field that starts with a double quote runs to the matching quote ("" is a
/// literal quote) and may hold delimiters and newlines; quotes inside an unquoted field are literal. Without
/// `quoting` every field runs to the next delimiter or line end and quotes are always literal (BioBERT's TSV files
/// are written and read that way, and their sentences may start with a quote). CRLF line ends are read as LF; lines
/// that hold only white space are skipped.
class STAGEHAND_SDK_API DelimitedReader {
 public:
  DelimitedReader(std::string data, char delim, bool quoting = true)
      : data_(std::move(data)), delim_(delim), quoting_(quoting) {}

  /// The next non-blank record; false at the end. `line` is the line the record starts on. Throws BadRecord after
  /// moving past the damaged line, so that reading can go on.
  bool next(std::vector<std::string>& fields, int& line);

 private:
  void skip_line();
  std::string data_;
  char delim_;
  bool quoting_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace stagehand::sdk
