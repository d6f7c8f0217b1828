// SPDX-License-Identifier: Apache-2.0
#include "stagehand/engine.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include <torch/serialize.h>

#include "stagehand/checkpoint.h"
#include "stagehand/distributed.h"
#include "stagehand/seed.h"

namespace stagehand {

namespace fs = std::filesystem;

void save_weights(const fs::path& file, torch::nn::Module& module) {
  torch::serialize::OutputArchive ar;
  for (const auto& p : module.named_parameters(true)) ar.write(p.key(), p.value().detach());
  for (const auto& b : module.named_buffers(true)) ar.write(b.key(), b.value(), /*is_buffer=*/true);
  write_archive(file, ar);
}

std::vector<std::string> load_weights(const fs::path& file, torch::nn::Module& module, const std::string& prefix) {
  torch::serialize::InputArchive ar;
  read_archive(file, ar);
  std::set<std::string> keys;
  for (const auto& k : ar.keys()) keys.insert(k);
  std::string p = prefix.empty() ? "" : prefix + ".";
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  auto take = [&](const std::string& name, torch::Tensor& target, bool buffer) {
    std::string key = p + name;
    torch::Tensor src;
    if (!keys.count(key) || !ar.try_read(key, src, buffer))
      throw Error(fmt::format("'{}' has no tensor '{}' (the architecture differs from the one that was saved; "
                              "check the model/encoder options against the stage that wrote it)",
                              file.string(), key));
    if (src.sizes() != target.sizes())
      throw Error(fmt::format("'{}': tensor '{}' has shape {} in the file but {} in the model", file.string(), key,
                              fmt::format("{}", fmt::join(src.sizes(), "x")),
                              fmt::format("{}", fmt::join(target.sizes(), "x"))));
    target.copy_(src);
    used.insert(key);
  };
  for (auto& param : module.named_parameters(true)) take(param.key(), param.value(), false);
  for (auto& buf : module.named_buffers(true)) take(buf.key(), buf.value(), true);
  std::vector<std::string> unused;
  for (const auto& k : keys)
    if (!used.count(k) && k.rfind(p, 0) == 0) unused.push_back(k);
  return unused;
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(derive_seed(seed, fmt::format("epoch-{}", epoch)));
  // Fisher-Yates with our own draws: std::shuffle's use of the engine is implementation-defined.
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

namespace {

/// One evaluated batch as bytes: its loss and, for the evaluators, the batch and the model's outputs.
std::string pack_evaluated(const Batch& b, const Batch& out, double loss, bool with_tensors) {
  torch::serialize::OutputArchive ar;
  ar.write("loss", torch::tensor(loss, torch::kFloat64));
  if (with_tensors) {
    for (const auto& [k, t] : b.tensors()) ar.write("in." + k, t.contiguous());
    for (const auto& [k, t] : out.tensors()) ar.write("out." + k, t.contiguous());
    std::string ids;
    for (const auto& id : b.ids) ids += id + '\0';
    ar.write("ids", torch::from_blob(ids.data(), {static_cast<int64_t>(ids.size())}, torch::kUInt8).clone());
  }
  std::ostringstream os;
  ar.save_to(os);
  return os.str();
}

double unpack_evaluated(const std::string& bytes, Batch& b, Batch& out) {
  torch::serialize::InputArchive ar;
  ar.load_from(bytes.data(), bytes.size());
  torch::Tensor t;
  ar.read("loss", t);
  const double loss = t.item<double>();
  for (const auto& k : ar.keys()) {
    if (k.rfind("in.", 0) == 0 || k.rfind("out.", 0) == 0) {
      torch::Tensor v;
      ar.read(k, v);
      (k[0] == 'i' ? b : out).set(k.substr(k.find('.') + 1), v);
    } else if (k == "ids") {
      torch::Tensor v;
      ar.read(k, v);
      const char* p = static_cast<const char*>(v.data_ptr());
      const int64_t n = v.numel();
      for (int64_t i = 0, start = 0; i < n; ++i)
        if (p[i] == '\0') {
          b.ids.emplace_back(p + start, p + i);
          start = i + 1;
        }
    }
  }
  return loss;
}

/// The evaluation loop of evaluate_split and evaluate_split_data_parallel. `sharded`: rank r runs batches r, r + N,
/// ... and every rank takes every batch, gathered, in order.
std::map<std::string, double> evaluate(Model& model, const Dataset& data, const std::string& split,
                                       const std::vector<std::shared_ptr<Evaluator>>& evaluators, int64_t batch_size,
                                       Loss* loss, StageContext* ctx, const std::function<void(Batch&)>& prepare,
                                       bool sharded) {
  bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  for (const auto& e : evaluators) {
    e->set_labels(data.labels());
    e->reset();
  }
  const int64_t n = data.size(split);
  const int64_t batches = (n + batch_size - 1) / batch_size;
  double loss_sum = 0;
  int64_t loss_batches = 0;
  // Batch k through the model: the batch, the outputs and the loss (0 without one).
  auto run = [&](int64_t k, Batch& b, Batch& out) {
    std::vector<int64_t> idx;
    for (int64_t i = k * batch_size; i < std::min(n, (k + 1) * batch_size); ++i) idx.push_back(i);
    b = data.batch(split, idx);
    if (prepare) prepare(b);
    out = model.forward(b);
    if (!loss) return 0.0;
    std::map<std::string, torch::Tensor> parts;
    return loss->compute(out, b, parts).item<double>();
  };
  auto take = [&](const Batch& b, const Batch& out, double l) {
    for (const auto& e : evaluators) e->add(out, b);
    if (loss) {
      loss_sum += l;
      ++loss_batches;
    }
  };
  if (!sharded) {
    for (int64_t k = 0; k < batches; ++k) {
      if (ctx && ctx->stop_requested()) break;
      Batch b, out;
      const double l = run(k, b, out);
      take(b, out, l);
    }
  } else {
    const int ranks = dist::world().world_size, rank = dist::world().rank;
    for (int64_t round = 0; round < batches; round += ranks) {
      std::string mine;
      if (round + rank < batches) {
        Batch b, out;
        const double l = run(round + rank, b, out);
        mine = pack_evaluated(b, out, l, !evaluators.empty());
      }
      const std::vector<std::string> all = dist::all_gather_bytes(mine);
      for (int r = 0; r < ranks && round + r < batches; ++r) {
        Batch b, out;
        const double l = unpack_evaluated(all[static_cast<size_t>(r)], b, out);
        take(b, out, l);
      }
    }
  }
  std::map<std::string, double> metrics;
  for (const auto& e : evaluators)
    for (const auto& [k, v] : e->compute()) metrics[k] = v;
  if (loss && loss_batches > 0) metrics["loss"] = loss_sum / static_cast<double>(loss_batches);
  model.train(was_training);
  return metrics;
}

}  // namespace

std::map<std::string, double> evaluate_split(Model& model, const Dataset& data, const std::string& split,
                                             const std::vector<std::shared_ptr<Evaluator>>& evaluators,
                                             int64_t batch_size, Loss* loss, StageContext* ctx,
                                             const std::function<void(Batch&)>& prepare) {
  return evaluate(model, data, split, evaluators, batch_size, loss, ctx, prepare, false);
}

std::map<std::string, double> evaluate_split_data_parallel(Model& model, const Dataset& data, const std::string& split,
                                                           const std::vector<std::shared_ptr<Evaluator>>& evaluators,
                                                           int64_t batch_size, Loss* loss,
                                                           const std::function<void(Batch&)>& prepare) {
  return evaluate(model, data, split, evaluators, batch_size, loss, nullptr, prepare, dist::active());
}

void record_skipped(StageContext& ctx, const Dataset& data) {
  const auto hints = data.hints();
  auto it = hints.find("skipped_records");
  if (it == hints.end() || it->second <= 0) return;
  ctx.metric("skipped_records", static_cast<double>(it->second));
  ctx.info(fmt::format("the data skipped {} malformed record(s) (on_bad_record: skip); the count is in the record",
                       it->second));
}

ConfigNode saved_spec(const ConfigNode& architecture, const std::string& weights_file) {
  ConfigNode s = ConfigNode::map();
  s.set("type", ConfigNode::of("saved"));
  s.set("spec", architecture);
  s.set("weights", ConfigNode::of(weights_file));
  return s;
}

}  // namespace stagehand
