#!/usr/bin/env bash
# trainer_vs_hf_cpu.sh — `make run`'s CPU budget recipe (scripts/run_main.sh) with lesson 16's trainer
# beside the Hugging Face Trainer (bench/hf_trainer_sst2.py --recipe budget) on the same CPU, the
# same checkpoint (all-MiniLM-L6-v2), the same first MAX_TRAIN_SAMPLES SST-2 sentences and the same
# hyper-parameters, for each seed in SEEDS (default 42 43 44). Prints each run's dev accuracy and
# wall time, then the mean accuracy of each trainer and the difference in points.
# Needs python3 with torch, transformers and accelerate (PYTHON=/path/to/python to choose one).
#
#   bash bench/trainer_vs_hf_cpu.sh            # about 6 x 7 minutes on 2 cores
#   SEEDS=42 MAX_TRAIN_SAMPLES=2000 bash bench/trainer_vs_hf_cpu.sh   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
$py -c 'import torch, transformers, accelerate' 2>/dev/null ||
    { echo "trainer_vs_hf_cpu.sh: $py lacks torch, transformers or accelerate (pip install 'transformers[torch]')" >&2; exit 1; }
make -s build/16_trainer data >/dev/null
out=runs/trainer_vs_hf_cpu
rm -rf "$out"; mkdir -p "$out"
export OMP_WAIT_POLICY=passive TOKENIZERS_PARALLELISM=false

seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }'; }

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; recipe: make run's CPU budget (first ${MAX_TRAIN_SAMPLES:-8000} sentences, 1 epoch)"
printf '%-12s %5s %13s %9s\n' trainer seed dev_accuracy wall_s
ours=() theirs=()
for seed in ${SEEDS:-42 43 44}; do
    start=$(date +%s.%N)
    bash scripts/run_main.sh --seed "$seed" --output_dir "$out/ours-$seed" >"$out/ours-$seed.log" 2>&1 ||
        { echo "lesson 16 failed, see $out/ours-$seed.log" >&2; exit 1; }
    acc=$(sed -n 's/^final model on eval .*eval_accuracy \([0-9.]*\).*/\1/p' "$out/ours-$seed.log")
    printf '%-12s %5s %13s %9s\n' "lesson 16" "$seed" "$acc" "$(seconds_since "$start")"
    ours+=("$acc")
    start=$(date +%s.%N)
    $py bench/hf_trainer_sst2.py --recipe budget --seed "$seed" >"$out/hf-$seed.log" 2>&1 ||
        { echo "the HF Trainer failed, see $out/hf-$seed.log" >&2; exit 1; }
    acc=$(sed -n 's/^HF Trainer.*eval_accuracy \([0-9.]*\).*/\1/p' "$out/hf-$seed.log")
    printf '%-12s %5s %13s %9s\n' "HF Trainer" "$seed" "$acc" "$(seconds_since "$start")"
    theirs+=("$acc")
done
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.4f", s / NR }'; }
m_ours=$(mean "${ours[@]}") m_theirs=$(mean "${theirs[@]}")
echo "mean dev accuracy: lesson 16 $m_ours, HF Trainer $m_theirs, difference $(awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN { printf "%+.2f", 100 * (a - b) }') points"
