#!/usr/bin/env bash
# valgrind.sh BUILD_DIR [LESSON...] — every lesson's default run (or the lessons named) under
# valgrind memcheck: any invalid read/write, use of uninitialised memory, or a definite/indirect
# leak makes the run fail. `make valgrind` builds BUILD_DIR without -march=native (valgrind does
# not decode AVX-512) and calls this. Summaries go to stdout, full logs to BUILD_DIR/valgrind/.
set -euo pipefail
dir=$1; shift
mkdir -p "$dir/valgrind"
lessons=("$@")
[ ${#lessons[@]} -gt 0 ] || lessons=($(ls "$dir" | grep -E '^[0-9]{2}_' || true))
fail=0
for name in "${lessons[@]}"; do
    log=$dir/valgrind/$name.log
    start=$(date +%s)
    if valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 --log-file="$log" "$dir/$name" > /dev/null 2>&1; then status=ok; else status="FAILED (exit $?)"; fail=1; fi
    printf '%-32s %s in %ss: %s; %s\n' "$name" "$status" "$(( $(date +%s) - start ))" \
        "$(grep -o 'ERROR SUMMARY: [0-9]* errors' "$log")" \
        "$(grep -E 'definitely lost:|in use at exit:' "$log" | sed 's/^==[0-9]*== *//' | paste -sd';' -)"
done
exit $fail
