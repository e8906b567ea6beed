"""gen_tokenizer.py — reference ids from Hugging Face transformers' BertTokenizer for
tests/test_tokenizer.c.

In transformers 5, BertTokenizer and BertTokenizerFast are one class (the Rust `tokenizers`
pipeline); the pure-Python tokenizer of transformers 4 survives as BertTokenizerLegacy. The C
tokenizer matches BertTokenizer; where the legacy one differs on the hard set, this script says so.
No cased BERT vocab is available offline, so "cased" means do_lower_case=False on the uncased
vocab (BertTokenizer(vocab, do_lower_case=False)): the same code paths as a cased checkpoint.

Writes, under tests/fixtures/tokenizer/:
  hard.txt   the hard set, one sentence per line (UTF-8; control characters included)
  ids.txt    hard_<mode>_<i>: the ids of line i with [CLS]/[SEP] (mode uncased or cased);
             invalid_<i>_bytes / invalid_<i>_ids: byte strings that are not UTF-8 (as hex) and
             their ids after bytes.decode("utf-8", errors="replace");
             <set>_<mode>: per block of 16 lines of a data set's sentence column, FNV-1a 64 of
             the lines as `build/07_tokenizer --ids_only` prints them ("101 7592 102\\n" ...),
             and <set>_<mode>_first: the first line's ids in full;
             enc<k>_*: batches with pairs, truncation (longest_first), padding right/left, to
             the longest or to max_length, pad_to_multiple_of: options and the three (B,T) arrays;
             gbl_*: transformers' get_length_grouped_indices for given lengths and permutation.
Run: python3 tests/gen_tokenizer.py   (needs transformers; data sets from
data/fetch.sh; about a minute)"""
import os
import random
import sys

import torch
from transformers import BertTokenizer
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
from transformers.trainer_pt_utils import get_length_grouped_indices

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
VOCAB_DIR = os.path.join(ROOT, "data", "cache", "models", "bert-base-uncased-vocab")
VOCAB = os.path.join(VOCAB_DIR, "vocab.txt")
DATASETS = ["sst2/train", "sst2/dev", "sst5/train", "sst5/dev", "sst5/test", "trec/train", "trec/test"]
CHUNK = 16

