// SPDX-License-Identifier: Apache-2.0
#pragma once
// Host-internal. TensorBoard event files, written beside metrics.jsonl with no service and no TensorFlow: every
// scalar a stage logs goes to runs/<name>/<id>/tensorboard/<stage>[/trial-<k>]/events.out.tfevents.<time>.<host>,
// readable by `tensorboard --logdir runs/<name>/<id>/tensorboard`.
//
// The format (TensorFlow's record file and its Event protocol buffer, written by hand for the few fields used):
//   record  = uint64 length (little-endian), uint32 masked CRC-32C of the length bytes, the data, uint32 masked
//             CRC-32C of the data; masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8
//   Event   = wall_time (1, double), step (2, int64), file_version (3, string, "brain.Event:2" in the first event),
//             summary (5, Summary)
//   Summary = value (1, repeated Value); Value = tag (1, string), simple_value (2, float)
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace stagehand::exec {

/// One events file.
class EventFile {
 public:
  /// Creates `dir` and a new events file in it, starting with the file-version event.
  explicit EventFile(const std::filesystem::path& dir);
  /// Scalars logged at one step, one Event holding them all.
  void scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values, double wall_time);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_event(const std::string& event);
  std::filesystem::path path_;
  std::ofstream out_;
};

/// The events files of a run, one per stage (and trial), made on first use.
class TensorBoardLog {
 public:
  void open(const std::filesystem::path& root) { root_ = root; }
  /// Writes scalars of `stage` (trial 0: a stage without trials) at `step`; a no-op until open() was called.
  void scalars(const std::string& stage, int trial, int64_t step,
               const std::vector<std::pair<std::string, double>>& values, double wall_time);
  /// The step of the stage's last scalars (final metrics are logged there), 0 before any.
  int64_t last_step(const std::string& stage, int trial) const;

 private:
  std::filesystem::path root_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::unique_ptr<EventFile>> files_;
  std::map<std::pair<std::string, int>, int64_t> last_step_;
};

/// The masked CRC-32C (Castagnoli) that TensorFlow's record format stores.
uint32_t masked_crc32c(const void* data, size_t size);

}  // namespace stagehand::exec
