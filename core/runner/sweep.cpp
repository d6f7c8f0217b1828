// SPDX-License-Identifier: Apache-2.0
// `runner sweep PIPELINE a.b=1,2 seed=1,2,3 [--jobs N]`: every combination of the listed values is one
// `runner run PIPELINE a.b=.. seed=..` in a child process, so that each has its own record and run folder and all share
// the stage cache (a stage the settings do not touch runs once). The sweep's state, in
// runs/<pipeline>/sweeps/<sweep id>/state.json (the id is a hash of the pipeline file and the settings), lists each
// combination's run once it completed: the same command after a kill runs only what is left. Two runs that need the
// same uncached stage at once: the second finds it locked and is run again when the first is done.
#include "sweep.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stagehand/config.h"
#include "stagehand/error.h"
#include "stagehand/files.h"
#include "stagehand/summary.h"

#include "runs.h"
#include "util/hash.h"

namespace stagehand {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal = sig; }

struct Axis {
  std::string key;
  std::vector<std::string> values;
};

/// "1,2,3" split at the top level (commas inside [], {} or quotes belong to a value).
std::vector<std::string> split_values(const std::string& list) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (char c : list) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(cur);
  return out;
}

/// range(a,b[,step]) as Python's range for integers (and with float steps: a, a+s, ... while below b).
std::vector<std::string> range_values(const std::string& arg, const std::string& param) {
  const auto parts = split_values(arg);
  SH_CHECK(parts.size() == 2 || parts.size() == 3, "sweep: '{}': range takes (start, stop) or (start, stop, step)",
           param);
  std::vector<double> v;
  for (const auto& p : parts) {
    char* end = nullptr;
    const double x = std::strtod(p.c_str(), &end);
    SH_CHECK(end && *end == '\0' && !p.empty(), "sweep: '{}': '{}' is not a number", param, p);
    v.push_back(x);
  }
  const double step = v.size() == 3 ? v[2] : 1.0;
  SH_CHECK(step != 0, "sweep: '{}': the step of a range cannot be 0", param);
  const bool ints = std::all_of(parts.begin(), parts.end(), [](const std::string& p) {
    return p.find_first_of(".eE") == std::string::npos;
  });
  std::vector<std::string> out;
  for (double x = v[0]; step > 0 ? x < v[1] - 1e-12 : x > v[1] + 1e-12; x += step)
    out.push_back(ints ? std::to_string(static_cast<int64_t>(std::llround(x))) : fmt::format("{:g}", x));
  SH_CHECK(!out.empty(), "sweep: '{}' gives no values", param);
  SH_CHECK(out.size() <= 10000, "sweep: '{}' gives {} values; that many runs is surely a mistake", param, out.size());
  return out;
}

Axis parse_axis(const std::string& param) {
  const size_t eq = param.find('=');
  SH_CHECK(eq != std::string::npos && eq > 0,
           "sweep: '{}' must look like key.path=v1,v2 (e.g. stages.finetune.optimizer.lr=1e-5,3e-5 or seed=range(1,4))",
           param);
  Axis a{param.substr(0, eq), {}};
  const std::string rhs = param.substr(eq + 1);
  if (rhs.rfind("range(", 0) == 0 && rhs.back() == ')')
    a.values = range_values(rhs.substr(6, rhs.size() - 7), param);
  else
    a.values = split_values(rhs);
  for (const auto& v : a.values) SH_CHECK(!v.empty(), "sweep: '{}' has an empty value", param);
  return a;
}

/// The settings of a sweep file: pipeline (relative to the file), params (key: list or "range(..)" or a value),
/// and optionally metrics and jobs, which the command line's own options override.
void read_sweep_file(SweepOptions& o, std::vector<Axis>& axes) {
  const ConfigNode f = load_yaml_file(o.file);
  const fs::path base = fs::path(o.file).parent_path();
  const ConfigNode& pipeline = f.at("pipeline");
  fs::path p(pipeline.as_string());
  o.file = (p.is_relative() ? base / p : p).lexically_normal().string();
  for (const auto& [key, v] : f.at("params").entries()) {
    Axis a{key, {}};
    if (v.is_sequence()) {
      for (const auto& item : v.items()) a.values.push_back(item.text());
    } else {
      a = parse_axis(key + "=" + v.text());
    }
    SH_CHECK(!a.values.empty(), "{}: params.{} lists no values", o.file, key);
    axes.push_back(a);
  }
  if (const ConfigNode* m = f.find("metrics"); m && o.metrics.empty())
    for (const auto& item : m->items()) o.metrics.push_back(item.text());
  if (const ConfigNode* j = f.find("jobs"); j && o.jobs == 1) o.jobs = static_cast<int>(j->as_int());
}

