#!/usr/bin/env bash
# bench/gpu_quick.sh — GPU first contact: one call that checks and times everything on a real GPU
# (built for sm_90: H100/H200) in at most GPU_QUICK_SECONDS (470) of wall time, most valuable first:
#   tests      the GPU tests (build/tests/gpu_tests), one run per group: cuBLAS against the CPU in
#              every transpose, the kernels against the CPU, the whole model (and the trainer's GPU
#              backend) against the CPU, mixed precision, the memory check, then every other test
#   sanitizer  compute-sanitizer: memcheck and racecheck on the small kernel test, memcheck on the
#              whole-model test
#   check      lesson 13 in float32 against the CPU at all-MiniLM-L6-v2's shape (random weights)
#   timing     lesson 13's bf16 step at bert-base's and MiniLM-L6's shapes, batch 32 x 128 (3 warm-up
#              steps, the mean of 20), each beside bench/torch_bert_step.py (PyTorch eager, autocast
#              bf16, the same step) run right after it
#   kernels    the per-kernel times of one bert-base bf16 step (ncu, else nsys), the top 15
#   trainer    lesson 16 --device cuda --bf16 on the first 4000 SST-2 sentences (make run's CPU
#              recipe of RESULTS.md, whose CPU dev accuracy is 0.8257) from all-MiniLM-L6-v2
#   nccl       data parallel's all-reduce on one GPU: a 1-rank NCCL all-reduce of bert-base's
#              gradients timed (the GPU test nccl_one_rank_allreduce_bert_base, GB/s), then 2 trainer
#              steps with and without the NCCL path (BERTSTEP_NCCL=1; under `mpirun -np 1` where
#              mpirun is installed): the same losses and grad norms
#   matmul     lesson 12's ladder at its default sizes beside torch.matmul (bench/torch_matmul.py)
#   more       lesson 13 at bert-base in fp16 and fp32, each beside PyTorch
#   compile    torch.compile of the bert-base bf16 step, only when 150 s are left
# Each step runs under `timeout min(its cap, time left)` and a step that fails or is cut leaves
# the later ones running; a step that would get less than GPU_QUICK_MIN_STEP (10) seconds is not
# started. Results: $OUT/summary.txt (markdown tables for bench/RESULTS.md: the card, the date,
# each timing with its ratio to PyTorch measured in this run, the steps' own wall times) and
# $OUT/logs.tar.gz (every step's output). The exit status is 1 when a step failed or was cut.
#
# The GPU machine needs no build: `make gpu-pack` on a build machine puts the programs, their
# libraries and the trainer's data into build/carry/ (bench/gpu_pack.sh); with the device tool:
#   run(command="bash bench/gpu_quick.sh", carry=["build/carry"], timeout_s=600)
# A machine with nvcc and the Debian packages runs what `make` built in build/ instead.
#
#   GPU_QUICK_STEPS="timing kernels"  run some steps only (to re-run what failed)
#   GPU_QUICK_SECONDS=N               the deadline, in seconds from the start
#   PYTHON=python3                    the Python with torch and transformers
#   BERTSTEP_CARRY=build/carry        where the trainer's data is (data/; tests/gpu_quick_stub.sh moves it)
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
deadline=$((start + ${GPU_QUICK_SECONDS:-470}))
min_step=${GPU_QUICK_MIN_STEP:-10}
steps_wanted=" ${GPU_QUICK_STEPS:-tests sanitizer check timing kernels trainer nccl matmul more compile} "
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
. bench/gpu_env.sh
ours=(env "LD_LIBRARY_PATH=$BERTSTEP_LD")
out=${OUT:-bench/out}
mkdir -p "$out"
logs=$(mktemp -d "${TMPDIR:-/tmp}/gpu_quick.XXXXXX")
summary=$out/summary.txt
: >"$summary"
failed=0
step_rows=""

note() { printf '%s\n' "$*" >>"$summary"; }
wanted() { [[ "$steps_wanted" == *" $1 "* ]]; }
left() { echo $((deadline - SECONDS)); }

