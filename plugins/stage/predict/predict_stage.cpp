// SPDX-License-Identifier: Apache-2.0
// Stage kinds `predict` (a trained model's logits; a classifier's with label names and probabilities) and `embed` (an encoder's pooled vectors, or an embedder
// model's embeddings) over one split of a dataset, written in dataset order as JSON lines (ours, or SciDocs'
// {"paper_id", "embedding"} lines) or as a LibTorch archive for later stages and other tools.
#include <torch/serialize/archive.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <numeric>

#include <nlohmann/json.hpp>

#include <stagehand/checkpoint.h>
#include <stagehand/dataset.h>
#include <stagehand/engine.h>
#include <stagehand/model.h>
#include <stagehand/plugin.h>
#include <stagehand/stage.h>
#include <stagehand/sdk/upstream.h>
#include <stagehand/files.h>

namespace stagehand {
namespace {

// Turns a (B, ...) batch of examples into (B, D) rows; rows come back in the order of `batch`.
using RowFn = std::function<torch::Tensor(const Batch& batch)>;

struct Rows {
  torch::Tensor values;            // (N, D), dataset order
  std::vector<std::string> ids;    // dataset ids, or "" where the dataset gives none
  int64_t groups = 1;              // D = groups x width: rows of multi-facet embeddings are K vectors each
};

// Runs `fn` over every example of `split` in batches of `order` (a permutation of [0, n)) and puts each row back
// at its example's index, so that the output is in dataset order whatever order the batches ran in.
Rows run_rows(StageContext& ctx, const Dataset& data, const std::string& split, const std::vector<int64_t>& order,
              int64_t batch_size, const RowFn& fn) {
  const int64_t n = static_cast<int64_t>(order.size());
  Rows out;
  out.ids.assign(static_cast<size_t>(n), "");
  auto progress = ctx.progress(ctx.name(), n);
  for (int64_t start = 0; start < n; start += batch_size) {
    if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
    std::vector<int64_t> idx(order.begin() + start, order.begin() + std::min(n, start + batch_size));
    Batch b = data.batch(split, idx);
    torch::Tensor rows = fn(b).to(torch::kFloat32).contiguous();
    if (rows.dim() == 3) {  // (B, K, H): K vectors per example
      out.groups = rows.size(1);
      rows = rows.reshape({rows.size(0), -1});
    }
    SH_CHECK(rows.dim() == 2 && rows.size(0) == static_cast<int64_t>(idx.size()),
             "expected ({}, D) outputs for a batch of {} examples, got shape {}", idx.size(), idx.size(),
             fmt::format("{}", fmt::join(rows.sizes().vec(), ", ")));
    if (!out.values.defined()) out.values = torch::empty({n, rows.size(1)}, torch::kFloat32);
    out.values.index_copy_(0, torch::tensor(idx, torch::kLong), rows);
    const bool has_ids = b.ids.size() == idx.size();
    for (size_t i = 0; i < idx.size(); ++i) out.ids[static_cast<size_t>(idx[i])] = has_ids ? b.ids[i] : "";
    progress->update(std::min(n, start + batch_size));
  }
  progress->finish();
  return out;
}

// A classifier's row of logits as `, "label": NAME, "probabilities": {NAME: p, ...}` (softmax, label order).
std::string label_fields(const float* logits, const std::vector<std::string>& labels) {
  const auto k = static_cast<int64_t>(labels.size());
  const torch::Tensor p = torch::softmax(torch::from_blob(const_cast<float*>(logits), {k}).to(torch::kDouble), 0);
  nlohmann::json probs = nlohmann::json::object();
  for (int64_t j = 0; j < k; ++j) probs[labels[static_cast<size_t>(j)]] = p[j].item<double>();
  return fmt::format(", \"label\": {}, \"probabilities\": {}",
                     nlohmann::json(labels[static_cast<size_t>(p.argmax().item<int64_t>())]).dump(), probs.dump());
}

// Writes rows as `<stem>.jsonl` ({"id": ..., "<field>": [...]}) or `<stem>.pt` (tensor "<field>") with the ids
// in `<stem>.ids.txt`; returns the file name. Floats are written in their shortest exact form.
std::string write_rows(StageContext& ctx, const Rows& rows, const std::string& stem, const std::string& field,
                       const std::string& format, const std::vector<std::string>& labels = {}) {
  const int64_t n = rows.values.defined() ? rows.values.size(0) : 0;
  auto id_of = [&](int64_t i) -> nlohmann::json {
    const std::string& id = rows.ids[static_cast<size_t>(i)];
    if (id.empty()) return i;  // the dataset gives no ids: the index
    return id;
  };
  if (format == "tensor") {
    torch::serialize::OutputArchive archive;
    archive.write(field, rows.groups > 1 ? rows.values.view({n, rows.groups, -1}) : rows.values);
    write_archive(ctx.output_dir() / (stem + ".pt"), archive);
    std::string ids;
    for (int64_t i = 0; i < n; ++i) {
      nlohmann::json id = id_of(i);
      ids += (id.is_string() ? id.get<std::string>() : id.dump()) + "\n";
    }
    write_file_atomic(ctx.output_dir() / (stem + ".ids.txt"), ids);
    return stem + ".pt";
  }
  std::string text;
  const int64_t d = n > 0 ? rows.values.size(1) : 0;
  const int64_t width = d / rows.groups;
  const float* v = n > 0 ? rows.values.data_ptr<float>() : nullptr;
  // SciDocs' layout names the id "paper_id"; multi-facet rows are a list of K vectors, as Multi²SPE's embed.py.
  const char* id_key = format == "scidocs" ? "paper_id" : "id";
  for (int64_t i = 0; i < n; ++i) {
    text += fmt::format("{{\"{}\": {}, \"{}\": [", id_key, id_of(i).dump(), field);
    for (int64_t g = 0; g < rows.groups; ++g) {
      if (rows.groups > 1) text += g ? ", [" : "[";
      for (int64_t j = 0; j < width; ++j) text += fmt::format(j ? ", {}" : "{}", v[i * d + g * width + j]);
      if (rows.groups > 1) text += "]";
    }
    text += "]";
    if (!labels.empty() && static_cast<int64_t>(labels.size()) == d) text += label_fields(v + i * d, labels);
    text += "}\n";
  }
  write_file_atomic(ctx.output_dir() / (stem + ".jsonl"), text);
  return stem + ".jsonl";
}

std::shared_ptr<Dataset> split_data(StageContext& ctx, const std::string& split) {
  auto data = ctx.build<Dataset>("data");
  record_skipped(ctx, *data);
  SH_CHECK(data->has_split(split) && data->size(split) > 0,
           "the dataset has no (or an empty) '{}' split; set 'split' to one it has", split);
  return data;
}

void finish(StageContext& ctx, int64_t n, double seconds, const std::string& file) {
  ctx.metric("examples", static_cast<double>(n));
  if (seconds > 0) ctx.timing("examples_per_second", static_cast<double>(n) / seconds);
  ctx.info(fmt::format("{} examples -> {}", n, file));
}

class PredictStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const std::string split = o.get<std::string>("split");
    auto data = split_data(ctx, split);
    auto model = sdk::frozen_source(ctx, o.node("model"), sdk::Need::Model, "predict").model;
    // A folder's id2label must name the data's classes in the data's order, or every label written is wrong.
    sdk::check_source_labels(o.node("model"), data->labels(), "predict", model.get());
    torch::NoGradGuard no_grad;
    std::vector<int64_t> order(static_cast<size_t>(data->size(split)));
    std::iota(order.begin(), order.end(), 0);
    auto t0 = std::chrono::steady_clock::now();
    bool per_example = true;  // (B, classes) logits: a classifier's, which get label names and probabilities
    Rows rows = run_rows(ctx, *data, split, order, o.get<int64_t>("batch_size"), [&](const Batch& b) {
      Batch out = model->forward(b);
      torch::Tensor logits = out.at("logits");
      per_example = per_example && logits.dim() == 2;
      // Token-level or single-output models: one row per example all the same.
      return logits.dim() == 1 ? logits.unsqueeze(1) : logits.reshape({logits.size(0), -1});
    });
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string file = write_rows(ctx, rows, "predictions", "logits", o.get<std::string>("output"),
                                  per_example ? data->labels() : std::vector<std::string>{});
    ctx.provide("predictions", parse_yaml(fmt::format("{{type: predictions, file: {}}}", file), "predict"));
    finish(ctx, static_cast<int64_t>(order.size()), secs, file);
  }
};

