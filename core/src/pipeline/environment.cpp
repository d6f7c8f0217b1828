// SPDX-License-Identifier: Apache-2.0
// Signals, thread settings and the facts about this build and machine that go into every record.
#include <dlfcn.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/csrc/api/include/torch/version.h>

#include "build_info.h"
#include "pipeline/pipeline.h"
#include "stagehand/version.h"

namespace stagehand {


ThreadSettings apply_thread_settings(const ThreadSettings& wanted) {
  ThreadSettings eff = wanted;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (eff.intra_op <= 0) eff.intra_op = cores;
  if (eff.blas <= 0) eff.blas = std::max(1, cores / eff.intra_op);
  at::set_num_threads(eff.intra_op);
  // Inter-op threads can only be set once per process, before any inter-op work.
  static bool interop_set = false;
  if (!interop_set) {
    try {
      at::set_num_interop_threads(eff.inter_op);
    } catch (...) {
    }
    interop_set = true;
  }
  eff.inter_op = at::get_num_interop_threads();
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(eff.blas);
  eff.intra_op = at::get_num_threads();
  return eff;
}

ConfigNode environment_facts() {
  ConfigNode runner = ConfigNode::map();
  runner.set("version", ConfigNode::of(STAGEHAND_VERSION));
  runner.set("git_commit", ConfigNode::of(build_info::kGitCommit));
  runner.set("git_dirty", ConfigNode::of(build_info::kGitDirty));
  runner.set("build_type", ConfigNode::of(build_info::kBuildType));
  runner.set("compiler", ConfigNode::of(build_info::kCompiler));
  runner.set("plugin_abi", ConfigNode::of(static_cast<int64_t>(STAGEHAND_PLUGIN_ABI)));

  ConfigNode torch = ConfigNode::map();
  torch.set("version", ConfigNode::of(fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR,
                                                  TORCH_VERSION_PATCH)));
  torch.set("cxx11_abi", ConfigNode::of(static_cast<int64_t>(_GLIBCXX_USE_CXX11_ABI)));
  torch.set("config", ConfigNode::of(at::show_config()));
  torch.set("parallel", ConfigNode::of(at::get_parallel_info()));

  ConfigNode host = ConfigNode::map();
  char hostname[256] = {0};
  gethostname(hostname, sizeof(hostname) - 1);
  host.set("hostname", ConfigNode::of(std::string(hostname)));
  struct utsname u {};
  if (uname(&u) == 0) host.set("os", ConfigNode::of(fmt::format("{} {} {}", u.sysname, u.release, u.machine)));
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model, flags;
  while (std::getline(cpuinfo, line)) {
    if (model.empty() && line.rfind("model name", 0) == 0) model = line.substr(line.find(':') + 2);
    if (flags.empty() && line.rfind("flags", 0) == 0) flags = line;
  }
  host.set("cpu", ConfigNode::of(model));
  host.set("cores", ConfigNode::of(static_cast<int64_t>(std::thread::hardware_concurrency())));
  host.set("avx512_bf16", ConfigNode::of(flags.find("avx512_bf16") != std::string::npos));

  ConfigNode out = ConfigNode::map();
  out.set("runner", runner);
  out.set("libtorch", torch);
  out.set("host", host);
  return out;
}

}  // namespace stagehand
