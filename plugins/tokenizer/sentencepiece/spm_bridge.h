// SPDX-License-Identifier: Apache-2.0
#pragma once
/// C interface of the SentencePiece bridge (libstagehand_spm_bridge).
///
/// Why a bridge: Debian's libsentencepiece.so.0 carries and exports its own protobuf 3.14, while LibTorch
/// links the system libprotobuf.so.32 (3.21). One object that links both crashes before main. The bridge
/// is the only thing that links libsentencepiece; the plugin opens it at run time with
/// RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND so that sentencepiece's protobuf references resolve inside the
/// bridge's own dependency tree and never meet LibTorch's.
///
/// Rules that keep the boundary safe:
///  - plain C types only: no std::string, no stagehand or LibTorch type crosses it (with DEEPBIND an inline
///    symbol of those headers would bind to a private copy in the bridge);
///  - every function catches everything: failures come back as a status code plus a message delivered
///    through a sink callback, never as a C++ exception;
///  - data flows out through callbacks, so neither side frees memory the other allocated.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Bumped whenever a signature below changes; the plugin refuses a bridge with another number.
#define SH_SPM_BRIDGE_API_VERSION 1

enum {
  SH_SPM_OK = 0,
  SH_SPM_ERROR = 1,      ///< the message sink received the reason
  SH_SPM_CANCELLED = 2,  ///< the should_stop callback returned non-zero
};

/// Bits of sh_spm_piece_flags.
enum {
  SH_SPM_PIECE_UNKNOWN = 1,
  SH_SPM_PIECE_CONTROL = 2,
  SH_SPM_PIECE_UNUSED = 4,
  SH_SPM_PIECE_BYTE = 8,
};

typedef struct sh_spm_model sh_spm_model;

/// Receives a run of bytes (a message, a piece, a decoded text). Must not throw.
typedef void (*sh_spm_bytes_fn)(void* user, const char* data, size_t size);
/// Receives one encoded piece: id, its spelling, and its byte span [begin, end) in the input. Must not throw.
typedef void (*sh_spm_piece_fn)(void* user, int32_t id, const char* piece, size_t piece_size, uint32_t begin,
                                uint32_t end);
/// Polled while the training corpus is read; non-zero stops training with SH_SPM_CANCELLED.
typedef int (*sh_spm_stop_fn)(void* user);

typedef int (*sh_spm_api_version_fn)(void);
/// Loads a serialized ModelProto (the bytes of a .model file). Returns null on failure (reason to `err`).
typedef sh_spm_model* (*sh_spm_load_fn)(const char* bytes, size_t size, sh_spm_bytes_fn err, void* err_user);
typedef void (*sh_spm_free_fn)(sh_spm_model* model);
typedef int32_t (*sh_spm_vocab_size_fn)(const sh_spm_model* model);
/// Id of a piece, or the unknown id when the vocabulary lacks it.
typedef int32_t (*sh_spm_piece_to_id_fn)(const sh_spm_model* model, const char* piece, size_t size);
typedef int32_t (*sh_spm_unk_id_fn)(const sh_spm_model* model);
/// Spelling of an id through `out`; returns 0 when the id is out of range.
typedef int (*sh_spm_id_to_piece_fn)(const sh_spm_model* model, int32_t id, sh_spm_bytes_fn out, void* user);
typedef int32_t (*sh_spm_piece_flags_fn)(const sh_spm_model* model, int32_t id);
typedef int (*sh_spm_encode_fn)(const sh_spm_model* model, const char* text, size_t size, sh_spm_piece_fn out,
                                void* user, sh_spm_bytes_fn err, void* err_user);
typedef int (*sh_spm_decode_fn)(const sh_spm_model* model, const int32_t* ids, size_t count, sh_spm_bytes_fn out,
                                void* user, sh_spm_bytes_fn err, void* err_user);

/// Training request. `keys`/`values` are SentencePieceTrainer flags (e.g. "model_type" = "bpe"); they must not
/// name input or model_prefix: the corpus is read from `files` (one sentence per line, read like spm_train
/// reads --input) and the model comes back as bytes so that nothing about the output folder ends up inside it.
typedef struct sh_spm_train_request {
  const char* const* files;
  size_t file_count;
  const char* const* keys;
  const char* const* values;
  size_t option_count;
  uint32_t seed;        ///< given to sentencepiece::SetRandomGeneratorSeed
  int lowercase;        ///< lowercase each line before training (see lowercase.h)
  sh_spm_stop_fn should_stop;  ///< may be null
  void* stop_user;
} sh_spm_train_request;

/// Trains a model. On success `model_out` receives the serialized .model bytes and `vocab_out` the .vocab text
/// (`piece<TAB>score` lines, as spm_train writes them).
typedef int (*sh_spm_train_fn)(const sh_spm_train_request* request, sh_spm_bytes_fn model_out, void* model_user,
                               sh_spm_bytes_fn vocab_out, void* vocab_user, sh_spm_bytes_fn err, void* err_user);

#ifdef __cplusplus
}
#endif
