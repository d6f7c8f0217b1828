// SPDX-License-Identifier: Apache-2.0
// Stage kind `report`: a results table of metrics earlier stages already recorded (no model is run again), one
// column per stage. A stage run with `trials: N` shows "mean (std)" over its trials — the Bio-ELECTRA papers'
// "78.33 (0.41)". Useful when the columns are different tasks (NER and relation extraction) that no single
// evaluate stage could score. Writes results.md and results.csv and prints the table.
#include <fnmatch.h>

#include <stagehand/plugin.h>
#include <stagehand/results.h>
#include <stagehand/stage.h>
#include <stagehand/files.h>
#include <stagehand/summary.h>

namespace stagehand {
namespace {

bool matches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

class ReportStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const auto patterns = o.get<std::vector<std::string>>("metrics");
    std::vector<std::string> names;
    for (const auto& n : o.node("stages").items()) names.push_back(n.as_string());
    ResultsTable table(names);
    for (const auto& name : names) {
      const StageOutput& up = ctx.upstream(name);
      // Every trial's own value (the aggregate's ".std/.min/.max" entries are derived, not listed).
      std::vector<std::map<std::string, double>> runs;
      if (up.trials.empty()) {
        runs.push_back(up.metrics);
      } else {
        for (const auto& t : up.trials) runs.push_back(t.metrics);
      }
      std::map<std::string, std::vector<double>> values;
      for (const auto& m : runs)
        for (const auto& [k, v] : m)
          for (const auto& p : patterns)
            if (matches(p, k)) {
              values[k].push_back(v);
              break;
            }
      SH_CHECK(!values.empty(),
               "report: stage '{}' recorded no metric matching {} (it has: {}); change 'metrics' to patterns "
               "that match",
               name, fmt::join(patterns, ", "), [&] {
                 std::vector<std::string> have;
                 for (const auto& [k, v] : runs.front()) have.push_back(k);
                 return have.empty() ? std::string("none") : fmt::format("{}", fmt::join(have, ", "));
               }());
      // A stage that evaluated a model run with trials (evaluate) records the mean as <model>.<metric> and each
      // trial's value as <model>.trials.<k>.<metric>: the table shows those as mean (std) too.
      if (up.trials.empty())
        for (auto& [k, v] : values) {
          const size_t dot = k.find('.');
          if (dot == std::string::npos || k.find(".trials.") != std::string::npos) continue;
          std::vector<double> per_trial;
          for (int t = 1;; ++t) {
            auto it = up.metrics.find(fmt::format("{}.trials.{}.{}", k.substr(0, dot), t, k.substr(dot + 1)));
            if (it == up.metrics.end()) break;
            per_trial.push_back(it->second);
          }
          if (per_trial.size() > 1) v = per_trial;
        }
      for (const auto& [k, v] : values) {
        table.set(k, name, v);
        Summary s = summarize(v);
        ctx.metric(name + "." + k, s.mean);
        if (v.size() > 1) ctx.metric(name + "." + k + ".std", s.std);
      }
    }
    write_file_atomic(ctx.output_dir() / "results.csv", table.csv());
    write_file_atomic(ctx.output_dir() / "results.md", table.markdown());
    const std::string title = o.get<std::string>("title");
    ctx.info(fmt::format("{}:\n{}", title.empty() ? std::string("results") : title, table.markdown()));
  }
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::ConfigNode;
  using stagehand::OptionType;
  registrar.add<stagehand::Stage>(
      "report",
      "a results table of the metrics earlier stages recorded, one column per stage, mean (std) over trials",
      stagehand::Schema()
          .required("stages", OptionType::Stages, "stages whose recorded metrics to tabulate (columns)")
          .list("metrics", OptionType::String, stagehand::parse_yaml("['test.*']", "<default>"),
                "metric names or shell patterns (fnmatch) of the rows, e.g. [test.f1, test.precision] or "
                "['test.*']; a pattern's '*' also matches '.', so name per-class rows explicitly")
          .opt("title", std::string(""), "heading printed above the table"),
      [](const stagehand::Options&) { return std::make_shared<stagehand::ReportStage>(); });
}
