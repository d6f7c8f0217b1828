// SPDX-License-Identifier: Apache-2.0
// c10d behind stagehand/distributed.h: TCPStore rendezvous and ProcessGroupGloo collectives.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include "stagehand/distributed.h"

#include <algorithm>
#include <map>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include <mutex>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "stagehand/error.h"
#include "util/clock.h"

namespace stagehand::dist {

namespace {

World g_world;
c10::intrusive_ptr<c10d::TCPStore> g_store;
c10::intrusive_ptr<c10d::ProcessGroupGloo> g_group;

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

[[noreturn]] void collective_failed(const char* what, const std::exception& e) {
  throw Error(fmt::format("data-parallel: {} failed on rank {} of {} ({}); another rank has stopped (it died, was "
                          "killed, or is stuck for more than {:.0f} s). Run the same command again to resume from the "
                          "last checkpoint",
                          what, g_world.rank, g_world.world_size, first_line(e.what()), g_world.timeout_s));
}

/// Runs `op` (which starts and waits for collectives), turning c10d's exceptions into one clear line.
template <typename F>
void guarded(const char* what, F&& op) {
  try {
    op();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    collective_failed(what, e);
  }
}

int env_int(const char* name, int fallback, int lo, int hi, const char* expected) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw Error(fmt::format("environment variable {}='{}' is not {}; it is set by the launcher (runner --nproc N, or "
                            "torchrun's conventions: see docs/distributed.md)",
                            name, v, expected));
  return static_cast<int>(x);
}

}  // namespace

const World& world() { return g_world; }
bool active() { return g_world.world_size > 1; }

void init_from_environment(std::chrono::seconds timeout) {
  World w;
  w.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20, "a positive number of ranks");
  if (w.world_size == 1) {
    g_world = w;
    return;
  }
  const std::string size_range = fmt::format("a rank of WORLD_SIZE={} (0..{})", w.world_size, w.world_size - 1);
  w.rank = env_int("RANK", -1, 0, w.world_size - 1, size_range.c_str());
  if (w.rank < 0)
    throw Error(fmt::format("WORLD_SIZE={} is set but RANK is not; every process of a data-parallel run needs its "
                            "RANK (runner --nproc N sets it)",
                            w.world_size));
  w.local_world_size = env_int("LOCAL_WORLD_SIZE", w.world_size, 1, w.world_size, "between 1 and WORLD_SIZE");
  w.local_rank = env_int("LOCAL_RANK", w.rank % w.local_world_size, 0, w.local_world_size - 1,
                         "a rank below LOCAL_WORLD_SIZE");
  const char* addr = std::getenv("MASTER_ADDR");
  w.master_addr = addr && *addr ? addr : "127.0.0.1";
  w.master_port = env_int("MASTER_PORT", 29500, 1, 65535, "a TCP port (1..65535)");
  w.timeout_s = static_cast<double>(timeout.count());
  w.backend = "gloo";

  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(w.master_port);
  so.isServer = w.rank == 0;
  so.numWorkers = w.world_size;
  so.waitWorkers = true;
  so.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  try {
    g_store = c10::make_intrusive<c10d::TCPStore>(w.master_addr, so);
  } catch (const std::exception& e) {
    throw Error(fmt::format("data-parallel: rank {} of {} could not {} the rendezvous store at {}:{} within {} s ({}); "
                            "check MASTER_ADDR/MASTER_PORT, that the port is free on rank 0's machine, and that every "
                            "rank was started",
                            w.rank, w.world_size, w.rank == 0 ? "host" : "reach", w.master_addr, w.master_port,
                            timeout.count(), first_line(e.what())));
  }
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    // One machine: loopback. Several: GLOO_SOCKET_IFNAME names the interface, else the host name's address.
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname && *ifname)
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (w.local_world_size == w.world_size)
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    g_group = c10::make_intrusive<c10d::ProcessGroupGloo>(g_store, w.rank, w.world_size, opts);
  } catch (const std::exception& e) {
    g_store.reset();
    throw Error(fmt::format("data-parallel: rank {} of {} could not join the Gloo group ({}); on several machines set "
                            "GLOO_SOCKET_IFNAME to the network interface the ranks share",
                            w.rank, w.world_size, first_line(e.what())));
  }
  g_world = w;
}

