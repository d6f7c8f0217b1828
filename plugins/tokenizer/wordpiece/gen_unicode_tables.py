#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generates unicode_tables.inc: the character facts the wordpiece tokenizer needs.

Usage: python3 gen_unicode_tables.py [OUTPUT]   (default: unicode_tables.inc beside this script)

The reference is the Rust `tokenizers` library (BertNormalizer + BertPreTokenizer), not Python's
BertTokenizer. Rust mixes several Unicode versions, so Python's unicodedata (Unicode 14.0 in Python 3.11)
alone does not reproduce it. The tables below start from unicodedata and apply the differences that
tests/data/tokenizers/make_wordpiece_fixtures.js measured on every code point (its code point sweep is
the fixture that proves the result):

* control / punctuation / non-spacing-mark tests come from the `unicode_categories` crate, whose tables
  are Unicode 8.0: characters that became Cf, P* or Mn later are not treated as such (lists below);
  two characters changed category since (U+166D was Po, U+1734 was Mn, U+111C9 was Po).
* canonical decomposition and combining classes come from the `unicode-normalization-alignments` crate
  (an older Unicode): marks added since have class 0 there and U+11938 does not decompose.
* whitespace is Rust's `char::is_whitespace` (the White_Space property, stable).
* lower-casing is Rust's `char::to_lowercase` (full mapping, no final-sigma context; a newer Unicode than
  Python 3.11, hence the extra mappings below).