HARD = [
    # accents and combining marks
    "Café naïve résumé façade jalapeño Ångström Zoë Brontë",
    "ÀÁÂÃÄÅ àáâãäå ÈÉÊË èéêë Ññ Çç Øø Łł Đđ",
    "cafe\u0301 n\u0303o e\u0301\u0302\u0323 a\u0308\u0304 o\u031b\u0301",
    "\u1e9b\u0323 q\u0307\u0323 \u0344 \u0f73 \u0958",
    "Ὀδυσσεύς ΟΔΥΣΣΕΥΣ Σίσυφος ΣΊΣΥΦΟΣ ὁ λόγος",
    "İstanbul ISTANBUL ıi Iİ",
    "Straße STRASSE ẞ ß",
    "ǅungla Ǆ ǆ ǈ Ǉ",
    # Vietnamese (precomposed and decomposed)
    "Tiếng Việt có dấu: Hà Nội, Thành phố Hồ Chí Minh, người Việt Nam.",
    "ƯỚC MƠ CỦA TÔI LÀ ĐI KHẮP THẾ GIỚI",
    "Vie\u0302\u0323t Nam ngu\u031b\u01a1\u0300i",
    # Devanagari and other Indic scripts
    "हिन्दी भाषा का इतिहास बहुत पुराना है।",
    "नमस्ते दुनिया! क़िला ज़रूर फ़िल्म",
    "தமிழ் மொழி বাংলা ভাষা ગુજરાતી ਪੰਜਾਬੀ",
    "संस्कृतम् ॐ ०१२३४५६७८९",
    # CJK, kana, Hangul
    "中文分词测试：我爱北京天安门。",
    "日本語のテキスト、カタカナとひらがなと漢字。",
    "한국어 텍스트 처리 안녕하세요 세계",
    "ＦＵＬＬＷＩＤＴＨ ａｓｃｉｉ １２３ ｶﾀｶﾅ",
    "\uf900\uf9ff\ufa6d compatibility ideographs",
    "\U00020000\U00020001 ext B \U0002a700 ext C \U0002b740 ext D",
    "\U0002b81f\U0002b820\U0002b91f\U0002b920 ext E boundary",
    "x\U0002b820y z\U0002b920w ext E inside words",
    "mixed中文and英文words",
    # emoji and flags
    "I love it 😀😂👍🏽 so much!!!",
    "flags 🇺🇸🇫🇷🇯🇵 🏳️\u200d🌈 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "family 👨\u200d👩\u200d👧\u200d👦 keycap 1\ufe0f\u20e3 heart ❤️ ❤",
    "🥲 🫠 🪿 newer emoji",
    # zero-width, non-breaking and other spaces
    "zero\u200bwidth space",
    "non\u00a0breaking\u00a0space and narrow\u202fnbsp",
    "\u200c\u200d joiners \u2060word joiner\u2060",
    "\ufeffBOM at the start",
    "ideographic\u3000space en\u2002em\u2003thin\u2009hair\u200a",
    "line\u2028separator paragraph\u2029separator",
    "soft\u00adhyphen",
    "ogham\u1680space mongolian\u180evowel",
    # control characters
    "tab\there and\ttabs",
    "bell\x07char escape\x1b[31mred\x1b[0m",
    "carriage\rreturn",
    "vertical\x0btab form\x0cfeed",
    "del\x7fchar nul\x00byte",
    "\x85NEL \x80\x9f C1",
    "\ufffdreplacement\ufffd char",
    "private \ue000\uf8ff use \U000f0000",
    "tags \U000e0001\U000e0041 end",
    "unassigned \u0378 \U0001fffe",
    # ligatures
    "ﬁnance ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ",
    "æther œuvre ÆSOP ŒUVRE ĳ Ĳ",
    "ſ long s ʼn",
    # curly quotes, dashes, symbols
    "“Hello,” she said — ‘it’s fine’… «guillemets» „German“",
    "don’t won’t it’s ‘quoted’",
    "dashes — – ‐ ‑ ‒ ― ⸺",
    "• · ° ± × ÷ § ¶ † ‡ ‰",
    "€10 £5 ¥100 ₹50 $3 ¢ ₿",
    "™ ® © ℠ № ℃ ℉",
    "∑∫√∞≠≤≥ 𝐀𝐁𝐂 𝕏 𝄞",
    # very long words
    "a" * 99,
    "a" * 100,
    "a" * 101,
    "é" * 100,
    "é" * 101,
    "supercalifragilisticexpialidocious" * 3,
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 300 + " end",
    "1234567890" * 12,
    "-".join(["ab"] * 60),
    "長" * 120,
    # URLs, e-mail, numbers
    "https://www.example.com/path/to/page?query=1&b=2#frag",
    "mailto:user.name+tag@example.co.uk",
    "3.14159 1,000,000 -42 +7 1e-9 0x1F 50% $19.99 12:30pm 2024-01-15",
    "C++ C# .NET node.js v1.2.3 #hashtag @mention",
    "I.B.M. U.S.A. e.g. i.e. etc.",
    "can't won't shouldn't've y'all",
    # empty and whitespace-only lines
    "",
    " ",
    "\t",
    "   \t  ",
    "\u3000",
    "\u00a0",
    "\u200b",
    "\x00",
    # special tokens in the text
    "[CLS] hello [SEP] world [PAD][MASK][UNK]",
    "[cls] [sep] lower case is not special",
    "hello[SEP]world [SEP [SEP]] [[MASK]]",
    "[MASK]ed [UNK]nown",
    # other scripts
    "مرحبا بالعالم، كيف حالك؟",
    "שָׁלוֹם עוֹלָם",
    "ภาษาไทยไม่มีช่องว่าง",
    "Привет, МИР! Ёлка ёжик",
    "Բարեւ ქართული ამჰარኛ",
    # characters whose Unicode category changed after 8.0 (the Rust tokenizer's tables)
    "new punct \u2e5d \U00010ead \u2e43 \u061d",
    "new format \u0890 \u08e2 \U000110cd",
    "old marks \u1734 \U00011938 \u0c3c",
    "Glagolitic a\U0001e028\u302e",
    # upper case and mixed case
    "HELLO WORLD McDonald's iPhone",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "it 's a charming and often affecting journey . ",
]

INVALID = [b"caf\xe9 latin-1", b"\xff\xfe bad start", b"trunc \xe2\x82", b"trunc \xe2\x82A",
           b"overlong \xc0\xaf", b"surrogate \xed\xa0\x80", b"too big \xf4\x90\x80\x80", b"\x80 stray continuation"]


