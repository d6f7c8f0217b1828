// SPDX-License-Identifier: Apache-2.0
// The only translation unit that sees libsentencepiece. It must never include a stagehand or LibTorch
// header (see spm_bridge.h), and nothing may leave it as a C++ exception.
#include "spm_bridge.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "lowercase.h"

#define SH_SPM_EXPORT extern "C" __attribute__((visibility("default")))

struct sh_spm_model {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

void report(sh_spm_bytes_fn sink, void* user, const std::string& message) noexcept {
  if (sink != nullptr) sink(user, message.data(), message.size());
}

// Runs `body` and turns any exception into SH_SPM_ERROR plus a message.
template <class F>
int guarded(sh_spm_bytes_fn err, void* err_user, const char* what, F&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    report(err, err_user, std::string(what) + ": " + e.what());
  } catch (...) {
    report(err, err_user, std::string(what) + ": unknown exception");
  }
  return SH_SPM_ERROR;
}

// Reads the corpus the way spm_train reads --input (std::getline per line, files in order), applying
// lowercasing when asked and polling for a stop request. Using our own iterator instead of --input keeps
// file names out of the comma-separated flag syntax and out of the trained model.
class FileSentenceIterator : public sentencepiece::SentenceIterator {
 public:
  FileSentenceIterator(const sh_spm_train_request& request) : request_(request) { advance(); }

  bool done() const override { return done_; }
  void Next() override { advance(); }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return status_; }
  bool cancelled() const { return cancelled_; }

 private:
  void advance() {
    while (!done_) {
      if (request_.should_stop != nullptr && (lines_++ % kPollEvery) == 0 &&
          request_.should_stop(request_.stop_user) != 0) {
        cancelled_ = true;
        status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kCancelled, "training cancelled");
        done_ = true;
        return;
      }
      if (stream_ && std::getline(*stream_, value_)) {
        if (request_.lowercase != 0) value_ = stagehand::spm::lowercase_utf8(value_);
        return;
      }
      if (next_file_ == request_.file_count) {
        done_ = true;
        return;
      }
      const char* file = request_.files[next_file_++];
      stream_ = std::make_unique<std::ifstream>(file, std::ios::in);
      if (!*stream_) {
        status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kNotFound,
                                              std::string("cannot open training file \"") + file + "\"");
        done_ = true;
        return;
      }
    }
  }

  static constexpr size_t kPollEvery = 4096;
  const sh_spm_train_request& request_;
  std::unique_ptr<std::ifstream> stream_;
  size_t next_file_ = 0;
  size_t lines_ = 0;
  std::string value_;
  sentencepiece::util::Status status_;
  bool done_ = false;
  bool cancelled_ = false;
};

// SetRandomGeneratorSeed and the trainer's log level are process-wide in libsentencepiece.
std::mutex& train_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

SH_SPM_EXPORT int sh_spm_api_version(void) { return SH_SPM_BRIDGE_API_VERSION; }

SH_SPM_EXPORT sh_spm_model* sh_spm_load(const char* bytes, size_t size, sh_spm_bytes_fn err, void* err_user) {
  try {
    auto model = std::make_unique<sh_spm_model>();
    const auto status = model->processor.LoadFromSerializedProto(std::string(bytes, size));
    if (!status.ok()) {
      report(err, err_user, status.ToString());
      return nullptr;
    }
    return model.release();
  } catch (const std::exception& e) {
    report(err, err_user, std::string("loading the model: ") + e.what());
  } catch (...) {
    report(err, err_user, "loading the model: unknown exception");
  }
  return nullptr;
}

SH_SPM_EXPORT void sh_spm_free(sh_spm_model* model) {
  try {
    delete model;
  } catch (...) {
  }
}

SH_SPM_EXPORT int32_t sh_spm_vocab_size(const sh_spm_model* model) {
  try {
    return model->processor.GetPieceSize();
  } catch (...) {
    return 0;
  }
}

SH_SPM_EXPORT int32_t sh_spm_piece_to_id(const sh_spm_model* model, const char* piece, size_t size) {
  try {
    return model->processor.PieceToId(std::string(piece, size));
  } catch (...) {
    return -1;
  }
}

SH_SPM_EXPORT int32_t sh_spm_unk_id(const sh_spm_model* model) {
  try {
    return model->processor.unk_id();
  } catch (...) {
    return -1;
  }
}

SH_SPM_EXPORT int sh_spm_id_to_piece(const sh_spm_model* model, int32_t id, sh_spm_bytes_fn out, void* user) {
  try {
    if (id < 0 || id >= model->processor.GetPieceSize()) return 0;
    const std::string& piece = model->processor.IdToPiece(id);
    out(user, piece.data(), piece.size());
    return 1;
  } catch (...) {
    return 0;
  }
}