# find_tool NAME: NAME on the PATH, else in GPU_QUICK_TOOL_DIRS (the CUDA toolkit's bin/ and the
# newest Nsight Compute's folder)
tool_dirs=${GPU_QUICK_TOOL_DIRS-/usr/local/cuda/bin $(ls -d /opt/nvidia/nsight-compute/* 2>/dev/null | sort -V | tail -n1)}
find_tool() {
    command -v "$1" 2>/dev/null && return
    local d
    for d in $tool_dirs; do [ -x "$d/$1" ] && { echo "$d/$1"; return; }; done
}

# run_step NAME CAP CMD...: CMD under `timeout min(CAP, time left)`, its output in $logs/NAME.log,
# a row of the steps table. Returns CMD's status; 124 when the timeout cut it, 125 when it was not
# started (less than min_step seconds left).
run_step() {
    local name=$1 cap=$2 rc result t0 limit
    shift 2
    limit=$(left)
    [ "$cap" -lt "$limit" ] && limit=$cap
    if [ "$limit" -lt "$min_step" ]; then
        echo "not started: $(left) s left before the deadline" >"$logs/$name.log"
        step_rows="$step_rows| $name | not started: $(left) s left | 0 |"$'\n'
        failed=1
        return 125
    fi
    echo "\$ $*" >"$logs/$name.log"
    t0=$(date +%s.%N)
    timeout -k 5 "$limit" "$@" >>"$logs/$name.log" 2>&1
    rc=$?
    case $rc in
        0) result=ok ;;
        124 | 137) result="CUT after $limit s ($([ "$limit" -lt "$cap" ] && echo the deadline || echo its cap))"; rc=124 ;;
        *) result="FAILED (exit $rc)" ;;
    esac
    [ $rc = 0 ] || failed=1
    step_rows="$step_rows| $name | $result | $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') |"$'\n'
    return $rc
}

# field FILE SED-EXPRESSION: the first match of a `sed -n 's/.../\1/p'` expression in FILE
field() { sed -n "$2" "$1" 2>/dev/null | head -n1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

gpu_tests=$(bertstep_program gpu_tests)
lesson12=$(bertstep_program 12_cuda_matmul)
lesson13=$(bertstep_program 13_bert_cuda)
trainer=$(bertstep_program 16_trainer)
for p in "$gpu_tests" "$lesson12" "$lesson13" "$trainer"; do
    [ -x "$p" ] || echo "warning: $p is missing: run 'make gpu-pack' on a build machine and carry build/carry" >&2
done
card=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n1)
torch_versions=$($py -c 'import torch, transformers; print(f"torch {torch.__version__}, transformers {transformers.__version__}")' 2>/dev/null)
have_torch=${torch_versions:+yes}

note "# GPU quick check, $(date -u '+%Y-%m-%d %H:%M UTC')"
note ""
note "- GPU: ${card:-unknown (nvidia-smi gave no answer)}"
note "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
note "- programs: $BERTSTEP_BIN ($(cat build/carry/COMMIT 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo 'commit unknown')), built for sm_90"
note "- PyTorch: ${torch_versions:-not importable by $py: no baselines}"
note ""

# ---- 1. the GPU tests, group by group ---------------------------------------------------------
# group NAME CAP TITLE FILTERS...: the GPU tests whose names contain one of FILTERS
all_tests=$(grep -ho 'GPU_TEST([a-z0-9_]*)' tests/gpu/*.cu | sed 's/GPU_TEST(\(.*\))/\1/')
test_rows=""
tested=""
sync_errors=""
test_group() {
    local name=$1 cap=$2 title=$3 t f mine=""
    shift 3
    for t in $all_tests; do
        for f in "$@"; do [[ $t == *"$f"* ]] && { mine="$mine $t"; break; }; done
    done
    tested="$tested $mine"
    [ -n "$mine" ] || return 0
    run_step "tests-$name" "$cap" "${ours[@]}" "$gpu_tests" "$@"
    # a CUDA error ended the run: again with every launch synchronized (kernels/core/cuda_common.cuh),
    # so that the error names the launch that caused it
    if grep -q '^error: ' "$logs/tests-$name.log"; then
        run_step "tests-$name-sync" "$cap" env BERTSTEP_CUDA_SYNC=1 "${ours[@]}" "$gpu_tests" "$@"
        sync_errors="$sync_errors$title: $(grep -m1 '^error: ' "$logs/tests-$name.log")"$'\n'
        sync_errors="$sync_errors  with BERTSTEP_CUDA_SYNC=1: $(grep -m1 '^error: ' "$logs/tests-$name-sync.log")"$'\n'
    fi
    for t in $mine; do
        local line result
        line=$(grep -E "^(PASS|FAIL) $t " "$logs/tests-$name.log" | head -n1)
        result=$(echo "$line" | awk '{ print $1 }')
        test_rows="$test_rows| $title | $t | ${result:-not run (the run ended first)} | $(echo "$line" | sed -n 's/.*(\([0-9.]*\) s)$/\1/p') |"$'\n'
    done
}
if wanted tests; then
    test_group cublas 60 "cuBLAS vs CPU" cublas_matches_cpu cublas_strided_batched
    test_group kernels 90 "kernels vs CPU" kernels_match_cpu
    test_group model 150 "whole model vs CPU" bert_model_matches_cpu bert_checkpointing trainer_cuda_matches_cpu \
        trainer_cuda_checkpointing trainer_defaults_to_cuda
    test_group mixed 90 "mixed precision" mixed_precision
    test_group memory 60 "memory" memory_
    test_group nccl 60 "NCCL, 1 rank" nccl_
    rest=""
    for t in $all_tests; do [[ " $tested " == *" $t "* ]] || rest="$rest $t"; done
    # shellcheck disable=SC2086
    test_group rest 90 "errors and the rest" $rest
    note "## GPU tests (build/tests/gpu_tests)"
    note ""
    grep -h -m1 '^GPU: \|^SKIP: ' "$logs"/tests-*.log | head -n1 | sed 's/^/device: /' >>"$summary"
    note ""
    note "| group | test | result | seconds |"
    note "|---|---|---|---|"
    printf '%s' "$test_rows" >>"$summary"
    if [ -n "$sync_errors" ]; then
        note ""
        note "CUDA errors that ended a run, and where the same run stopped with every launch synchronized:"
        note '```text'
        printf '%s' "$sync_errors" | cut -c1-400 >>"$summary"
        note '```'
    fi
    if grep -qh 'CHECK(' "$logs"/tests-*.log; then
        note ""
        note "First failed checks:"
        note '```text'
        grep -h 'CHECK(' "$logs"/tests-*.log | head -n 10 | cut -c1-400 >>"$summary"
        note '```'
    fi
    note ""
fi

# ---- 2. compute-sanitizer ---------------------------------------------------------------------
if wanted sanitizer; then
    note "## compute-sanitizer"
    note ""
    sanitizer=$(find_tool compute-sanitizer)
    if [ -z "$sanitizer" ]; then
        note "compute-sanitizer: not found on this machine"
    else
        note "| tool | test | result | seconds |"
        note "|---|---|---|---|"
        for run in "memcheck bert_kernels_match_cpu_small 90" "racecheck bert_kernels_match_cpu_small 90" \
                   "memcheck bert_model_matches_cpu 120"; do
            set -- $run
            run_step "sanitizer-$1-$2" "$3" "${ours[@]}" "$sanitizer" --tool "$1" --error-exitcode 99 "$gpu_tests" "$2"
            rc=$?
            log=$logs/sanitizer-$1-$2.log
            summary_line=$(grep -m1 'ERROR SUMMARY' "$log" | sed 's/^=* *//')
            case $rc in
                0) result="clean (${summary_line:-no summary line})" ;;
                99) result="**ERRORS**: ${summary_line:-see the log}" ;;
                124) result="cut by the timeout" ;;
                125) result="not started (deadline)" ;;
                *) result="did not run (exit $rc): $(grep -m1 -iE 'error|not supported' "$log" | cut -c1-160)" ;;
            esac
            note "| $1 | $2 | $result | $(printf '%s' "$step_rows" | tail -n1 | awk -F'|' '{ gsub(/ /, "", $4); print $4 }') |"
        done
    fi
    note ""
