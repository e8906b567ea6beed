#!/usr/bin/env bash
# The main job (`make run`): fine-tune sentence-transformers/all-MiniLM-L6-v2 on SST-2 with
# lesson 16's trainer, evaluate on the SST-2 dev set, print the summary.
#
#   GPU build + GPU: the full recipe: all 67,349 sentences, 3 epochs, batch 32, lr 2e-5,
#                    warmup 10%, max_seq_length 128, evaluation and a checkpoint each epoch,
#                    the best model (by accuracy) at the end.
#   CPU:             a budgeted recipe that finishes in about 10 minutes on 2 cores: the first
#                    MAX_TRAIN_SAMPLES sentences (default 8000), one epoch, max_seq_length 64,
#                    lr 1e-4 (a short run gains from a higher rate: with 4000 sentences 0.826 vs 0.813
#                    with 5e-5). 8000 sentences: dev accuracy 0.849 in 7 to 10 minutes
#                    (bench/RESULTS.md).
#                    BERTSTEP_FULL=1 runs the full recipe on the CPU (hours).
# Extra arguments are passed to the trainer (they win over the recipe's flags).
set -euo pipefail
cd "$(dirname "$0")/.."
# Idle OpenMP threads sleep instead of spinning: on a shared or busy machine spinning threads
# fight the working ones (measured: 4 vs 11 samples/s on a loaded 2-core machine).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
out=runs/sst2-minilm

# The files the run reads: each one missing is named with the fetch that brings it (data/fetch.sh
# prints how to get it offline), before the trainer starts.
missing=0
need() {  # need FILE ITEM
    if [ ! -e "$1" ]; then
        echo "make run: $1 is missing: run \`bash data/fetch.sh $2\` (offline: see its message, or data/README.md)" >&2
        missing=1
    fi
}
need data/cache/sst2/train.tsv sst2
need data/cache/sst2/dev.tsv sst2
need data/cache/models/all-MiniLM-L6-v2/config.json model
need data/cache/models/all-MiniLM-L6-v2/model.safetensors model
[ "$missing" = 0 ] || exit 1
full=(--max_seq_length 128 --num_train_epochs 3 --per_device_train_batch_size 32 --learning_rate 2e-5
      --logging_steps 100)
budget=(--max_train_samples "${MAX_TRAIN_SAMPLES:-8000}" --max_seq_length 64 --num_train_epochs 1
        --per_device_train_batch_size 16 --learning_rate 1e-4 --logging_steps 10)

if build/16_trainer --help | grep -- '--device cpu|cuda.*(default: cuda)' >/dev/null && command -v nvidia-smi >/dev/null \
   && nvidia-smi -L >/dev/null 2>&1; then
    recipe=("${full[@]}" --device cuda)
    echo "make run: the full GPU recipe (3 epochs of SST-2, batch 32, lr 2e-5, warmup 10%)"
elif [ "${BERTSTEP_FULL:-0}" = 1 ]; then
    recipe=("${full[@]}" --device cpu)
    echo "make run: the full recipe on the CPU (BERTSTEP_FULL=1): this takes hours"
else
    recipe=("${budget[@]}" --device cpu)
    echo "make run: the CPU budget recipe (${MAX_TRAIN_SAMPLES:-8000} of 67,349 training sentences, 1 epoch, max_seq_length 64, lr 1e-4)"
    echo "          it takes about 10 minutes on 2 cores; the full recipe: BERTSTEP_FULL=1 make run, or a GPU build"
fi
exec build/16_trainer train \
    --model_name_or_path data/cache/models/all-MiniLM-L6-v2 \
    --train_file data/cache/sst2/train.tsv --validation_file data/cache/sst2/dev.tsv \
    --text_column sentence --label_column label \
    --warmup_steps 0.1 --weight_decay 0.01 --per_device_eval_batch_size 64 \
    --eval_strategy epoch --save_strategy epoch --save_total_limit 2 \
    --load_best_model_at_end --metric_for_best_model accuracy \
    --output_dir "$out" "${recipe[@]}" "$@"