SH_SPM_EXPORT int32_t sh_spm_piece_flags(const sh_spm_model* model, int32_t id) {
  try {
    const auto& p = model->processor;
    if (id < 0 || id >= p.GetPieceSize()) return 0;
    return (p.IsUnknown(id) ? SH_SPM_PIECE_UNKNOWN : 0) | (p.IsControl(id) ? SH_SPM_PIECE_CONTROL : 0) |
           (p.IsUnused(id) ? SH_SPM_PIECE_UNUSED : 0) | (p.IsByte(id) ? SH_SPM_PIECE_BYTE : 0);
  } catch (...) {
    return 0;
  }
}

SH_SPM_EXPORT int sh_spm_encode(const sh_spm_model* model, const char* text, size_t size, sh_spm_piece_fn out,
                                void* user, sh_spm_bytes_fn err, void* err_user) {
  return guarded(err, err_user, "encoding", [&] {
    sentencepiece::ImmutableSentencePieceText spt;
    const auto status = model->processor.Encode(std::string(text, size), spt.mutable_proto());
    if (!status.ok()) {
      report(err, err_user, status.ToString());
      return static_cast<int>(SH_SPM_ERROR);
    }
    const size_t n = spt.pieces_size();
    for (size_t i = 0; i < n; ++i) {
      const auto sp = spt.pieces(static_cast<int>(i));
      const std::string& piece = sp.piece();
      out(user, static_cast<int32_t>(sp.id()), piece.data(), piece.size(), sp.begin(), sp.end());
    }
    return static_cast<int>(SH_SPM_OK);
  });
}

SH_SPM_EXPORT int sh_spm_decode(const sh_spm_model* model, const int32_t* ids, size_t count, sh_spm_bytes_fn out,
                                void* user, sh_spm_bytes_fn err, void* err_user) {
  return guarded(err, err_user, "decoding", [&] {
    const std::vector<int> v(ids, ids + count);
    std::string text;
    const auto status = model->processor.Decode(v, &text);
    if (!status.ok()) {
      report(err, err_user, status.ToString());
      return static_cast<int>(SH_SPM_ERROR);
    }
    out(user, text.data(), text.size());
    return static_cast<int>(SH_SPM_OK);
  });
}

SH_SPM_EXPORT int sh_spm_train(const sh_spm_train_request* request, sh_spm_bytes_fn model_out, void* model_user,
                               sh_spm_bytes_fn vocab_out, void* vocab_user, sh_spm_bytes_fn err, void* err_user) {
  return guarded(err, err_user, "training", [&] {
    std::unordered_map<std::string, std::string> flags;
    for (size_t i = 0; i < request->option_count; ++i) {
      const std::string key = request->keys[i];
      if (key == "input" || key == "model_prefix") {
        report(err, err_user, "flag '" + key + "' is set by the bridge itself");
        return static_cast<int>(SH_SPM_ERROR);
      }
      flags[key] = request->values[i];
    }

    std::lock_guard<std::mutex> lock(train_mutex());
    sentencepiece::SetRandomGeneratorSeed(request->seed);
    FileSentenceIterator corpus(*request);
    std::string serialized;
    const auto status = sentencepiece::SentencePieceTrainer::Train(flags, &corpus, &serialized);
    if (corpus.cancelled()) return static_cast<int>(SH_SPM_CANCELLED);
    if (!status.ok()) {
      report(err, err_user, status.ToString());
      return static_cast<int>(SH_SPM_ERROR);
    }

    // The .vocab file spm_train writes next to the model: one `piece<TAB>score` line per piece, scores
    // printed by a default std::ostream.
    sentencepiece::SentencePieceProcessor processor;
    const auto loaded = processor.LoadFromSerializedProto(serialized);
    if (!loaded.ok()) {
      report(err, err_user, "the trained model does not load: " + loaded.ToString());
      return static_cast<int>(SH_SPM_ERROR);
    }
    std::ostringstream vocab;
    for (int id = 0; id < processor.GetPieceSize(); ++id) {
      vocab << processor.IdToPiece(id) << '\t' << processor.GetScore(id) << '\n';
    }
    const std::string vocab_text = vocab.str();
    model_out(model_user, serialized.data(), serialized.size());
    vocab_out(vocab_user, vocab_text.data(), vocab_text.size());
    return static_cast<int>(SH_SPM_OK);
  });
}

// The exported functions must keep the exact types the plugin casts them to.
static_assert(std::is_same_v<decltype(&sh_spm_api_version), sh_spm_api_version_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_load), sh_spm_load_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_free), sh_spm_free_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_vocab_size), sh_spm_vocab_size_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_piece_to_id), sh_spm_piece_to_id_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_unk_id), sh_spm_unk_id_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_id_to_piece), sh_spm_id_to_piece_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_piece_flags), sh_spm_piece_flags_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_encode), sh_spm_encode_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_decode), sh_spm_decode_fn>);
static_assert(std::is_same_v<decltype(&sh_spm_train), sh_spm_train_fn>);
