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

#include "stagehand/loader.h"
#include "stagehand/model.h"
#include "stagehand/nn.h"
#include "stagehand/optim.h"
#include "stagehand/pipeline.h"
#include "stagehand/util.h"

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

  Registry registry;
  PluginLoader loader(registry);
  loader.load_default();
  for (const auto& e : extra_plugins) loader.load(e, "command line");
  BuildContext ctx;
  ctx.registry = &registry;
  ctx.seed = 0;
  auto spec = [](const std::string& yaml) { return parse_yaml(yaml, "runner bench"); };
  std::shared_ptr<Model> model;
  std::shared_ptr<Loss> loss;
  if (o.workload == "pretrain") {
    model = registry.create<Model>(
        spec(fmt::format("{{type: electra, mask_id: 103, pad_id: 0, cls_id: 101, sep_id: 102, max_length: {}, "
                         "generator_size: {}, encoder: {}}}",
                         o.seq, o.gen_fraction, encoder_spec(o))),
        ctx);
    loss = registry.create<Loss>(spec("{type: electra}"), ctx);
  } else if (o.workload == "finetune") {
    model = registry.create<Model>(
        spec(fmt::format("{{type: classifier, num_labels: {}, pooling: cls, dropout: 0.0, encoder: {}, "
                         "head: {{type: mlp, hidden: [{}], activation: gelu, dropout: 0.1}}}}",
                         o.labels, encoder_spec(o), o.hidden)),
        ctx);
    loss = registry.create<Loss>(spec("{type: cross_entropy}"), ctx);
  } else if (o.workload == "embed") {
    model = registry.create<Model>(spec(fmt::format("{{type: embedder, pooling: mean, encoder: {}}}", encoder_spec(o))),
                                   ctx);
  } else {
    throw Error(fmt::format("runner bench: unknown workload '{}': expected pretrain, finetune or embed", o.workload));
  }
  const bool training = o.workload != "embed";
  const bool bf16 = o.dtype == "bf16";

  std::vector<NamedParameter> params;
  std::vector<torch::Tensor> unique;
  std::set<const void*> seen;
  int64_t non_embedding = 0;
  for (auto& p : model->named_parameters(true)) {
    if (!seen.insert(p.value().unsafeGetTensorImpl()).second) continue;  // shared embeddings count once
    params.push_back({p.key(), p.value(), 1.0, true});
    unique.push_back(p.value());
    if (!embedding_table(p.key())) non_embedding += p.value().numel();
  }
  std::shared_ptr<Optimizer> opt;
  if (training) {
    opt = registry.create<Optimizer>(spec("{type: adamw, lr: 1.0e-4, weight_decay: 0.01}"), ctx);
    opt->setup(params);
    model->train();
  } else {
    model->eval();
  }
  torch::manual_seed(0);

  // The peer's rows: seq tokens, the last eighth padding. The project's datasets make a batch as wide as its
  // longest row, so by default the padding columns that every row has are not there.
  const int64_t pad = o.seq / 8;
  const int64_t width = o.fixed_width ? o.seq : o.seq - pad;
  auto make_batch = [&] {
    Batch b;
    auto ids = torch::randint(5, o.vocab, {o.batch, width}, torch::kLong);
    auto mask = torch::ones({o.batch, width}, torch::kLong);
    if (width > o.seq - pad) {
      mask.narrow(1, o.seq - pad, pad).zero_();
      ids.narrow(1, o.seq - pad, pad).zero_();
    }
    ids.select(1, 0).fill_(101);
    ids.select(1, o.seq - pad - 1).fill_(102);
    b.set("input_ids", ids);
    b.set("attention_mask", mask);
    if (o.workload == "finetune") b.set("labels", torch::randint(0, o.labels, {o.batch}, torch::kLong));
    return b;
  };
  double checksum = 0;  // keeps the embeddings alive (and lets two runs be compared)
  auto step = [&] {
    Batch b = make_batch();
    if (!training) {
      c10::InferenceMode guard;
      nn::Bf16Autocast ac(bf16);
      Batch out = model->forward(b);
      checksum += out.at("embeddings").to(torch::kFloat).sum().item<double>();
      return;
    }
    opt->zero_grad();
    std::map<std::string, torch::Tensor> parts;
    torch::Tensor l;
    {
      nn::Bf16Autocast ac(bf16);
      Batch out = model->forward(b);
      l = loss->compute(out, b, parts);
    }
    l.backward();
    if (o.workload == "pretrain") torch::nn::utils::clip_grad_norm_(unique, 1.0);
    opt->step(1e-4);
    checksum += l.item<double>();
  };
  for (int i = 0; i < 2; ++i) step();  // warm-up, as the peer
  const auto t0 = std::chrono::steady_clock::now();
  int64_t steps = 0;
  double dt = 0;
  do {
    step();
    ++steps;
    dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (dt < o.seconds);
  const double per = dt / static_cast<double>(steps);
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const double tokens_per_s = static_cast<double>(o.batch * o.seq) / per;
  auto round1 = [](double v) { return std::round(v * 10) / 10; };
  nlohmann::ordered_json j;
  j["workload"] = o.workload;
  j["impl"] = fmt::format("stagehand-libtorch-{}", TORCH_VERSION);
  j["dtype"] = o.dtype;
  j["batch"] = o.batch;
  j["seq"] = o.seq;
  j["batch_width"] = width;
  j["hidden"] = o.hidden;
  j["layers"] = o.layers;
  j["threads"] = at::get_num_threads();
  j["blas_threads"] = threads.blas;
  j["steps"] = steps;
  j["ms_per_step"] = round1(per * 1000);
  j["tokens_per_s"] = round1(tokens_per_s);
  j["examples_per_s"] = std::round(static_cast<double>(o.batch) / per * 100) / 100;
  j["peak_rss_mb"] = round1(static_cast<double>(ru.ru_maxrss) / 1024.0);
  j["non_embedding_params"] = non_embedding;
  j["model_gflops_per_s"] =
      std::round((training ? 6.0 : 2.0) * static_cast<double>(non_embedding) * tokens_per_s / 1e6) / 1e3;
  j["checksum"] = checksum;
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace stagehand
