// SPDX-License-Identifier: Apache-2.0
// Stage kind `evaluate`: the metrics of one or more trained models (earlier stages, or models written in place such
// as a fine-tuned Hugging Face classifier folder, {type: hf, path: FOLDER}) on one split of a dataset, side by side,
// with their speed; writes results.csv and results.md and prints the table. A model stage run with
// `trials: N` is evaluated once per trial and its cells read "mean (std)". For a classification evaluator the table
// also has each class's F1 (rows f1.<label>), and a confusion matrix per model follows it (whole counts, summed
// over trials).
#include <torch/types.h>

#include <chrono>
#include <set>

#include <stagehand/dataset.h>
#include <stagehand/engine.h>
#include <stagehand/model.h>
#include <stagehand/plugin.h>
#include <stagehand/results.h>
#include <stagehand/stage.h>
#include <stagehand/files.h>
#include <stagehand/summary.h>

#include <stagehand/sdk/classification_table.h>
#include <stagehand/sdk/upstream.h>

namespace stagehand {
namespace {

/// One column of the table: a model stage (each of its trials), or a model written in place.
struct Column {
  std::string name;                      ///< the stage's name, or "hf:<folder name>" (sdk::source_label)
  const ConfigNode* spec = nullptr;      ///< the model written in place; null for a stage
  std::vector<const StageOutput*> runs;  ///< a stage's outputs, one per trial
  size_t size() const { return spec ? 1 : runs.size(); }
};

std::vector<Column> columns_of(StageContext& ctx, const ConfigNode& models) {
  std::vector<Column> out;
  std::set<std::string> seen;
  for (const auto& n : models.items()) {
    Column c;
    c.name = sdk::source_label(n);
    if (!seen.insert(c.name).second)
      SH_FAIL_AT(n.location(), "evaluate: two models are both named '{}' in the table; list each once (two folders "
                 "need different names)", c.name);
    if (n.is_scalar()) {
      // A model stage run with trials is evaluated trial by trial: the table shows mean (std) over them.
      const StageOutput& up = ctx.upstream(c.name);
      if (up.trials.empty()) c.runs.push_back(&up);
      for (const auto& t : up.trials) c.runs.push_back(&t);
    } else {
      c.spec = &n;
    }
    out.push_back(std::move(c));
  }
  return out;
}

/// The model of run `k` of a column; one written in place must score the dataset's classes (`labels`).
std::shared_ptr<Model> model_of(StageContext& ctx, const Column& c, size_t k, const std::vector<std::string>& labels) {
  if (c.spec) {
    auto model = sdk::frozen_source(ctx, *c.spec, sdk::Need::Model, "evaluate").model;
    sdk::check_source_labels(*c.spec, labels, "evaluate", model.get());
    return model;
  }
  const StageOutput& run = *c.runs[k];
  auto it = run.provides.find("model");
  SH_CHECK(it != run.provides.end(), "stage '{}' provides no model to evaluate", c.name);
  BuildContext bc = ctx.build_context();
  bc.base_dir = run.dir;
  return ctx.registry().create<Model>(it->second, bc);
}

class EvaluateStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const Registry& reg = ctx.registry();
    auto data = ctx.build<Dataset>("data");
    record_skipped(ctx, *data);
    const std::string split = o.get<std::string>("split");
    SH_CHECK(data->has_split(split) && data->size(split) > 0, "the dataset has no (or an empty) '{}' split", split);
    const int64_t bs = o.get<int64_t>("batch_size");
    const std::vector<Column> columns = columns_of(ctx, o.node("models"));
    std::vector<std::string> names;
    for (const auto& c : columns) names.push_back(c.name);
    ResultsTable table(names);
    std::vector<std::string> speed_cells;
    std::string confusions;
    for (const auto& column : columns) {
      const std::string& name = column.name;
      const size_t n_runs = column.size();
      std::map<std::string, std::vector<double>> values;
      std::vector<std::map<std::string, double>> per_run;
      double seconds = 0;
      for (size_t k = 0; k < n_runs; ++k) {
        auto model = model_of(ctx, column, k, data->labels());
        std::vector<std::shared_ptr<Evaluator>> evals;
        for (const auto& e : o.node("evaluators").items()) evals.push_back(reg.create<Evaluator>(e, ctx.build_context()));
        for (auto& e : evals) e->set_labels(data->labels());
        auto t0 = std::chrono::steady_clock::now();
        auto m = evaluate_split(*model, *data, split, evals, bs, nullptr, &ctx);
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
        per_run.push_back(m);
        for (const auto& [key, v] : m) {
          values[key].push_back(v);
          if (n_runs > 1) ctx.metric(fmt::format("{}.trials.{}.{}", name, k + 1, key), v);
        }
        if (k == 0) {
          int64_t params = 0;
          for (const auto& p : model->parameters()) params += p.numel();
          ctx.metric(name + ".parameters", static_cast<double>(params));
        }
      }
      for (const auto& [key, v] : values) {
        Summary s = summarize(v);
        ctx.metric(name + "." + key, s.mean);
        if (v.size() > 1) {
          ctx.metric(name + "." + key + ".std", s.std);
          ctx.metric(name + "." + key + ".min", s.min);
          ctx.metric(name + "." + key + ".max", s.max);
        }
        // One row per headline metric; per-class details stay in the record.
        if (key.find('.') == std::string::npos) table.set(key, name, v);
      }
      // Below the headline rows: each class's F1, and the confusion matrix as a table of its own.
      sdk::add_per_class_f1(table, name, data->labels(), per_run);
      const std::string confusion = sdk::confusion_markdown(data->labels(), per_run);
      if (!confusion.empty())
        confusions += fmt::format("\nconfusion matrix of {} on '{}' (rows: true class, columns: predicted class; "
                                  "counts{}):\n\n{}",
                                  name, split,
                                  per_run.size() > 1 ? fmt::format(", summed over {} trials", per_run.size()) : "",
                                  confusion);
      const double examples = static_cast<double>(data->size(split)) * static_cast<double>(n_runs);
      const double speed = seconds > 0 ? examples / seconds : 0;
      ctx.timing(name + ".examples_per_second", speed);
      speed_cells.push_back(fmt::format("{:.1f}", speed));
    }
    table.set_text_row("examples/s (this machine)", speed_cells);
    write_file_atomic(ctx.output_dir() / "results.csv", table.csv());
    write_file_atomic(ctx.output_dir() / "results.md", table.markdown() + confusions);
    ctx.info(fmt::format("results on '{}' ({} examples):\n{}{}", split, data->size(split), table.markdown(),
                         confusions));
  }
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Stage>(
      "evaluate",
      "metrics of trained models (earlier stages, or fine-tuned Hugging Face classifier folders) on one split, side "
      "by side, with their speed",
      stagehand::Schema()
          .required("models", stagehand::OptionType::List,
                    "the models to evaluate, one column each: names of stages that provide a model (e.g. train "
                    "stages), or models written in place, e.g. {type: hf, path: FOLDER} for a fine-tuned Hugging "
                    "Face classifier folder (column hf:<folder name>; its id2label must be the data's labels, in "
                    "order)")
          .items(stagehand::OptionType::Component)
          .kind("model")
          .component("data", "dataset", "the evaluation data")
          .opt("split", std::string("test"), "which split of the data")
          .list("evaluators", stagehand::OptionType::Component, stagehand::parse_yaml("[{type: classification}]", "<default>"),
                "what to measure")
          .kind("evaluator")
          .opt("batch_size", int64_t{64}, "examples per batch")
          .min(1),
      [](const stagehand::Options&) { return std::make_shared<stagehand::EvaluateStage>(); });
}
