// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "stagehand/export.h"

namespace stagehand {

/// Where a configuration value came from. `file` is a path as given (or "<command line>", "<default>").
/// Line and column are 1-based; 0 means unknown.
struct STAGEHAND_API Location {
  std::string file;
  int line = 0;
  int column = 0;
  bool known() const { return !file.empty(); }
  /// True for a value nobody wrote: a schema default ("<default>") or a value derived from another component
  /// ("<from ...>", e.g. an encoder's vocab_size from its tokenizer). Better knowledge may replace such a value;
  /// a written one (a file, a command-line override) is never replaced.
  bool derived() const;
  /// "file:line:col", "file" or "" when unknown.
  std::string str() const;
};

/// The one exception type of stagehand. It carries optional context (stage, component, config location)
/// that `runner` prints as a single line: "<location>: [stage 'x'] [component] <message>".
/// Its key function lives in the core, so it can be caught across plugin boundaries.
class STAGEHAND_API Error : public std::runtime_error {
 public:
  explicit Error(std::string message, Location where = {});
  ~Error() override;

  const std::string& message() const { return message_; }
  const Location& location() const { return where_; }
  const std::string& stage() const { return stage_; }
  const std::string& component() const { return component_; }

  /// Adds context unless already set; returns *this so that it can be rethrown.
  Error& in_stage(const std::string& stage);
  Error& in_component(const std::string& component);
  Error& at(const Location& where);

  const char* what() const noexcept override { return full_.c_str(); }

 private:
  void rebuild();
  std::string message_;
  Location where_;
  std::string stage_;
  std::string component_;
  std::string full_;
};

/// Thrown when a stage stops because SIGINT/SIGTERM was received (after it saved its state).
/// Not a mistake to report but a request to stop: the runner exits with 128 + the signal number.
class STAGEHAND_API Interrupted : public Error {
 public:
  explicit Interrupted(int signal_number);
  ~Interrupted() override;
  int signal_number() const { return signal_; }

 private:
  int signal_;
};

/// The one way to raise stagehand::Error: a fmt-formatted message of one line that says what is wrong, where
/// (the file, option or stage), the value found, what was expected, and the fix, e.g.
///   fail("--nproc {}: expected at least 1 rank per machine", n);
/// [[noreturn]], so no dead `return` is needed after it. SH_CHECK(cond, ...) is the conditional form.
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

/// fail() at a configuration location: the runner prints "<file>:<line>:<col>: <message>".
template <class... Args>
[[noreturn]] void fail_at(const Location& where, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...), where);
}

}  // namespace stagehand

/// Checks `cond`; when it is false, raises as stagehand::fail does.
#define SH_CHECK(cond, ...)                      \
  do {                                           \
    if (!(cond)) ::stagehand::fail(__VA_ARGS__); \
  } while (0)

/// Raises at a configuration location, as stagehand::fail_at does.
#define SH_FAIL_AT(where, ...) ::stagehand::fail_at((where), __VA_ARGS__)
