"""bench/tokenizer.py — the baseline of bench/tokenizer.sh: Hugging Face's BertTokenizer (in
transformers 5 the same class as BertTokenizerFast, the Rust `tokenizers` library) over every
sentence of a TSV, one thread (TOKENIZERS_PARALLELISM=false), best of REPEATS runs:
  rust_encode_batch: tokenizer.backend_tokenizer.encode_batch(sentences): the Rust call alone
                     (ids, type ids, attention masks, offsets; no padding)
  hf_call:           tokenizer(sentences): the usual transformers call (the same, returned as
                     Python lists)
and the FNV-1a 64 checksum of the ids, as bench/tokenizer.c computes it.
Usage: python bench/tokenizer.py VOCAB_DIR TSV [REPEATS]"""
import os
import sys
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
from transformers import BertTokenizer  # noqa: E402


def main():
    vocab_dir, tsv = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with open(tsv, "rb") as f:
        rows = [line.rstrip(b"\r").decode("utf-8").split("\t") for line in f.read().split(b"\n") if line]
    col = rows[0].index("sentence")
    sentences = [r[col] for r in rows[1:]]
    tok = BertTokenizer.from_pretrained(vocab_dir)
    best_rust = best_call = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        tok.backend_tokenizer.encode_batch(sentences)
        t1 = time.perf_counter()
        ids = tok(sentences)["input_ids"]
        t2 = time.perf_counter()
        best_rust, best_call = min(best_rust, t1 - t0), min(best_call, t2 - t1)
    h = 0xCBF29CE484222325
    for b in "".join(" ".join(map(str, x)) + "\n" for x in ids).encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    print(f"sentences {len(sentences)}")
    print(f"rust_encode_batch_per_s {len(sentences) / best_rust:.0f}")
    print(f"hf_call_per_s {len(sentences) / best_call:.0f}")
    print(f"checksum {h:016x}")


if __name__ == "__main__":
    main()
