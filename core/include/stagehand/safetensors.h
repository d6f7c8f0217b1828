// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading and writing the safetensors format (Hugging Face's checkpoint format):
///   8 bytes   little-endian u64 N, the header length
///   N bytes   UTF-8 JSON: {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [BEGIN, END]}, ...,
///                           "__metadata__": {"key": "value", ...}}   (padded with spaces)
///   the rest  raw little-endian tensor data; offsets are relative to the start of this section.
/// Supported dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL.
#include <filesystem>
#include <map>
#include <string>

#include <torch/types.h>

#include "stagehand/export.h"

namespace stagehand {

/// Loads every tensor of a safetensors file (CPU tensors of the stored dtype, contiguous, owning their
/// memory). Validates the whole header before reading data: header length within the file, valid JSON,
/// known dtypes, byte counts equal to numel x element size, offsets inside the data section and not
/// overlapping. Every failure is one stagehand::Error naming the file, the tensor and the problem.
/// `metadata`, when given, receives the `__metadata__` map.
STAGEHAND_API std::map<std::string, torch::Tensor> load_safetensors(
    const std::filesystem::path& file, std::map<std::string, std::string>* metadata = nullptr);

/// Writes tensors (any device; copied to CPU and made contiguous) in name order, data packed without gaps,
/// the header padded with spaces to a multiple of 8 bytes as Hugging Face writes it. The write is atomic
/// (temporary file + rename): readers see the old file or the complete new one.
STAGEHAND_API void save_safetensors(const std::filesystem::path& file,
                                    const std::map<std::string, torch::Tensor>& tensors,
                                    const std::map<std::string, std::string>& metadata = {});

}  // namespace stagehand
