// SPDX-License-Identifier: Apache-2.0
#pragma once
// Host-internal. What a run prints and logs: the console and run.log (RunLog), metrics.jsonl (MetricsLog) and the
// progress bars stages draw (ProgressImpl, the stage API's Progress).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stagehand/export.h"
#include "stagehand/stage.h"

#include "pipeline/tensorboard.h"

namespace spdlog {
class logger;
}

namespace stagehand::exec {

namespace fs = std::filesystem;

/// "1h02m", "3m05s", "42s"; "?" for an unknown (negative or infinite) duration.
std::string format_duration(double s);

/// How much the run prints on the console (the runner's -q, -v and --log-level); runner.log always gets info and up.
enum class LogLevel { Debug, Info, Warning, Error };
/// Sets the console threshold for the runs of this process.
STAGEHAND_API void set_log_level(LogLevel level);
/// "debug", "info", "warning" ("warn") or "error"; throws stagehand::Error naming the accepted words otherwise.
STAGEHAND_API LogLevel parse_log_level(const std::string& word);

/// The console and runner.log, through spdlog: one format for every line ("[HH:MM:SS] message", warnings as
/// "[HH:MM:SS] warning: message"), colour on a terminal (warnings yellow, errors red; none when NO_COLOR is set or the
/// output is not a terminal), and a count of the warnings for the closing line. Progress bars are drawn on the same
/// terminal line and cleared before a message.
class RunLog {
 public:
  RunLog();
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;
  /// Also writes every line from info up to `file` (appended).
  void open(const fs::path& file);
  /// Ranks other than 0 of a data-parallel run print nothing but their errors (rank 0 logs the run).
  void set_quiet();
  void line(const std::string& s);   ///< info
  void debug(const std::string& s);  ///< shown with -v
  /// Counted; "[where] warning: s" ("warning: s" without `where`).
  void warn(const std::string& s, const std::string& where = "");
  void error(const std::string& s);
  int warnings() const { return warnings_; }
  void bar(const std::string& s);
  void end_bar();
  static bool tty() { return isatty(STDERR_FILENO) != 0; }

 private:
  void clear_bar();
  std::mutex mu_;
  std::shared_ptr<spdlog::logger> logger_;
  bool bar_shown_ = false;
  bool quiet_ = false;
  std::atomic<int> warnings_{0};
};

/// metrics.jsonl, and the same scalars as TensorBoard event files in tensorboard/ beside it.
class MetricsLog {
 public:
  void open(const fs::path& file) {
    out_.open(file, std::ios::app);
    tensorboard_.open(file.parent_path() / "tensorboard");
  }
  void write(const nlohmann::json& j) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!out_) return;
    out_ << j.dump() << "\n" << std::flush;
  }
  TensorBoardLog& tensorboard() { return tensorboard_; }

 private:
  std::mutex mu_;
  std::ofstream out_;
  TensorBoardLog tensorboard_;
};


class ProgressImpl : public Progress {
 public:
  ProgressImpl(RunLog& log, std::string label, int64_t total)
      : log_(log), label_(std::move(label)), total_(total), start_(std::chrono::steady_clock::now()) {}
  ~ProgressImpl() override {
    if (!finished_) finish();
  }
  void update(int64_t done, const std::vector<std::pair<std::string, double>>& fields) override {
    auto now = std::chrono::steady_clock::now();
    double since_last = std::chrono::duration<double>(now - last_).count();
    double elapsed = std::chrono::duration<double>(now - start_).count();
    bool tty = RunLog::tty();
    if (tty) {
      if (since_last < 0.25 && done < total_) return;
    } else {
      // A plain line every ~10% or every 30 s, whichever comes first.
      int64_t step = total_ > 0 ? std::max<int64_t>(1, total_ / 10) : 1;
      bool tick = total_ > 0 && done / step != last_done_ / step;
      if (!tick && since_last < 30 && done < total_) return;
    }
    last_ = now;
    last_done_ = done;
    std::string f;
    for (const auto& [k, v] : fields) f += fmt::format(" {}={:.4g}", k, v);
    double eta = done > 0 && total_ > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : -1;
    std::string pct = total_ > 0 ? fmt::format("{:3.0f}%", 100.0 * static_cast<double>(done) / static_cast<double>(total_)) : "";
    if (tty) {
      int width = 24;
      int filled = total_ > 0 ? static_cast<int>(width * done / std::max<int64_t>(total_, 1)) : 0;
      std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.');
      log_.bar(fmt::format("{} [{}] {} {}/{}{} elapsed {} eta {}", label_, bar, pct, done, total_, f,
                           format_duration(elapsed), format_duration(eta)));
    } else {
      log_.line(fmt::format("{} {}/{} {}{} elapsed {} eta {}", label_, done, total_, pct, f, format_duration(elapsed),
                            format_duration(eta)));
    }
  }
  void finish() override {
    finished_ = true;
    if (RunLog::tty()) log_.end_bar();
  }

 private:
  RunLog& log_;
  std::string label_;
  int64_t total_;
  std::chrono::steady_clock::time_point start_, last_{};
  int64_t last_done_ = 0;
  bool finished_ = false;
};

}  // namespace stagehand::exec
