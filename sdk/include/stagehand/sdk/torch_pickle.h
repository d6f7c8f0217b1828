// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading `pytorch_model.bin`: a state dict written by `torch.save` in its zip format (PyTorch >= 1.6, the default
/// since). The archive holds `<name>/data.pkl` (a pickle, protocol 2) and one record `<name>/data/<key>` per
/// storage. LibTorch's zip reader (caffe2::serialize::PyTorchStreamReader) reads the records; the pickle is read
/// here, because LibTorch 1.13's unpickler (made for TorchScript) replaces `collections.OrderedDict` with None and
/// so cannot read a state dict. Only what a state dict holds is accepted: an OrderedDict (or dict) of names to
/// tensors rebuilt by `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` on typed storages; any other class
/// or opcode is refused by name. Nothing in the file is executed.
#include <filesystem>
#include <map>
#include <string>

#include <torch/types.h>

#include "stagehand/sdk/export.h"

namespace stagehand::hf {

/// Every tensor of the state dict in `file` (CPU, contiguous, owning its memory, the stored dtype). Errors name
/// the file and what is wrong (not a zip archive: the legacy pre-1.6 format; an unknown opcode or class; a
/// missing storage record; a tensor that does not fit its storage).
STAGEHAND_SDK_API std::map<std::string, torch::Tensor> load_torch_state_dict(
    const std::filesystem::path& file);

}  // namespace stagehand::hf
