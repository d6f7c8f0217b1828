// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Checkpoints of a training run and resuming from them. A checkpoint holds the model, the optimizer, the random
/// state of every rank, the step and the model selection's state: with the data order a pure function of the step
/// (MicroBatches), that is all a resumed run needs to end bit-identical to an uninterrupted one. Files are written
/// atomically with a sha256 sidecar (write_checkpoint); a damaged newest file falls back to the one before.
///
/// Archive layout (the format; keep it): "model" and "optimizer" (nested archives), "rng" (rank 0's generator
/// state), "rng.rank<r>" for ranks r >= 1, "step" (int64), "best" (float64), "best_step" and "bad_evals" (int64).
#include <cstdint>
#include <filesystem>
#include <optional>

#include <stagehand/model.h>
#include <stagehand/optim.h>
#include <stagehand/stage.h>

#include "stagehand/sdk/export.h"
#include "stagehand/sdk/train/model_selection.h"

namespace stagehand::sdk::train {

class STAGEHAND_SDK_API Checkpointer {
 public:
  /// Checkpoints in `dir`, the newest `keep` kept. Messages go to `ctx`.
  Checkpointer(StageContext& ctx, std::filesystem::path dir, int keep);

  /// Restores the model, the optimizer, this rank's random state, `step` and `selection` from the newest good
  /// checkpoint: rank 0 reads it and every other rank gets its bytes. False (nothing changed) when there is none.
  /// A collective in data-parallel runs. `total` only goes into the message.
  bool restore(Model& model, Optimizer& optimizer, int64_t& step, Selection& selection, int64_t total);
  /// Writes the checkpoint of `step`. A collective in data-parallel runs (every rank's random state goes in);
  /// rank 0 writes.
  void save(Model& model, Optimizer& optimizer, int64_t step, const Selection& selection);
  /// The step of the newest checkpoint on disk, if any.
  std::optional<int64_t> newest_step() const;
  /// Deletes the folder (the run is complete: its output is the model).
  void remove() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  StageContext& ctx_;
  std::filesystem::path dir_;
  int keep_;
};

}  // namespace stagehand::sdk::train
