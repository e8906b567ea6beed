#!/usr/bin/env bash
# bert_step_cpu.sh — one training step of all-MiniLM-L6-v2 (batch 32, sequence 64) on the CPU:
# bertstep (bench/bert_step.c) against PyTorch (bench/bert_step_torch.py), same thread count,
# measured in the same run. Prints both and the ratio; bench/RESULTS.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-data/cache/models/all-MiniLM-L6-v2}
THREADS=${OMP_NUM_THREADS:-$(nproc)}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}   # as the Makefile sets it (see Makefile)
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
ARGS="--model_name_or_path $MODEL --per_device_train_batch_size ${BATCH:-32} --max_seq_length ${SEQ:-64} --steps ${STEPS:-5}"
[ -d "$MODEL" ] || { echo "bert_step_cpu: $MODEL not found (run make data)"; exit 0; }
make -s build/bench/bert_step
echo "== one training step, all-MiniLM-L6-v2, batch ${BATCH:-32} x ${SEQ:-64} tokens, $THREADS threads, $(date -u +%F) =="
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc --all) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
c=$(OMP_NUM_THREADS=$THREADS build/bench/bert_step $ARGS 2>/dev/null)
printf 'bertstep (C, OpenMP)   %8.3f s/step\n' "$c"
if ! "$PYTHON" -c 'import torch, transformers' 2>/dev/null; then
    echo "PyTorch baseline skipped: $PYTHON cannot import torch and transformers"; exit 0
fi
p=$(OMP_NUM_THREADS=$THREADS "$PYTHON" bench/bert_step_torch.py $ARGS --threads "$THREADS" 2>/dev/null)
printf 'PyTorch %-14s %8.3f s/step\n' "$("$PYTHON" -c 'import torch; print(torch.__version__.split("+")[0])')" "$p"
awk -v c="$c" -v p="$p" 'BEGIN { printf "ratio bertstep / PyTorch: %.2fx (target: within 2x)\n", c / p }'
