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
class STAGEHAND_API Interrupted : public Error {
 public:
  explicit Interrupted(int signal_number);
  ~Interrupted() override;
  int signal_number() const { return signal_; }

 private:
  int signal_;
};

}  // namespace stagehand

/// Throws stagehand::Error with a fmt-formatted message when `cond` is false.
#define SH_CHECK(cond, ...)                                         \
  do {                                                              \
    if (!(cond)) throw ::stagehand::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

/// Throws stagehand::Error with a fmt-formatted message at a configuration location.
#define SH_FAIL_AT(where, ...) throw ::stagehand::Error(::fmt::format(__VA_ARGS__), (where))
