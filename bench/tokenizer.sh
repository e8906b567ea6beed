#!/usr/bin/env bash
# bench/tokenizer.sh — common/tokenizer against Hugging Face's Rust tokenizer (BertTokenizerFast)
# on every sentence of SST-2 train, one thread each, on this machine in the same run.
# Prints both rates and the ratio; checks that both produced the same ids (checksum).
#   bash bench/tokenizer.sh [TSV] [REPEATS]        ($PYTHON: default .venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
tsv=${1:-data/cache/sst2/train.tsv}
repeats=${2:-5}
vocab_dir=data/cache/models/bert-base-uncased-vocab
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
[ -f "$tsv" ] && [ -f "$vocab_dir/vocab.txt" ] || { echo "error: $tsv or $vocab_dir/vocab.txt missing; run make (data/fetch.sh)" >&2; exit 1; }
make -s build/bench/tokenizer

field() { awk -v k="$1" '$1 == k { print $2 }'; }
c_out=$(build/bench/tokenizer "$vocab_dir/vocab.txt" "$tsv" "$repeats")
n=$(echo "$c_out" | field sentences)
c_ids=$(echo "$c_out" | field c_ids_per_s)
c_batches=$(echo "$c_out" | field c_batches_per_s)
echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)"
echo "data: $tsv ($n sentences), best of $repeats runs, one thread"
printf '  bertstep tokenize_dataset (word-piece ids)           : %9.0f sentences/s\n' "$c_ids"
printf '  bertstep tokenize_dataset + collate (batches of 32)  : %9.0f sentences/s\n' "$c_batches"
if ! py_out=$("$python" bench/tokenizer.py "$vocab_dir" "$tsv" "$repeats" 2>/dev/null); then
    echo "  (no baseline: $python cannot import transformers; pip install transformers)"
    exit 0
fi
rust=$(echo "$py_out" | field rust_encode_batch_per_s)
call=$(echo "$py_out" | field hf_call_per_s)
printf '  Rust tokenizers encode_batch (BertTokenizerFast)     : %9.0f sentences/s\n' "$rust"
printf '  transformers tokenizer(sentences)                    : %9.0f sentences/s\n' "$call"
awk -v c="$c_ids" -v r="$rust" -v h="$call" 'BEGIN { printf "ratio: bertstep / Rust encode_batch = %.1fx, bertstep / transformers call = %.1fx\n", c / r, c / h }'
if [ "$(echo "$c_out" | field checksum)" = "$(echo "$py_out" | field checksum)" ]; then echo "ids: identical (checksum $(echo "$c_out" | field checksum))"
else echo "ids: DIFFER (checksums $(echo "$c_out" | field checksum) vs $(echo "$py_out" | field checksum))"; exit 1; fi
