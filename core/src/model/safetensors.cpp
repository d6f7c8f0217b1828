// SPDX-License-Identifier: Apache-2.0
// The safetensors format, implemented from its description: a u64 header length, a JSON header, raw data.
// Loading reads the header, validates all of it, then reads each tensor's bytes straight into the tensor's
// own memory (one copy, no staging buffer of the whole file).
#include "stagehand/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "stagehand/error.h"
#include "stagehand/files.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp copies little-endian file data as is; a big-endian host needs byte swapping"
#endif

namespace stagehand {
namespace {
namespace fs = std::filesystem;

// Hugging Face's reader refuses headers above 100 MB; a larger value means a corrupt or foreign file, and
// checking it first keeps a garbage length from turning into a huge allocation.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;
constexpr const char* kMetadataKey = "__metadata__";

struct DtypeInfo {
  const char* name;
  c10::ScalarType type;
  uint64_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", c10::ScalarType::Double, 8}, {"F32", c10::ScalarType::Float, 4}, {"F16", c10::ScalarType::Half, 2},
    {"BF16", c10::ScalarType::BFloat16, 2}, {"I64", c10::ScalarType::Long, 8}, {"I32", c10::ScalarType::Int, 4},
    {"I16", c10::ScalarType::Short, 2},  {"I8", c10::ScalarType::Char, 1},  {"U8", c10::ScalarType::Byte, 1},
    {"BOOL", c10::ScalarType::Bool, 1},
};

std::string supported_dtypes() {
  std::string out;
  for (const auto& d : kDtypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

const DtypeInfo* dtype_by_name(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo* dtype_by_type(c10::ScalarType t) {
  for (const auto& d : kDtypes)
    if (t == d.type) return &d;
  return nullptr;
}

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw Error(fmt::format("safetensors file '{}': {}", file.string(), what));
}
[[noreturn]] void fail_tensor(const fs::path& file, const std::string& name, const std::string& what) {
  throw Error(fmt::format("safetensors file '{}': tensor '{}': {}", file.string(), name, what));
}

constexpr const char* kCorruptFix = "the file is truncated or corrupt; re-download or re-export it";

struct Entry {
  std::string name;
  const DtypeInfo* dtype = nullptr;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const fs::path& file, const std::string& name, const nlohmann::json& v, uint64_t data_bytes) {
  Entry e;
  e.name = name;
  if (!v.is_object()) fail_tensor(file, name, fmt::format("header entry is {}, expected an object", v.type_name()));
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) fail_tensor(file, name, "header entry has no string 'dtype'");
  e.dtype = dtype_by_name(dt->get<std::string>());
  if (!e.dtype)
    fail_tensor(file, name,
                fmt::format("dtype '{}' is not supported (supported: {}); convert the checkpoint to one of them",
                            dt->get<std::string>(), supported_dtypes()));
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) fail_tensor(file, name, "header entry has no 'shape' list");
  uint64_t numel = 1;
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned())
      fail_tensor(file, name, fmt::format("shape {} has an entry that is not a non-negative integer", sh->dump()));
    uint64_t n = d.get<uint64_t>();
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(numel, n, &numel))
      fail_tensor(file, name, fmt::format("shape {} is too large", sh->dump()));
    e.shape.push_back(static_cast<int64_t>(n));
  }
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    fail_tensor(file, name, "header entry needs 'data_offsets': [begin, end] (two non-negative integers)");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.begin > e.end)
    fail_tensor(file, name, fmt::format("data_offsets [{}, {}] has begin after end; {}", e.begin, e.end, kCorruptFix));
  if (e.end > data_bytes)
    fail_tensor(file, name,
                fmt::format("data_offsets [{}, {}] reach past the end of the data section ({} bytes); {}", e.begin,
                            e.end, data_bytes, kCorruptFix));
  uint64_t expected = 0;
  if (__builtin_mul_overflow(numel, e.dtype->size, &expected) || expected != e.end - e.begin)
    fail_tensor(file, name,
                fmt::format("holds {} bytes but shape {} of {} needs {}; {}", e.end - e.begin, sh->dump(),
                            e.dtype->name, numel * e.dtype->size, kCorruptFix));
  return e;
}

}  // namespace

