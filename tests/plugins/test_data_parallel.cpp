// SPDX-License-Identifier: Apache-2.0
// Data-parallel training end to end (runner --nproc N, c10d Gloo over loopback): 2 ranks sharing a batch end with
// the parameters of 1 rank taking the whole batch; a killed rank stops the other within 60 s with a line naming it,
// and the same command resumes; SIGTERM checkpoints every rank and the resumed run ends bit-identical; a bad
// environment or a batch smaller than the ranks is one clear line.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "support/test_support.h"
#include <fmt/format.h>
#include <torch/serialize.h>

#include "stagehand/checkpoint.h"
#include "util/hash.h"


using namespace sh_test;

namespace {

using namespace std::chrono_literals;

// The toy task of the train-stage tests, without dropout (each rank draws its own dropout masks, so only a
// deterministic model can match a single process).
std::string pipeline_text(const fs::path& dir, const std::string& schedule,
                          const std::string& optimizer = "{type: adamw, lr: 1.0e-3}") {
  std::string jsonl;
  const char* good[] = {"great fun", "lovely day", "happy smile", "nice work", "good food", "fine weather"};
  const char* bad[] = {"awful mess", "sad news", "terrible pain", "bad luck", "poor show", "horrid noise"};
  for (int i = 0; i < 96; ++i) {
    bool pos = i % 2 == 0;
    // Lengths vary, so that the ranks' shares pad differently from the whole batch.
    std::string text = std::string(pos ? good[i % 6] : bad[i % 6]) + " and " + (pos ? good[(i / 2) % 6] : bad[(i / 2) % 6]);
    for (int k = 0; k < i % 4; ++k) text += pos ? " very good" : " very bad";
    jsonl += fmt::format("{{\"id\": \"e{}\", \"text\": \"{}\", \"label\": \"{}\"}}\n", i, text, pos ? "pos" : "neg");
  }
  write_text(dir / "train.jsonl", jsonl);
  write_text(dir / "p.yaml", fmt::format(R"(name: dp
seed: 11
threads: {{intra_op: 1, blas: 1}}
stages:
  train:
    kind: train
    data:
      type: text_classification
      train: train.jsonl
      validation: train.jsonl
      tokenizer: {{type: wordpiece, vocab: {vocab}}}
      max_length: 24
    model:
      type: classifier
      pooling: mean
      dropout: 0.0
      head: {{type: mlp, dropout: 0.0}}
      encoder: {{type: transformer, vocab_size: 30522, hidden_size: 32, num_layers: 2, num_heads: 2,
                intermediate_size: 64, max_positions: 24, hidden_dropout: 0.0, attention_dropout: 0.0}}
    loss: {{type: cross_entropy}}
    optimizer: {optimizer}
    evaluators: [{{type: classification}}]
{schedule}
)",
                                         fmt::arg("vocab", std::string(STAGEHAND_TEST_DATA) +
                                                               "/tokenizers/bert-base-uncased-vocab.txt"),
                                         fmt::arg("schedule", schedule), fmt::arg("optimizer", optimizer)));
  return "p.yaml";
}

fs::path model_file(const fs::path& dir) { return dir / "runs" / "dp" / "latest" / "stages" / "train" / "model.pt"; }

std::map<std::string, torch::Tensor> read_weights(const fs::path& file) {
  torch::serialize::InputArchive ar;
  stagehand::read_archive(file, ar);
  std::map<std::string, torch::Tensor> out;
  for (const auto& k : ar.keys()) {
    torch::Tensor t;
    if (ar.try_read(k, t) || ar.try_read(k, t, /*is_buffer=*/true)) out[k] = t;
  }
  return out;
}