void shutdown() {
  g_group.reset();
  g_store.reset();
  g_world = World{};
}

/// Runs `op` on one flat tensor per dtype holding all of `tensors` (Gloo's collectives take a list of tensors of
/// one shape only), then copies the result back.
template <typename Op>
void flattened(std::vector<torch::Tensor>& tensors, Op&& op) {
  torch::NoGradGuard no_grad;
  std::map<c10::ScalarType, std::vector<size_t>> by_type;
  for (size_t i = 0; i < tensors.size(); ++i) by_type[tensors[i].scalar_type()].push_back(i);
  for (const auto& [type, idx] : by_type) {
    std::vector<torch::Tensor> parts;
    for (size_t i : idx) parts.push_back(tensors[i].reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(parts)};
    op(flat);
    int64_t offset = 0;
    for (size_t i : idx) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(flat[0].narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
  }
}

void all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (!active() || tensors.empty()) return;
  guarded("all-reduce", [&] { flattened(tensors, [](std::vector<torch::Tensor>& t) { g_group->allreduce(t)->wait(); }); });
}

void all_reduce_sum(std::vector<double>& values) {
  if (!active() || values.empty()) return;
  std::vector<torch::Tensor> t{torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kFloat64)};
  guarded("all-reduce", [&] { g_group->allreduce(t)->wait(); });
}

void broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (!active() || tensors.empty()) return;
  c10d::BroadcastOptions o;
  o.rootRank = root;
  guarded("broadcast", [&] {
    flattened(tensors, [&](std::vector<torch::Tensor>& t) { g_group->broadcast(t, o)->wait(); });
  });
}

std::string broadcast_bytes(const std::string& bytes, int root) {
  if (!active()) return bytes;
  std::vector<torch::Tensor> size{torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kInt64)};
  broadcast(size, root);
  const int64_t n = size[0].item<int64_t>();
  if (n == 0) return {};
  std::vector<torch::Tensor> data{torch::empty({n}, torch::kUInt8)};
  if (g_world.rank == root) std::memcpy(data[0].data_ptr(), bytes.data(), static_cast<size_t>(n));
  broadcast(data, root);
  return std::string(static_cast<const char*>(data[0].data_ptr()), static_cast<size_t>(n));
}

std::vector<torch::Tensor> all_gather(const torch::Tensor& t) {
  if (!active()) return {t};
  std::vector<torch::Tensor> in{t.contiguous()};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < g_world.world_size; ++r) out[0].push_back(torch::empty_like(in[0]));
  guarded("all-gather", [&] { g_group->allgather(out, in)->wait(); });
  return out[0];
}

std::vector<std::string> all_gather_bytes(const std::string& bytes) {
  if (!active()) return {bytes};
  const auto sizes = all_gather(torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kInt64));
  int64_t longest = 0;
  for (const auto& s : sizes) longest = std::max(longest, s.item<int64_t>());
  std::vector<std::string> out(sizes.size());
  if (longest == 0) return out;
  torch::Tensor mine = torch::zeros({longest}, torch::kUInt8);
  std::memcpy(mine.data_ptr(), bytes.data(), bytes.size());
  const auto all = all_gather(mine);
  for (size_t r = 0; r < all.size(); ++r)
    out[r].assign(static_cast<const char*>(all[r].data_ptr()), static_cast<size_t>(sizes[r].item<int64_t>()));
  return out;
}

void publish(const std::string& key, const std::string& value) {
  if (!active()) return;
  try {
    g_store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
  } catch (const std::exception& e) {
    throw Error(fmt::format("data-parallel: rank {} lost the rendezvous store ({})", g_world.rank, first_line(e.what())));
  }
}

