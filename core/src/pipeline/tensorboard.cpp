// SPDX-License-Identifier: Apache-2.0
#include "pipeline/tensorboard.h"

#include <unistd.h>

#include <cstring>

#include <boost/crc.hpp>
#include <fmt/format.h>

#include "stagehand/error.h"

namespace stagehand::exec {

namespace fs = std::filesystem;

namespace {

// Protocol buffer wire format, for the few field types an Event uses.
void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void key(std::string& out, int field, int wire_type) { varint(out, static_cast<uint64_t>(field << 3 | wire_type)); }
template <class T>
void fixed(std::string& out, T v) {  // little-endian, as x86-64 stores it
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}
void bytes_field(std::string& out, int field, const std::string& bytes) {
  key(out, field, 2);
  varint(out, bytes.size());
  out += bytes;
}

std::string event_head(double wall_time, int64_t step) {
  std::string e;
  key(e, 1, 1);
  fixed(e, wall_time);
  if (step != 0) {
    key(e, 2, 0);
    varint(e, static_cast<uint64_t>(step));
  }
  return e;
}

std::string hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

uint32_t masked_crc32c(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  const uint32_t c = crc.checksum();
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

EventFile::EventFile(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const double now = static_cast<double>(::time(nullptr));
  path_ = dir / fmt::format("events.out.tfevents.{}.{}", static_cast<int64_t>(now), hostname());
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw Error(fmt::format("cannot write the TensorBoard events file '{}'", path_.string()));
  std::string e = event_head(now, 0);
  bytes_field(e, 3, "brain.Event:2");
  write_event(e);
}

void EventFile::scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values, double wall_time) {
  std::string summary;
  for (const auto& [tag, v] : values) {
    std::string value;
    bytes_field(value, 1, tag);
    key(value, 2, 5);
    fixed(value, static_cast<float>(v));
    bytes_field(summary, 1, value);
  }
  std::string e = event_head(wall_time, step);
  bytes_field(e, 5, summary);
  write_event(e);
}

void EventFile::write_event(const std::string& event) {
  std::string record;
  const uint64_t length = event.size();
  fixed(record, length);
  fixed(record, masked_crc32c(record.data(), sizeof(length)));
  record += event;
  fixed(record, masked_crc32c(event.data(), event.size()));
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
  out_.flush();  // a crash loses nothing already logged
}

void TensorBoardLog::scalars(const std::string& stage, int trial, int64_t step,
                             const std::vector<std::pair<std::string, double>>& values, double wall_time) {
  if (root_.empty() || values.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto& file = files_[{stage, trial}];
  if (!file) file = std::make_unique<EventFile>(trial > 0 ? root_ / stage / fmt::format("trial-{}", trial) : root_ / stage);
  file->scalars(step, values, wall_time);
  last_step_[{stage, trial}] = std::max(last_step_[{stage, trial}], step);
}

int64_t TensorBoardLog::last_step(const std::string& stage, int trial) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = last_step_.find({stage, trial});
  return it == last_step_.end() ? 0 : it->second;
}

}  // namespace stagehand::exec
