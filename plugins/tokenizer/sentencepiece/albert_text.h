// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What Hugging Face's AlbertTokenizer (the Python one, transformers 4.30) does to a text around SentencePiece, for
/// the `sentencepiece` tokenizer's options remove_space, keep_accents, albert_quirks and special_tokens_in_text:
///   - special tokens typed in the text ([CLS], [SEP], [MASK], <pad>, <unk>) are kept whole, the longest match first,
///     a token with lstrip taking the white space on its left ([MASK]: AddedToken(lstrip=True));
///   - preprocess_text: remove_space strips the text and joins its words with single spaces; `` and '' become ";
///     keep_accents false decomposes (NFKD) and drops combining marks; lowercase (do_lower_case) last;
///   - after SentencePiece, a piece ending in a digit and a comma ("9,") is encoded again without the comma and the
///     comma appended as its own piece (AlbertTokenizer._tokenize).
/// Normalising keeps, for every byte of the result, the byte of the original text it came from, so that piece
/// offsets point into the original text.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stagehand::spm {

struct TextOptions {
  bool lowercase = false;
  bool remove_space = false;
  bool keep_accents = true;
  bool albert_quirks = false;  ///< `` and '' -> ", and the digit-comma re-split
};

/// A normalised text and, for each of its bytes, the span of the original text it came from (a space that
/// remove_space put between words: an empty span at the next word).
struct Normalized {
  std::string text;
  std::vector<uint32_t> begin, end;
};

/// `text` (the original bytes from `base` on) normalised as AlbertTokenizer's preprocess_text does.
Normalized normalize(std::string_view text, uint32_t base, const TextOptions& options);

/// A piece of the text between special tokens, or a special token itself.
struct Segment {
  uint32_t begin = 0, end = 0;  ///< bytes of the original text
  int special = -1;             ///< index into the special tokens, -1 for text
};

/// Splits `text` at the special tokens it holds (leftmost, then longest); the text before a token whose `lstrip`
/// is set loses its trailing white space.
std::vector<Segment> split_special(std::string_view text, const std::vector<std::string>& tokens,
                                   const std::vector<bool>& lstrip);

/// Whether a SentencePiece piece ends in a digit and a comma ("9,", "▁1,"): AlbertTokenizer encodes it again.
bool digit_comma(std::string_view piece);

}  // namespace stagehand::spm