def fnv1a64(data, h=0xCBF29CE484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def read_sentences(path):
    """The sentence column as common/text/dataset.c reads a TSV: lines split on \\n, a trailing \\r
    dropped, blank lines skipped, fields split on tabs, a header row."""
    with open(path, "rb") as f:
        rows = [line.rstrip(b"\r").decode("utf-8") for line in f.read().split(b"\n")]
    rows = [r.split("\t") for r in rows if r]
    col = rows[0].index("sentence")
    return [r[col] for r in rows[1:]]


def ids_line(ids):
    return " ".join(map(str, ids)) + "\n"


def main():
    for c in HARD:
        assert "\n" not in c
    with open(os.path.join(OUT, "hard.txt"), "wb") as f:
        for line in HARD:
            f.write(line.encode("utf-8") + b"\n")

    toks = {"uncased": BertTokenizer.from_pretrained(VOCAB_DIR),
            "cased": BertTokenizer.from_pretrained(VOCAB_DIR, do_lower_case=False)}
    legacy = {"uncased": BertTokenizerLegacy(VOCAB), "cased": BertTokenizerLegacy(VOCAB, do_lower_case=False)}
    out = {"hard_lines": [len(HARD)], "invalid_count": [len(INVALID)]}
    differ = []
    for mode, tok in toks.items():
        for i, line in enumerate(HARD):
            ids = tok(line)["input_ids"]
            out[f"hard_{mode}_{i}"] = ids
            if legacy[mode](line)["input_ids"] != ids:
                differ.append(f"{mode} line {i + 1}: {line!r}")
    for i, b in enumerate(INVALID):
        out[f"invalid_{i}_bytes"] = [f"{x:02x}" for x in b]
        out[f"invalid_{i}_ids"] = toks["uncased"](b.decode("utf-8", errors="replace"))["input_ids"]

    for name in DATASETS:
        path = os.path.join(ROOT, "data", "cache", name + ".tsv")
        sentences = read_sentences(path)
        key = name.replace("/", "_")
        out[f"{key}_lines"] = [len(sentences)]
        for mode, tok in toks.items():
            all_ids = tok(sentences)["input_ids"]
            hashes = []
            for s in range(0, len(all_ids), CHUNK):
                hashes.append(f"{fnv1a64(''.join(ids_line(x) for x in all_ids[s:s + CHUNK]).encode()):016x}")
            out[f"{key}_{mode}"] = hashes
            out[f"{key}_{mode}_first"] = all_ids[0]
        print(f"{name}: {len(sentences)} lines")

    # batches: pairs of hard lines, truncation and padding choices
    rng = random.Random(0)
    tok = toks["uncased"]
    cases = [  # (max_length, padding, pad_to_multiple_of, padding_side, pairs)
        (0, "longest", 0, "right", False), (16, "longest", 0, "right", False), (16, "max_length", 0, "left", False),
        (16, "longest", 8, "left", False), (16, "longest", 0, "right", True), (24, "max_length", 0, "right", True),
        (9, "longest", 0, "left", True), (40, "longest", 8, "right", True), (0, "longest", 0, "left", True),
        (64, "max_length", 0, "left", True),
    ]
    no_nul = [i for i, line in enumerate(HARD) if "\x00" not in line]  # C strings in the test
    for k, (max_length, padding, multiple, side, pairs) in enumerate(cases):
        a = rng.sample(no_nul, 6)
        b = rng.sample(no_nul, 6) if pairs else None
        tok.padding_side = side
        enc = tok([HARD[i] for i in a], [HARD[i] for i in b] if pairs else None, padding=padding,
                  truncation="longest_first" if max_length else False, max_length=max_length or None,
                  pad_to_multiple_of=multiple or None, return_token_type_ids=True, return_attention_mask=True)
        out[f"enc{k}_options"] = [max_length, padding == "max_length", multiple, side == "left", pairs]
        out[f"enc{k}_a"] = a
        if pairs:
            out[f"enc{k}_b"] = b
        out[f"enc{k}_shape"] = [len(enc["input_ids"]), len(enc["input_ids"][0])]
        for field in ("input_ids", "token_type_ids", "attention_mask"):
            out[f"enc{k}_{field}"] = [v for row in enc[field] for v in row]
    out["enc_count"] = [len(cases)]
    tok.padding_side = "right"

    # group_by_length with a given permutation (torch.randperm replaced by it)
    g = random.Random(1)
    for k, (n, batch) in enumerate([(1000, 8), (37, 4), (5000, 32)]):
        lengths = [g.randint(3, 60) for _ in range(n)]
        perm = list(range(n))
        g.shuffle(perm)
        real_randperm = torch.randperm
        torch.randperm = lambda size, generator=None: torch.tensor(perm)  # noqa: E731, B023
        order = get_length_grouped_indices(lengths, batch)
        torch.randperm = real_randperm
        out[f"gbl{k}_batch"] = [batch]
        out[f"gbl{k}_lengths"] = lengths
        out[f"gbl{k}_perm"] = perm
        out[f"gbl{k}_order"] = order
    out["gbl_count"] = [3]

    note = "\n".join(differ) if differ else "(none)"
    write_fixture(os.path.join(OUT, "ids.txt"), out, header=f"""generated by tests/gen_tokenizer.py with transformers' BertTokenizer (= BertTokenizerFast)
on data/cache/models/bert-base-uncased-vocab/vocab.txt; cased = do_lower_case=False on that vocab.
Hard lines where the legacy Python BertTokenizerLegacy gives other ids:
{note}""")
    print("legacy BertTokenizerLegacy differs on:\n  " + "\n  ".join(differ))


if __name__ == "__main__":
    main()