/// The largest difference between two models' tensors, relative to the tensor's largest magnitude (at least 1e-3:
/// a tensor whose gradient is analytically zero, like an attention key's bias, stays at rounding-noise size, and
/// noise relative to noise says nothing).
double max_relative_difference(const fs::path& a, const fs::path& b, std::string* where = nullptr) {
  auto wa = read_weights(a), wb = read_weights(b);
  EXPECT_EQ(wa.size(), wb.size());
  EXPECT_GT(wa.size(), 10u);
  double worst = 0;
  for (const auto& [k, ta] : wa) {
    auto it = wb.find(k);
    if (it == wb.end()) {
      ADD_FAILURE() << "tensor " << k << " is missing from " << b;
      continue;
    }
    const double scale = std::max(1e-3, it->second.abs().max().item<double>());
    const double d = (ta - it->second).abs().max().item<double>() / scale;
    if (d > worst && where) *where = k;
    worst = std::max(worst, d);
  }
  return worst;
}

/// The pid of the launcher's child whose environment says RANK=<rank>, or 0.
pid_t rank_pid(pid_t launcher, int rank) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_text(e.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2 || ppid != launcher) continue;
    const std::string env = read_text(e.path() / "environ");
    if (env.find(fmt::format("RANK={}", rank) + std::string(1, '\0')) != std::string::npos &&
        env.find(fmt::format("LOCAL_RANK={}", rank)) != std::string::npos)
      return static_cast<pid_t>(std::stoi(name));
  }
  return 0;
}

/// Waits up to `limit` for `pid`; returns its exit code (128 + signal), or -1 if it is still running.
int wait_for(pid_t pid, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(20ms);
  }
  return -1;
}

}  // namespace

TEST(DataParallel, TwoRanksSharingTheBatchEndWhereOneRankWithTheWholeBatchEnds) {
  // SGD with momentum: Adam divides each gradient by its own running magnitude, so a parameter whose gradient is
  // analytically zero (an attention key's bias) follows the rounding noise of the batch's padding, and the
  // comparison would measure rounding instead of data parallelism.
  const std::string sgd = "{type: sgd, lr: 0.1, momentum: 0.9}";
  // Batch 8: 4 examples per rank. Batch 7 with accumulation over an epoch boundary: shares of 4 and 3, and the
  // epoch's last micro-batch of 5 split 3 and 2, weighted by their sizes.
  for (const std::string schedule : {"    batch_size: 8\n    steps: 20\n    eval_every: 10",
                                     "    batch_size: 7\n    grad_accum: 2\n    steps: 9\n    eval_every: 5"}) {
    SCOPED_TRACE(schedule);
    TempFolder one, two;
    pipeline_text(one.path(), schedule, sgd);
    pipeline_text(two.path(), schedule, sgd);
    CommandResult r1 = runner("p.yaml --runs-dir runs", one.path());
    ASSERT_EQ(r1.exit_code, 0) << r1.output;
    CommandResult r2 = runner("--nproc 2 p.yaml --runs-dir runs", two.path());
    ASSERT_EQ(r2.exit_code, 0) << r2.output;
    EXPECT_NE(r2.output.find("starting 2 rank(s)"), std::string::npos) << r2.output;
    // The record says how it ran, and the train stage says what the all-reduce cost.
    const std::string record = read_text(two.path() / "runs" / "dp" / "latest" / "record.yaml");
    EXPECT_NE(record.find("world_size: 2"), std::string::npos) << record;
    EXPECT_NE(record.find("backend: \"gloo\""), std::string::npos) << record;
    EXPECT_NE(record.find("allreduce_share:"), std::string::npos) << record;
    EXPECT_EQ(read_text(one.path() / "runs" / "dp" / "latest" / "record.yaml").find("world_size"), std::string::npos);

    std::string where;
    const double diff = max_relative_difference(model_file(two.path()), model_file(one.path()), &where);
    EXPECT_LE(diff, 1e-5) << "worst tensor: " << where;
    std::cout << "largest relative difference, 2 ranks against 1: " << diff << " (" << where << ")\n";
    // ... and training moved the weights far more than that (the comparison can fail).
    TempFolder fewer;
    pipeline_text(fewer.path(), schedule.substr(0, schedule.find("steps:")) + "steps: 1\n    eval_every: 1", sgd);
    ASSERT_EQ(runner("p.yaml --runs-dir runs", fewer.path()).exit_code, 0);
    EXPECT_GT(max_relative_difference(model_file(fewer.path()), model_file(one.path())), 1e-3);
  }
}

