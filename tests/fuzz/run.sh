#!/usr/bin/env bash
# run.sh NAME SECONDS — fuzz build/fuzz/fuzz_NAME with libFuzzer for SECONDS (one job; the machine
# is shared). Seeds: the committed corpus tests/fuzz/corpus/NAME/, the kept crash inputs
# tests/fuzz/regressions/NAME/, and slices of the real downloaded files in data/cache/ when they
# are there (never committed). New interesting inputs go to build/fuzz/corpus/NAME/, crashes to
# build/fuzz/crashes/; the last lines of the log (execs, coverage) are printed for RESULTS.md.
set -euo pipefail
name=$1 secs=$2
bin=build/fuzz/fuzz_$name work=build/fuzz/corpus/$name seeds=build/fuzz/seeds/$name
mkdir -p "$work" "$seeds" build/fuzz/crashes
take() { [ -f "$2" ] && head -c "$1" "$2" > "$seeds/$(echo "$2" | tr / _)" || true; }
case $name in
    tsv) for f in data/cache/sst2/dev.tsv data/cache/sst5/dev.tsv data/cache/trec/test.tsv; do take 4096 "$f"; done ;;
    safetensors) take 65536 data/cache/models/all-MiniLM-L6-v2/model.safetensors ;;   # the whole header, part of the data
    config|trainer_state|bert_config) take 65536 data/cache/models/all-MiniLM-L6-v2/config.json ;;
    vocab) take 65536 data/cache/models/bert-base-uncased-vocab/vocab.txt ;;
    tokenizer) for f in data/cache/sst2/dev.tsv data/cache/trec/test.tsv; do take 2048 "$f"; done ;;
esac
dirs=("$work" "$seeds")
for d in tests/fuzz/corpus/$name tests/fuzz/regressions/$name; do [ -d "$d" ] && dirs+=("$d"); done
log=build/fuzz/$name.log
echo "fuzz: $name for ${secs}s (log: $log)"
"$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/crashes/$name-" "${dirs[@]}" > "$log" 2>&1 || { tail -n 60 "$log"; exit 1; }
grep -E '^(#[0-9]+[[:space:]]+DONE|Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log"
