// SPDX-License-Identifier: Apache-2.0
#include "bridge_client.h"

#include <cstdlib>
#include <exception>
#include <new>
#include <type_traits>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <fmt/format.h>

#include "stagehand/error.h"

namespace stagehand::spm {
namespace {

// Sinks called from inside the bridge: they must not let an exception unwind through its C frames.
struct BytesSink {
  std::string text;
  bool failed = false;
};

void append_bytes(void* user, const char* data, size_t size) noexcept {
  auto* sink = static_cast<BytesSink*>(user);
  try {
    sink->text.append(data, size);
  } catch (...) {
    sink->failed = true;
  }
}

struct PieceSink {
  std::vector<RawPiece> pieces;
  bool failed = false;
};

void append_piece(void* user, int32_t id, const char* piece, size_t piece_size, uint32_t begin,
                  uint32_t end) noexcept {
  auto* sink = static_cast<PieceSink*>(user);
  try {
    sink->pieces.push_back(RawPiece{id, std::string(piece, piece_size), begin, end});
  } catch (...) {
    sink->failed = true;
  }
}

int poll_stop(void* user) noexcept {
  try {
    const auto* should_stop = static_cast<const std::function<bool()>*>(user);
    return (*should_stop)() ? 1 : 0;
  } catch (...) {
    return 1;  // a stop callback that throws cannot be honoured later; stop now
  }
}

// A sink that could not store what the bridge handed over only fails for lack of memory.
void check_sink(bool failed) {
  if (failed) throw std::bad_alloc();
}

template <class Fn>
Fn resolve(boost::dll::shared_library& lib, const char* name, const std::filesystem::path& file) {
  try {
    return &lib.get<std::remove_pointer_t<Fn>>(name);
  } catch (const std::exception& e) {
    throw Error(fmt::format("sentencepiece bridge '{}' lacks symbol '{}' ({}); expected a bridge built from the "
                            "same stagehand sources as the plugin; rebuild target tokenizer_sentencepiece",
                            file.string(), name, e.what()));
  }
}

BridgeApi open_bridge() {
  const std::filesystem::path file = bridge_path();
  std::error_code ec;
  SH_CHECK(std::filesystem::is_regular_file(file, ec),
           "sentencepiece bridge not found at '{}' (looked {}); expected {} installed beside the plugin in "
           "'{}/'; rebuild or reinstall target tokenizer_sentencepiece, or set {} to the bridge's path",
           file.string(),
           std::getenv(kBridgeEnvVar) != nullptr ? fmt::format("at ${}", kBridgeEnvVar)
                                                 : "next to the plugin file",
           kBridgeFileName, kBridgeSubdir, kBridgeEnvVar);

#ifdef STAGEHAND_SANITIZED
  // A sanitizer runtime refuses dlopen with RTLD_DEEPBIND (and aborts), and without it the bridge's protobuf clashes
  // with LibTorch's: a sanitizer build (make test-asan) has no SentencePiece.
  fail("sentencepiece: this is a sanitizer build (STAGEHAND_SANITIZE), whose runtime cannot load the "
           "SentencePiece bridge (it needs RTLD_DEEPBIND); use a regular build for SentencePiece tokenizers");
#endif
  // Never unloaded: models created from it may live until exit. DEEPBIND makes libsentencepiece's own
  // protobuf copy win over LibTorch's libprotobuf for everything loaded with the bridge (see spm_bridge.h).
  auto* lib = new boost::dll::shared_library();
  try {
    lib->load(boost::dll::fs::path(file.string()), boost::dll::load_mode::rtld_now |
                                                       boost::dll::load_mode::rtld_local |
                                                       boost::dll::load_mode::rtld_deepbind);
  } catch (const std::exception& e) {
    delete lib;
    throw Error(fmt::format("sentencepiece bridge '{}' failed to load: {}; expected libsentencepiece.so.0 and "
                            "libsentencepiece_train.so.0 to be installed; install the Debian packages "
                            "libsentencepiece0 (runtime) / libsentencepiece-dev (build)",
                            file.string(), e.what()));
  }

  const auto version = resolve<sh_spm_api_version_fn>(*lib, "sh_spm_api_version", file)();
  SH_CHECK(version == SH_SPM_BRIDGE_API_VERSION,
           "sentencepiece bridge '{}' has interface version {}, expected {}; it is stale: rebuild or reinstall "
           "target tokenizer_sentencepiece",
           file.string(), version, SH_SPM_BRIDGE_API_VERSION);

  BridgeApi api;
  api.load = resolve<sh_spm_load_fn>(*lib, "sh_spm_load", file);
  api.free = resolve<sh_spm_free_fn>(*lib, "sh_spm_free", file);
  api.vocab_size = resolve<sh_spm_vocab_size_fn>(*lib, "sh_spm_vocab_size", file);
  api.piece_to_id = resolve<sh_spm_piece_to_id_fn>(*lib, "sh_spm_piece_to_id", file);
  api.unk_id = resolve<sh_spm_unk_id_fn>(*lib, "sh_spm_unk_id", file);
  api.id_to_piece = resolve<sh_spm_id_to_piece_fn>(*lib, "sh_spm_id_to_piece", file);
  api.piece_flags = resolve<sh_spm_piece_flags_fn>(*lib, "sh_spm_piece_flags", file);
  api.encode = resolve<sh_spm_encode_fn>(*lib, "sh_spm_encode", file);
  api.decode = resolve<sh_spm_decode_fn>(*lib, "sh_spm_decode", file);
  api.train = resolve<sh_spm_train_fn>(*lib, "sh_spm_train", file);
  api.file = file;
  return api;
}

}  // namespace

std::filesystem::path bridge_path() {
  if (const char* env = std::getenv(kBridgeEnvVar); env != nullptr && *env != '\0') return env;
  // this_line_location() resolves to the shared object holding this code: the plugin, wherever it lives.
  const std::filesystem::path self = boost::dll::this_line_location().string();
  return self.parent_path() / kBridgeSubdir / kBridgeFileName;
}

const BridgeApi& bridge() {
  // A failed initialisation throws and is retried by the next call (magic-static semantics).
  static const BridgeApi api = open_bridge();
  return api;
}

// ---- Model

Model::Model(const std::string& bytes, const std::string& origin) : api_(bridge()), origin_(origin) {
  BytesSink err;
  model_ = api_.load(bytes.data(), bytes.size(), append_bytes, &err);
  SH_CHECK(model_ != nullptr,
           "sentencepiece model '{}' failed to load: {}; expected a SentencePiece ModelProto (a .model file, not "
           "the .vocab); check the file is complete or retrain it",
           origin_, err.text.empty() ? std::string("no reason given") : err.text);
}

Model::~Model() {
  if (model_ != nullptr) api_.free(model_);
}

int32_t Model::vocab_size() const { return api_.vocab_size(model_); }

int32_t Model::piece_to_id(std::string_view piece) const {
  return api_.piece_to_id(model_, piece.data(), piece.size());
}

int32_t Model::unk_id() const { return api_.unk_id(model_); }

std::string Model::id_to_piece(int32_t id) const {
  BytesSink out;
  const int ok = api_.id_to_piece(model_, id, append_bytes, &out);
  check_sink(out.failed);
  SH_CHECK(ok != 0, "sentencepiece model '{}': id {} is out of range; expected 0 <= id < {}; check that the ids "
           "come from this tokenizer", origin_, id, vocab_size());
  return std::move(out.text);
}

int32_t Model::piece_flags(int32_t id) const { return api_.piece_flags(model_, id); }

std::vector<RawPiece> Model::encode(std::string_view text) const {
  PieceSink out;
  BytesSink err;
  const int rc = api_.encode(model_, text.data(), text.size(), append_piece, &out, append_bytes, &err);
  check_sink(out.failed || err.failed);
  SH_CHECK(rc == SH_SPM_OK, "sentencepiece model '{}' failed to encode a text of {} bytes: {}", origin_,
           text.size(), err.text);
  return std::move(out.pieces);
}

std::string Model::decode(const std::vector<int32_t>& ids) const {
  BytesSink out;
  BytesSink err;
  const int rc = api_.decode(model_, ids.data(), ids.size(), append_bytes, &out, append_bytes, &err);
  check_sink(out.failed || err.failed);
  SH_CHECK(rc == SH_SPM_OK,
           "sentencepiece model '{}' failed to decode {} ids: {}; expected ids in [0, {}) from this tokenizer",
           origin_, ids.size(), err.text, vocab_size());
  return std::move(out.text);
}

// ---- training

TrainResult train(const TrainRequest& request) {
  const BridgeApi& api = bridge();
  std::vector<std::string> files;
  files.reserve(request.files.size());
  for (const auto& f : request.files) files.push_back(f.string());
  std::vector<const char*> file_ptrs, keys, values;
  for (const auto& f : files) file_ptrs.push_back(f.c_str());
  for (const auto& [k, v] : request.flags) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }

  sh_spm_train_request r{};
  r.files = file_ptrs.data();
  r.file_count = file_ptrs.size();
  r.keys = keys.data();
  r.values = values.data();
  r.option_count = keys.size();
  r.seed = request.seed;
  r.lowercase = request.lowercase ? 1 : 0;
  if (request.should_stop) {
    r.should_stop = poll_stop;
    r.stop_user = const_cast<std::function<bool()>*>(&request.should_stop);
  }

  BytesSink model, vocab, err;
  const int rc = api.train(&r, append_bytes, &model, append_bytes, &vocab, append_bytes, &err);
  check_sink(model.failed || vocab.failed || err.failed);
  TrainResult result;
  if (rc == SH_SPM_CANCELLED) {
    result.cancelled = true;
    return result;
  }
  SH_CHECK(rc == SH_SPM_OK, "sentencepiece training failed: {}", err.text);
  result.model = std::move(model.text);
  result.vocab = std::move(vocab.text);
  return result;
}

}  // namespace stagehand::spm
