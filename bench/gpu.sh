#!/usr/bin/env bash
# bench/gpu.sh — the longer GPU measurements, for GPU time beyond the first window. Run
# bench/gpu_quick.sh first: it runs the GPU tests, compute-sanitizer, lesson 12's ladder and lesson
# 13's bf16/fp16/fp32 steps beside PyTorch in under 8 minutes. Each section here takes one call
# of at most 600 seconds of its own, so one 15-minute window (the machine's start included) has
# room for the quick script and at most one of them:
#   bert     lesson 13's step at bert-base's and all-MiniLM-L6-v2's shapes, batch 32 x 128, in
#            float32 and TF32, each beside PyTorch eager (bench/torch_bert_step.py): samples/s, the
#            ratio, MFU against the cuBLAS rate lesson 13 measures in the same run. The float32
#            runs also check the GPU step against the CPU step and time --gradient_checkpointing
#            (its cost, the activation memory it saves, its gradients against the step's).
#   mixed    lesson 13 in bf16 and fp16 (--precision) at bert-base, 32 x 128 and 32 x 512, and
#            MiniLM, 32 x 128, beside PyTorch autocast (bf16; fp16 + GradScaler) and torch.compile
#            of the bf16 step. MIXED_RUNS="bert-base:512" runs some of the shape:sequence pairs.
#   trainer  lesson 16 on `make run`'s GPU recipe (scripts/run_main.sh: all of SST-2, 3 epochs, batch
#            32, lr 2e-5, --device cuda) beside the Hugging Face Trainer (bench/hf_trainer_sst2.py):
#            dev accuracy and wall time. TRAINER_MAX_STEPS=N shortens both to N optimizer steps;
#            TRAINER_SEEDS="42 43 44" runs both once per seed (default 42).
# Logs and RESULTS-gpu.md (machine, date and the tables, for bench/RESULTS.md) go to $OUT, else
# bench/out/. The exit status is 1 when a run failed.
#
#   bash bench/gpu.sh bert|mixed|trainer
#
# The programs: what `make gpu-pack` carried in build/carry (device tool: carry ["build/carry"]),
# else what `make` built in build/ (bench/gpu_env.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/gpu_env.sh
# ours CMD...: CMD with the programs' libraries (python3 keeps its own)
ours() { LD_LIBRARY_PATH="$BERTSTEP_LD" "$@"; }
lesson13_bin=$(bertstep_program 13_bert_cuda)

# unpack_carried: the trainer section's data/cache from build/carry/data (make gpu-pack), where
# the machine could not fetch it: the checkpoint widened back to fp32 (both trainers start from
# the same weights, each rounded once to fp16: at most 2^-11 relative), SST-2 unzipped; and
# build/16_trainer, which scripts/run_main.sh runs, linked to the carried one.
unpack_carried() {
    local m=data/cache/models/all-MiniLM-L6-v2 c=build/carry/data
    [ -x build/16_trainer ] || ln -sf "$PWD/$(bertstep_program 16_trainer)" build/16_trainer
    [ -f $m/model.safetensors ] && [ -f data/cache/sst2/train.tsv ] && return 0
    [ -d $c ] || return 0
    mkdir -p $m data/cache/sst2
    cp $c/minilm/config.json $c/minilm/vocab.txt $m/
    [ -f $c/minilm/tokenizer_config.json ] && cp $c/minilm/tokenizer_config.json $m/
    python3 bench/checkpoint_dtype.py fp32 $c/minilm/model.safetensors $m/model.safetensors
    gunzip -c $c/sst2-train.tsv.gz >data/cache/sst2/train.tsv
    cp $c/sst2-dev.tsv data/cache/sst2/dev.tsv
    note "checkpoint: all-MiniLM-L6-v2 carried in fp16 and widened to fp32 here (both trainers start from it)"
}

sections="${1:-}"
case $sections in bert | mixed | trainer) ;; *) echo "usage: bash bench/gpu.sh bert|mixed|trainer (bench/gpu_quick.sh first)" >&2; exit 2 ;; esac
run_bert() { [ "$sections" = bert ]; }
run_mixed() { [ "$sections" = mixed ]; }
run_trainer() { [ "$sections" = trainer ]; }