fi

# ---- 3. lesson 13 float32 against the CPU at MiniLM's shape -----------------------------------
if wanted check; then
    note "## Lesson 13, float32 GPU step against the CPU step, all-MiniLM-L6-v2's shape (random weights), batch 8 x 128"
    note ""
    run_step check-minilm-fp32 90 "${ours[@]}" "$lesson13" --random_shape minilm --per_device_train_batch_size 8 \
        --max_seq_length 128 --warmup 1 --steps 5
    note '```text'
    grep -E '^(check|  |CPU step|GPU step|GPU:)' "$logs/check-minilm-fp32.log" | grep -v '^  activations' >>"$summary"
    grep -h '^error: ' "$logs/check-minilm-fp32.log" >>"$summary"
    note '```'
    note ""
fi

# ---- 4. timed steps beside PyTorch -----------------------------------------------------------
# ours_and_torch SHAPE SEQ PRECISION: lesson 13's timed step, then PyTorch's; a row of timing_rows
timing_rows=""
ours_and_torch() {
    local shape=$1 seq=$2 prec=$3 tag="$1-$2-$3" our_ms our_sps mfu torch_ms torch_sps
    run_step "lesson13-$tag" 60 "${ours[@]}" "$lesson13" --random_shape "$shape" --per_device_train_batch_size 32 \
        --max_seq_length "$seq" --precision "$prec" --compare_cpu false --warmup 3 --steps 20
    our_ms=$(field "$logs/lesson13-$tag.log" 's/^GPU step: \([0-9.]*\) ms, .*/\1/p')
    our_sps=$(field "$logs/lesson13-$tag.log" 's/^GPU step: [0-9.]* ms, \([0-9.]*\) samples\/s.*/\1/p')
    mfu=$(field "$logs/lesson13-$tag.log" 's/.*= \([0-9.]*\)% of that cuBLAS rate.*/\1/p')
    if [ -n "$have_torch" ]; then
        run_step "torch-$tag" 90 $py bench/torch_bert_step.py --shape "$shape" --batch 32 --seq "$seq" --precision "$prec" \
            --warmup 3 --steps 20
        torch_ms=$(field "$logs/torch-$tag.log" 's/^PyTorch eager step: \([0-9.]*\) ms, .*/\1/p')
        torch_sps=$(field "$logs/torch-$tag.log" 's/^PyTorch eager step: [0-9.]* ms, \([0-9.]*\) samples\/s.*/\1/p')
    fi
    timing_rows="$timing_rows| $shape | 32 x $seq | $prec | ${our_ms:-n/a} | ${our_sps:-n/a} | ${mfu:+$mfu%} | ${torch_ms:-n/a} | ${torch_sps:-n/a} | **$(ratio "$our_sps" "$torch_sps")** |"$'\n'
}
timing_table() {
    note "| shape | batch | precision | lesson 13 ms/step | samples/s | MFU vs cuBLAS | PyTorch eager ms/step | samples/s | lesson 13 / PyTorch |"
    note "|---|---|---|---|---|---|---|---|---|"
    printf '%s' "$timing_rows" >>"$summary"
    note ""
}
if wanted timing; then
    ours_and_torch bert-base 128 bf16
    ours_and_torch minilm 128 bf16
    note "## Lesson 13's training step beside PyTorch eager (bench/torch_bert_step.py), same run"
    note ""
    note "Random weights at each shape; forward with dropout, backward, clipping, AdamW; 3 warm-up steps, then the mean of 20."
    note "bf16: float32 master weights (lesson 14) against torch.autocast bf16 with fused AdamW."
    note "MFU: model FLOPs per second over the cuBLAS bf16 rate lesson 13 measured on its feed-forward product in the same run."
    [ -n "$have_torch" ] || note "PyTorch: $py cannot import torch and transformers here: no baseline."
    note ""
    timing_table