/// Every combination, the first axis varying slowest (as Hydra orders them).
std::vector<std::vector<std::string>> combinations(const std::vector<Axis>& axes) {
  std::vector<std::vector<std::string>> out{{}};
  for (const auto& a : axes) {
    std::vector<std::vector<std::string>> next;
    for (const auto& c : out)
      for (const auto& v : a.values) {
        auto n = c;
        n.push_back(a.key + "=" + v);
        next.push_back(n);
      }
    out = std::move(next);
  }
  return out;
}

struct Job {
  size_t index;
  int attempt = 0;
};

struct Child {
  pid_t pid;
  Job job;
  fs::path log;
};

pid_t start(const std::string& self, const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv_s{self};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  SH_CHECK(pid > 0, "sweep: cannot start a run (fork failed)");
  return pid;
}

/// The run folder a finished child names on its "record: PATH" line.
std::string record_of(const fs::path& log) {
  std::ifstream in(log);
  std::string found;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("record: ", 0) == 0) found = line.substr(8);
  return found;
}

bool lost_a_lock(const fs::path& log) {
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);)
    if (line.find("another runner is working on this stage right now") != std::string::npos) return true;
  return false;
}

/// The settings of a combination other than the seed ("" for a sweep of seeds alone).
std::string setting_of(const std::vector<std::string>& combo) {
  std::string s;
  for (const auto& kv : combo)
    if (kv.rfind("seed=", 0) != 0) s += (s.empty() ? "" : " ") + kv;
  return s.empty() ? "(all)" : s;
}

void report(const SweepOptions& o, const std::vector<std::vector<std::string>>& combos, const json& state) {
  runs::Table t{{"#", "settings", "run", "status"}};
  for (const auto& m : o.metrics) t[0].push_back(m);
  std::map<std::string, std::map<std::string, std::vector<double>>> by_setting;  // setting -> metric -> values
  std::vector<std::string> settings;
  for (size_t i = 0; i < combos.size(); ++i) {
    const json& st = state["runs"][i];
    json summary = st.contains("dir") ? runs::read_summary(st["dir"].get<std::string>()) : json();
    std::string all;
    for (const auto& kv : combos[i]) all += (all.empty() ? "" : " ") + kv;
    std::vector<std::string> row{std::to_string(i + 1), all, summary.is_null() ? "" : runs::text(summary["run_id"]),
                                 st.value("status", "not run")};
    const std::string setting = setting_of(combos[i]);
    if (std::find(settings.begin(), settings.end(), setting) == settings.end()) settings.push_back(setting);
    for (const auto& m : o.metrics) {
      const json v = summary.is_null() ? json() : runs::metric_of(summary, m);
      row.push_back(runs::text(v));
      if (v.is_number()) by_setting[setting][m].push_back(v.get<double>());
    }
    t.push_back(row);
  }
  runs::print(t, "md");
  if (o.metrics.empty()) {
    std::cout << "(add --metrics STAGE.METRIC,... for metric columns and their mean (std) over seeds)\n";
    return;
  }
  std::cout << "\nmean (std) over the seeds of each setting:\n";
  runs::Table m{{"settings", "runs"}};
  for (const auto& k : o.metrics) m[0].push_back(k);
  for (const auto& s : settings) {
    std::vector<std::string> row{s, ""};
    size_t n = 0;
    for (const auto& k : o.metrics) {
      const auto& v = by_setting[s][k];
      n = std::max(n, v.size());
      row.push_back(v.empty() ? "" : format_mean_std(summarize(v), /*percent=*/false, 4));
    }
    row[1] = std::to_string(n);
    m.push_back(row);
  }
  runs::print(m, "md");
}

/// One sweep: its combinations, its folder and state, and the children running its combinations.
class SweepRun {
 public:
  SweepRun(SweepOptions o, std::string self) : o_(std::move(o)), self_(std::move(self)) {}