out="${OUT:-bench/out}"
mkdir -p "$out"
status=0
note() { printf '%s\n' "$*" | tee -a "$out/RESULTS-gpu.md"; }
fail() { echo "FAILED: $*" | tee -a "$out/RESULTS-gpu.md"; status=1; }
: >"$out/RESULTS-gpu.md"

if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "error: nvidia-smi sees no GPU here: nothing to measure" >&2
    exit 1
fi
note "# GPU results ($(date -u '+%Y-%m-%d %H:%M UTC'))"
note ""
note "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo unknown)"
note "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
note "- programs: $BERTSTEP_BIN ($(cat build/carry/COMMIT 2>/dev/null || git rev-parse --short HEAD 2>/dev/null)), NVFLAGS -arch=sm_90"
note ""

# lesson13 TITLE LOG FLAGS...: a "### TITLE" block of the results with lesson 13's run (its output
# also into LOG); sets ours (samples/s), our_mfu (%) and rate (the cuBLAS TFLOP/s it measured).
lesson13() {
    local title=$1 log=$2
    shift 2
    note "### $title"
    note '```text'
    note "\$ 13_bert_cuda $*"
    ours "$lesson13_bin" "$@" 2>&1 | tee "$log" | tee -a "$out/RESULTS-gpu.md"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "13_bert_cuda $*"
    ours=$(sed -n 's/^GPU step: \([0-9.]*\) ms, \([0-9.]*\) samples\/s.*/\2/p' "$log")
    our_mfu=$(sed -n 's/.*= \([0-9.]*\)% of that cuBLAS rate.*/\1/p' "$log")
    rate=$(sed -n 's/^cuBLAS .*: \([0-9.]*\) TFLOP\/s in this run$/\1/p' "$log")
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
mfu() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1f%%", 100 * a / b; else print "n/a" }'; }
# have_torch: python3 can run the PyTorch baselines (bench/torch_bert_step.py)
have_torch=$(python3 -c 'import torch, transformers' 2>/dev/null && echo yes)

if run_bert; then
# 5. lesson 13: a BERT training step, ours and PyTorch's, at two shapes and two precisions
note ""
note "## Lesson 13 (build/13_bert_cuda) beside PyTorch eager (bench/torch_bert_step.py), batch 32 x 128"
note ""
[ -n "$have_torch" ] || note "python3 has no torch + transformers here: the PyTorch baseline was not measured"
summary=""
ckpt_summary=""
for shape in bert-base minilm; do
    for prec in fp32 tf32; do
        flags="--random_shape $shape --per_device_train_batch_size 32 --max_seq_length 128"
        [ $prec = tf32 ] && flags="$flags --precision tf32 --compare_cpu false"
        [ $prec = fp32 ] && flags="$flags --gradient_checkpointing"
        log="$out/13_bert_cuda-$shape-$prec.txt"
        lesson13 "$shape, $prec" "$log" $flags
        if [ $prec = fp32 ]; then
            plain_ms=$(sed -n 's/^GPU step: \([0-9.]*\) ms,.*/\1/p' "$log")
            ckpt_ms=$(sed -n 's/^GPU step with gradient checkpointing: \([0-9.]*\) ms.*/\1/p' "$log")
            ckpt_x=$(sed -n 's/^GPU step with gradient checkpointing: .*: \([0-9.]*x\) the step without.*/\1/p' "$log")
            acts=$(sed -n 's/^  activations \([0-9.]* MB -> [0-9.]* MB ([0-9.]*% less)\)$/\1/p' "$log")
            grads=$(sed -n 's/^  gradients against the step without.*: worst of [0-9]* tensors \([^ ]*\) .*/\1/p' "$log")
            ckpt_summary="$ckpt_summary| $shape | ${plain_ms:-n/a} | ${ckpt_ms:-n/a} | ${ckpt_x:-n/a} | ${acts:-n/a} | ${grads:-n/a} |"$'\n'
        fi
        theirs=""
        if [ -n "$have_torch" ]; then
            note "\$ python3 bench/torch_bert_step.py --shape $shape --batch 32 --seq 128 --precision $prec"
            python3 bench/torch_bert_step.py --shape $shape --batch 32 --seq 128 --precision $prec 2>&1 |
                tee "$out/torch_bert_step-$shape-$prec.txt" | tee -a "$out/RESULTS-gpu.md"
            theirs=$(sed -n 's/^PyTorch eager step: \([0-9.]*\) ms, \([0-9.]*\) samples\/s.*/\2/p' "$out/torch_bert_step-$shape-$prec.txt")
        fi
        note '```'
        summary="$summary| $shape | $prec | ${ours:-n/a} | ${theirs:-n/a} | $(ratio "$ours" "$theirs") | ${our_mfu:+$our_mfu%} |"$'\n'
    done
done
note ""
note "| shape | precision | lesson 13 samples/s | PyTorch eager samples/s | ratio (target >= 1.5x) | MFU vs cuBLAS |"
note "|---|---|---|---|---|---|"
printf '%s' "$summary" | tee -a "$out/RESULTS-gpu.md"
note ""
note "Gradient checkpointing (lesson 13 --gradient_checkpointing, fp32, batch 32 x 128): the step's cost"
note ""
note "| shape | step ms | with checkpointing ms | ratio | activations | gradients' worst rel. difference |"
note "|---|---|---|---|---|---|"
printf '%s' "$ckpt_summary" | tee -a "$out/RESULTS-gpu.md"
fi

if run_mixed; then
# 5b. lesson 13 in bf16 and fp16 beside PyTorch autocast (eager) and torch.compile
note ""
note "## Lesson 13 mixed precision (--precision bf16|fp16) beside PyTorch autocast and torch.compile"
note ""
[ -n "$have_torch" ] || note "python3 has no torch + transformers here: the PyTorch baselines were not measured"
# torch_run NAME ARGS...: one bench/torch_bert_step.py run into the log and $out/torch-NAME.txt;
# prints its samples/s and TFLOP/s
torch_run() {
    local name=$1; shift
    [ -n "$have_torch" ] || return 0
    echo "\$ python3 bench/torch_bert_step.py $*" >>"$out/RESULTS-gpu.md"
    timeout 240 python3 bench/torch_bert_step.py "$@" >"$out/torch-$name.txt" 2>&1 || echo "FAILED: torch_bert_step.py $*" >>"$out/torch-$name.txt"
    cat "$out/torch-$name.txt" >>"$out/RESULTS-gpu.md"
    sed -n 's/^PyTorch [a-z]* step: [0-9.]* ms, \([0-9.]*\) samples\/s, \([0-9.]*\) TFLOP\/s.*/\1 \2/p' "$out/torch-$name.txt"
}
summary=""
for run in ${MIXED_RUNS:-bert-base:128 bert-base:512 minilm:128}; do
    shape=${run%:*} seq=${run#*:}
    for prec in bf16 fp16; do
        flags="--random_shape $shape --per_device_train_batch_size 32 --max_seq_length $seq --precision $prec --compare_cpu false"
        lesson13 "$shape, 32 x $seq, $prec" "$out/13_bert_cuda-$shape-$seq-$prec.txt" $flags
        read -r eager eager_tflops <<<"$(torch_run "$shape-$seq-$prec" --shape "$shape" --batch 32 --seq "$seq" --precision "$prec")"
        compiled="" compiled_tflops=""
        # torch.compile of the bf16 step (the issue's target); each compilation takes a minute or so
        [ $prec = bf16 ] && read -r compiled compiled_tflops <<<"$(torch_run "$shape-$seq-$prec-compile" --shape "$shape" --batch 32 --seq "$seq" --precision "$prec" --compile)"
        note '```'
        summary="$summary| $shape | 32 x $seq | $prec | ${ours:-n/a} | ${our_mfu:+$our_mfu%} | ${eager:-n/a} | $(mfu "$eager_tflops" "$rate") | $(ratio "$ours" "$eager") | ${compiled:-n/a} | $(mfu "$compiled_tflops" "$rate") | $(ratio "$ours" "$compiled") |"$'\n'
    done
done
note ""
note "MFU: model FLOPs per second over the cuBLAS rate (bf16 or fp16, this model's feed-forward product) lesson 13 measured in the same run."
note "Targets (issue 6, H100): bert-base bf16 >= 3x PyTorch eager and >= 2x torch.compile; all-MiniLM-L6-v2 >= 10x PyTorch eager."
note ""
note "| shape | batch | precision | lesson 13 samples/s | MFU | PyTorch eager (autocast) samples/s | MFU | ours / eager | torch.compile samples/s | MFU | ours / compile |"
note "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s' "$summary" | tee -a "$out/RESULTS-gpu.md"
fi

if run_trainer; then
# 6. lesson 16's trainer on make run's GPU recipe, beside the Hugging Face Trainer on the same one
note ""
note "## Lesson 16 (make run's GPU recipe, --device cuda) beside the Hugging Face Trainer (bench/hf_trainer_sst2.py)"
note ""
unpack_carried
steps_flag=""; [ -n "${TRAINER_MAX_STEPS:-}" ] && steps_flag="--max_steps $TRAINER_MAX_STEPS"
note "recipe: scripts/run_main.sh (3 epochs of SST-2, batch 32, lr 2e-5, warmup 10%, max_seq_length 128) ${steps_flag:-in full}"
note '```text'
summary=""
for seed in ${TRAINER_SEEDS:-42}; do
    start=$(date +%s.%N)
    ours bash scripts/run_main.sh $steps_flag --seed "$seed" --output_dir "$out/trainer-run-$seed" >"$out/trainer-$seed.log" 2>&1 ||
        fail "scripts/run_main.sh --seed $seed (see trainer-$seed.log)"
    wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    grep -E '^(make run:|device|trained|final model on eval)' "$out/trainer-$seed.log" | tee -a "$out/RESULTS-gpu.md"
    note "seed $seed: wall time of the whole run (loading, training, evaluations, checkpoints): $wall s"
    grep -q '^make run: the full GPU recipe' "$out/trainer-$seed.log" || fail "make run did not choose the GPU recipe (see trainer-$seed.log)"
    ours=$(sed -n 's/^final model on eval .*eval_accuracy \([0-9.]*\).*/\1/p' "$out/trainer-$seed.log")
    summary="$summary| lesson 16 --device cuda | $seed | ${ours:-n/a} | $wall |"$'\n'
done
note '```'
if python3 -c 'import torch, transformers, accelerate' 2>/dev/null; then
    note '```text'
    for seed in ${TRAINER_SEEDS:-42}; do
        start=$(date +%s.%N)
        python3 bench/hf_trainer_sst2.py --seed "$seed" ${TRAINER_MAX_STEPS:+--max_steps $TRAINER_MAX_STEPS} \
            >"$out/hf_trainer-$seed.log" 2>&1 || fail "bench/hf_trainer_sst2.py --seed $seed (see hf_trainer-$seed.log)"
        wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        grep '^HF Trainer' "$out/hf_trainer-$seed.log" | tee -a "$out/RESULTS-gpu.md"
        theirs=$(sed -n 's/^HF Trainer.*eval_accuracy \([0-9.]*\).*/\1/p' "$out/hf_trainer-$seed.log")
        summary="$summary| HF Trainer (PyTorch eager, fp32) | $seed | ${theirs:-n/a} | $wall |"$'\n'
    done
    note '```'
else
    note "python3 lacks torch, transformers or accelerate here: the Hugging Face Trainer baseline was not measured"
fi
note ""
note "| trainer | seed | dev accuracy | wall time (s), whole run |"
note "|---|---|---|---|"
printf '%s' "$summary" | tee -a "$out/RESULTS-gpu.md"
fi

echo "wrote $out/RESULTS-gpu.md and the logs beside it (exit $status)"
exit $status