fi

# ---- 5. the kernels of one bert-base bf16 step -----------------------------------------------
if wanted kernels; then
    note "## Kernels of one bert-base bf16 training step (batch 32 x 128)"
    note ""
    step13=("$lesson13" --random_shape bert-base --per_device_train_batch_size 32 --max_seq_length 128 --precision bf16
            --compare_cpu false --warmup 0 --steps 1)
    ncu=$(find_tool ncu)
    nsys=$(find_tool nsys)
    if [ -n "$ncu" ]; then
        # only the kernels inside the step's NVTX ranges (kernels/bert/bert_cuda.cu), not the cuBLAS
        # rate measurement after it; each kernel's duration at the GPU's own clocks, caches as left
        run_step kernels-ncu 120 "${ours[@]}" "$ncu" --nvtx --nvtx-include 'bert_forward/' --nvtx-include 'bert_backward/' \
            --nvtx-include 'bert_optimizer/' --metrics gpu__time_duration.sum --csv --print-units base \
            --print-kernel-base function --clock-control none --cache-control none --log-file "$logs/kernels.csv" "${step13[@]}"
        how="ncu (--clock-control none --cache-control none), the kernels inside the step's NVTX ranges: serialized, one at a time"
        if ! $py bench/kernel_table.py "$logs/kernels.csv" >/dev/null 2>&1; then
            run_step kernels-ncu-all 120 "${ours[@]}" "$ncu" --metrics gpu__time_duration.sum --csv --print-units base \
                --print-kernel-base function --clock-control none --cache-control none --log-file "$logs/kernels.csv" "${step13[@]}"
            how="ncu, every kernel of the run, the cuBLAS rate measurement after the step included: the NVTX filter kept none"
        fi
    elif [ -n "$nsys" ]; then
        run_step kernels-nsys 120 "${ours[@]}" "$nsys" profile --force-overwrite true -o "$logs/kernels" "${step13[@]}" &&
            run_step kernels-nsys-stats 60 "$nsys" stats --report cuda_gpu_kern_sum --format csv --output "$logs/kernels" \
                "$logs/kernels.nsys-rep" && mv "$logs/kernels_cuda_gpu_kern_sum.csv" "$logs/kernels.csv"
        how="nsys: every kernel of the run, the cuBLAS rate measurement after the step included"
    fi
    if [ -s "$logs/kernels.csv" ]; then
        note "Measured with $how; the sum is the GPU time of the step's kernels, not its wall time (see the timing table)."
        note ""
        $py bench/kernel_table.py "$logs/kernels.csv" --top 15 >>"$summary" 2>>"$logs/kernels-table.log" ||
            note "bench/kernel_table.py could not read the profile: $(cat "$logs/kernels-table.log")"
    else
        note "No profile: ${ncu:+ncu ran but wrote nothing}${ncu:-neither ncu nor nsys found}."
    fi
    note ""
