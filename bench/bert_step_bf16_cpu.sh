#!/usr/bin/env bash
# bert_step_bf16_cpu.sh — one training step of all-MiniLM-L6-v2 (batch 32, sequence 64) on the
# CPU in fp32 and under bf16 autocast (the trainer's --device cpu --bf16: bench/bert_step.c --bf16),
# alternating in the same run, REPEATS times each (default 3); the fastest of each is kept.
# Prints which bf16 path this CPU takes (AVX512_BF16 vdpbf16ps, or the fallback that rounds the
# operands and multiplies in fp32: a correct emulation that costs time instead of saving it) and
# the ratio bf16 / fp32. bench/RESULTS.md records it with the CPU's name.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/bert_step_setup.sh
make -s build/bench/bert_step
echo "== one training step fp32 vs bf16 autocast, all-MiniLM-L6-v2, batch ${BATCH:-32} x ${SEQ:-64} tokens, $THREADS threads, $(date -u '+%F %H:%M UTC') =="
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores ($CPU_FLAGS), load average $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -qw avx512_bf16 /proc/cpuinfo; then
    echo "bf16 path: avx512bf16 (vdpbf16ps products, fp32 sums)"
else
    echo "bf16 path: fallback (no AVX512_BF16: operands rounded to bf16, multiplied in fp32)"
fi
f_wall=1e9 f_cpu=1e9 b_wall=1e9 b_cpu=1e9
for r in $(seq "$REPEATS"); do
    read -r w u < <(OMP_NUM_THREADS=$THREADS build/bench/bert_step $ARGS)
    f_wall=$(min "$f_wall" "$w") f_cpu=$(min "$f_cpu" "$u")
    read -r w u < <(OMP_NUM_THREADS=$THREADS build/bench/bert_step $ARGS --bf16)
    b_wall=$(min "$b_wall" "$w") b_cpu=$(min "$b_cpu" "$u")
done
printf 'fp32                   %8.3f s/step wall  %8.3f s/step CPU   (fastest of %d runs)\n' "$f_wall" "$f_cpu" "$REPEATS"
printf 'bf16 autocast          %8.3f s/step wall  %8.3f s/step CPU\n' "$b_wall" "$b_cpu"
awk -v b="$b_wall" -v f="$f_wall" 'BEGIN { printf "RATIO step bf16 / fp32, wall: %.2fx\n", b / f }'
awk -v b="$b_cpu" -v f="$f_cpu" 'BEGIN { printf "RATIO step bf16 / fp32, CPU time: %.2fx\n", b / f }'
