// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the YAML configuration loader (parse_yaml) and what every component does with a parsed node:
// walking it, reading scalars as each type, cloning, printing and parsing the print again (the same tree must
// come back: records are printed this way and replayed). Any input must give a
// node or a stagehand::Error; another exception, a crash or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "stagehand/config.h"
#include "stagehand/error.h"

namespace {

void walk(const stagehand::ConfigNode& n, int depth) {
  if (depth > 64) return;
  (void)n.type_name();
  (void)n.location();
  if (n.is_scalar()) {
    // Each typed read either succeeds or throws stagehand::Error naming the value.
    try { (void)n.as_int(); } catch (const stagehand::Error&) {}
    try { (void)n.as_double(); } catch (const stagehand::Error&) {}
    try { (void)n.as_bool(); } catch (const stagehand::Error&) {}
    try { (void)n.as_string(); } catch (const stagehand::Error&) {}
  } else if (n.is_sequence()) {
    for (const auto& item : n.items()) walk(item, depth + 1);
  } else if (n.is_map()) {
    for (const auto& [key, value] : n.entries()) {
      (void)n.find(key);
      walk(value, depth + 1);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  stagehand::ConfigNode node;
  try {
    node = stagehand::parse_yaml(text, "fuzz.yaml");
  } catch (const stagehand::Error&) {
    return 0;  // refused with a message: fine
  }
  walk(node, 0);
  const stagehand::ConfigNode copy = node.clone();
  // What the loader accepted prints as YAML that reads back to an equal tree.
  const std::string printed = stagehand::to_yaml(copy);
  stagehand::ConfigNode again;
  try {
    again = stagehand::parse_yaml(printed, "printed.yaml");
  } catch (const stagehand::Error&) {
    __builtin_trap();  // printed YAML that does not parse back
  }
  walk(again, 0);
  // ... and the same tree: printing it again gives the same text.
  if (stagehand::to_yaml(again) != printed) __builtin_trap();
  return 0;
}