fi

# ---- 6. the trainer ----------------------------------------------------------------------------
if wanted trainer; then
    note "## Lesson 16's trainer, --device cuda --bf16"
    note ""
    data=${BERTSTEP_CARRY:-build/carry}/data
    if [ -f $data/minilm/model.safetensors ] && gunzip -c $data/sst2-train.tsv.gz >"$logs/sst2-train.tsv"; then
        run_step trainer-bf16 90 "${ours[@]}" "$trainer" train --device cuda --bf16 --model_name_or_path $data/minilm \
            --train_file "$logs/sst2-train.tsv" --validation_file $data/sst2-dev.tsv --text_column sentence \
            --label_column label --max_train_samples 4000 --max_seq_length 64 --num_train_epochs 1 \
            --per_device_train_batch_size 16 --per_device_eval_batch_size 64 --learning_rate 1e-4 --warmup_ratio 0.1 \
            --weight_decay 0.01 --logging_steps 50 --eval_strategy epoch --save_strategy no --output_dir "$logs/trainer-run"
        rm -f "$logs/sst2-train.tsv"
        log=$logs/trainer-bf16.log
        steps=$(field "$log" 's/^trained *\([0-9]*\) steps.*/\1/p')
        took=$(field "$log" 's/^trained .* in \([^,]*\), .*/\1/p')
        sps=$(field "$log" 's/^trained .*, \([0-9.]*\) samples\/s.*/\1/p')
        acc=$(field "$log" 's/^final model on eval.*eval_accuracy \([0-9.]*\).*/\1/p')
        note "all-MiniLM-L6-v2 (carried in fp16), the first 4,000 SST-2 training sentences, 1 epoch, batch 16, max_seq_length 64,"
        note "lr 1e-4, warmup 10%, weight decay 0.01, seed 42: the CPU budget recipe of bench/RESULTS.md (CPU, fp32: dev accuracy 0.8257)."
        note ""
        note "| trainer | steps | training time | samples/s | steps/s | SST-2 dev accuracy |"
        note "|---|---|---|---|---|---|"
        note "| lesson 16 --device cuda --bf16 | ${steps:-n/a} | ${took:-n/a} | ${sps:-n/a} | $(awk -v s="$sps" 'BEGIN { if (s > 0) printf "%.1f", s / 16; else print "n/a" }') | ${acc:-n/a} |"
    else
        note "not run: $data/minilm or $data/sst2-train.tsv.gz is missing (make gpu-pack puts them there)"
    fi
    note ""
