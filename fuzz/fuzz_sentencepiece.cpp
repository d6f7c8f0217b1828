// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the SentencePiece tokenizer's own code — the C bridge around libsentencepiece (spm_bridge.cpp:
// loading, encoding with byte spans, decoding, piece lookups, every exception turned into a status) and the
// lower-casing the `lowercase` option applies (lowercase.h) — on ALBERT's real 30k-piece model. Linked directly
// (no LibTorch here, so no protobuf clash to keep apart). Input byte 0 even: the rest is text to encode, plain and
// lower-cased; odd: the rest is loaded as a .model file. Any input must give pieces or an error status; pieces
// have ids inside the vocabulary, spans inside the text and in order, and decode; a lower-cased text keeps its byte
// length (the tokenizer maps spans back through it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lowercase.h"
#include "spm_bridge.h"

extern "C" {
sh_spm_model* sh_spm_load(const char* bytes, size_t size, sh_spm_bytes_fn err, void* err_user);
void sh_spm_free(sh_spm_model* model);
int32_t sh_spm_vocab_size(const sh_spm_model* model);
int32_t sh_spm_piece_to_id(const sh_spm_model* model, const char* piece, size_t size);
int32_t sh_spm_unk_id(const sh_spm_model* model);
int sh_spm_id_to_piece(const sh_spm_model* model, int32_t id, sh_spm_bytes_fn out, void* user);
int sh_spm_encode(const sh_spm_model* model, const char* text, size_t size, sh_spm_piece_fn out, void* user,
                  sh_spm_bytes_fn err, void* err_user);
int sh_spm_decode(const sh_spm_model* model, const int32_t* ids, size_t count, sh_spm_bytes_fn out, void* user,
                  sh_spm_bytes_fn err, void* err_user);
}

namespace {

struct Piece {
  int32_t id;
  std::string piece;
  uint32_t begin, end;
};

void to_string(void* user, const char* data, size_t size) { static_cast<std::string*>(user)->append(data, size); }
void to_pieces(void* user, int32_t id, const char* piece, size_t piece_size, uint32_t begin, uint32_t end) {
  static_cast<std::vector<Piece>*>(user)->push_back({id, std::string(piece, piece_size), begin, end});
}

const sh_spm_model* albert() {
  static const sh_spm_model* model = [] {
    const char* path = std::getenv("STAGEHAND_FUZZ_SPM_MODEL");
    if (!path) __builtin_trap();  // scripts/fuzz.sh sets it
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    std::string err;
    sh_spm_model* m = sh_spm_load(bytes.data(), bytes.size(), to_string, &err);
    if (!m) __builtin_trap();
    return m;
  }();
  return model;
}

void encode_and_check(const sh_spm_model* m, const std::string& text) {
  std::vector<Piece> pieces;
  std::string err;
  if (sh_spm_encode(m, text.data(), text.size(), to_pieces, &pieces, to_string, &err) != SH_SPM_OK) {
    if (err.empty()) __builtin_trap();  // a failure always says why
    return;
  }
  const int32_t vocab = sh_spm_vocab_size(m);
  std::vector<int32_t> ids;
  uint32_t last_begin = 0;
  for (const auto& p : pieces) {
    if (p.id < 0 || p.id >= vocab) __builtin_trap();
    if (p.begin > p.end || p.end > text.size() || p.begin < last_begin) __builtin_trap();
    last_begin = p.begin;
    std::string spelled;
    if (!sh_spm_id_to_piece(m, p.id, to_string, &spelled)) __builtin_trap();
    ids.push_back(p.id);
  }
  std::string decoded;
  err.clear();
  if (sh_spm_decode(m, ids.data(), ids.size(), to_string, &decoded, to_string, &err) != SH_SPM_OK && err.empty())
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool as_model = data[0] & 1;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (as_model) {
    std::string err;
    sh_spm_model* m = sh_spm_load(rest.data(), rest.size(), to_string, &err);
    if (!m) {
      if (err.empty()) __builtin_trap();
      return 0;
    }
    if (sh_spm_vocab_size(m) > 0) encode_and_check(m, "a short text to encode");
    sh_spm_free(m);
    return 0;
  }
  const sh_spm_model* m = albert();
  encode_and_check(m, rest);
  const std::string lowered = stagehand::spm::lowercase_utf8(rest);
  if (lowered.size() != rest.size()) __builtin_trap();
  encode_and_check(m, lowered);
  (void)sh_spm_piece_to_id(m, rest.data(), rest.size());
  (void)sh_spm_unk_id(m);
  return 0;
}
