// SPDX-License-Identifier: Apache-2.0
// Stage kind `probe`: how much of a task each layer of a frozen encoder holds, read off by per-layer probes
// (McGuire & Bhardwaj, "Transferability of Contextual Representations for Question Answering"; probe.h has the
// heads). For every encoder named in `encoders` (earlier stages: a pretrained and a fine-tuned one, typically) and
// every chosen layer, a probe is trained on the `train_split` of `data` and scored on `eval_split`:
//   task span   extractive QA on SQuAD 2.0 (dataset `squad`): per feature the null score s0 + e0 against the best
//               span start <= end, at most `max_answer_length` tokens long, inside the context (first context
//               token to the final [SEP]: the reference's intended semantics, not its argmax quirk); an answer
//               only when the best span's score >= null + `null_threshold`; across the doc-stride windows of a
//               question the higher-scoring prediction wins; scored by the official SQuAD 2.0 rules (exact, f1,
//               HasAns_*, NoAns_*, in percent).
//   task token  token classification (e.g. part of speech, dataset `token_classification`): accuracy and macro-F1
//               over the words' first sub-tokens (fractions).
// The encoder is put in eval mode with every parameter frozen; it runs once per batch and all layers' probes
// learn from that one pass; the stage checks after each encoder that its parameters are unchanged.
// Outputs: layers.csv (encoder, layer, metrics, final training loss), layers.svg (metric against layer, one line
// per encoder), and per encoder <name>/probes.pt (the heads, save_weights format), <name>/scores.json and, for
// span probes, <name>/predictions/layer_<i>.json (qid -> answer text, the official script's input). An encoder
// whose probes finished is not trained again when an interrupted run resumes. Metrics: <encoder>.layer_<i>.<metric>
// for every layer, and the headline <encoder>.best_layer with <encoder>.best_f1 (span) or .best_accuracy (token).
#include <torch/types.h>

#include <fmt/ranges.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include <stagehand/dataset.h>
#include <stagehand/engine.h>
#include <stagehand/model.h>
#include <stagehand/plugin.h>
#include <stagehand/stage.h>
#include <stagehand/files.h>

#include <stagehand/sdk/squad.h>
#include <stagehand/sdk/upstream.h>

#include <stagehand/sdk/plot_svg.h>
#include "probe.h"

namespace stagehand {
namespace {

namespace fs = std::filesystem;
using torch::Tensor;
using json = nlohmann::json;

const char* const kOwner = "probe";

struct LayerResult {
  int64_t layer = 0;
  std::map<std::string, double> metrics;
  double train_loss = 0;
};

std::string data_type(const ConfigNode& spec) {
  if (spec.is_map() && spec.has("type")) return spec.at("type").as_string();
  return spec.is_scalar() ? spec.as_string() : spec.type_name();
}

/// Sum and sum of squares of every parameter, in double: equal before and after unless a value changed.
std::vector<double> fingerprint(torch::nn::Module& m) {
  std::vector<double> out;
  for (const auto& p : m.parameters()) {
    Tensor d = p.detach().to(torch::kDouble);
    out.push_back(d.sum().item<double>());
    out.push_back(d.square().sum().item<double>());
  }
  return out;
}

class ProbeStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const probe::Task task = o.get<std::string>("task") == "span" ? probe::Task::Span : probe::Task::Token;
    auto data = ctx.build<Dataset>("data");
    const std::string train_split = o.get<std::string>("train_split"), eval_split = o.get<std::string>("eval_split");
    for (const auto& s : {train_split, eval_split})
      SH_CHECK(data->has_split(s) && data->size(s) > 0,
               "{}: the data has no (or an empty) '{}' split; it has [{}]; set train_split / eval_split", kOwner, s,
               fmt::join(data->splits(), ", "));
    const squad::Splits* sq = nullptr;
    if (task == probe::Task::Span) {
      const auto* source = dynamic_cast<const squad::SquadSource*>(data.get());
      if (source) sq = &source->squad_splits();
      SH_CHECK(sq != nullptr,
               "{}: task span needs SQuAD data ({{type: squad, ...}}); the data given ({}) has no SQuAD examples; use "
               "task: token for tagging data",
               kOwner, data_type(o.node("data")));
    }
    const int64_t num_labels = static_cast<int64_t>(data->labels().size());
    if (task == probe::Task::Token)
      SH_CHECK(num_labels >= 2,
               "{}: task token needs a labelled tagging dataset (e.g. token_classification); this one has {} labels",
               kOwner, num_labels);