fi

# ---- 6b. NCCL: the data-parallel trainer's all-reduce on one GPU -------------------------------
# two_steps NAME LAUNCHER...: 2 logged trainer steps (MiniLM, 64 SST-2 sentences, fp32) started by LAUNCHER
two_steps() {
    local name=$1
    shift
    run_step "$name" 60 "$@" "$trainer" train --device cuda --model_name_or_path $data/minilm \
        --train_file "$logs/sst2-head.tsv" --text_column sentence --label_column label --max_train_samples 64 \
        --max_seq_length 64 --per_device_train_batch_size 16 --max_steps 2 --logging_steps 1 --eval_strategy no \
        --save_strategy no --output_dir "$logs/$name-run"
}
# logged_steps LOG: "loss L, grad_norm G" of each logged step, joined by "; "
logged_steps() {
    sed -n 's/^step \([0-9]*\)\/[0-9]* .*| loss \([^ ]*\)  grad_norm \([^ ]*\) .*/step \1: loss \2, grad_norm \3/p' "$1" |
        paste -sd';' - | sed 's/;/; /g'
}
if wanted nccl; then
    note "## NCCL on one GPU: the data-parallel trainer's all-reduce (a communicator of 1 rank)"
    note ""
    [ -f "$logs/tests-nccl.log" ] || run_step tests-nccl 60 "${ours[@]}" "$gpu_tests" nccl_
    rate=$(grep -m1 '^NCCL ' "$logs/tests-nccl.log")
    note "- ${rate:-no timing: $(grep -m1 -E '^NCCL: not run|^error|^SKIP' "$logs/tests-nccl.log")}"
    data=${BERTSTEP_CARRY:-build/carry}/data
    if [ -f $data/minilm/model.safetensors ] && gunzip -c $data/sst2-train.tsv.gz | head -n 65 >"$logs/sst2-head.tsv"; then
        launcher=()
        if mpirun=$(command -v mpirun); then
            launcher=("$mpirun" -np 1 --oversubscribe)
            [ "$(id -u)" = 0 ] && launcher+=(--allow-run-as-root)
            note "- 2 trainer steps under \`mpirun -np 1\` ($("$mpirun" --version 2>&1 | head -n1)) with BERTSTEP_NCCL=1, beside 2 without NCCL:"
        else
            note "- mpirun: not on this machine; the NCCL run is a single process with BERTSTEP_NCCL=1 (the same path: a 1-rank communicator, the bucketed all-reduce), beside one without NCCL:"
        fi
        two_steps trainer-2steps "${ours[@]}"
        two_steps trainer-2steps-nccl "${launcher[@]}" "${ours[@]}" BERTSTEP_NCCL=1
        note ""
        note "| run | logged steps |"
        note "|---|---|"
        note "| without NCCL | $(logged_steps "$logs/trainer-2steps.log") |"
        note "| NCCL ($(grep -m1 -o '[0-9]* buckets' "$logs/trainer-2steps-nccl.log" || echo 'no NCCL line')) | $(logged_steps "$logs/trainer-2steps-nccl.log") |"
        rm -f "$logs/sst2-head.tsv"
    else
        note "- no trainer runs: $data/minilm or $data/sst2-train.tsv.gz is missing (make gpu-pack puts them there)"
    fi
    note ""
fi

