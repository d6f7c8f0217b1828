// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Builds batches ahead of the training step on a background thread. Batch k of a run is a pure function of k
/// (see MicroBatches), so the prefetcher may run freely ahead: it never changes what the step sees.
#include <cstdint>
#include <functional>
#include <memory>

#include <stagehand/batch.h>

#include "stagehand/sdk/export.h"

namespace stagehand::sdk::train {

class STAGEHAND_SDK_API Prefetcher {
 public:
  using Make = std::function<Batch(int64_t)>;
  /// Calls make(first), make(first + 1), ... keeping up to `depth` batches ready.
  Prefetcher(Make make, int64_t first, int64_t depth);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  /// The next batch, in order; rethrows what `make` threw for it.
  Batch get();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace stagehand::sdk::train