    // Each source by its label (a stage's name, or "hf:FOLDER" for an encoder written in place).
    std::vector<std::string> encoders;
    std::map<std::string, ConfigNode> sources;
    for (const auto& n : o.node("encoders").items()) {
      const std::string label = sdk::source_label(n);
      SH_CHECK(!sources.count(label),
               "{}: two encoders are both labelled '{}'; give each once (two folders need different names)", kOwner,
               label);
      encoders.push_back(label);
      sources.emplace(label, n);
    }
    std::vector<std::string> metric_names =
        task == probe::Task::Span
            ? std::vector<std::string>{"exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"}
            : std::vector<std::string>{"accuracy", "macro_f1"};

    std::map<std::string, std::vector<LayerResult>> results;
    for (size_t k = 0; k < encoders.size(); ++k) {
      const std::string& name = encoders[k];
      const fs::path dir = ctx.output_dir() / name;
      if (ctx.resuming() && fs::exists(dir / "scores.json")) {
        results[name] = read_scores(dir / "scores.json");
        ctx.info(fmt::format("{}: probes of '{}' finished in the interrupted run; reusing them", kOwner, name));
        continue;
      }
      fs::create_directories(dir);
      results[name] = probe_encoder(ctx, *data, task, sq, sources.at(name), num_labels, train_split, eval_split, dir);
      write_scores(dir / "scores.json", results[name]);
    }

    // layers.csv, the metrics, the table and the plot.
    std::string csv = "encoder,layer";
    for (const auto& m : metric_names) csv += "," + m;
    csv += ",train_loss\n";
    std::string table = fmt::format("| encoder | layer | {} | train loss |\n|---|---|", fmt::join(metric_names, " | "));
    for (size_t i = 0; i < metric_names.size(); ++i) table += "---|";
    table += "---|\n";
    for (const auto& name : encoders) {
      for (const auto& r : results[name]) {
        csv += fmt::format("{},{}", name, r.layer);
        table += fmt::format("| {} | {} |", name, r.layer);
        for (const auto& m : metric_names) {
          auto it = r.metrics.find(m);
          const bool has = it != r.metrics.end();
          csv += has ? fmt::format(",{:.6g}", it->second) : ",";
          table += has ? fmt::format(" {:.2f} |", task == probe::Task::Token ? 100 * it->second : it->second) : " - |";
          if (has) ctx.metric(fmt::format("{}.layer_{}.{}", name, r.layer, m), it->second);
        }
        csv += fmt::format(",{:.6g}\n", r.train_loss);
        table += fmt::format(" {:.4f} |\n", r.train_loss);
      }
    }
    // Headline per encoder: its best layer by the primary metric (F1 for spans, accuracy for tokens).
    const std::string primary = task == probe::Task::Span ? "f1" : "accuracy";
    for (const auto& name : encoders) {
      const LayerResult* best = nullptr;
      for (const auto& r : results[name])
        if (r.metrics.count(primary) && (!best || r.metrics.at(primary) > best->metrics.at(primary))) best = &r;
      if (!best) continue;
      ctx.metric(name + ".best_layer", static_cast<double>(best->layer));
      ctx.metric(name + ".best_" + primary, best->metrics.at(primary));
    }
    write_file_atomic(ctx.output_dir() / "layers.csv", csv);
    write_file_atomic(ctx.output_dir() / "layers.md", table);

