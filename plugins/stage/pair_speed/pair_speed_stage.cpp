// SPDX-License-Identifier: Apache-2.0
// Stage kind `pair_speed`: DSE's speed claim, measured. Scoring every pair of N sentences with a cross-encoder
// (the teacher) costs N^2 encoder passes over `[CLS] a [SEP] b [SEP]`; with a siamese student it costs N encoder
// passes (the sentence embeddings, computed once and cached) plus N^2 passes of the small pair head. This stage
// takes N sentences from a dataset split in the siamese layout (a.* per example: `[CLS] s [SEP]`), times both ways
// of scoring all N x N pairs, and reports pairs/s for each model and the ratio to the cross-encoder.
//   cross-encoder models: read input_ids / attention_mask / token_type_ids, return logits; the pair input is built
//     from the two single encodings ([CLS] a [SEP] + b without its [CLS], segment 1 for b's part);
//   siamese models: given input_ids alone they return `embeddings` (B, D); given a.embeddings and b.embeddings
//     alone they return `logits` from the head (the `siamese` model does both).
// A model's rate is measured on up to `max_pairs` pairs (the cross-encoder is slow) and reported per pair; the
// siamese time includes embedding the N sentences. Results are timings (machine-dependent, never compared by
// replay) and a table (results.md).
#include <algorithm>
#include <chrono>

#include <torch/types.h>

#include <stagehand/dataset.h>
#include <stagehand/model.h>
#include <stagehand/plugin.h>
#include <stagehand/results.h>
#include <stagehand/stage.h>
#include <stagehand/sdk/upstream.h>
#include <stagehand/files.h>