# ---- 7. lesson 12's ladder beside torch.matmul ------------------------------------------------
if wanted matmul; then
    note "## Lesson 12's matmul ladder beside torch.matmul, same sizes, same run"
    note ""
    run_step lesson12 90 "${ours[@]}" "$lesson12"
    if [ -n "$have_torch" ]; then
        sizes=$("${ours[@]}" "$lesson12" --help | sed -n 's/^ *--sizes .*(default: \(.*\))$/\1/p')
        run_step torch-matmul 60 $py bench/torch_matmul.py --sizes "$sizes"
    fi
    # the i-th "== size" block of each log: every kernel beside torch.matmul in the same precision
    # (fp32 for the hand kernels and cuBLAS; tf32 and bf16 for cuBLAS's tf32 and bf16)
    torch_log=$logs/torch-matmul.log
    [ -f "$torch_log" ] || torch_log=/dev/null
    note "| size | kernel | TFLOP/s | % of cuBLAS fp32 | check | torch.matmul TFLOP/s | kernel / torch.matmul |"
    note "|---|---|---|---|---|---|---|"
    awk 'FILENAME == ARGV[1] && /^== / { block++; size[block] = $2; sub(/:$/, "", size[block]); next }
         FILENAME == ARGV[1] && block {
             name = substr($0, 1, 20); sub(/ +$/, "", name); split(substr($0, 21), f, " ")
             if (name != "kernel" && f[2] ~ /^[0-9.]+$/) {
                 n++; b[n] = block; k[n] = name; tf[n] = f[2]; pct[n] = f[3]; ok[n] = index($0, "WRONG") ? "WRONG" : "ok"
             } }
         FILENAME == ARGV[2] && /^== / { tblock++; next }
         FILENAME == ARGV[2] && tblock && ($1 == "fp32" || $1 == "tf32" || $1 == "bf16") { torch[tblock, $1] = $3 }
         END { for (i = 1; i <= n; i++) {
                   p = k[i] ~ /tf32/ ? "tf32" : k[i] ~ /bf16/ ? "bf16" : "fp32"; t = torch[b[i], p]
                   r = (t > 0 && tf[i] > 0) ? sprintf("%.2fx", tf[i] / t) : "n/a"
                   printf "| %s | %s | %s | %s | %s | %s | %s |\n", size[b[i]], k[i], tf[i], pct[i], ok[i],
                          t == "" ? "n/a" : t " (" p ")", r } }' "$logs/lesson12.log" "$torch_log" >>"$summary"
    note ""
fi

# ---- 8. more precisions ------------------------------------------------------------------------
if wanted more; then
    timing_rows=""
    ours_and_torch bert-base 128 fp16
    ours_and_torch bert-base 128 fp32
    note "## Lesson 13 at bert-base in fp16 (dynamic loss scaling; PyTorch: autocast + GradScaler) and fp32 (TF32 off)"
    note ""
    timing_table
fi

# ---- 9. torch.compile, when there is time -----------------------------------------------------
if wanted compile && [ -n "$have_torch" ]; then
    note "## torch.compile (mode default) of PyTorch's bert-base bf16 step, batch 32 x 128"
    note ""
    if [ "$(left)" -ge 150 ]; then
        run_step torch-compile 240 $py bench/torch_bert_step.py --shape bert-base --batch 32 --seq 128 --precision bf16 \
            --compile --warmup 3 --steps 20
        compiled=$(field "$logs/torch-compile.log" 's/^PyTorch compiled step: [0-9.]* ms, \([0-9.]*\) samples\/s.*/\1/p')
        ours_bf16=$(field "$logs/lesson13-bert-base-128-bf16.log" 's/^GPU step: [0-9.]* ms, \([0-9.]*\) samples\/s.*/\1/p')
        note "| PyTorch compiled samples/s | lesson 13 bf16 samples/s (timing above) | lesson 13 / torch.compile |"
        note "|---|---|---|"
        note "| ${compiled:-n/a} | ${ours_bf16:-n/a} | **$(ratio "$ours_bf16" "$compiled")** |"
    else
        note "not run: $(left) s left, a compilation takes about a minute and more"
    fi
    note ""
fi

note "## Steps of this run (bench/gpu_quick.sh; logs in logs.tar.gz)"
note ""
note "| step | result | seconds |"
note "|---|---|---|"
printf '%s' "$step_rows" >>"$summary"
note ""
note "Wall time: $((SECONDS - start)) s of the ${GPU_QUICK_SECONDS:-470} s budget."
# (not the trainer's saved model, nor a profiler's report: the device returns files of at most 16 MiB)
tar -czf "$out/logs.tar.gz" --exclude='*.safetensors' --exclude='*.nsys-rep' --exclude='*.sqlite' -C "$logs" . &&
    rm -rf "$logs"
cat "$summary"
echo "wrote $summary and $out/logs.tar.gz (exit $failed)"
exit $failed
