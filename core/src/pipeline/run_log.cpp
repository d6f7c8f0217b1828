// SPDX-License-Identifier: Apache-2.0
#include "pipeline/run_log.h"

#include <algorithm>
#include <cstdlib>

#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "stagehand/error.h"

namespace stagehand::exec {

namespace {

std::atomic<LogLevel> g_console_level{LogLevel::Info};

spdlog::level::level_enum spd(LogLevel l) {
  switch (l) {
    case LogLevel::Debug: return spdlog::level::debug;
    case LogLevel::Info: return spdlog::level::info;
    case LogLevel::Warning: return spdlog::level::warn;
    case LogLevel::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

constexpr const char* kPattern = "[%H:%M:%S] %^%v%$";

}  // namespace

void set_log_level(LogLevel level) { g_console_level = level; }

LogLevel parse_log_level(const std::string& word) {
  if (word == "debug") return LogLevel::Debug;
  if (word == "info") return LogLevel::Info;
  if (word == "warning" || word == "warn") return LogLevel::Warning;
  if (word == "error") return LogLevel::Error;
  fail("--log-level {}: expected debug, info, warning or error", word);
}

std::string format_duration(double s) {
  if (s < 0 || !std::isfinite(s)) return "?";
  int t = static_cast<int>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

RunLog::RunLog() {
  // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org); info lines keep the
  // terminal's own colour, warnings are yellow, errors red.
  const bool colour = tty() && std::getenv("NO_COLOR") == nullptr;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(colour ? spdlog::color_mode::always
                                                                               : spdlog::color_mode::never);
  console->set_pattern(kPattern);
  console->set_color(spdlog::level::info, "");
  console->set_color(spdlog::level::debug, "");
  console->set_level(spd(g_console_level.load()));
  logger_ = std::make_shared<spdlog::logger>("run", spdlog::sinks_init_list{console});
  logger_->set_level(spdlog::level::debug);
  logger_->flush_on(spdlog::level::debug);
}

RunLog::~RunLog() = default;

void RunLog::open(const fs::path& file) {
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string(), /*truncate=*/false);
    sink->set_pattern("[%H:%M:%S] %v");
    sink->set_level(spdlog::level::info);
    logger_->sinks().push_back(sink);
  } catch (const spdlog::spdlog_ex& e) {
    fail("cannot write the log file '{}': {}", file.string(), e.what());
  }
}

void RunLog::set_quiet() {
  quiet_ = true;
  logger_->sinks().front()->set_level(spdlog::level::err);
}

void RunLog::line(const std::string& s) {
  std::lock_guard<std::mutex> lock(mu_);
  clear_bar();
  logger_->info(s);
}

void RunLog::debug(const std::string& s) {
  std::lock_guard<std::mutex> lock(mu_);
  clear_bar();
  logger_->debug(s);
}

void RunLog::warn(const std::string& s, const std::string& where) {
  ++warnings_;
  std::lock_guard<std::mutex> lock(mu_);
  clear_bar();
  logger_->warn(where.empty() ? "warning: " + s : fmt::format("[{}] warning: {}", where, s));
}

void RunLog::error(const std::string& s) {
  std::lock_guard<std::mutex> lock(mu_);
  clear_bar();
  logger_->error(s);
}

void RunLog::bar(const std::string& s) {
  if (quiet_ || g_console_level.load() > LogLevel::Info) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::cerr << "\r\033[K" << s << std::flush;
  bar_shown_ = true;
}

void RunLog::end_bar() {
  std::lock_guard<std::mutex> lock(mu_);
  clear_bar();
}

void RunLog::clear_bar() {
  if (bar_shown_) std::cerr << "\r\033[K" << std::flush;
  bar_shown_ = false;
}

}  // namespace stagehand::exec
