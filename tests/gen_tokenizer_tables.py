"""gen_tokenizer_tables.py — the Unicode tables of Hugging Face's Rust BERT tokenizer, for
common/text/tokenizer.c, and a per-code-point reference for tests/test_tokenizer.c.

BertNormalizer and BertPreTokenizer (the `tokenizers` library behind transformers'
BertTokenizer) classify characters with the `unicode_categories` crate, whose tables are those
of Unicode 8.0, while utf8proc (and Python) follow a recent Unicode. Characters assigned or
re-categorised since 8.0 would otherwise tokenize differently: e.g. U+2E5D (Pd since 14.0) is
not punctuation to the Rust tokenizer, U+0890 (Cf since 14.0) is not removed, U+1734 (Mn until
13.0) is still stripped. Its lower-casing, on the other hand, is Rust's char::to_lowercase
(Unicode 16), a little newer than utf8proc 2.8 (Unicode 15). So this script asks the installed
`tokenizers` about every code point, one stage at a time, and writes:

  common/text/tokenizer_tables.h     ranges of "other" (removed by clean_text), punctuation and
                                non-spacing marks as the Rust tokenizer sees them, plus the
                                lower-case mappings and decompositions where it differs from
                                utf8proc (read through ctypes from the libutf8proc the C code links)
  tests/fixtures/tokenizer/unicode.txt
                                for every block of 4096 code points, FNV-1a 64-bit hashes of the
                                full normalizer output (uncased and cased) and of the pre-token
                                class of each code point, so the C test checks all 1,111,998

Run: python3 tests/gen_tokenizer_tables.py   (needs `tokenizers`, ~20 s)"""
import ctypes
import os
import sys

import tokenizers
from tokenizers import normalizers, pre_tokenizers

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODEPOINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def bert_normalizer(clean=False, chinese=False, strip=False, lower=False):
    return normalizers.BertNormalizer(clean_text=clean, handle_chinese_chars=chinese, strip_accents=strip, lowercase=lower)


