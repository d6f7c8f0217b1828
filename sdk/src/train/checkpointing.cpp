// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/checkpointing.h"

#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/serialize.h>

#include <stagehand/checkpoint.h>
#include <stagehand/distributed.h>
#include <stagehand/files.h>

namespace stagehand::sdk::train {

namespace fs = std::filesystem;

Checkpointer::Checkpointer(StageContext& ctx, fs::path dir, int keep) : ctx_(ctx), dir_(std::move(dir)), keep_(keep) {}

namespace {

// A fresh tensor per entry: InputArchive::read into a defined tensor calls set_() on it, which keeps that tensor's
// dtype, so reusing one tensor read the float64 `best` as an integer and lost it (the first evaluation after a
// resume then always counted as an improvement and could change the selected model).
torch::Tensor read_entry(torch::serialize::InputArchive& ar, const char* key) {
  torch::Tensor t;
  ar.read(key, t);
  return t;
}

void restore_rng(StageContext& ctx, torch::serialize::InputArchive& ar) {
  const int rank = dist::world().rank;
  if (rank == 0) {
    set_rng_state(read_entry(ar, "rng"));
    return;
  }
  torch::Tensor rng;
  if (ar.try_read(fmt::format("rng.rank{}", rank), rng))
    set_rng_state(rng);
  else
    ctx.warn(fmt::format("the checkpoint has no random state for rank {} (it was written by fewer ranks); "
                         "this rank's dropout starts afresh",
                         rank));
}

}  // namespace

bool Checkpointer::restore(Model& model, Optimizer& optimizer, int64_t& step, Selection& selection, int64_t total) {
  const int rank = dist::world().rank;
  torch::serialize::InputArchive ar;
  std::optional<CheckpointFile> got;
  if (rank == 0) got = load_latest_checkpoint(dir_, ar, [&](const std::string& w) { ctx_.warn(w); });
  if (dist::active()) {
    // Rank 0's checkpoint, byte for byte, for every rank (which need not see rank 0's folder).
    const std::string bytes = dist::broadcast_bytes(got ? read_file(got->file) : std::string());
    if (rank != 0 && !bytes.empty()) {
      ar.load_from(bytes.data(), bytes.size());
      got = CheckpointFile{};
    }
  }
  if (!got) return false;
  torch::serialize::InputArchive m, opt;
  ar.read("model", m);
  ar.read("optimizer", opt);
  model.load(m);
  optimizer.load(opt);
  restore_rng(ctx_, ar);
  step = read_entry(ar, "step").item<int64_t>();
  selection.best = read_entry(ar, "best").item<double>();
  selection.best_step = read_entry(ar, "best_step").item<int64_t>();
  selection.bad_evals = read_entry(ar, "bad_evals").item<int64_t>();
  if (rank == 0) ctx_.info(fmt::format("resumed from {} (step {} of {})", got->file.filename().string(), step, total));
  return true;
}

void Checkpointer::save(Model& model, Optimizer& optimizer, int64_t step, const Selection& selection) {
  const dist::World& world = dist::world();
  std::vector<torch::Tensor> rngs = dist::all_gather(get_rng_state());
  if (world.rank != 0) return;
  torch::serialize::OutputArchive ar, m, opt;
  model.save(m);
  optimizer.save(opt);
  ar.write("model", m);
  ar.write("optimizer", opt);
  ar.write("rng", get_rng_state());
  ar.write("step", torch::tensor(step));
  ar.write("best", torch::tensor(selection.best, torch::kFloat64));
  ar.write("best_step", torch::tensor(selection.best_step));
  ar.write("bad_evals", torch::tensor(selection.bad_evals));
  for (int r = 1; r < world.world_size; ++r) ar.write(fmt::format("rng.rank{}", r), rngs[static_cast<size_t>(r)]);
  write_checkpoint(dir_, step, ar, keep_);
}

std::optional<int64_t> Checkpointer::newest_step() const {
  auto all = list_checkpoints(dir_);
  if (all.empty()) return std::nullopt;
  return all.front().step;
}

void Checkpointer::remove() const {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace stagehand::sdk::train
