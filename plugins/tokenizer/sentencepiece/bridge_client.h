// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Plugin side of the SentencePiece bridge: finds and opens libstagehand_spm_bridge.so once per process and
/// wraps its C functions in C++ that throws stagehand::Error. Nothing here includes sentencepiece headers.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spm_bridge.h"

namespace stagehand::spm {

/// File name of the bridge and the folder beside the plugin that holds it. The subfolder keeps it out of
/// the loader's `*.so` scan of the plugin folder.
inline constexpr const char* kBridgeFileName = "libstagehand_spm_bridge.so";
inline constexpr const char* kBridgeSubdir = "sentencepiece";
/// Names an explicit bridge file (for unusual installs); takes precedence over the search beside the plugin.
inline constexpr const char* kBridgeEnvVar = "STAGEHAND_SPM_BRIDGE";

struct RawPiece {
  int32_t id = 0;
  std::string piece;
  uint32_t begin = 0, end = 0;
};

/// The resolved entry points of the bridge.
struct BridgeApi {
  sh_spm_load_fn load = nullptr;
  sh_spm_free_fn free = nullptr;
  sh_spm_vocab_size_fn vocab_size = nullptr;
  sh_spm_piece_to_id_fn piece_to_id = nullptr;
  sh_spm_unk_id_fn unk_id = nullptr;
  sh_spm_id_to_piece_fn id_to_piece = nullptr;
  sh_spm_piece_flags_fn piece_flags = nullptr;
  sh_spm_encode_fn encode = nullptr;
  sh_spm_decode_fn decode = nullptr;
  sh_spm_train_fn train = nullptr;
  std::filesystem::path file;  ///< the bridge that was opened
};

/// Opens the bridge on first use (thread-safe) and keeps it for the life of the process. Throws
/// stagehand::Error naming the path it tried and how to fix it.
const BridgeApi& bridge();
/// Where the bridge is looked for: $STAGEHAND_SPM_BRIDGE, else <folder of this plugin>/sentencepiece/.
std::filesystem::path bridge_path();

/// A loaded SentencePiece model. All methods are const and safe to call from several threads
/// (SentencePieceProcessor's encode and decode are const).
class Model {
 public:
  /// `bytes`: the content of a .model file; `origin` names it in errors.
  Model(const std::string& bytes, const std::string& origin);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  int32_t vocab_size() const;
  int32_t piece_to_id(std::string_view piece) const;
  int32_t unk_id() const;
  std::string id_to_piece(int32_t id) const;  ///< throws when out of range
  int32_t piece_flags(int32_t id) const;      ///< SH_SPM_PIECE_* bits
  std::vector<RawPiece> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;

 private:
  const BridgeApi& api_;
  sh_spm_model* model_ = nullptr;
  std::string origin_;
};

struct TrainRequest {
  std::vector<std::filesystem::path> files;
  std::vector<std::pair<std::string, std::string>> flags;  ///< SentencePieceTrainer flags
  uint32_t seed = 0;
  bool lowercase = false;
  std::function<bool()> should_stop;
};

struct TrainResult {
  bool cancelled = false;
  std::string model;  ///< serialized .model
  std::string vocab;  ///< .vocab text
};

TrainResult train(const TrainRequest& request);

}  // namespace stagehand::spm
