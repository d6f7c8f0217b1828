// SPDX-License-Identifier: Apache-2.0
// `runner bench pretrain|finetune|embed`: the workloads of the peer benchmark (bench/peer/peer_electra.py, eager
// PyTorch from Python) run through stagehand's own plugins, loaded as the runner loads them for a pipeline:
//   pretrain  model `electra` (generator 1/4, sharing the embeddings), loss `electra`, optimizer `adamw`, gradient
//             clipping at 1.0 as ELECTRA does (the peer does not clip: that work is ours alone)
//   finetune  model `classifier` ([CLS] pooling, head `mlp` with one GELU hidden layer as the peer's), loss
//             `cross_entropy`, optimizer `adamw`
//   embed     model `embedder` (mean pooling over the non-padding tokens), no gradient
// over ELECTRA-small (hidden 256, 12 layers, 4 heads, FFN 1024, embeddings 128, vocabulary 30522), random ids with
// one eighth of every row padding, sequence 128. Tokens are counted as the peer counts them (batch x seq, padding
// included); the batches are as wide as their longest row (seq - seq/8), as the project's datasets build them, unless
// --fixed-width. Threads: fp32 runs one LibTorch thread and gives OpenBLAS the cores (its GEMMs run there); bf16 runs
// one LibTorch thread per core (its GEMMs run in oneDNN on them); --threads/--blas-threads override.
// Prints one JSON line with the peer's fields, plus dtype, the thread settings and the model's FLOPs.
#include "bench.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>
// after types.h, which it needs
#include <torch/nn/utils/clip_grad.h>
#include <torch/version.h>

#include "pipeline/pipeline.h"
#include "plugin/loader.h"
#include "stagehand/model.h"
#include "stagehand/nn.h"
#include "stagehand/optim.h"

namespace stagehand {
namespace {


std::string encoder_spec(const BenchOptions& o) {
  return fmt::format("{{type: transformer, vocab_size: {}, hidden_size: {}, num_layers: {}, num_heads: {}, "
                     "intermediate_size: {}, embedding_size: {}, max_positions: 512, pooler: false, "
                     "hidden_dropout: {}, attention_dropout: {}}}",
                     o.vocab, o.hidden, o.layers, o.heads, o.ffn, o.embed, o.dropout, o.dropout);
}

/// Parameters that are not embedding tables (token, position, segment): the "non-embedding parameters" of the
/// FLOPs estimate (6 x parameters x tokens for a training step, 2 x for inference).
bool embedding_table(const std::string& name) {
  return name.find("embeddings.") != std::string::npos && name.find("_embeddings") != std::string::npos;
}

/// One benchmark: the workload's model (and loss, optimizer) built through the plugins, random batches shaped as
/// the peer's, a timed loop after two warm-up steps, and the JSON line.
class BenchRun {
 public:
  BenchRun(const BenchOptions& o, const std::vector<std::string>& extra_plugins) : o_(o), loader_(registry_) {
    loader_.load_default();
    for (const auto& e : extra_plugins) loader_.load(e, "command line");
    ctx_.registry = &registry_;
    ctx_.seed = 0;
    build_workload();
    collect_parameters();
  }