    std::vector<plot::Panel> panels;
    const std::vector<std::pair<std::string, std::string>> plotted =
        task == probe::Task::Span ? std::vector<std::pair<std::string, std::string>>{{"exact", "Exact match"},
                                                                                     {"f1", "F1"}}
                                  : std::vector<std::pair<std::string, std::string>>{{"accuracy", "Accuracy"},
                                                                                     {"macro_f1", "Macro-F1"}};
    for (const auto& [key, title] : plotted) {
      plot::Panel p;
      p.title = title;
      p.x_label = "layer";
      p.y_label = title + " (%)";
      for (const auto& name : encoders) {
        plot::Series s;
        s.name = name;
        for (const auto& r : results[name]) {
          auto it = r.metrics.find(key);
          if (it != r.metrics.end())
            s.points.emplace_back(static_cast<double>(r.layer),
                                  task == probe::Task::Token ? 100 * it->second : it->second);
        }
        p.series.push_back(std::move(s));
      }
      panels.push_back(std::move(p));
    }
    const std::string title = o.get<std::string>("title").empty()
                                  ? fmt::format("{} probes per layer ({} split)",
                                                task == probe::Task::Span ? "Span (SQuAD 2.0)" : "Token", eval_split)
                                  : o.get<std::string>("title");
    const fs::path svg = ctx.output_dir() / "layers.svg";
    write_file_atomic(svg, plot::line_plot_svg(title, panels, /*percent=*/true));
    ctx.info(fmt::format("per-layer probes on '{}':\n{}", eval_split, table));
    ctx.info(fmt::format("plot: {}", ctx.final_path("layers.svg").string()));
  }

 private:
  std::vector<LayerResult> probe_encoder(StageContext& ctx, const Dataset& data, probe::Task task,
                                         const squad::Splits* sq, const ConfigNode& source, int64_t num_labels,
                                         const std::string& train_split, const std::string& eval_split,
                                         const fs::path& dir) {
    const Options& o = ctx.options();
    const sdk::Frozen frozen = sdk::frozen_source(ctx, source, sdk::Need::Encoder, kOwner);
    const std::string name = frozen.label;
    auto encoder = frozen.encoder;
    const std::vector<double> before = fingerprint(*encoder);

    probe::Config cfg;
    cfg.task = task;
    cfg.hidden_size = encoder->hidden_size();
    cfg.num_labels = num_labels;
    cfg.dropout = o.get<double>("dropout");
    cfg.init_std = o.get<double>("init_std");
    cfg.clip_norm = o.get<double>("clip_norm");
    cfg.layers = o.get<std::vector<int64_t>>("layers");
    if (cfg.layers.empty())
      for (int64_t i = 1; i <= encoder->num_layers(); ++i) cfg.layers.push_back(i);
    for (int64_t l : cfg.layers)
      SH_CHECK(l >= 0 && l <= encoder->num_layers(),
               "{}: layer {} does not exist in encoder '{}', which has layers 0 (embeddings) to {}; fix 'layers'",
               kOwner, l, name, encoder->num_layers());
    // Every encoder's probes start from the same initial weights and see the batches in the same order.
    torch::manual_seed(ctx.seed());
    const Registry& reg = ctx.registry();
    probe::Probes probes(cfg, [&] { return reg.create<Optimizer>(o.node("optimizer"), ctx.build_context()); });

    const int64_t bs = o.get<int64_t>("batch_size"), epochs = o.get<int64_t>("epochs");
    const int64_t n = data.size(train_split);
    const int64_t steps_per_epoch = (n + bs - 1) / bs;
    auto bar = ctx.progress(fmt::format("probe {}", name), steps_per_epoch * epochs);
    std::vector<double> epoch_loss(cfg.layers.size(), 0.0);
    int64_t step = 0;
    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      std::fill(epoch_loss.begin(), epoch_loss.end(), 0.0);
      const auto order = epoch_order(n, ctx.seed(), epoch);
      for (int64_t start = 0; start < n; start += bs) {
        if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
        std::vector<int64_t> idx(order.begin() + start, order.begin() + std::min(n, start + bs));
        const std::vector<double> losses = probes.train_step(*encoder, data.batch(train_split, idx));
        double mean = 0;
        for (size_t l = 0; l < losses.size(); ++l) {
          epoch_loss[l] += losses[l] * static_cast<double>(idx.size()) / static_cast<double>(n);
          mean += losses[l] / static_cast<double>(losses.size());
        }
        ++step;
        bar->update(step, {{"loss", mean}, {"epoch", static_cast<double>(epoch + 1)}});
        if (step % 50 == 0) ctx.log_values(step, {{name + ".mean_layer_loss", mean}});
      }
    }
    bar->finish();
    SH_CHECK(fingerprint(*encoder) == before,
             "{}: the parameters of encoder '{}' changed while its probes trained; this is a bug in the probe stage",
             kOwner, name);
    save_weights(dir / "probes.pt", probes.module());

