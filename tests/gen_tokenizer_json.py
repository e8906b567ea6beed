"""gen_tokenizer_json.py — checkpoints with tokenizer.json and no vocab.txt, as transformers 5
saves them, and the ids transformers gives, for tests/test_tokenizer.c.

AutoTokenizer.save_pretrained in transformers 5 writes tokenizer.json and tokenizer_config.json
only. For bert-base-uncased and all-MiniLM-L6-v2 the normalizer it writes is a plain
{"type": "BertNormalizer", ...} and the pre-tokenizer {"type": "BertPreTokenizer"}. The vocab here
is tiny (the directories are committed), built to exercise what tokenizer.json carries: the
WordPiece vocab with [UNK] not at id 1, lower-casing, accent stripping and CJK splitting switched
on and off, a normalizer wrapped in a Sequence (as other tools write it) and a BPE tokenizer.json
that must be refused.

Writes, under tests/fixtures/tokenizer_json/:
  <config>/tokenizer.json, <config>/tokenizer_config.json   (save_pretrained's files)
  bpe/tokenizer.json                                         (a byte-level BPE model)
  sentences.txt   the sentences, one per line
  ids.txt         <config>_<i>: AutoTokenizer.from_pretrained(<config>)(sentence i)["input_ids"]
  tiny-bert-v5/   tests/fixtures/trainer/tiny-bert-cls as transformers 5 saves it (config.json,
                  model.safetensors, tokenizer.json, tokenizer_config.json; no vocab.txt), for the
                  trainer's tests and lesson 16's explainer (run after gen_trainer_hf.py)
Run: python3 tests/gen_tokenizer_json.py   (needs transformers 5 and tokenizers)"""
import os
import shutil
import sys
import tempfile

import tokenizers
import transformers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import AutoTokenizer, BertTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer_json")

WORDS = ("the a an is it was not good bad movie film hello world cafe café naive résumé un ##believ ##able "
         "##s ##ing ##ed Hello World The Movie Café CAFE 中 文 日 本 词 ! , . ? ' - ( ) : ; 0 1 2 3 "
         "angstrom ##strom ang Å å é e ##é ##e zoe zoë ü u").split()
SENTENCES = [
    "Hello World! The movie was not good.",
    "Café naïve résumé — Ångström, Zoë.",
    "unbelievable films, unbelievably bad movies",
    "中文 and 日本词 mixed中文words",
    "[CLS] hello [SEP] world [MASK] [PAD] [UNK]",
    "CAFE cafe Cafe cafe\u0301 e\u0301",
    "tabs\tand\nnewlines\u200b zero\u00a0width",
    "x" * 120 + " long word",
]
# config name -> BertTokenizer keyword arguments
CONFIGS = {
    "uncased": {},
    "cased": {"do_lower_case": False},
    "cased_strip_nocjk": {"do_lower_case": False, "strip_accents": True, "tokenize_chinese_chars": False},
    "uncased_keep_accents": {"do_lower_case": True, "strip_accents": False},
}


def vocab_lines():
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    specials_late = ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    lines = ["[PAD]"] + [f"[unused{i}]" for i in range(3)] + specials_late
    for w in chars + ["##" + c for c in chars] + WORDS:
        if w not in lines:
            lines.append(w)
    return lines


def save(name, kwargs, vocab_file):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    BertTokenizer(vocab_file, **kwargs).save_pretrained(d)
    assert sorted(os.listdir(d)) == ["tokenizer.json", "tokenizer_config.json"], os.listdir(d)
    return d


def sequence_wrapped(src):
    """The uncased tokenizer.json with its normalizer and pre-tokenizer inside a Sequence."""
    d = os.path.join(OUT, "sequence")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    tok = Tokenizer.from_file(os.path.join(src, "tokenizer.json"))
    tok.normalizer = normalizers.Sequence([normalizers.BertNormalizer(lowercase=True)])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer()])
    tok.save(os.path.join(d, "tokenizer.json"))
    shutil.copy(os.path.join(src, "tokenizer_config.json"), d)
    return d


def bpe():
    d = os.path.join(OUT, "bpe")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    tok = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "ab": 2}, merges=[("a", "b")]))
    tok.save(os.path.join(d, "tokenizer.json"))


def tiny_bert_v5():
    """tiny-bert-cls saved again by transformers 5's save_pretrained: no vocab.txt."""
    src = os.path.join(ROOT, "tests", "fixtures", "trainer", "tiny-bert-cls")
    d = os.path.join(OUT, "tiny-bert-v5")
    shutil.rmtree(d, ignore_errors=True)
    AutoTokenizer.from_pretrained(src).save_pretrained(d)
    for f in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(src, f), d)
    assert not os.path.exists(os.path.join(d, "vocab.txt"))


def main():
    os.makedirs(OUT, exist_ok=True)
    ids = {}
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = os.path.join(tmp, "vocab.txt")
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.write("\n".join(vocab_lines()) + "\n")
        dirs = {name: save(name, kw, vocab_file) for name, kw in CONFIGS.items()}
    dirs["sequence"] = sequence_wrapped(dirs["uncased"])
    bpe()
    tiny_bert_v5()
    for name, d in dirs.items():
        t = AutoTokenizer.from_pretrained(d)
        for i, s in enumerate(SENTENCES):
            ids[f"{name}_{i}"] = t(s)["input_ids"]
    with open(os.path.join(OUT, "sentences.txt"), "w", encoding="utf-8") as f:
        for s in SENTENCES:
            f.write(s.replace("\t", "\\t").replace("\n", "\\n") + "\n")
    write_fixture(os.path.join(OUT, "ids.txt"), ids,
                  f"ids of sentences.txt (\\t \\n unescaped) by AutoTokenizer.from_pretrained(<config>)\n"
                  f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    print(f"wrote {len(ids)} id lists under {OUT}")


if __name__ == "__main__":
    main()