  int run() {
    plan();
    open_state();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    while (!queue_.empty() || !running_.empty()) {
      if (g_signal != 0) return stop();
      start_what_fits();
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, 0);
      if (pid > 0) finished(pid, status);  // else interrupted by a signal: the loop's top handles it
    }
    std::cout << "\n";
    report(o_, combos_, state_);
    std::cout << fmt::format("\nsweep {}: {} of {} runs completed{}; state: {}\n", id_, combos_.size() - failed_,
                             combos_.size(), failed_ ? fmt::format(", {} failed", failed_) : "",
                             (dir_ / "state.json").string());
    return failed_ ? 1 : 0;
  }

 private:
  /// The settings (a sweep file's, then the command line's) and their combinations.
  void plan() {
    SH_CHECK(o_.jobs >= 1, "sweep: --jobs {}: expected at least 1", o_.jobs);
    std::vector<Axis> axes;
    const ConfigNode head = load_yaml_file(o_.file);
    if (head.is_map() && head.find("params") && head.find("pipeline")) read_sweep_file(o_, axes);
    for (const auto& p : o_.params) axes.push_back(parse_axis(p));
    SH_CHECK(!axes.empty(),
             "sweep: nothing to sweep; give settings such as stages.finetune.optimizer.lr=1e-5,3e-5 seed=1,2,3");
    combos_ = combinations(axes);
    SH_CHECK(combos_.size() <= 10000, "sweep: {} combinations; that many runs is surely a mistake", combos_.size());
    name_ = load_yaml_file(o_.file).at("name").as_string();
  }

  /// The sweep's identity is the pipeline file's content and the settings; its state lists the runs that completed.
  void open_state() {
    const json id_material = {{"pipeline", sha256_file(o_.file)}, {"combinations", combos_}};
    id_ = sha256_hex(id_material.dump()).substr(0, 12);
    dir_ = fs::path(o_.runs_dir) / name_ / "sweeps" / id_;
    fs::create_directories(dir_);
    if (fs::exists(dir_ / "state.json")) state_ = json::parse(read_file(dir_ / "state.json"));
    if (!state_.contains("runs") || state_["runs"].size() != combos_.size()) {
      state_ = {{"pipeline", fs::absolute(o_.file).string()}, {"runs", json::array()}};
      for (const auto& c : combos_) state_["runs"].push_back({{"overrides", c}, {"status", "pending"}});
    }
    save();
    for (size_t i = 0; i < combos_.size(); ++i) {
      if (state_["runs"][i].value("status", "") == "completed")
        ++done_;
      else
        queue_.push_back({i, 0});
    }
    first_alone_ = done_ == 0;
    std::cerr << fmt::format("sweep {} of '{}': {} runs ({} done before), {} at a time; state: {}\n", id_, name_,
                             combos_.size(), done_, o_.jobs, (dir_ / "state.json").string());
  }

  void save() { write_file_atomic(dir_ / "state.json", state_.dump(1) + "\n"); }

  /// The first run alone, so that the stages every combination shares are computed once; then up to --jobs.
  void start_what_fits() {
    const size_t limit = first_alone_ && done_ == 0 && failed_ == 0 ? 1 : static_cast<size_t>(o_.jobs);
    while (!queue_.empty() && running_.size() < limit) {
      Job j = queue_.front();
      queue_.pop_front();
      std::vector<std::string> args{"-q", "run", o_.file};
      for (const auto& kv : combos_[j.index]) args.push_back(kv);
      args.insert(args.end(), {"--runs-dir", o_.runs_dir});
      if (!o_.cache_dir.empty()) args.insert(args.end(), {"--cache-dir", o_.cache_dir});
      for (const auto& p : o_.plugins) args.insert(args.end(), {"--plugin", p});
      const fs::path log = dir_ / fmt::format("run-{}.log", j.index + 1);
      running_.push_back({start(self_, args, log), j, log});
      state_["runs"][j.index]["status"] = "running";
      std::cerr << fmt::format("[{}/{}] {}\n", j.index + 1, combos_.size(), fmt::join(combos_[j.index], " "));
    }
  }

  void finished(pid_t pid, int status) {
    auto it = std::find_if(running_.begin(), running_.end(), [&](const Child& c) { return c.pid == pid; });
    if (it == running_.end()) return;
    const Child c = *it;
    running_.erase(it);
    json& st = state_["runs"][c.job.index];
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code == 0) {
      st["status"] = "completed";
      st["dir"] = fs::path(record_of(c.log)).parent_path().string();
      ++done_;
    } else if (lost_a_lock(c.log) && c.job.attempt < 5) {
      st["status"] = "pending";
      queue_.push_back({c.job.index, c.job.attempt + 1});  // again once the run holding the stage is done
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } else if (g_signal == 0) {
      st["status"] = "failed";
      ++failed_;
      std::cerr << fmt::format("[{}/{}] failed (exit {}); its output: {}\n", c.job.index + 1, combos_.size(), code,
                               c.log.string());
    }
    save();
  }

  /// Ctrl-C or SIGTERM: every running run saves a checkpoint and exits; the state keeps what completed.
  int stop() {
    for (const auto& c : running_) ::kill(c.pid, SIGTERM);
    for (const auto& c : running_) ::waitpid(c.pid, nullptr, 0);
    save();
    std::cerr << fmt::format("sweep stopped by signal {}; the same command resumes it\n", g_signal.load());
    return 128 + g_signal;
  }

  SweepOptions o_;
  std::string self_;
  std::vector<std::vector<std::string>> combos_;
  std::string name_, id_;
  fs::path dir_;
  json state_;
  std::deque<Job> queue_;
  std::vector<Child> running_;
  size_t done_ = 0;
  int failed_ = 0;
  bool first_alone_ = true;
};

}  // namespace

int cmd_sweep(const SweepOptions& options, const std::string& self) { return SweepRun(options, self).run(); }

}  // namespace stagehand
