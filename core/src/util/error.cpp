// SPDX-License-Identifier: Apache-2.0
#include "stagehand/error.h"

#include <csignal>

namespace stagehand {

std::string Location::str() const {
  if (file.empty()) return "";
  if (line <= 0) return file;
  return fmt::format("{}:{}:{}", file, line, column);
}

bool Location::derived() const { return file == "<default>" || file.rfind("<from ", 0) == 0; }

Error::Error(std::string message, Location where)
    : std::runtime_error(message), message_(std::move(message)), where_(std::move(where)) {
  rebuild();
}
Error::~Error() = default;

Error& Error::in_stage(const std::string& stage) {
  if (stage_.empty()) stage_ = stage;
  rebuild();
  return *this;
}
Error& Error::in_component(const std::string& component) {
  if (component_.empty()) component_ = component;
  rebuild();
  return *this;
}
Error& Error::at(const Location& where) {
  if (!where_.known()) where_ = where;
  rebuild();
  return *this;
}

void Error::rebuild() {
  full_.clear();
  if (where_.known()) full_ += where_.str() + ": ";
  if (!stage_.empty()) full_ += "stage '" + stage_ + "': ";
  if (!component_.empty()) full_ += component_ + ": ";
  full_ += message_;
}

Interrupted::Interrupted(int signal_number)
    : Error(signal_number == SIGTERM ? "interrupted by SIGTERM (state saved; run the same command to resume)"
                                     : "interrupted by SIGINT (state saved; run the same command to resume)"),
      signal_(signal_number) {}
Interrupted::~Interrupted() = default;

}  // namespace stagehand