/// The `layers` option as indices into hidden_states (0..L), negative ones counted from the end; checked against
/// the encoder and the pooling.
std::vector<int64_t> checked_layers(const Options& o, const Encoder* encoder, const std::string& pooling) {
  std::vector<int64_t> layers = o.get<std::vector<int64_t>>("layers");
  if (layers.empty()) return layers;
  SH_CHECK(pooling == "cls" || pooling == "mean",
           "embed: layers needs pooling cls or mean (pooling {} reads the last layer only)", pooling);
  SH_CHECK(encoder != nullptr, "embed: layers needs an encoder");
  const int64_t n = encoder->num_layers();
  for (auto& l : layers) {
    SH_CHECK(l >= -(n + 1) && l <= n, "embed: layers: {} is not a layer of this encoder; it has the embedding output "
             "(0) and {} blocks (1..{}, or -1..-{} from the end)", l, n, n, n + 1);
    if (l < 0) l += n + 1;
  }
  return layers;
}

/// (B, K, H): the pooled states of each of the K layers.
torch::Tensor pool_layers(Encoder& encoder, const EncoderOutput& out, const std::vector<int64_t>& layers,
                          const std::string& pooling) {
  std::vector<torch::Tensor> pooled;
  for (int64_t l : layers) {
    EncoderOutput one;
    one.hidden_states = {out.hidden_states.at(static_cast<size_t>(l))};
    one.attention_mask = out.attention_mask;
    pooled.push_back(encoder.pool(one, pooling));
  }
  return torch::stack(pooled, 1);
}

class EmbedStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    const std::string split = o.get<std::string>("split");
    auto data = split_data(ctx, split);
    const std::string pooling = o.get<std::string>("pooling");
    SH_CHECK(o.has("model") != o.has("encoder"),
             "embed: set exactly one of 'model' (a stage that provides an encoder or a model) and 'encoder' (an "
             "encoder written in place, e.g. {{type: hf, path: FOLDER}}); {}",
             o.has("model") ? "both are set" : "neither is set");
    SH_CHECK(pooling != "model" || o.has("model"),
             "embed: pooling: model needs a model's own embeddings, but 'encoder' gives an encoder alone; choose "
             "pooling cls | mean | pooler, or name a stage that provides an embedder model");
    // pooling: model runs the model's forward; any other pooling runs its encoder (or the stage's own encoder).
    const sdk::Frozen source =
        o.has("encoder") ? sdk::frozen_source(ctx, o.node("encoder"), sdk::Need::Encoder, "embed")
                         : sdk::frozen_source(ctx, o.node("model"), pooling == "model" ? sdk::Need::Model : sdk::Need::Encoder,
                                              "embed");
    std::shared_ptr<Model> model = source.model;  // keeps the encoder's owner alive
    std::shared_ptr<Encoder> encoder = source.encoder;
    SH_CHECK(pooling == "model" || encoder != nullptr, "embed: the model of '{}' has no encoder to embed with",
             source.label);
    torch::NoGradGuard no_grad;
    const std::vector<int64_t> layers = checked_layers(o, encoder.get(), pooling);
    const bool normalize = o.get<bool>("normalize");
    const int64_t bs = o.get<int64_t>("batch_size");
    const int64_t n = data->size(split);
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    if (o.get<bool>("sort_by_length")) {
      // Batches of similar lengths waste less compute on padding; the rows go back to dataset order.
      std::vector<int64_t> len(static_cast<size_t>(n), 0);
      for (int64_t start = 0; start < n; start += bs) {
        std::vector<int64_t> idx(order.begin() + start, order.begin() + std::min(n, start + bs));
        Batch b = data->batch(split, idx);
        if (!b.has("attention_mask")) break;
        torch::Tensor l = b.at("attention_mask").sum(1).to(torch::kLong).contiguous();
        for (size_t i = 0; i < idx.size(); ++i) len[static_cast<size_t>(idx[i])] = l[static_cast<int64_t>(i)].item<int64_t>();
      }
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return len[a] > len[b]; });
    }
    auto t0 = std::chrono::steady_clock::now();
    Rows rows = run_rows(ctx, *data, split, order, bs, [&](const Batch& b) {
      if (pooling == "model") {
        Batch out = model->forward(b);
        SH_CHECK(out.has("embeddings"),
                 "pooling: model needs a model whose outputs include 'embeddings' (e.g. type embedder); this one "
                 "gives {}",
                 [&] {
                   std::string names;
                   for (const auto& kv : out.tensors()) names += (names.empty() ? "" : ", ") + kv.first;
                   return names;
                 }());
        torch::Tensor v = out.at("embeddings");
        if (normalize) v = v / v.norm(2, {-1}, true).clamp_min(1e-12);
        return v;
      }
      EncoderInput in;
      in.input_ids = b.at("input_ids");
      in.attention_mask = b.at("attention_mask");
      if (b.has("token_type_ids")) in.token_type_ids = b.at("token_type_ids");
      in.all_layers = !layers.empty();
      torch::Tensor v = layers.empty() ? encoder->pool(encoder->encode(in), pooling)
                                       : pool_layers(*encoder, encoder->encode(in), layers, pooling);
      if (normalize) v = v / v.norm(2, {-1}, true).clamp_min(1e-12);
      return v;
    });
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string file = write_rows(ctx, rows, "embeddings", "embedding", o.get<std::string>("output"));
    ctx.provide("embeddings", parse_yaml(fmt::format("{{type: embeddings, file: {}}}", file), "embed"));
    finish(ctx, n, secs, file);
  }
};

