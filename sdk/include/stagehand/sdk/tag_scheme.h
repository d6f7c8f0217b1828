// SPDX-License-Identifier: Apache-2.0
#pragma once
// Chunk tags (BIO, IOB1, BIOES/IOBES) and the rules that turn a tag sequence into entities, used by the `ner`
// evaluator (which scores entities) and the `token_classification` dataset (which converts the tags of its files
// into the scheme the model is trained on). Header-only and free of LibTorch, so that the fuzz targets compile it
// without the SDK library.
//
// A tag is "O", or a prefix B, I, E or S, optionally followed by "-" and a type: "B-PER", "I-gene-protein" (the
// type is everything after the first '-'), "B" / "I" (untyped: one anonymous type, as BioBERT's NER files use).
//
// Entities follow the start/end-of-chunk rules of conlleval as seqeval implements them in its default mode (the
// one `seqeval.metrics.f1_score` uses without `mode="strict"`), which extends conlleval's B/I/O rules with E and S:
//   a chunk ENDS before the current tag when the previous tag is E or S; or the previous is B or I and the current
//     is B, S or O; or the previous is not O and its type differs from the current type;
//   a chunk STARTS at the current tag when it is B or S; or it is I or E and the previous is O, E or S; or it is
//     not O and its type differs from the previous type.
// So "O I-X" starts an entity at the I (IOB1 / conlleval behaviour), "B-X I-Y" is two entities, "B-X B-X" is two.
// The type of "O" counts as the empty string, like the type of an untyped tag: both compare equal, and the rules
// above never need to tell them apart (every X -> O transition is covered by a tag rule).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stagehand::ner {

struct Tag {
  char prefix = 'O';  ///< 'O', 'B', 'I', 'E' or 'S'
  std::string type;   ///< "" for O and for untyped tags
};

/// Parses a tag; false when `label` is not one (e.g. "PER", "U-X", "O-X", "").
inline bool parse_tag(std::string_view label, Tag& out) {
  if (label == "O") {
    out = Tag{};
    return true;
  }
  if (label.empty()) return false;
  const char p = label[0];
  if (p != 'B' && p != 'I' && p != 'E' && p != 'S') return false;
  if (label.size() == 1) {
    out = Tag{p, ""};
    return true;
  }
  if (label[1] != '-') return false;
  out = Tag{p, std::string(label.substr(2))};
  return true;
}

/// The label name of a tag: "O", "B-PER", or "B" for an untyped tag.
inline std::string tag_name(char prefix, const std::string& type) {
  if (prefix == 'O') return "O";
  return type.empty() ? std::string(1, prefix) : std::string(1, prefix) + "-" + type;
}

/// The type name used in per-type metric names: the type, or "_" for untyped entities (seqeval's name for them).
inline std::string type_display(const std::string& type) { return type.empty() ? "_" : type; }

inline bool end_of_chunk(char prev, char tag, const std::string& prev_type, const std::string& type) {
  if (prev == 'E' || prev == 'S') return true;
  if ((prev == 'B' || prev == 'I') && (tag == 'B' || tag == 'S' || tag == 'O')) return true;
  return prev != 'O' && prev_type != type;
}

inline bool start_of_chunk(char prev, char tag, const std::string& prev_type, const std::string& type) {
  if (tag == 'B' || tag == 'S') return true;
  if ((tag == 'I' || tag == 'E') && (prev == 'O' || prev == 'E' || prev == 'S')) return true;
  return tag != 'O' && prev_type != type;
}

/// An entity: its type and its first and last position (inclusive) in the tag sequence.
struct Chunk {
  std::string type;
  int64_t begin = 0;
  int64_t end = 0;
  bool operator==(const Chunk& o) const { return begin == o.begin && end == o.end && type == o.type; }
  bool operator<(const Chunk& o) const {
    if (begin != o.begin) return begin < o.begin;
    if (end != o.end) return end < o.end;
    return type < o.type;
  }
};

/// The entities of one tag sequence, as if an "O" followed it (so the last entity is closed). Positions are
/// offset by `offset` (to number several sentences in one sequence).
inline void append_chunks(const std::vector<Tag>& tags, int64_t offset, std::vector<Chunk>& out) {
  char prev = 'O';
  std::string prev_type;
  int64_t begin = 0;
  static const Tag kOutside{};
  const int64_t n = static_cast<int64_t>(tags.size());
  for (int64_t i = 0; i <= n; ++i) {
    const Tag& t = i < n ? tags[static_cast<size_t>(i)] : kOutside;
    if (end_of_chunk(prev, t.prefix, prev_type, t.type)) out.push_back(Chunk{prev_type, offset + begin, offset + i - 1});
    if (start_of_chunk(prev, t.prefix, prev_type, t.type)) begin = i;
    prev = t.prefix;
    prev_type = t.type;
  }
}

inline std::vector<Chunk> chunks_of(const std::vector<Tag>& tags) {
  std::vector<Chunk> out;
  append_chunks(tags, 0, out);
  return out;
}

enum class Scheme { Bio, Bioes };

/// Tags of a sequence of `n` positions holding `chunks` (non-overlapping, as chunks_of returns them) in a scheme:
/// BIO puts B- on an entity's first token and I- on the rest; BIOES puts S- on a one-token entity, and B-, I-...,
/// E- on longer ones.
inline std::vector<std::string> encode_chunks(const std::vector<Chunk>& chunks, int64_t n, Scheme scheme) {
  std::vector<std::string> out(static_cast<size_t>(n), "O");
  for (const Chunk& c : chunks) {
    for (int64_t i = c.begin; i <= c.end; ++i) {
      char p = i == c.begin ? 'B' : 'I';
      if (scheme == Scheme::Bioes) {
        if (c.begin == c.end)
          p = 'S';
        else if (i == c.end)
          p = 'E';
      }
      out[static_cast<size_t>(i)] = tag_name(p, c.type);
    }
  }
  return out;
}

}  // namespace stagehand::ner