* Chinese characters use the fixed ranges of `tokenizers`' is_chinese_char, including its 0x2B920 start
  of CJK extension E (Python's BertTokenizer says 0x2B820).

Layout of the output: a two-stage table maps a code point to an index into kProps ({flags, ccc}); two
sorted tables give full decompositions and lower-case mappings (up to 4 and 3 code points) for the code
points whose flags say they have one. Hangul syllables are decomposed by arithmetic in the C++ code.
"""
import os
import sys
import unicodedata

MAX_CP = 0x110000
BLOCK = 128  # code points per second-stage block

# flag bits (mirrored in unicode_tables.h)
REMOVE, SPACE, PUNCT, MARK, DECOMP, LOWER, CJK = 1, 2, 4, 8, 16, 32, 64


def parse_ranges(text):
    out = set()
    for item in text.split():
        if '-' in item:
            a, b = item.split('-')
            out.update(range(int(a, 16), int(b, 16) + 1))
        else:
            out.add(int(item, 16))
    return out


# Characters that are Cf in Unicode 14 but not in the Unicode 8.0 tables of unicode_categories: kept.
NOT_CONTROL = parse_ranges('890-891 8E2 110CD 13430-13438')
# Characters that are P* in Unicode 14 but not in unicode_categories' tables: not split off.
NOT_PUNCT = parse_ranges(
    '61D 9FD A76 C77 C84 1B7D-1B7E 2E43-2E4F 2E52-2E5D 10EAD 10F55-10F59 10F86-10F89 1144B-1144F '
    '1145A-1145B 1145D 11660-1166C 116B9 1183B 11944-11946 119E2 11A3F-11A46 11A9A-11A9C 11A9E-11AA2 '
    '11C41-11C45 11C70-11C71 11EF7-11EF8 11FFF 12FF1-12FF2 16E97-16E9A 16FE2 1E95E-1E95F')
EXTRA_PUNCT = parse_ranges('166D 111C9')  # Po in unicode_categories' tables, So / Mn today
# Characters that are Mn in Unicode 14 but not in unicode_categories' tables: not stripped.
NOT_MARK = parse_ranges(
    '7FD 898-89F 8CA-8E1 9FE AFA-AFF B55 C04 C3C D00 D3B-D3C D81 EBA 180F 1885-1886 1ABF-1ACE 1DF6-1DFB '
    'A82C A8C5 A8FF A9BD 10D24-10D27 10EAB-10EAC 10F46-10F50 10F82-10F85 11070 11073-11074 110C2 111C9 '
    '111CF 1123E 1133B 11438-1143F 11442-11444 11446 1145E 1182F-11837 11839-1183A 1193B-1193C 1193E 11943 '
    '119D4-119D7 119DA-119DB 119E0 11A01-11A0A 11A33-11A38 11A3B-11A3E 11A47 11A51-11A56 11A59-11A5B '
    '11A8A-11A96 11A98-11A99 11C30-11C36 11C38-11C3D 11C3F 11C92-11CA7 11CAA-11CB0 11CB2-11CB3 11CB5-11CB6 '
    '11D31-11D36 11D3A 11D3C-11D3D 11D3F-11D45 11D47 11D90-11D91 11D95 11D97 11EF3-11EF4 16F4F 16FE4 '
    '1CF00-1CF2D 1CF30-1CF46 1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136 1E2AE '
    '1E2EC-1E2EF 1E944-1E94A')
EXTRA_MARK = parse_ranges('1734')  # Mn in unicode_categories' tables, Mc today
# Combining marks the normalization crate does not know (combining class 0 there).
CCC_ZERO = parse_ranges(
    '7FD 898-89F 8CA-8D3 9FE C3C D3B-D3C EBA 1715 1ABF-1ACE 1DF6-1DFA A82C 10D24-10D27 10EAB-10EAC '
    '10F46-10F50 10F82-10F85 11070 1133B 1145E 11839-1183A 1193D-1193E 11943 119E0 11A34 11A47 11A99 11D42 '
    '11D44-11D45 11D97 16FF0-16FF1 1E130-1E136 1E2AE 1E2EC-1E2EF')
NO_DECOMPOSITION = parse_ranges('11938')
# Lower-case mappings of characters newer than Python 3.11's Unicode 14.0 (Rust std knows them).
EXTRA_LOWER = {0x1C89: 0x1C8A, 0xA7CB: 0x0264, 0xA7CC: 0xA7CD, 0xA7CE: 0xA7CF, 0xA7D2: 0xA7D3,
               0xA7D4: 0xA7D5, 0xA7DA: 0xA7DB, 0xA7DC: 0x019B}
EXTRA_LOWER.update({cp: cp + 0x20 for cp in range(0x10D50, 0x10D66)})  # Garay
EXTRA_LOWER.update({cp: cp + 0x1B for cp in range(0x16EA0, 0x16EB9)})  # Beria Erfe

# White_Space (Rust char::is_whitespace); \t \n \r are whitespace for BERT as well.
WHITE_SPACE = parse_ranges('9-D 20 85 A0 1680 2000-200A 2028 2029 202F 205F 3000')
# tokenizers' is_chinese_char ranges
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_hangul_syllable(cp):
    return 0xAC00 <= cp <= 0xD7A3


def props_of(cp):
    if 0xD800 <= cp <= 0xDFFF:
        return (0, 0)  # never decoded from valid UTF-8; the decoder maps them to U+FFFD
    ch = chr(cp)
    cat = unicodedata.category(ch)
    flags = 0
    if cp in (0x9, 0xA, 0xD):
        flags |= SPACE
    elif cp == 0 or cp == 0xFFFD or cat in ('Cc', 'Co', 'Cs') or (cat == 'Cf' and cp not in NOT_CONTROL):
        flags |= REMOVE
    elif cp in WHITE_SPACE:
        flags |= SPACE
    ascii_punct = 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
    if ascii_punct or (cat.startswith('P') and cp not in NOT_PUNCT) or cp in EXTRA_PUNCT:
        flags |= PUNCT
    if (cat == 'Mn' and cp not in NOT_MARK) or cp in EXTRA_MARK:
        flags |= MARK
    if decomposition(cp) is not None or is_hangul_syllable(cp):
        flags |= DECOMP
    if lower(cp) is not None:
        flags |= LOWER
    if any(a <= cp <= b for a, b in CJK_RANGES):
        flags |= CJK
    ccc = 0 if cp in CCC_ZERO else unicodedata.combining(ch)
    return (flags, ccc)


def decomposition(cp):
    """Full canonical decomposition as a list of code points, or None."""
    if is_hangul_syllable(cp) or cp in NO_DECOMPOSITION or 0xD800 <= cp <= 0xDFFF:
        return None
    d = unicodedata.normalize('NFD', chr(cp))
    if d == chr(cp):
        return None
    return [ord(c) for c in d]


def lower(cp):
    if cp in EXTRA_LOWER:
        return [EXTRA_LOWER[cp]]
    if 0xD800 <= cp <= 0xDFFF:
        return None
    low = chr(cp).lower()
    if low == chr(cp):
        return None
    return [ord(c) for c in low]


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                    'unicode_tables.inc')
    prop_index = {(0, 0): 0}
    prop_list = [(0, 0)]
    blocks = {}
    block_list = []
    stage1 = []
    decomps = []
    lowers = []
    for base in range(0, MAX_CP, BLOCK):
        block = []
        for cp in range(base, base + BLOCK):
            p = props_of(cp)
            if p not in prop_index:
                prop_index[p] = len(prop_list)
                prop_list.append(p)
            block.append(prop_index[p])
            if p[0] & DECOMP and not is_hangul_syllable(cp):
                decomps.append((cp, decomposition(cp)))
            if p[0] & LOWER:
                lowers.append((cp, lower(cp)))
        key = tuple(block)
        if key not in blocks:
            blocks[key] = len(block_list)
            block_list.append(key)
        stage1.append(blocks[key])
    assert len(prop_list) <= 256, len(prop_list)
    assert len(block_list) <= 65535
    assert max(len(d) for _, d in decomps) <= 4
    assert max(len(l) for _, l in lowers) <= 3

    pool = []
    def intern(seq):
        pool_offset = len(pool)
        pool.extend(seq)
        return pool_offset

    lines = []
    w = lines.append
    w('// SPDX-License-Identifier: Apache-2.0')
    w('// Generated by gen_unicode_tables.py from Python %s unicodedata %s plus the documented Rust tokenizers'
      % (sys.version.split()[0], unicodedata.unidata_version))
    w('// differences. Do not edit: change the script and run it again.')
    w('// Second-stage blocks hold %d code points (kBlockShift in unicode_tables.h must match).' % BLOCK)
    w('')
    w('const CharProps kProps[%d] = {' % len(prop_list))
    for i in range(0, len(prop_list), 8):
        w('    ' + ' '.join('{%d, %d},' % p for p in prop_list[i:i + 8]))
    w('};')
    w('const uint16_t kStage1[%d] = {' % len(stage1))
    for i in range(0, len(stage1), 16):
        w('    ' + ' '.join('%d,' % x for x in stage1[i:i + 16]))
    w('};')
    w('const size_t kDecompositionCount = %d;' % len(decomps))
    w('const size_t kLowercaseCount = %d;' % len(lowers))
    flat = [x for b in block_list for x in b]
    w('const uint8_t kStage2[%d] = {' % len(flat))
    for i in range(0, len(flat), 32):
        w('    ' + ''.join('%d,' % x for x in flat[i:i + 32]))
    w('};')
    decomp_entries = [(cp, intern(d), len(d)) for cp, d in decomps]
    lower_entries = [(cp, intern(l), len(l)) for cp, l in lowers]
    w('const char32_t kPool[%d] = {' % len(pool))
    for i in range(0, len(pool), 12):
        w('    ' + ' '.join('0x%X,' % x for x in pool[i:i + 12]))
    w('};')
    w('const Mapping kDecompositions[%d] = {' % len(decomp_entries))
    for i in range(0, len(decomp_entries), 6):
        w('    ' + ' '.join('{0x%X, %d, %d},' % e for e in decomp_entries[i:i + 6]))
    w('};')
    w('const Mapping kLowercase[%d] = {' % len(lower_entries))
    for i in range(0, len(lower_entries), 6):
        w('    ' + ' '.join('{0x%X, %d, %d},' % e for e in lower_entries[i:i + 6]))
    w('};')
    with open(out_path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    print('%s: %d property classes, %d blocks, %d decompositions, %d lower-case mappings'
          % (out_path, len(prop_list), len(block_list), len(decomp_entries), len(lower_entries)))


if __name__ == '__main__':
    main()