namespace stagehand {
namespace {

using torch::Tensor;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// One sentence as its real token ids (padding removed), `[CLS] ... [SEP]`.
std::vector<int64_t> row_ids(const Tensor& ids, const Tensor& mask, int64_t r) {
  const int64_t len = mask[r].sum().item<int64_t>();
  Tensor t = ids[r].narrow(0, 0, len).to(torch::kLong).contiguous();
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + len);
}

/// A padded batch from rows of ids (and their segment ids).
Batch pad(const std::vector<std::vector<int64_t>>& rows, const std::vector<std::vector<int64_t>>& types, int64_t pad_id) {
  size_t longest = 0;
  for (const auto& r : rows) longest = std::max(longest, r.size());
  const auto b = static_cast<int64_t>(rows.size()), t = static_cast<int64_t>(longest);
  Tensor ids = torch::full({b, t}, pad_id, torch::kLong), mask = torch::zeros({b, t}, torch::kLong),
         seg = torch::zeros({b, t}, torch::kLong);
  for (int64_t i = 0; i < b; ++i) {
    const auto& r = rows[static_cast<size_t>(i)];
    const auto n = static_cast<int64_t>(r.size());
    ids[i].narrow(0, 0, n).copy_(torch::tensor(r, torch::kLong));
    mask[i].narrow(0, 0, n).fill_(1);
    if (!types.empty()) seg[i].narrow(0, 0, n).copy_(torch::tensor(types[static_cast<size_t>(i)], torch::kLong));
  }
  Batch out;
  out.set("input_ids", ids);
  out.set("attention_mask", mask);
  out.set("token_type_ids", seg);
  return out;
}

class PairSpeedStage : public Stage {
 public:
  void run(StageContext& ctx) override {
    const Options& o = ctx.options();
    auto data = ctx.build<Dataset>("data");
    const std::string split = o.get<std::string>("split");
    SH_CHECK(data->has_split(split) && data->size(split) > 0, "the dataset has no (or an empty) '{}' split", split);
    const int64_t n = std::min(o.get<int64_t>("sentences"), data->size(split));
    const int64_t bs = o.get<int64_t>("batch_size"), max_pairs = o.get<int64_t>("max_pairs");
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
    Batch sent = data->batch(split, idx);
    SH_CHECK(sent.has("a.input_ids") && sent.has("a.attention_mask"),
             "pair_speed: the data must give each example's first sentence alone as a.input_ids (a siamese "
             "encoding, e.g. {{type: glue, encoding: siamese}}); this batch has no a.input_ids");
    const int64_t pad_id = data->hints().count("pad_id") ? data->hints().at("pad_id") : 0;
    std::vector<std::vector<int64_t>> sentences;
    for (int64_t i = 0; i < n; ++i) sentences.push_back(row_ids(sent.at("a.input_ids"), sent.at("a.attention_mask"), i));
    const int64_t pairs = n * n;
    ctx.info(fmt::format("{} sentences, {} pairs; each model measured on up to {} pairs", n, pairs, max_pairs));

    std::vector<std::string> names, roles;
    for (const auto& s : o.node("cross_encoders").items()) {
      names.push_back(s.as_string());
      roles.push_back("cross");
    }
    for (const auto& s : o.node("siamese").items()) {
      names.push_back(s.as_string());
      roles.push_back("siamese");
    }
    SH_CHECK(!names.empty(), "pair_speed: give cross_encoders and/or siamese models to measure");
    torch::NoGradGuard no_grad;
    std::vector<double> rates;
    for (size_t m = 0; m < names.size(); ++m) {
      auto model = sdk::frozen_model(ctx, names[m], "pair_speed");
      const int64_t measured = std::min(pairs, max_pairs);
      auto t0 = Clock::now();
      if (roles[m] == "cross") {
        for (int64_t start = 0; start < measured; start += bs) {
          if (ctx.stop_requested()) throw Interrupted(ctx.stop_signal());
          std::vector<std::vector<int64_t>> rows, types;
          for (int64_t p = start; p < std::min(measured, start + bs); ++p) {
            const auto& a = sentences[static_cast<size_t>(p / n)];
            const auto& b = sentences[static_cast<size_t>(p % n)];
            std::vector<int64_t> r = a, ty(a.size(), 0);
            r.insert(r.end(), b.begin() + 1, b.end());
            ty.resize(r.size(), 1);
            rows.push_back(std::move(r));
            types.push_back(std::move(ty));
          }
          (void)model->forward(pad(rows, types, pad_id)).at("logits");
        }
      } else {
        // The sentence embeddings, once.
        std::vector<Tensor> parts;
        for (int64_t start = 0; start < n; start += bs) {
          std::vector<std::vector<int64_t>> rows(sentences.begin() + start, sentences.begin() + std::min(n, start + bs));
          Batch out = model->forward(pad(rows, {}, pad_id));
          SH_CHECK(out.has("embeddings"), "pair_speed: siamese model '{}' gives no embeddings for single sentences",
                   names[m]);
          parts.push_back(out.at("embeddings"));
        }
        Tensor emb = at::cat(parts);
        // Then the head over the pairs, from the cache.
        for (int64_t start = 0; start < measured; start += bs * 16) {
          const int64_t end = std::min(measured, start + bs * 16);
          Tensor p = torch::arange(start, end, torch::kLong);
          Batch pb;
          pb.set("a.embeddings", emb.index_select(0, p.div(n, "floor")));
          pb.set("b.embeddings", emb.index_select(0, p.remainder(n)));
          Batch out = model->forward(pb);
          SH_CHECK(out.has("logits"), "pair_speed: siamese model '{}' scores no pairs from cached embeddings", names[m]);
        }
      }
      const double secs = seconds_since(t0);
      const double rate = static_cast<double>(measured) / std::max(secs, 1e-9);
      rates.push_back(rate);
      ctx.timing(names[m] + ".pairs_per_second", rate);
      ctx.info(fmt::format("{} ({}): {} pairs in {:.2f}s, {:.1f} pairs/s", names[m], roles[m], measured, secs, rate));
    }
    double base = 0;
    for (size_t m = 0; m < names.size(); ++m)
      if (roles[m] == "cross") {
        base = rates[m];
        break;
      }
    ResultsTable table(names);
    // Quality beside speed: the chosen metrics of each model as an evaluate stage recorded them ("<model>.<metric>").
    if (o.has("quality")) {
      const StageOutput& ev = ctx.upstream(o.get<std::string>("quality"));
      for (const auto& metric : o.get<std::vector<std::string>>("quality_metrics"))
        for (const auto& name : names) {
          auto it = ev.metrics.find(name + "." + metric);
          if (it != ev.metrics.end()) table.set(metric, name, {it->second});
        }
    }
    std::vector<std::string> rate_cells, ratio_cells;
    for (size_t m = 0; m < names.size(); ++m) {
      rate_cells.push_back(fmt::format("{:.1f}", rates[m]));
      ratio_cells.push_back(base > 0 ? fmt::format("{:.1f}x", rates[m] / base) : std::string("-"));
      if (base > 0) ctx.timing(names[m] + ".speedup", rates[m] / base);
    }
    table.set_text_row(fmt::format("pairs/s, all pairs of {} sentences (this machine)", n), rate_cells);
    table.set_text_row("speed-up over the cross-encoder", ratio_cells);
    write_file_atomic(ctx.output_dir() / "results.md", table.markdown());
    ctx.info(fmt::format("{}:\n{}", o.has("quality") ? "quality and pair-scoring speed" : "pair-scoring speed",
                         table.markdown()));
  }
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  using stagehand::OptionType;
  registrar.add<stagehand::Stage>(
      "pair_speed",
      "pairs/s of scoring all pairs of N sentences: cross-encoders (N^2 encoder passes) vs siamese models (N "
      "cached embeddings + N^2 head passes), and the speed-up",
      stagehand::Schema()
          .component("data", "dataset", "sentences in a siamese layout, e.g. {type: glue, encoding: siamese, ...}")
          .opt("split", std::string("test"), "which split's first sentences")
          .list("cross_encoders", OptionType::Stage, stagehand::ConfigNode::sequence(),
                "stages whose models score a pair from [CLS] a [SEP] b [SEP] (the teacher)")
          .list("siamese", OptionType::Stage, stagehand::ConfigNode::sequence(),
                "stages whose models embed sentences alone and score pairs from the embeddings (DSE students)")
          .opt("sentences", int64_t{64}, "N: sentences taken from the split (N^2 pairs)")
          .min(2)
          .opt("max_pairs", int64_t{2048}, "pairs actually scored per model (the rate is per pair)")
          .min(1)
          .opt("batch_size", int64_t{64}, "pairs (cross-encoder) or sentences (siamese) per batch")
          .min(1)
          .optional("quality", OptionType::Stage,
                    "an evaluate stage over these models: its metrics join the table, so quality and speed read "
                    "side by side")
          .list("quality_metrics", OptionType::String, stagehand::parse_yaml("[binary_f1, accuracy]", "<default>"),
                "which of its metrics (recorded as <model>.<metric>)"),
      [](const stagehand::Options&) { return std::make_shared<stagehand::PairSpeedStage>(); });
}
