#!/usr/bin/env bash
# scripts/lesson_times.sh — time each lesson's default command, for the README's lesson table.
#
#   bash scripts/lesson_times.sh            # every lesson built in build/
#   bash scripts/lesson_times.sh 11 14      # only these
#
# One line per lesson: wall time, CPU time (user + system) and the 1-minute load average just
# before the run, so a slow number on a shared machine can be told from a slow lesson. The
# "default command" is the one the README names: the lesson with no flags, except the trainer
# (its explainer's first run) and lesson 17 (its shortest experiment). A CUDA lesson on a machine
# without a GPU is reported as skipped. Runs with OMP_WAIT_POLICY=passive, as make test does.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

default_command() {
    case "$1" in
        16_trainer) echo "build/16_trainer train --config tests/fixtures/trainer/tiny_run.json" ;;
        17_hyperparameters) echo "build/17_hyperparameters lr_find" ;;
        *) echo "build/$1" ;;
    esac
}

wanted() {  # wanted NAME ARGS...: no ARGS, or NAME's number among them
    local name=$1
    shift
    [ $# -eq 0 ] && return 0
    for n in "$@"; do [ "${name%%_*}" = "$n" ] && return 0; done
    return 1
}

times=$(mktemp)
trap 'rm -f "$times"' EXIT
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(date -u +%Y-%m-%d)"
for exe in build/[0-9][0-9]_*; do
    name=$(basename "$exe")
    wanted "$name" "$@" || continue
    if [[ $name == 1[23]_* ]] && ! nvidia-smi -L > /dev/null 2>&1; then
        printf '%-28s skipped: needs a GPU\n' "$name"
        continue
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -o "$times" -f '%e %U %S' $(default_command "$name") > /dev/null 2>&1
    tail -1 "$times" | awk -v name="$name" -v load="$load" '{ printf "%-28s %7.1f s wall  %7.1f s CPU  (load %s)\n", name, $1, $2 + $3, load }'
done
