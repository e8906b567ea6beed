#!/usr/bin/env bash
# replay.sh DIR — run every fuzz target built in DIR (by tests/fuzz/replay.c) on its seed corpus
# tests/fuzz/corpus/<name>/ and its kept crash inputs tests/fuzz/regressions/<name>/.
set -euo pipefail
dir=$1
for bin in "$dir"/fuzz_*; do
    name=${bin##*/fuzz_}
    inputs=()
    for d in tests/fuzz/corpus/$name tests/fuzz/regressions/$name; do [ -d "$d" ] && inputs+=("$d"); done
    [ ${#inputs[@]} -gt 0 ] || { echo "error: no corpus for fuzz target $name (tests/fuzz/corpus/$name)" >&2; exit 1; }
    "$bin" "${inputs[@]}"
done
