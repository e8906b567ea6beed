#!/usr/bin/env bash
# bert_step_cpu.sh — one training step of all-MiniLM-L6-v2 (batch 32, sequence 64) on the CPU:
# bertstep (bench/bert_step.c) against PyTorch (bench/bert_step_torch.py), same thread count,
# measured in the same run, alternating, REPEATS times each (default 3); the fastest of each is
# kept. Prints both, wall clock and CPU time, and the ratios; bench/RESULTS.md records them.
# Target (issue 19): bertstep / PyTorch <= 1.0 (wall clock, on a quiet machine).
# On a shared machine the CPU-time ratio is the steadier one: it leaves out the time other
# programs held the cores (for 2 threads it adds up both threads, so idle waits count too).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
source bench/bert_step_setup.sh
make -s build/bench/bert_step build/08_matmul_cpu
echo "== one training step, all-MiniLM-L6-v2, batch ${BATCH:-32} x ${SEQ:-64} tokens, $THREADS threads, $(date -u '+%F %H:%M UTC') =="
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores ($CPU_FLAGS), load average $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo "sgemm kernel: $(build/08_matmul_cpu --size 8 --repeats 1 --plot /tmp/bert_step_cpu_plot.png | sed -n 's/^kernel: //p')"
have_torch=no
"$PYTHON" -c 'import torch, transformers' 2>/dev/null && have_torch=yes
c_wall=1e9 c_cpu=1e9 p_wall=1e9 p_cpu=1e9
for r in $(seq "$REPEATS"); do
    read -r w u < <(OMP_NUM_THREADS=$THREADS build/bench/bert_step $ARGS 2>/dev/null)
    c_wall=$(min "$c_wall" "$w") c_cpu=$(min "$c_cpu" "$u")
    if [ $have_torch = yes ]; then
        read -r w u < <(OMP_NUM_THREADS=$THREADS "$PYTHON" bench/bert_step_torch.py $ARGS --threads "$THREADS" 2>/dev/null)
        p_wall=$(min "$p_wall" "$w") p_cpu=$(min "$p_cpu" "$u")
    fi
done
printf 'bertstep (C, OpenMP)   %8.3f s/step wall  %8.3f s/step CPU   (fastest of %d runs)\n' "$c_wall" "$c_cpu" "$REPEATS"
if [ $have_torch = no ]; then
    echo "PyTorch baseline skipped: $PYTHON cannot import torch and transformers"; exit 0
fi
printf 'PyTorch %-14s %8.3f s/step wall  %8.3f s/step CPU\n' "$("$PYTHON" -c 'import torch; print(torch.__version__.split("+")[0])')" "$p_wall" "$p_cpu"
awk -v c="$c_wall" -v p="$p_wall" 'BEGIN { printf "RATIO step bertstep / PyTorch, wall: %.2fx (target <= 1.00x: %s)\n", c / p, (c <= p ? "met" : "NOT met") }'
awk -v c="$c_cpu" -v p="$p_cpu" 'BEGIN { printf "RATIO step bertstep / PyTorch, CPU time: %.2fx\n", c / p }'
