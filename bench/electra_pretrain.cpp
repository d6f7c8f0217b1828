// SPDX-License-Identifier: Apache-2.0
// Benchmark: ELECTRA pretraining steps through stagehand's own components (model `electra`, loss `electra`,
// optimizer `adamw`, loaded as plugins exactly as the runner loads them), on the workload of the peer
// bench/peer/peer_electra.py `pretrain`: random ids, one eighth of every row padding, ELECTRA-small
// (H 256, 12 layers, 4 heads, FFN 1024, embedding 128, vocab 30522, generator 1/4), AdamW. Tokens are counted as
// the peer counts them (batch x seq, padding included). Prints one JSON line like the peer's.
//   electra_pretrain_bench --plugins build/plugins --batch 8 --seq 128 --seconds 20 [--threads N] [--bf16]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <CLI/CLI.hpp>
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/version.h>

#include "stagehand/loader.h"
#include "stagehand/model.h"
#include "stagehand/optim.h"
#include "stagehand/util.h"

using namespace stagehand;

int main(int argc, char** argv) {
  CLI::App app{"ELECTRA pretraining throughput (stagehand components)"};
  std::string plugins = "build/plugins";
  int64_t batch = 8, seq = 128, threads = 0;
  // The peer's model flags and defaults (ELECTRA-small).
  int64_t vocab = 30522, hidden = 256, layers = 12, heads = 4, ffn = 1024, embed = 128;
  double gen_fraction = 0.25;
  double clip = 1.0;
  double seconds = 20;
  bool bf16 = false;
  app.add_option("--plugins", plugins, "folder of the built plugins");
  app.add_option("--batch", batch);
  app.add_option("--seq", seq);
  app.add_option("--seconds", seconds);
  app.add_option("--threads", threads, "intra-op threads (0: LibTorch's default)");
  app.add_flag("--bf16", bf16, "bfloat16 autocast");
  app.add_option("--vocab", vocab);
  app.add_option("--hidden", hidden);
  app.add_option("--layers", layers);
  app.add_option("--heads", heads);
  app.add_option("--ffn", ffn);
  app.add_option("--embed", embed);
  app.add_option("--gen-fraction", gen_fraction);
  app.add_option("--clip", clip, "global gradient-norm clip as ELECTRA (1.0); the peer does not clip, 0 turns it off");
  CLI11_PARSE(app, argc, argv);
  std::fprintf(stderr, "%s\n", configure_allocator().c_str());  // as the runner does
  try {
    if (threads > 0) at::set_num_threads(static_cast<int>(threads));
    Registry registry;
    PluginLoader loader(registry);
    for (const char* p : {"encoder_transformer", "model_electra", "loss_electra", "optimizer_adamw"})
      if (!loader.load(fmt::format("{}/{}.so", plugins, p)))
        throw Error(fmt::format("cannot load {}/{}.so: {}", plugins, p, loader.refused().back().reason));
    BuildContext ctx;
    ctx.registry = &registry;
    ctx.seed = 0;
    auto model = registry.create<Model>(
        parse_yaml(fmt::format("{{type: electra, mask_id: 103, pad_id: 0, cls_id: 101, sep_id: 102, max_length: {}, "
                               "generator_size: {}, encoder: {{type: transformer, vocab_size: {}, hidden_size: {}, "
                               "num_layers: {}, num_heads: {}, intermediate_size: {}, embedding_size: {}, "
                               "max_positions: 512, pooler: false}}}}",
                               seq, gen_fraction, vocab, hidden, layers, heads, ffn, embed),
                   "bench"),
        ctx);
    auto loss = registry.create<Loss>(parse_yaml("{type: electra}", "bench"), ctx);
    auto opt = registry.create<Optimizer>(parse_yaml("{type: adamw, lr: 1.0e-4, weight_decay: 0.01}", "bench"), ctx);
    std::vector<NamedParameter> params;
    std::vector<torch::Tensor> unique;
    std::set<const void*> seen;
    for (auto& p : model->named_parameters(true)) {
      if (!seen.insert(p.value().unsafeGetTensorImpl()).second) continue;  // shared embeddings count once
      params.push_back({p.key(), p.value(), 1.0, true});
      unique.push_back(p.value());
    }
    opt->setup(params);
    model->train();
    torch::manual_seed(0);

    auto make_batch = [&] {
      Batch b;
      auto ids = torch::randint(5, vocab, {batch, seq}, torch::kLong);
      auto mask = torch::ones({batch, seq}, torch::kLong);
      const int64_t pad = seq / 8;  // one eighth padding, as the peer
      mask.narrow(1, seq - pad, pad).zero_();
      ids.narrow(1, seq - pad, pad).zero_();
      ids.select(1, 0).fill_(101);
      ids.select(1, seq - pad - 1).fill_(102);
      b.set("input_ids", ids);
      b.set("attention_mask", mask);
      return b;
    };
    auto step = [&] {
      Batch b = make_batch();
      opt->zero_grad();
      std::map<std::string, torch::Tensor> parts;
      torch::Tensor l;
      {
        at::autocast::set_cpu_enabled(bf16);
        Batch out = model->forward(b);
        l = loss->compute(out, b, parts);
        at::autocast::set_cpu_enabled(false);
        at::autocast::clear_cache();
      }
      l.backward();
      if (clip > 0) torch::nn::utils::clip_grad_norm_(unique, clip);
      opt->step(1e-4);
    };
    for (int i = 0; i < 2; ++i) step();  // warm-up, as the peer
    auto t0 = std::chrono::steady_clock::now();
    int64_t steps = 0;
    double dt = 0;
    do {
      step();
      ++steps;
      dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (dt < seconds);
    const double per = dt / static_cast<double>(steps);
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    std::printf(
        "{\"workload\": \"pretrain\", \"impl\": \"stagehand-libtorch-%s%s\", \"batch\": %ld, \"seq\": %ld, "
        "\"hidden\": %ld, \"layers\": %ld, \"threads\": %d, \"steps\": %ld, \"ms_per_step\": %.1f, "
        "\"tokens_per_s\": %.1f, \"examples_per_s\": %.2f, \"peak_rss_mb\": %.1f}\n",
        TORCH_VERSION, bf16 ? "-bf16" : "", static_cast<long>(batch), static_cast<long>(seq), static_cast<long>(hidden),
        static_cast<long>(layers), at::get_num_threads(),
        static_cast<long>(steps), per * 1000, static_cast<double>(batch * seq) / per, static_cast<double>(batch) / per,
        static_cast<double>(ru.ru_maxrss) / 1024.0);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "electra_pretrain_bench: " << e.what() << "\n";
    return 1;
  }
}