std::map<std::string, torch::Tensor> load_safetensors(const fs::path& file,
                                                      std::map<std::string, std::string>* metadata) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file, fmt::format("cannot open it ({})", std::strerror(errno)));
  std::error_code ec;
  const uint64_t file_bytes = fs::file_size(file, ec);
  if (ec) fail(file, fmt::format("cannot read its size ({})", ec.message()));
  if (file_bytes < 8)
    fail(file, fmt::format("is {} bytes long, shorter than the 8-byte header length; {}", file_bytes, kCorruptFix));

  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  if (!in) fail(file, "cannot read the header length");
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | len_bytes[i];
  if (header_bytes > kMaxHeaderBytes || header_bytes > file_bytes - 8)
    fail(file, fmt::format("header length {} is {} (file is {} bytes); this is not a safetensors file or {}",
                           header_bytes,
                           header_bytes > file_bytes - 8 ? "past the end of the file" : "above the 100 MB limit",
                           file_bytes, kCorruptFix));

  std::string header(header_bytes, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_bytes));
  if (!in) fail(file, "cannot read the header");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number past double's range
    fail(file, fmt::format("header is not valid JSON ({}); {}", e.what(), kCorruptFix));
  }
  if (!j.is_object()) fail(file, fmt::format("header is a JSON {}, expected an object", j.type_name()));

  const uint64_t data_start = 8 + header_bytes;
  const uint64_t data_bytes = file_bytes - data_start;
  std::vector<Entry> entries;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == kMetadataKey) {
      if (!it->is_object()) fail(file, "'__metadata__' is not an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          fail(file, fmt::format("'__metadata__' entry '{}' is {}, expected a string", m.key(), m->type_name()));
        if (metadata) (*metadata)[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(file, it.key(), *it, data_bytes));
  }

  // Overlapping ranges mean two tensors claim the same bytes: a corrupt (or maliciously crafted) header.
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return std::tie(a->begin, a->end) < std::tie(b->begin, b->end); });
  const Entry* reach = nullptr;  // the entry reaching furthest so far (an empty tensor must not hide it)
  for (const Entry* cur : by_offset) {
    if (reach && cur->begin < reach->end && cur->end > cur->begin)
      fail_tensor(file, cur->name,
                  fmt::format("data_offsets [{}, {}] overlap those of tensor '{}' [{}, {}]; {}", cur->begin, cur->end,
                              reach->name, reach->begin, reach->end, kCorruptFix));
    if (!reach || cur->end > reach->end) reach = cur;
  }

  std::map<std::string, torch::Tensor> out;
  for (const Entry* e : by_offset) {  // in file order: sequential reads
    torch::Tensor t = torch::empty(e->shape, torch::TensorOptions().dtype(e->dtype->type));
    const uint64_t n = e->end - e->begin;
    if (n > 0) {
      in.seekg(static_cast<std::streamoff>(data_start + e->begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(n));
      if (!in)
        fail_tensor(file, e->name,
                    fmt::format("cannot read its {} bytes at offset {}; {}", n, data_start + e->begin, kCorruptFix));
    }
    out.emplace(e->name, std::move(t));
  }
  return out;
}

void save_safetensors(const fs::path& file, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps insertion order: metadata first, then the tensors in name order, as HF writes them.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header[kMetadataKey] = std::move(m);
  }
  std::vector<torch::Tensor> data;
  data.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == kMetadataKey)
      fail(file, fmt::format("cannot save a tensor named '{}' (reserved or empty); rename it", name));
    if (!tensor.defined()) fail_tensor(file, name, "is undefined; every saved tensor must hold data");
    const DtypeInfo* dt = dtype_by_type(tensor.scalar_type());
    if (!dt)
      fail_tensor(file, name,
                  fmt::format("dtype {} cannot be stored (supported: {}); convert it first",
                              c10::toString(tensor.scalar_type()), supported_dtypes()));
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t n = static_cast<uint64_t>(t.numel()) * dt->size;
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = dt->name;
    e["shape"] = t.sizes().vec();
    e["data_offsets"] = {offset, offset + n};
    header[name] = std::move(e);
    offset += n;
    data.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string content;
  content.reserve(8 + text.size() + offset);
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) content.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  content += text;
  for (const auto& t : data)
    if (t.numel() > 0) content.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  write_file_atomic(file, content);
}

}  // namespace stagehand