Schema common_schema(const std::string& model_doc, std::vector<std::string> outputs = {"jsonl", "tensor"},
                     bool model_required = true) {
  Schema s;
  if (model_required)  // a stage that provides one, or a model written in place ({type: hf, path: FOLDER})
    s.component("model", "model", model_doc);
  else
    s.optional("model", OptionType::Stage, model_doc);
  return s
      .component("data", "dataset", "the examples, e.g. {type: text_classification, test: t.jsonl, tokenizer: tok}")
      .opt("split", std::string("train"), "which split of the data")
      .opt("batch_size", int64_t{64}, "examples per batch")
      .min(1)
      .choice("output", "jsonl", std::move(outputs),
              "jsonl: one JSON object per example ({\"id\", ...}); scidocs (embed only): SciDocs' "
              "{\"paper_id\", \"embedding\"} lines; tensor: a LibTorch archive plus an ids file");
}

}  // namespace
}  // namespace stagehand

// No example specs: `model` names an earlier stage, which the conformance kit's self-contained examples cannot.
STAGEHAND_PLUGIN(registrar) {
  registrar
      .add<stagehand::Stage>(
          "predict", "a trained model's logits on one split, in dataset order (predictions.jsonl or .pt); a "
                     "classifier's JSON lines also name the label and give the probabilities by label name",
          stagehand::common_schema("a stage that provides a model (e.g. a train stage), or a model written in place: "
                                   "{type: hf, path: FOLDER} for a fine-tuned Hugging Face classifier folder"),
          [](const stagehand::Options&) { return std::make_shared<stagehand::PredictStage>(); })
      .with_provides({"predictions"});
  registrar
      .add<stagehand::Stage>(
          "embed",
          "an encoder's pooled vectors (or an embedder model's embeddings) on one split, in dataset order "
          "(embeddings.jsonl, SciDocs' layout, or .pt)",
          stagehand::common_schema("a stage that provides an encoder or a model (its encoder is used); or set "
                                   "`encoder` instead",
                                   {"jsonl", "scidocs", "tensor"}, /*model_required=*/false)
              .optional("encoder", stagehand::OptionType::Component,
                        "an encoder written in place instead of a stage, e.g. {type: hf, path: FOLDER}: embeds with a "
                        "released checkpoint, no training stage in between")
              .kind("encoder")
              .choice("pooling", "mean", {"cls", "mean", "pooler", "facets", "model"},
                      "cls: first token; mean: non-padding tokens; pooler: dense + tanh on [CLS]; facets: a "
                      "multifacet encoder's K facet vectors (a list of K vectors per example); model: the model's "
                      "own `embeddings` output (an embedder model: its pooling, facets summed at inference as it "
                      "is configured)")
              .opt("normalize", false, "scale every vector to unit L2 norm")
              .list("layers", stagehand::OptionType::Int, stagehand::ConfigNode::sequence({}),
                    "pool these layers' states instead of the last layer's: 0 is the embedding output, 1..L the "
                    "blocks' outputs, -1 the last (Hugging Face's hidden_states[i]); each example gets a list of "
                    "vectors, one per layer in this order (pooling cls or mean)")
              .opt("sort_by_length", true, "batch examples of similar length (faster; the output stays in order)"),
          [](const stagehand::Options&) { return std::make_shared<stagehand::EmbedStage>(); })
      .with_provides({"embeddings"});
}