TEST(DataParallel, EvaluationIsShardedAcrossRanksAndMatchesOneProcessExactly) {
  // One step whose learning rate is 0 (a warm-up over the whole run starts at 0), so both runs evaluate identical
  // weights:
  // 96 examples in batches of 11 make 9 batches, 5 for rank 0 and 4 for rank 1 (the last round has one batch).
  const std::string schedule =
      "    batch_size: 8\n    steps: 1\n    eval_every: 1\n    eval_batch_size: 11\n"
      "    scheduler: {type: linear, warmup_fraction: 1.0}";
  TempFolder one, two;
  pipeline_text(one.path(), schedule);
  pipeline_text(two.path(), schedule);
  ASSERT_EQ(runner("p.yaml --runs-dir runs", one.path()).exit_code, 0);
  CommandResult r2 = runner("--nproc 2 p.yaml --runs-dir runs", two.path());
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  auto eval_line = [](const fs::path& dir) {
    for (const auto& line : read_lines(dir / "runs" / "dp" / "latest" / "metrics.jsonl"))
      if (line.find("\"eval.loss\"") != std::string::npos) return line.substr(line.find("\"values\""));
    return std::string("(no evaluation logged)");
  };
  const std::string a = eval_line(one.path()), b = eval_line(two.path());
  EXPECT_NE(a.find("\"eval.examples\":96.0"), std::string::npos) << a;
  EXPECT_EQ(a, b);
}

