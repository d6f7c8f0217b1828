// SPDX-License-Identifier: Apache-2.0
#pragma once
// The plugin conformance kit behind `runner test-plugin`. Host-internal. Generic checks (manifest, every component
// builds from its defaults or example, the option schema matches what the component reads) run for every kind;
// kind-specific probes (state round trip, determinism under a seed, finite gradients, ...) are registered per kind
// by the code that defines the kind's interface.
#include <functional>
#include <string>
#include <vector>

#include "stagehand/export.h"
#include "stagehand/registry.h"

namespace stagehand {

struct STAGEHAND_API ConformanceReport {
  enum class Verdict { Pass, Fail, Skip };
  struct Item {
    std::string component;
    std::string check;
    Verdict verdict = Verdict::Pass;
    std::string detail;
  };
  std::vector<Item> items;
  std::string component;  ///< set by the kit before calling a probe
  void pass(const std::string& check, const std::string& detail = "") { add(check, Verdict::Pass, detail); }
  void fail(const std::string& check, const std::string& detail) { add(check, Verdict::Fail, detail); }
  void skip(const std::string& check, const std::string& detail) { add(check, Verdict::Skip, detail); }
  bool ok() const;

 private:
  void add(const std::string& check, Verdict v, const std::string& detail) {
    items.push_back({component, check, v, detail});
  }
};

/// Exercises a built component of one kind. `make` builds a fresh instance from the same spec (and seed).
using ConformanceProbe = std::function<void(const std::function<std::shared_ptr<void>()>& make,
                                            const BuildContext& ctx, ConformanceReport& report)>;
STAGEHAND_API void register_conformance_probe(const std::string& kind, ConformanceProbe probe);
STAGEHAND_API const ConformanceProbe* find_conformance_probe(const std::string& kind);

/// Runs the whole kit on every component that `plugin_file` registered.
STAGEHAND_API ConformanceReport run_conformance(const Registry& registry, const std::string& plugin_file);

}  // namespace stagehand
