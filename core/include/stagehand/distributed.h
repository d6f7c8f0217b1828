// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Data-parallel training on LibTorch's c10d: one process per rank, a TCPStore hosted by rank 0 for the
/// rendezvous, a ProcessGroupGloo for the collectives. The runner joins the group at start-up from torchrun's
/// environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; `runner --nproc N`
/// sets them for its local ranks). In a single process every function here is a no-op, so stages call them
/// unconditionally. The heavy c10d headers stay in the implementation file.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "stagehand/export.h"

namespace stagehand::dist {

struct STAGEHAND_API World {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string backend;  ///< "gloo" once joined; empty in a single process
  std::string master_addr;
  int master_port = 0;
  double timeout_s = 0;  ///< how long a collective waits for the other ranks before it fails
};

/// The process's place in the group (rank 0 of 1 until init_from_environment joins one).
STAGEHAND_API const World& world();
/// True when there is more than one rank.
STAGEHAND_API bool active();

/// Reads torchrun's variables; with WORLD_SIZE > 1 joins the group (blocks until every rank has connected to
/// the store, or `timeout` passes). Every malformed variable is refused with one line naming it, its value and
/// what is expected.
STAGEHAND_API void init_from_environment(std::chrono::seconds timeout);
/// Leaves the group (the process group first, then the store).
STAGEHAND_API void shutdown();

/// In-place sums over the ranks. Throws stagehand::Error naming this rank and the collective when another rank
/// is gone or the collective times out.
STAGEHAND_API void all_reduce_sum(std::vector<torch::Tensor>& tensors);
STAGEHAND_API void all_reduce_sum(std::vector<double>& values);
/// Every rank ends with `root`'s values / bytes.
STAGEHAND_API void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
STAGEHAND_API std::string broadcast_bytes(const std::string& bytes, int root = 0);
/// Each rank's `t` (same shape and dtype on every rank), in rank order.
STAGEHAND_API std::vector<torch::Tensor> all_gather(const torch::Tensor& t);
/// Each rank's bytes (any length, empty allowed), in rank order.
STAGEHAND_API std::vector<std::string> all_gather_bytes(const std::string& bytes);

/// The store, for rank 0 to tell the other ranks what the pipeline does next: publish sets a key, await polls
/// for it until it exists (returning its value) or `should_stop` says so (returning ""). Neither times out
/// while rank 0 is alive (a stage that rank 0 runs alone may take hours); losing rank 0 throws.
STAGEHAND_API void publish(const std::string& key, const std::string& value);
STAGEHAND_API std::string await(const std::string& key, const std::function<bool()>& should_stop);

/// Sums gradients over the ranks in buckets of about `bucket_bytes` (last layers first, as the backward pass
/// produces them): each bucket is packed into one flat tensor and all-reduced asynchronously. After arm(), a
/// bucket's all-reduce starts during the backward pass, as soon as LibTorch has accumulated the gradient of every
/// parameter in it (a post-hook on each parameter's gradient accumulator, as PyTorch's DDP does), overlapping the
/// rest of the backward pass; reduce() starts whatever is left, waits, and writes the sums back. Buckets start in
/// the same order on every rank. A gradient that some ranks lack (a parameter unused in their batch) counts as
/// zero there; one that every rank lacks stays undefined, as in a single process. A no-op in a single process.
class STAGEHAND_API GradientReducer {
 public:
  explicit GradientReducer(std::vector<torch::Tensor> params, int64_t bucket_bytes = int64_t{16} << 20);
  ~GradientReducer();
  /// Call before the backward pass whose gradients are to be summed (with accumulation: the last micro-batch's).
  void arm();
  void reduce();
  double seconds() const;  ///< time spent waiting in reduce() (what the all-reduce adds to a step)
  size_t buckets() const;
  /// How many buckets started during the backward pass, over all reduce() calls.
  int64_t overlapped() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace stagehand::dist