std::string await(const std::string& key, const std::function<bool()>& should_stop) {
  if (!active()) return {};
  try {
    while (!g_store->check({key})) {
      if (should_stop && should_stop()) return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto v = g_store->get(key);
    return std::string(v.begin(), v.end());
  } catch (const std::exception& e) {
    throw Error(fmt::format("data-parallel: rank {} lost rank 0, which hosts the rendezvous store at {}:{} ({}); "
                            "rank 0 has stopped, see its error",
                            g_world.rank, g_world.master_addr, g_world.master_port, first_line(e.what())));
  }
}

struct GradientReducer::State {
  std::vector<torch::Tensor> params;
  std::vector<std::vector<size_t>> buckets;  ///< indices into params, in reverse order (last layers first)
  std::vector<size_t> bucket_of;             ///< parameter -> bucket
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;  ///< kept alive so the hooks stay
  std::mutex mu;
  bool armed = false;
  std::vector<size_t> missing;  ///< per bucket: expected gradients not yet accumulated in this backward pass
  std::vector<char> expected;   ///< per parameter: got a gradient in the previous armed backward pass (a
                                ///< parameter unused there, like a pooler the loss ignores, is not waited for)
  std::vector<char> fired;      ///< per parameter: its gradient was accumulated in this backward pass
  std::vector<char> late;       ///< per bucket: a gradient arrived after the bucket had started
  size_t next = 0;              ///< the next bucket to start (buckets start in order on every rank)
  std::vector<torch::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> work;
  std::exception_ptr error;
  double seconds = 0;
  int64_t overlapped = 0;

  /// Packs bucket `b` and starts its all-reduce (mu held).
  void start(size_t b) {
    std::vector<torch::Tensor> parts;
    for (size_t k : buckets[b]) {
      const torch::Tensor& p = params[k];
      parts.push_back(p.grad().defined() ? p.grad().detach().reshape({-1}) : torch::zeros({p.numel()}, p.options()));
    }
    std::vector<torch::Tensor> one{torch::cat(parts)};
    work[b] = g_group->allreduce(one);
    flats[b] = one[0];
  }
  /// Starts every complete bucket whose predecessors have started (mu held).
  void start_ready(bool during_backward) {
    while (next < buckets.size() && missing[next] == 0) {
      start(next++);
      if (during_backward) ++overlapped;
    }
  }
  void ready(size_t k) {
    std::lock_guard<std::mutex> lock(mu);
    if (!armed || error) return;
    try {
      const size_t b = bucket_of[k];
      fired[k] = 1;
      if (b < next) {
        late[b] = 1;  // a parameter unused last time is used now: its bucket is summed again in reduce()
      } else if (expected[k] && missing[b] > 0) {
        --missing[b];
      }
      start_ready(true);
    } catch (...) {
      error = std::current_exception();
    }
  }
};

namespace {
/// Tells the reducer that parameter `k`'s gradient is accumulated for this backward pass.
class ReadyHook : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(GradientReducer::State* state, size_t k) : state_(state), k_(k) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    state_->ready(k_);
    return outputs;
  }

 private:
  GradientReducer::State* state_;
  size_t k_;
};
}  // namespace