TEST(DataParallel, AKilledRankStopsTheOtherWithinAMinuteAndTheSameCommandResumes) {
  TempFolder dir;
  pipeline_text(dir.path(), "    batch_size: 8\n    steps: 400\n    eval_every: 200\n    checkpoint_every: 3");
  pid_t launcher = spawn_runner(dir.path(), {"--nproc", "2", "p.yaml", "--runs-dir", "runs"});
  const auto until = std::chrono::steady_clock::now() + 120s;
  while (!has_complete_checkpoint(dir.path() / "runs") && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(has_complete_checkpoint(dir.path() / "runs")) << read_text(dir.path() / "spawned.log");
  const pid_t victim = rank_pid(launcher, 1);
  ASSERT_GT(victim, 0) << "rank 1 of launcher " << launcher << " not found";
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const auto t0 = std::chrono::steady_clock::now();
  const int code = wait_for(launcher, 60s);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (code == -1) ::kill(launcher, SIGKILL);
  ASSERT_NE(code, -1) << "the run did not stop within 60 s of rank 1's death";
  EXPECT_NE(code, 0);
  const std::string log = read_text(dir.path() / "spawned.log");
  EXPECT_NE(log.find(fmt::format("rank 1 (pid {}) was killed by signal 9", victim)), std::string::npos) << log;
  EXPECT_LT(secs, 60.0);
  std::cout << "the run ended " << secs << " s after rank 1 was killed\n";

  // The same command resumes from the last checkpoint and finishes.
  CommandResult again = runner("--nproc 2 p.yaml --runs-dir runs", dir.path());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("resumed from ckpt-"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("steps=400"), std::string::npos) << again.output;
}

TEST(DataParallel, SigtermCheckpointsEveryRankAndTheResumedRunIsBitIdentical) {
  const std::string schedule = "    batch_size: 8\n    steps: 240\n    eval_every: 120\n    checkpoint_every: 500";
  TempFolder ref, cut;
  pipeline_text(ref.path(), schedule);
  pipeline_text(cut.path(), schedule);
  ASSERT_EQ(runner("--nproc 2 p.yaml --runs-dir runs", ref.path()).exit_code, 0);

  pid_t launcher = spawn_runner(cut.path(), {"--nproc", "2", "p.yaml", "--runs-dir", "runs"});
  // Mid-training: once the ranks are up and the first steps are logged.
  const auto until = std::chrono::steady_clock::now() + 120s;
  auto started = [&] { return read_text(cut.path() / "spawned.log").find("examples per rank") != std::string::npos; };
  while (!started() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(::kill(launcher, SIGTERM), 0);
  const int code = wait_for(launcher, 120s);
  ASSERT_EQ(code, 143) << read_text(cut.path() / "spawned.log");
  ASSERT_TRUE(has_complete_checkpoint(cut.path() / "runs")) << "SIGTERM left no checkpoint";

  CommandResult again = runner("--nproc 2 p.yaml --runs-dir runs", cut.path());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("resumed from ckpt-"), std::string::npos) << again.output;
  EXPECT_EQ(stagehand::sha256_file(model_file(cut.path())), stagehand::sha256_file(model_file(ref.path())));
}

TEST(DataParallel, TwoMachinesConventionsNodeFlagsAndTorchrunEnvironmentMeet) {
  // "Node 0" through the launcher's multi-machine flags, "node 1" as a rank started by another launcher (torchrun's
  // variables only), both on loopback: they form one 2-rank run.
  TempFolder dir;
  pipeline_text(dir.path(), "    batch_size: 8\n    steps: 6\n    eval_every: 3");
  const int port = free_local_port();
  const std::vector<std::pair<const char*, std::string>> env = {
      {"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}};
  for (const auto& [k, v] : env) ::setenv(k, v.c_str(), 1);
  const pid_t node1 = spawn_runner(dir.path(), {"p.yaml", "--runs-dir", "runs"}, dir.path() / "node1.log");
  for (const auto& [k, v] : env) ::unsetenv(k);
  CommandResult node0 = runner(fmt::format("--nproc 1 --nnodes 2 --node-rank 0 --master-addr 127.0.0.1 --master-port {} "
                                           "p.yaml --runs-dir runs",
                                           port),
                               dir.path());
  EXPECT_EQ(node0.exit_code, 0) << node0.output;
  EXPECT_NE(node0.output.find("starting 1 rank(s) on this machine (2 in all, node 0 of 2)"), std::string::npos)
      << node0.output;
  EXPECT_EQ(wait_exit(node1), 0) << read_text(dir.path() / "node1.log");
  const std::string record = read_text(dir.path() / "runs" / "dp" / "latest" / "record.yaml");
  EXPECT_NE(record.find("world_size: 2"), std::string::npos) << record;
  EXPECT_NE(record.find("local_world_size: 1"), std::string::npos) << record;
}

TEST(DataParallel, BadLaunchesAreOneClearLine) {
  TempFolder dir;
  pipeline_text(dir.path(), "    batch_size: 8\n    steps: 2");
  CommandResult bad_rank = run_command("RANK=5 WORLD_SIZE=2 " + sh_quote(kRunner) + " p.yaml --runs-dir runs", dir.path());
  EXPECT_EQ(bad_rank.exit_code, 1);
  EXPECT_NE(bad_rank.output.find("RANK='5' is not a rank of WORLD_SIZE=2 (0..1)"), std::string::npos) << bad_rank.output;

  CommandResult bad_world = run_command("WORLD_SIZE=two " + sh_quote(kRunner) + " p.yaml --runs-dir runs", dir.path());
  EXPECT_EQ(bad_world.exit_code, 1);
  EXPECT_NE(bad_world.output.find("WORLD_SIZE='two' is not a positive number of ranks"), std::string::npos)
      << bad_world.output;

  CommandResult small = runner("--nproc 2 p.yaml stages.train.batch_size=1 --runs-dir runs", dir.path());
  EXPECT_EQ(small.exit_code, 1);
  EXPECT_NE(small.output.find("batch_size 1 is smaller than the 2 data-parallel ranks"), std::string::npos)
      << small.output;

  CommandResult node = runner("--nproc 2 --nnodes 2 p.yaml --runs-dir runs", dir.path());
  EXPECT_EQ(node.exit_code, 1);
  EXPECT_NE(node.output.find("--nnodes 2: give --master-addr"), std::string::npos) << node.output;
}