def ranges(cps):
    out = []
    for c in cps:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def fnv1a64(data, h=0xCBF29CE484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


# ---- utf8proc, the library the C code uses ----------------------------------------------------
lib = ctypes.CDLL("libutf8proc.so.2")
lib.utf8proc_tolower.restype = ctypes.c_int32
lib.utf8proc_tolower.argtypes = [ctypes.c_int32]
lib.utf8proc_NFD.restype = ctypes.c_void_p
lib.utf8proc_NFD.argtypes = [ctypes.c_char_p]
lib.utf8proc_version.restype = ctypes.c_char_p
libc = ctypes.CDLL(None)
libc.free.argtypes = [ctypes.c_void_p]


def utf8proc_nfd(s):
    p = lib.utf8proc_NFD(s.encode("utf-8"))
    out = ctypes.string_at(p).decode("utf-8")
    libc.free(p)
    return out


def utf8proc_lower(c):
    return "i\u0307" if c == 0x130 else chr(lib.utf8proc_tolower(c))  # as tokenizer.c's lower()


# ---- the Rust tokenizer, one stage at a time ----------------------------------------------------
clean = bert_normalizer(clean=True)
strip = bert_normalizer(strip=True)
lower = bert_normalizer(lower=True)
pre = pre_tokenizers.BertPreTokenizer()

other, punct, marks, lower_diff, nfd_diff = [], [], [], [], []
for c in CODEPOINTS:
    ch = chr(c)
    cleaned = clean.normalize_str(ch)
    if cleaned == "":
        other.append(c)
    if len(pre.pre_tokenize_str("a" + ch + "a")) == 3:
        punct.append(c)
    nfd = utf8proc_nfd(ch)
    stripped = strip.normalize_str(ch)
    if nfd == ch and stripped == "":
        marks.append(c)
    if c and nfd != ch and stripped == ch:  # a decomposition the Rust normalizer does not know
        nfd_diff.append(c)
    low = lower.normalize_str(ch)
    if low != utf8proc_lower(c):
        lower_diff.append((c, low))

# Canonical ordering (the last step of NFD) sorts combining marks by combining class; the Rust
# normalizer's table does not know the classes of marks newer than itself, so they stay in place
# (class 0). Only marks that strip_accents keeps matter. Each is put before an old mark of higher
# class (U+1D165, class 216) or after one of lower class (U+1B44, class 9): a swap means known.
lib.utf8proc_get_property.restype = ctypes.POINTER(ctypes.c_int16 * 2)  # category, combining_class
ccc = lambda c: lib.utf8proc_get_property(c).contents[1]  # noqa: E731
marks_set = set(marks)
ccc_zero = []
for c in CODEPOINTS:
    k = ccc(c)
    if k == 0 or c in marks_set or utf8proc_nfd(chr(c)) != chr(c):
        continue
    probe, swapped = ("\U0001D165" + chr(c), chr(c) + "\U0001D165") if k < 216 else (chr(c) + "\u1B44", "\u1B44" + chr(c))
    if strip.normalize_str(probe) != swapped:
        ccc_zero.append(c)

assert all(len(v) == 1 for _, v in lower_diff), "multi-character lower-case mappings need code in tokenizer.c"


def c_pairs(name, pairs, what):
    body = ",\n".join("    " + ", ".join(f"{{0x{a:X}, 0x{b:X}}}" for a, b in pairs[i:i + 6]) for i in range(0, len(pairs), 6))
    return f"// {what}: {len(pairs)}\nstatic const int32_t {name}[][2] = {{\n{body}\n}};\n"


tables = "\n".join([
    c_pairs("RUST_OTHER", ranges(other), "removed by clean_text (NUL, U+FFFD, Cc, Cf, Co; tab, LF, CR excluded), ranges"),
    c_pairs("RUST_PUNCT", ranges(punct), "split off by the pre-tokenizer (ASCII punctuation and Unicode 8.0 P*), ranges"),
    c_pairs("RUST_MARK_NONSPACING", ranges(marks), "dropped by strip_accents after NFD (Unicode 8.0 Mn), ranges"),
    c_pairs("RUST_NO_DECOMPOSITION", ranges(nfd_diff), "left whole by the Rust NFD (decompositions newer than its tables), ranges"),
    c_pairs("RUST_CCC_ZERO", ranges(ccc_zero), "combining class 0 for the Rust NFD (marks newer than its tables), ranges"),
    c_pairs("RUST_LOWER", [(c, ord(v)) for c, v in lower_diff], "Rust's char::to_lowercase where utf8proc's mapping differs, code point -> lower case"),
])
header = f"""// tokenizer_tables.h — generated by tests/gen_tokenizer_tables.py from Hugging Face `tokenizers`
// {tokenizers.__version__} and libutf8proc {lib.utf8proc_version().decode()}; do not edit. Included by common/text/tokenizer.c only.
//
// The Rust BERT tokenizer classifies characters with Unicode 8.0 category tables (the
// unicode_categories crate); these are those tables, so that characters added or re-categorised
// since then tokenize as they do in transformers. Lower-casing and NFD come from utf8proc, except
// for the few code points listed at the end, where utf8proc and the Rust tokenizer differ.
#pragma once
#include <stdint.h>

""" + tables
with open(os.path.join(ROOT, "common", "text", "tokenizer_tables.h"), "w") as f:
    f.write(header)

# ---- the per-code-point reference: the whole pipeline, uncased and cased -----------------------
uncased = bert_normalizer(clean=True, chinese=True, strip=None, lower=True)
cased = bert_normalizer(clean=True, chinese=True, strip=None, lower=False)
BLOCK = 4096
h_uncased, h_cased, h_class = [], [], []
for start in range(0, 0x110000, BLOCK):
    hu = hc = hp = 0xCBF29CE484222325
    for c in range(start, start + BLOCK):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        hu = fnv1a64(uncased.normalize_str(ch).encode("utf-8") + b"\n", hu)
        hc = fnv1a64(cased.normalize_str(ch).encode("utf-8") + b"\n", hc)
        k = {2: 0, 1: 1, 3: 2}.get(len(pre.pre_tokenize_str("a" + ch + "a")), 3)
        hp = fnv1a64(b"WOP?"[k:k + 1], hp)
    h_uncased.append(f"{hu:016x}")
    h_cased.append(f"{hc:016x}")
    h_class.append(f"{hp:016x}")
# Runs of combining marks exercise canonical ordering: 2000 random ones after an "a".
import random  # noqa: E402
rng = random.Random(0)
nonstarters = [c for c in CODEPOINTS if ccc(c) != 0]
runs = ["a" + "".join(chr(rng.choice(nonstarters)) for _ in range(rng.randint(2, 4))) for _ in range(2000)]
h_runs = 0xCBF29CE484222325
for r in runs:
    h_runs = fnv1a64(uncased.normalize_str(r).encode("utf-8") + b"\n", h_runs)
os.makedirs(os.path.join(ROOT, "tests", "fixtures", "tokenizer"), exist_ok=True)
write_fixture(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "unicode.txt"),
              {"block": [str(BLOCK)], "uncased": h_uncased, "cased": h_cased, "pretokenize": h_class,
               "mark_runs": ["-".join(f"{ord(c):x}" for c in r) for r in runs], "mark_runs_uncased": [f"{h_runs:016x}"]},
              header="""generated by tests/gen_tokenizer_tables.py with the Hugging Face tokenizers library
for each block of 4096 code points (surrogates skipped): FNV-1a 64 of
  uncased / cased: BertNormalizer(clean_text, handle_chinese_chars, lowercase=True/False) of each
                   code point alone, as UTF-8, each followed by a newline
  pretokenize:     one letter per code point: BertPreTokenizer on "a" + c + "a" gives 2 words (W,
                   c is whitespace), 1 (O, part of the word), 3 (P, punctuation)
mark_runs: "a" and 2-4 random combining characters (hex code points joined by -);
mark_runs_uncased: FNV-1a 64 of their uncased normalizer outputs, each followed by a newline""")
print(f"wrote common/text/tokenizer_tables.h ({len(ranges(other))} + {len(ranges(punct))} + {len(ranges(marks))} ranges, "
      f"{len(nfd_diff)} decompositions, {len(ccc_zero)} combining classes, {len(lower_diff)} lower-case mappings) and tests/fixtures/tokenizer/unicode.txt")