GradientReducer::GradientReducer(std::vector<torch::Tensor> params, int64_t bucket_bytes)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.params = std::move(params);
  std::vector<size_t> current;
  int64_t bytes = 0;
  c10::ScalarType dtype = c10::ScalarType::Undefined;
  for (size_t k = s.params.size(); k-- > 0;) {
    const torch::Tensor& p = s.params[k];
    const int64_t b = p.numel() * static_cast<int64_t>(p.element_size());
    if (!current.empty() && (bytes + b > bucket_bytes || p.scalar_type() != dtype)) {
      s.buckets.push_back(std::move(current));
      current.clear();
      bytes = 0;
    }
    current.push_back(k);
    bytes += b;
    dtype = p.scalar_type();
  }
  if (!current.empty()) s.buckets.push_back(std::move(current));
  s.bucket_of.resize(s.params.size());
  s.expected.assign(s.params.size(), 1);
  for (size_t b = 0; b < s.buckets.size(); ++b)
    for (size_t k : s.buckets[b]) s.bucket_of[k] = b;
  if (!active()) return;
  for (size_t k = 0; k < s.params.size(); ++k) {
    if (!s.params[k].requires_grad()) continue;
    auto acc = torch::autograd::impl::grad_accumulator(s.params[k]);
    if (!acc) continue;
    acc->add_post_hook(std::make_unique<ReadyHook>(state_.get(), k));
    s.accumulators.push_back(std::move(acc));
  }
}

GradientReducer::~GradientReducer() = default;

void GradientReducer::arm() {
  if (!active()) return;
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  s.missing.assign(s.buckets.size(), 0);
  for (size_t b = 0; b < s.buckets.size(); ++b)
    for (size_t k : s.buckets[b]) s.missing[b] += s.expected[k] ? 1 : 0;
  s.fired.assign(s.params.size(), 0);
  s.late.assign(s.buckets.size(), 0);
  s.flats.assign(s.buckets.size(), torch::Tensor());
  s.work.assign(s.buckets.size(), c10::intrusive_ptr<c10d::Work>());
  s.next = 0;
  s.error = nullptr;
  s.armed = true;
}

void GradientReducer::reduce() {
  if (!active()) return;
  State& s = *state_;
  const double t0 = wall_seconds();
  torch::NoGradGuard no_grad;
  if (!s.armed) arm();
  std::unique_lock<std::mutex> lock(s.mu);
  s.armed = false;
  if (s.error) {
    std::exception_ptr e = s.error;
    s.error = nullptr;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      collective_failed("gradient all-reduce", ex);
    }
  }
  // Which gradients each rank has (one count per parameter), and which buckets started too early somewhere.
  const size_t np = s.params.size(), nb = s.buckets.size();
  torch::Tensor have = torch::zeros({static_cast<int64_t>(np + nb)}, torch::kFloat32);
  float* h = have.data_ptr<float>();
  for (size_t k = 0; k < np; ++k) h[k] = s.params[k].grad().defined() ? 1.0f : 0.0f;
  for (size_t b = 0; b < nb; ++b) h[np + b] = s.late[b];
  guarded("gradient all-reduce", [&] {
    while (s.next < nb) s.start(s.next++);  // what the backward pass did not complete
    std::vector<torch::Tensor> counts{have};
    g_group->allreduce(counts)->wait();
    for (auto& w : s.work) w->wait();
    // A bucket that some rank started before all its gradients were in is summed again, by every rank, in order.
    for (size_t b = 0; b < nb; ++b)
      if (h[np + b] > 0) {
        s.start(b);
        s.work[b]->wait();
      }
  });
  for (size_t k = 0; k < np; ++k) s.expected[k] = s.fired[k];
  for (size_t b = 0; b < s.buckets.size(); ++b) {
    int64_t offset = 0;
    for (size_t k : s.buckets[b]) {
      torch::Tensor& p = s.params[k];
      const int64_t n = p.numel();
      if (h[k] > 0) {  // some rank had a gradient
        torch::Tensor g = s.flats[b].narrow(0, offset, n).view(p.sizes());
        if (p.grad().defined())
          p.mutable_grad().copy_(g);
        else
          p.mutable_grad() = g.clone();
      }
      offset += n;
    }
  }
  s.work.clear();
  s.flats.clear();
  s.seconds += wall_seconds() - t0;
}

double GradientReducer::seconds() const { return state_->seconds; }
size_t GradientReducer::buckets() const { return state_->buckets.size(); }
int64_t GradientReducer::overlapped() const { return state_->overlapped; }

}  // namespace stagehand::dist
