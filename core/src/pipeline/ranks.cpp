// SPDX-License-Identifier: Apache-2.0
#include "pipeline/ranks.h"

#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <thread>

#include "stagehand/distributed.h"

#include "pipeline/run_log.h"
#include "pipeline/stage_context.h"
#include "pipeline/stage_records.h"

namespace stagehand::exec {

ThreadSettings threads_for_this_rank(ThreadSettings wanted) {
  const int local = dist::world().local_world_size;
  if (local > 1) {
    const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local);
    if (wanted.intra_op <= 0) wanted.intra_op = cores;
    if (wanted.blas <= 0) wanted.blas = std::max(1, cores / wanted.intra_op);
  }
  return wanted;
}

// Rank 0 runs the pipeline and publishes, for each stage, what happens to it: "stage/<name>" is "cached\t<dir>",
// "skipped", "failed", "solo" (rank 0 runs it alone) or "dp\t<trials>" (every rank runs it); after a stage that
// ran, "done/<name>" is "ok\t<dir>" or "failed". Other ranks follow: they join data-parallel stages, with their
// outputs in a scratch folder that is deleted afterwards, and read every other stage's outputs from rank 0's
// folders (a shared filesystem when the ranks are on several machines).
RunResult follow_pipeline(const Pipeline& pipeline, const PluginLoader& loader) {
  const dist::World& w = dist::world();
  RunResult result;
  result.status = RunStatus::Completed;
  const Registry& registry = loader.registry();
  RunLog log;
  log.set_quiet();
  MetricsLog metrics;  // never opened: rank 0 writes the metrics
  ThreadSettings threads = apply_thread_settings(threads_for_this_rank(pipeline.threads));
  const fs::path scratch = fs::temp_directory_path() / fmt::format("stagehand-rank{}-{}", w.rank, ::getpid());
  std::map<std::string, StageOutput> outputs;
  auto stopping = [] { return stop_signal() != 0; };
  auto split = [](const std::string& m) {
    auto tab = m.find('\t');
    return tab == std::string::npos ? std::make_pair(m, std::string()) : std::make_pair(m.substr(0, tab), m.substr(tab + 1));
  };
  std::string current;
  try {
    for (const StagePlan& plan : pipeline.stages) {
      current = plan.name;
      const auto [what, arg] = split(dist::await("stage/" + plan.name, stopping));
      if (what.empty()) throw Interrupted(stop_signal());
      if (what == "skipped") continue;
      if (what == "failed") break;  // rank 0 reports it
      if (what == "cached") {
        outputs[plan.name] = read_output(plan.name, plan.kind, arg);
        continue;
      }
      if (what == "dp") {
        Options options(plan.resolved, plan.info->schema, fmt::format("stage '{}'", plan.name));
        std::stringstream trials(arg);
        for (std::string k; std::getline(trials, k, ',');) {
          const int trial = std::stoi(k);
          const fs::path dir = scratch / plan.name / fmt::format("trial-{}", trial);
          fs::create_directories(dir);
          Context ctx(plan, trial_seed(plan.seed, trial), trial, options, dir, dir, false, registry, outputs, log,
                      metrics, threads.intra_op);
          BuildContext bc = ctx.build_context();
          auto stage = std::static_pointer_cast<Stage>(plan.info->factory(options, bc));
          stage->run(ctx);
          if (stop_signal() != 0) throw Interrupted(stop_signal());
        }
        std::error_code ec;
        fs::remove_all(scratch / plan.name, ec);
      }
      const auto [done, dir] = split(dist::await("done/" + plan.name, stopping));
      if (done.empty()) throw Interrupted(stop_signal());
      if (done != "ok") break;
      outputs[plan.name] = read_output(plan.name, plan.kind, dir);
    }
    dist::publish(fmt::format("finished/{}", w.rank), "ok");
  } catch (const Interrupted& e) {
    result.status = RunStatus::Interrupted;
    result.exit_code = 128 + e.signal_number();
    result.error = e.message();
  } catch (const std::exception& e) {
    result.status = RunStatus::Failed;
    result.exit_code = 1;
    result.error = fmt::format("rank {}: stage '{}': {}", w.rank, current, clean_what(e));
  }
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return result;
}


}  // namespace stagehand::exec
