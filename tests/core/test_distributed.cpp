// SPDX-License-Identifier: Apache-2.0
// stagehand/distributed.h with two real ranks: this test binary starts itself twice as rank 0 and rank 1 (c10d's
// TCPStore and ProcessGroupGloo over loopback) and each rank checks the sums. Covered: gradients used on every
// rank, on one rank only, on none (stays undefined), a parameter unused in one backward pass and used in the next
// (its bucket started early and is summed again), buckets started during the backward pass, the other
// collectives, and what a single process does (nothing).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "support/test_support.h"
#include <fmt/format.h>

#include "stagehand/distributed.h"

extern char** environ;

using namespace stagehand;

namespace {

torch::Tensor param(int64_t n, float start) {
  return torch::arange(start, start + static_cast<float>(n), torch::kFloat32).requires_grad_(true);
}

void clear_grads(std::vector<torch::Tensor>& ps) {
  for (auto& p : ps) p.mutable_grad() = torch::Tensor();
}

}  // namespace

TEST(Distributed, ASingleProcessIsRankZeroOfOneAndCollectivesDoNothing) {
  ::unsetenv("WORLD_SIZE");
  dist::init_from_environment(std::chrono::seconds(5));
  EXPECT_FALSE(dist::active());
  EXPECT_EQ(dist::world().rank, 0);
  EXPECT_EQ(dist::world().world_size, 1);
  std::vector<double> v{1.5, 2.0};
  dist::all_reduce_sum(v);
  EXPECT_EQ(v, (std::vector<double>{1.5, 2.0}));
  EXPECT_EQ(dist::broadcast_bytes("abc"), "abc");
  auto a = param(3, 1);
  (a * 2).sum().backward();
  dist::GradientReducer r({a});
  r.arm();
  r.reduce();
  EXPECT_TRUE(torch::equal(a.grad(), torch::full({3}, 2.0f)));
}

TEST(Distributed, TwoRanksSumGradientsAndAgree) {
  const std::string self = "/proc/self/exe";
  const int port = sh_test::free_local_port();
  std::vector<pid_t> pids;
  sh_test::TempFolder dir;
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) env_s.push_back(*e);
    env_s.push_back(fmt::format("RANK={}", rank));
    env_s.push_back("WORLD_SIZE=2");
    env_s.push_back(fmt::format("MASTER_PORT={}", port));
    env_s.push_back("MASTER_ADDR=127.0.0.1");
    std::vector<std::string> args_s = {self, "--gtest_also_run_disabled_tests",
                                       "--gtest_filter=DistributedRank.DISABLED_SumsGradientsAndAgrees"};
    std::vector<char*> argv, envp;
    for (auto& a : args_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string log = (dir.path() / fmt::format("rank{}.log", rank)).string();
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&fa);
    pids.push_back(pid);
  }
  for (int rank = 0; rank < 2; ++rank) {
    int status = 0;
    ::waitpid(pids[static_cast<size_t>(rank)], &status, 0);
    const std::string out = sh_test::read_text(dir.path() / fmt::format("rank{}.log", rank));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "rank " << rank << ":\n" << out;
    EXPECT_NE(out.find("[  PASSED  ] 1 test"), std::string::npos) << "rank " << rank << ":\n" << out;
  }
}

