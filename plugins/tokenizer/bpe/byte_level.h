// SPDX-License-Identifier: Apache-2.0
#pragma once
// The byte-level parts of GPT-2's tokenizer, dependency-free: code point classes, UTF-8 decoding, the
// pre-tokenizing regex (by hand, over code points) and the byte <-> symbol mapping.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stagehand::bpe {

/// What GPT-2's regex asks of a code point: \p{L}, \p{N}, \s, or none of them.
enum class CodepointClass : uint8_t { kLetter, kNumber, kSpace, kOther };

/// The class of `cp` as Hugging Face tokenizers' regex engine has it (codepoint_classes.inc).
CodepointClass codepoint_class(char32_t cp);

/// One code point of a text: its value, where its bytes start, how many there are, its class. A byte that
/// is not part of valid UTF-8 is a "code point" of its own (length 1, class other).
struct Char {
  char32_t cp = 0;
  uint32_t begin = 0;
  uint32_t len = 0;  ///< 0 for the space add_prefix_space puts before a text (no byte of the text)
  CodepointClass cls = CodepointClass::kOther;
};

/// Appends the code points of text[begin, end) to `out` (offsets relative to `text`).
void decode_utf8(std::string_view text, uint32_t begin, uint32_t end, std::vector<Char>& out);

/// GPT-2's pre-tokenizing regex
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// over chars[first, last): appends each match as a [begin, end) range of indices into `chars`.
void split_gpt2(const std::vector<Char>& chars, size_t first, size_t last,
                std::vector<std::pair<uint32_t, uint32_t>>& out);

/// GPT-2's bytes_to_unicode: the printable bytes ! .. ~, ¡ .. ¬ and ® .. ÿ stand for themselves, every
/// other byte (in increasing order) for U+0100, U+0101, ... (the space is U+0120 'Ġ').
const std::array<char32_t, 256>& byte_to_symbol();
/// The UTF-8 spelling of `bytes` in byte symbols ("Ġworld" for " world").
std::string symbols_of(std::string_view bytes);
/// The inverse: the bytes a token spelled in byte symbols stands for; false when a character of `token` is
/// not a byte symbol (e.g. "<s>").
bool bytes_of(std::string_view token, std::string& out);
/// UTF-8 with every ill-formed sequence replaced by U+FFFD (one per maximal ill-formed part, as Rust's
/// String::from_utf8_lossy does).
std::string lossy_utf8(std::string_view bytes);
/// The UTF-8 bytes of one code point.
void append_utf8(char32_t cp, std::string& out);

}  // namespace stagehand::bpe