    std::vector<LayerResult> out(cfg.layers.size());
    for (size_t l = 0; l < out.size(); ++l) {
      out[l].layer = cfg.layers[l];
      out[l].train_loss = epoch_loss[l];
    }
    const int64_t m = data.size(eval_split);
    auto eval_bar = ctx.progress(fmt::format("score {}", name), (m + bs - 1) / bs);
    if (task == probe::Task::Span) {
      const auto& features = sq->features.at(eval_split);
      const auto& examples = sq->examples.at(eval_split);
      const int max_len = static_cast<int>(o.get<int64_t>("max_answer_length"));
      const double threshold = o.get<double>("null_threshold");
      // Per layer, per question: the best prediction over its windows.
      std::vector<std::map<int64_t, squad::Prediction>> best(cfg.layers.size());
      for (int64_t start = 0; start < m; start += bs) {
        if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
        std::vector<int64_t> idx;
        for (int64_t i = start; i < std::min(m, start + bs); ++i) idx.push_back(i);
        auto scores = probes.scores(*encoder, data.batch(eval_split, idx));
        for (size_t l = 0; l < scores.size(); ++l) {
          Tensor s = scores[l][0].to(torch::kFloat).contiguous(), e = scores[l][1].to(torch::kFloat).contiguous();
          const int64_t t = s.size(1);
          for (size_t r = 0; r < idx.size(); ++r) {
            const squad::Feature& f = features.at(static_cast<size_t>(idx[r]));
            squad::Prediction p = squad::decode(s.data_ptr<float>() + static_cast<int64_t>(r) * t,
                                                e.data_ptr<float>() + static_cast<int64_t>(r) * t, f, max_len,
                                                threshold);
            auto it = best[l].find(f.example_index);
            if (it == best[l].end() || p.score > it->second.score) best[l][f.example_index] = p;
          }
        }
        eval_bar->update((start / bs) + 1);
      }
      fs::create_directories(dir / "predictions");
      for (size_t l = 0; l < out.size(); ++l) {
        std::map<std::string, std::string> predictions;
        json j = json::object();
        for (size_t q = 0; q < examples.size(); ++q) {
          auto it = best[l].find(static_cast<int64_t>(q));
          // A question every window of which was cut away has no feature: it is predicted unanswerable.
          const std::string text = it == best[l].end() ? "" : squad::answer_text(examples[q], it->second);
          predictions[examples[q].qid] = text;
          j[examples[q].qid] = text;
        }
        out[l].metrics = squad::evaluate(examples, predictions);
        write_file_atomic(dir / "predictions" / fmt::format("layer_{}.json", out[l].layer), j.dump(1) + "\n");
      }
    } else {
      std::vector<std::vector<int64_t>> gold(cfg.layers.size()), pred(cfg.layers.size());
      for (int64_t start = 0; start < m; start += bs) {
        if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
        std::vector<int64_t> idx;
        for (int64_t i = start; i < std::min(m, start + bs); ++i) idx.push_back(i);
        Batch b = data.batch(eval_split, idx);
        Tensor labels = b.at("labels").reshape({-1}).to(torch::kLong);
        Tensor keep = labels.ne(-100);
        Tensor g = labels.masked_select(keep).contiguous();
        auto scores = probes.scores(*encoder, b);
        for (size_t l = 0; l < scores.size(); ++l) {
          Tensor p = scores[l][0].argmax(-1).reshape({-1}).masked_select(keep).to(torch::kLong).contiguous();
          gold[l].insert(gold[l].end(), g.data_ptr<int64_t>(), g.data_ptr<int64_t>() + g.numel());
          pred[l].insert(pred[l].end(), p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
        }
        eval_bar->update((start / bs) + 1);
      }
      for (size_t l = 0; l < out.size(); ++l) out[l].metrics = probe::token_scores(gold[l], pred[l]);
    }
    eval_bar->finish();
    return out;
  }