// Runs inside the two ranks started above (disabled, so that a plain run of the suite skips it).
TEST(DistributedRank, DISABLED_SumsGradientsAndAgrees) {
  dist::init_from_environment(std::chrono::seconds(60));
  ASSERT_TRUE(dist::active());
  const int r = dist::world().rank;
  const float w = static_cast<float>(r + 1);  // rank 0 weighs 1, rank 1 weighs 2: sums are 3x

  // Each parameter its own bucket (8-byte buckets), so that buckets start one by one during the backward pass.
  auto a = param(4, 1), b = param(3, 10), c = param(5, -2), d = param(2, 7);
  std::vector<torch::Tensor> ps{a, b, c, d};
  dist::GradientReducer reducer(ps, 8);
  EXPECT_EQ(reducer.buckets(), 4u);

  // Step 1: a on both ranks, b on rank 1 only, c and d nowhere.
  reducer.arm();
  torch::Tensor loss = (a * a).sum() * w;
  if (r == 1) loss = loss + (b * 3).sum();
  loss.backward();
  reducer.reduce();
  EXPECT_TRUE(torch::allclose(a.grad(), a.detach() * 2 * 3)) << a.grad();
  ASSERT_TRUE(b.grad().defined());
  EXPECT_TRUE(torch::equal(b.grad(), torch::full({3}, 3.0f))) << b.grad();
  EXPECT_FALSE(c.grad().defined());
  EXPECT_FALSE(d.grad().defined());

  // Step 2: c, unused last time (so not waited for: its bucket may start before its gradient is in), is used now
  // on both ranks; the reducer notices and sums that bucket again.
  for (int step = 0; step < 3; ++step) {
    clear_grads(ps);
    reducer.arm();
    ((a * w).sum() + (c * c * w).sum()).backward();
    reducer.reduce();
    EXPECT_TRUE(torch::equal(a.grad(), torch::full({4}, 3.0f))) << "step " << step << ": " << a.grad();
    EXPECT_TRUE(torch::allclose(c.grad(), c.detach() * 2 * 3)) << "step " << step << ": " << c.grad();
    EXPECT_FALSE(b.grad().defined());
  }
  EXPECT_GT(reducer.overlapped(), 0) << "no bucket started during a backward pass";

  // Accumulation: only the armed (last) backward pass starts buckets; the sums include both passes.
  clear_grads(ps);
  (a * w).sum().backward();
  reducer.arm();
  (a * w).sum().backward();
  reducer.reduce();
  EXPECT_TRUE(torch::equal(a.grad(), torch::full({4}, 6.0f))) << a.grad();

  // The other collectives.
  std::vector<double> v{1.0 * w, 0.5};
  dist::all_reduce_sum(v);
  EXPECT_EQ(v, (std::vector<double>{3.0, 1.0}));
  std::vector<torch::Tensor> ts{torch::full({2}, w), torch::full({3}, 10 * w, torch::kFloat64)};
  dist::all_reduce_sum(ts);
  EXPECT_TRUE(torch::equal(ts[0], torch::full({2}, 3.0f)));
  EXPECT_TRUE(torch::equal(ts[1], torch::full({3}, 30.0, torch::kFloat64)));
  std::vector<torch::Tensor> bs{torch::full({2, 2}, w), torch::full({1}, int64_t{r})};
  dist::broadcast(bs);
  EXPECT_TRUE(torch::equal(bs[0], torch::full({2, 2}, 1.0f)));
  EXPECT_EQ(bs[1].item<int64_t>(), 0);
  EXPECT_EQ(dist::broadcast_bytes(r == 0 ? std::string("rank zero's bytes\0!", 19) : std::string()),
            std::string("rank zero's bytes\0!", 19));
  auto all = dist::all_gather(torch::full({2}, w));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_TRUE(torch::equal(all[1], torch::full({2}, 2.0f)));
  const auto gathered = dist::all_gather_bytes(r == 0 ? std::string() : std::string("rank one\0!", 10));
  ASSERT_EQ(gathered.size(), 2u);
  EXPECT_EQ(gathered[0], "");
  EXPECT_EQ(gathered[1], std::string("rank one\0!", 10));
  if (r == 0) dist::publish("note", "from rank 0");
  EXPECT_EQ(dist::await("note", nullptr), "from rank 0");
  // Rank 0 hosts the store, so it leaves last: rank 1's final store operation is a set (no reply awaited), and rank
  // 0 waits for that key. (Each rank publishing and then awaiting the other's key races: rank 0 can see rank 1's key
  // and exit while rank 1's read of rank 0's key is still on its way.)
  if (r == 1)
    dist::publish("left1", "1");
  else
    dist::await("left1", nullptr);
  dist::shutdown();
}
