// SPDX-License-Identifier: Apache-2.0
// What the file-reading fuzz targets share: the input's first byte as a knob byte, and the rest written to a file
// of this process (readers take paths).
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

namespace fuzz_input {

/// Takes the first byte of the input as `knobs`; false when the input is empty.
inline bool take_knobs(const uint8_t*& data, size_t& size, uint8_t& knobs) {
  if (size < 1) return false;
  knobs = data[0];
  ++data;
  --size;
  return true;
}

/// Writes `size` bytes to /tmp/stagehand-fuzz-<name>-<pid><ext> (replacing it) and returns the path.
inline std::string write_file(const std::string& name, const std::string& ext, const uint8_t* data, size_t size) {
  const std::string file = "/tmp/stagehand-fuzz-" + name + "-" + std::to_string(::getpid()) + ext;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return file;
}

/// 1 + the number of line feeds: the last line number a reader may report.
inline int64_t lines_in(const uint8_t* data, size_t size) {
  int64_t n = 1;
  for (size_t i = 0; i < size; ++i) n += data[i] == '\n';
  return n;
}

}  // namespace fuzz_input