  static void write_scores(const fs::path& file, const std::vector<LayerResult>& results) {
    json j = json::array();
    for (const auto& r : results) j.push_back({{"layer", r.layer}, {"metrics", r.metrics}, {"train_loss", r.train_loss}});
    write_file_atomic(file, j.dump(1) + "\n");
  }
  static std::vector<LayerResult> read_scores(const fs::path& file) {
    std::vector<LayerResult> out;
    try {
      for (const auto& r : json::parse(read_file(file))) {
        LayerResult lr;
        lr.layer = r.at("layer").get<int64_t>();
        lr.metrics = r.at("metrics").get<std::map<std::string, double>>();
        lr.train_loss = r.at("train_loss").get<double>();
        out.push_back(std::move(lr));
      }
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: {} from the interrupted run is unreadable ({}); delete it to train those probes again", kOwner,
              file.string(), e.what()));
    }
    return out;
  }
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar.add<stagehand::Stage>(
      "probe", "per-layer probes (span QA or token tagging) on frozen encoders of earlier stages, with a plot",
      stagehand::Schema()
          .required("encoders", OptionType::List,
                    "the encoders to probe, one line each in the plot: names of stages (each provides an encoder or a "
                    "model) or encoders written in place, e.g. {type: hf, path: bert-base-uncased/} for a released "
                    "checkpoint")
          .items(OptionType::Component)
          .kind("encoder")
          .choice("task", "span", {"span", "token"},
                  "span: SQuAD 2.0 extractive QA (data {type: squad}); token: token classification (e.g. POS)")
          .component("data", "dataset", "the probing data: squad for span probes, token_classification for token")
          .opt("train_split", std::string("train"), "split the probes train on")
          .opt("eval_split", std::string("validation"), "split the probes are scored on")
          .list("layers", OptionType::Int, stagehand::ConfigNode::sequence({}),
                "layers to probe (0 = embedding output, i = block i); empty: every block 1..L")
          .opt("epochs", int64_t{3}, "passes over the training split (3 in the reference)")
          .min(1)
          .opt("batch_size", int64_t{8}, "examples (features) per batch")
          .min(1)
          .component("optimizer", "optimizer",
                     stagehand::parse_yaml(
                         "{type: adamw, lr: 3.0e-5, eps: 1.0e-8, weight_decay: 0, bias_correction: false}", "<default>"),
                     "each head's own optimizer (the reference: transformers.AdamW 3e-5, eps 1e-8, no weight decay, "
                     "correct_bias=False)")
          .opt("clip_norm", 1.0, "gradient-norm clipping of each head on its own (0: off)")
          .min(0)
          .opt("dropout", 0.1, "dropout on the hidden states before each head's linear layer")
          .min(0)
          .max(1)
          .opt("init_std", 0.02, "standard deviation of the heads' initial weights (biases start at 0)")
          .min(0)
          .opt("max_answer_length", int64_t{17}, "span probes: the longest answer, end - start + 1 in tokens")
          .min(0)
          .opt("null_threshold", 0.0, "span probes: answer only when best span score >= null score + this")
          .opt("title", std::string(""), "title of the plot (empty: the task and split)"),
      [](const stagehand::Options&) { return std::make_shared<stagehand::ProbeStage>(); });
}