  /// Seconds per step, measured over at least o.seconds after two warm-up steps.
  double time_steps() {
    for (int i = 0; i < 2; ++i) step();  // warm-up, as the peer
    const auto t0 = std::chrono::steady_clock::now();
    double dt = 0;
    do {
      step();
      ++steps_;
      dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (dt < o_.seconds);
    return dt / static_cast<double>(steps_);
  }

  void report(double per, const ThreadSettings& threads) const {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    const double tokens_per_s = static_cast<double>(o_.batch * o_.seq) / per;
    auto round1 = [](double v) { return std::round(v * 10) / 10; };
    nlohmann::ordered_json j;
    j["workload"] = o_.workload;
    j["impl"] = fmt::format("stagehand-libtorch-{}", TORCH_VERSION);
    j["dtype"] = o_.dtype;
    j["batch"] = o_.batch;
    j["seq"] = o_.seq;
    j["batch_width"] = width();
    j["hidden"] = o_.hidden;
    j["layers"] = o_.layers;
    j["threads"] = at::get_num_threads();
    j["blas_threads"] = threads.blas;
    j["steps"] = steps_;
    j["ms_per_step"] = round1(per * 1000);
    j["tokens_per_s"] = round1(tokens_per_s);
    j["examples_per_s"] = std::round(static_cast<double>(o_.batch) / per * 100) / 100;
    j["peak_rss_mb"] = round1(static_cast<double>(ru.ru_maxrss) / 1024.0);
    j["non_embedding_params"] = non_embedding_;
    j["model_gflops_per_s"] =
        std::round((training() ? 6.0 : 2.0) * static_cast<double>(non_embedding_) * tokens_per_s / 1e6) / 1e3;
    j["checksum"] = checksum_;
    std::cout << j.dump() << std::endl;
  }

 private:
  bool training() const { return o_.workload != "embed"; }
  /// The peer's rows are seq tokens, the last eighth padding. The project's datasets make a batch as wide as its
  /// longest row, so by default the padding columns that every row has are not there.
  int64_t width() const { return o_.fixed_width ? o_.seq : o_.seq - o_.seq / 8; }

  void build_workload() {
    auto spec = [](const std::string& yaml) { return parse_yaml(yaml, "runner bench"); };
    if (o_.workload == "pretrain") {
      model_ = registry_.create<Model>(
          spec(fmt::format("{{type: electra, mask_id: 103, pad_id: 0, cls_id: 101, sep_id: 102, max_length: {}, "
                           "generator_size: {}, encoder: {}}}",
                           o_.seq, o_.gen_fraction, encoder_spec(o_))),
          ctx_);
      loss_ = registry_.create<Loss>(spec("{type: electra}"), ctx_);
    } else if (o_.workload == "finetune") {
      model_ = registry_.create<Model>(
          spec(fmt::format("{{type: classifier, num_labels: {}, pooling: cls, dropout: 0.0, encoder: {}, "
                           "head: {{type: mlp, hidden: [{}], activation: gelu, dropout: 0.1}}}}",
                           o_.labels, encoder_spec(o_), o_.hidden)),
          ctx_);
      loss_ = registry_.create<Loss>(spec("{type: cross_entropy}"), ctx_);
    } else if (o_.workload == "embed") {
      model_ = registry_.create<Model>(
          spec(fmt::format("{{type: embedder, pooling: mean, encoder: {}}}", encoder_spec(o_))), ctx_);
    } else {
      throw Error(fmt::format("runner bench: unknown workload '{}': expected pretrain, finetune or embed", o_.workload));
    }
  }

  void collect_parameters() {
    std::vector<NamedParameter> params;
    std::set<const void*> seen;
    for (auto& p : model_->named_parameters(true)) {
      if (!seen.insert(p.value().unsafeGetTensorImpl()).second) continue;  // shared embeddings count once
      params.push_back({p.key(), p.value(), 1.0, true});
      unique_.push_back(p.value());
      if (!embedding_table(p.key())) non_embedding_ += p.value().numel();
    }
    if (training()) {
      opt_ = registry_.create<Optimizer>(parse_yaml("{type: adamw, lr: 1.0e-4, weight_decay: 0.01}", "runner bench"),
                                         ctx_);
      opt_->setup(params);
      model_->train();
    } else {
      model_->eval();
    }
    torch::manual_seed(0);
  }

  Batch make_batch() const {
    const int64_t pad = o_.seq / 8;
    Batch b;
    auto ids = torch::randint(5, o_.vocab, {o_.batch, width()}, torch::kLong);
    auto mask = torch::ones({o_.batch, width()}, torch::kLong);
    if (width() > o_.seq - pad) {
      mask.narrow(1, o_.seq - pad, pad).zero_();
      ids.narrow(1, o_.seq - pad, pad).zero_();
    }
    ids.select(1, 0).fill_(101);
    ids.select(1, o_.seq - pad - 1).fill_(102);
    b.set("input_ids", ids);
    b.set("attention_mask", mask);
    if (o_.workload == "finetune") b.set("labels", torch::randint(0, o_.labels, {o_.batch}, torch::kLong));
    return b;
  }

  void step() {
    const bool bf16 = o_.dtype == "bf16";
    Batch b = make_batch();
    if (!training()) {
      c10::InferenceMode guard;
      nn::Bf16Autocast ac(bf16);
      Batch out = model_->forward(b);
      checksum_ += out.at("embeddings").to(torch::kFloat).sum().item<double>();
      return;
    }
    opt_->zero_grad();
    std::map<std::string, torch::Tensor> parts;
    torch::Tensor l;
    {
      nn::Bf16Autocast ac(bf16);
      Batch out = model_->forward(b);
      l = loss_->compute(out, b, parts);
    }
    l.backward();
    if (o_.workload == "pretrain") torch::nn::utils::clip_grad_norm_(unique_, 1.0);
    opt_->step(1e-4);
    checksum_ += l.item<double>();
  }

  const BenchOptions& o_;
  Registry registry_;
  PluginLoader loader_;
  BuildContext ctx_;
  std::shared_ptr<Model> model_;
  std::shared_ptr<Loss> loss_;
  std::shared_ptr<Optimizer> opt_;
  std::vector<torch::Tensor> unique_;
  int64_t non_embedding_ = 0;
  int64_t steps_ = 0;
  double checksum_ = 0;  // keeps the embeddings alive (and lets two runs be compared)
};

}  // namespace

int cmd_bench(const BenchOptions& o, const std::vector<std::string>& extra_plugins) {
  if (o.batch < 1 || o.seq < 8 || o.seconds <= 0)
    throw Error(fmt::format("runner bench: --batch {} --seq {} --seconds {}: expected a batch of at least 1, a "
                            "sequence of at least 8 and a positive time",
                            o.batch, o.seq, o.seconds));
  if (o.dtype != "fp32" && o.dtype != "bf16")
    throw Error(fmt::format("runner bench: --dtype '{}': expected fp32 or bf16", o.dtype));
  ThreadSettings wanted;
  wanted.intra_op = o.threads >= 0 ? o.threads : (o.dtype == "bf16" ? 0 : 1);
  wanted.blas = o.blas;
  const ThreadSettings threads = apply_thread_settings(wanted);
  BenchRun bench(o, extra_plugins);
  bench.report(bench.time_steps(), threads);
  return 0;
}

}  // namespace stagehand
