// SPDX-License-Identifier: Apache-2.0
// Stage kind `evaluate`: the metrics of one or more trained models (earlier stages) on one split of a dataset,
// side by side, with their speed; writes results.csv and results.md and prints the table.
#include <torch/types.h>

#include <chrono>
#include <set>

#include <stagehand/dataset.h>
#include <stagehand/engine.h>
#include <stagehand/model.h>
#include <stagehand/plugin.h>
#include <stagehand/stage.h>
#include <stagehand/util.h>

namespace stagehand {
namespace {

class EvaluateStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const Registry& reg = ctx.registry();
    auto data = ctx.build<Dataset>("data");
    const std::string split = o.get<std::string>("split");
    SH_CHECK(data->has_split(split) && data->size(split) > 0, "the dataset has no (or an empty) '{}' split", split);
    const int64_t bs = o.get<int64_t>("batch_size");
    std::vector<std::string> names;
    for (const auto& n : o.node("models").items()) names.push_back(n.as_string());
    std::map<std::string, std::map<std::string, double>> table;
    std::map<std::string, double> speed;
    for (const auto& name : names) {
      const StageOutput& up = ctx.upstream(name);
      auto it = up.provides.find("model");
      SH_CHECK(it != up.provides.end(), "stage '{}' provides no model to evaluate", name);
      BuildContext bc = ctx.build_context();
      bc.base_dir = up.dir;
      auto model = reg.create<Model>(it->second, bc);
      std::vector<std::shared_ptr<Evaluator>> evals;
      for (const auto& e : o.node("evaluators").items()) evals.push_back(reg.create<Evaluator>(e, ctx.build_context()));
      auto t0 = std::chrono::steady_clock::now();
      auto m = evaluate_split(*model, *data, split, evals, bs, nullptr, &ctx);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
      table[name] = m;
      speed[name] = secs > 0 ? static_cast<double>(data->size(split)) / secs : 0;
      for (const auto& [k, v] : m) ctx.metric(name + "." + k, v);
      ctx.timing(name + ".examples_per_second", speed[name]);
      int64_t params = 0;
      for (const auto& p : model->parameters()) params += p.numel();
      ctx.metric(name + ".parameters", static_cast<double>(params));
    }
    // The table: one row per headline metric (per-class details stay in the record), one column per model.
    std::set<std::string> metrics;
    for (const auto& [n, m] : table)
      for (const auto& [k, v] : m)
        if (k.find('.') == std::string::npos) metrics.insert(k);
    std::string csv = "metric";
    std::string md = "| metric |";
    std::string rule = "|---|";
    for (const auto& n : names) {
      csv += "," + n;
      md += " " + n + " |";
      rule += "---|";
    }
    csv += "\n";
    md += "\n" + rule + "\n";
    for (const auto& k : metrics) {
      csv += k;
      md += "| " + k + " |";
      for (const auto& n : names) {
        auto it = table[n].find(k);
        std::string v = it == table[n].end() ? "" : fmt::format("{:.4f}", it->second);
        csv += "," + v;
        md += " " + v + " |";
      }
      csv += "\n";
      md += "\n";
    }
    csv += "examples_per_second";
    md += "| examples/s (this machine) |";
    for (const auto& n : names) {
      csv += fmt::format(",{:.1f}", speed[n]);
      md += fmt::format(" {:.1f} |", speed[n]);
    }
    csv += "\n";
    md += "\n";
    write_file_atomic(ctx.output_dir() / "results.csv", csv);
    write_file_atomic(ctx.output_dir() / "results.md", md);
    ctx.info(fmt::format("results on '{}' ({} examples):\n{}", split, data->size(split), md));
  }
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Stage>(
      "evaluate", "metrics of trained models (earlier stages) on one split, side by side, with their speed",
      stagehand::Schema()
          .required("models", stagehand::OptionType::Stages, "stages whose trained models to evaluate")
          .component("data", "dataset", "the evaluation data")
          .opt("split", std::string("test"), "which split of the data")
          .list("evaluators", stagehand::OptionType::Component, stagehand::parse_yaml("[{type: classification}]", "<default>"),
                "what to measure")
          .kind("evaluator")
          .opt("batch_size", int64_t{64}, "examples per batch")
          .min(1),
      [](const stagehand::Options&) { return std::make_shared<stagehand::EvaluateStage>(); });
}
