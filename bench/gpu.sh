#!/usr/bin/env bash
# bench/gpu.sh — the whole GPU check in one command, for a session on a machine with an NVIDIA
# GPU (built for sm_90: H100/H200):
#   1. build the GPU programs (make, NVFLAGS -arch=sm_90) and run the GPU tests (make test-gpu);
#   2. the same tests' kernels under compute-sanitizer (memcheck, racecheck) where it works;
#   3. lesson 12's full sweep (every kernel checked against the CPU, then timed);
#   4. PyTorch's torch.matmul at the same sizes, the named baseline (bench/torch_matmul.py);
#   5. lesson 13's BERT training step (forward, backward, clipping, AdamW) at bert-base's shape
#      and at all-MiniLM-L6-v2's, batch 32 x 128, in float32 and TF32, each beside the same step in
#      PyTorch eager (bench/torch_bert_step.py): samples/s, the ratio to PyTorch, and MFU against
#      the cuBLAS rate the lesson measures in the same run. The float32 runs also check the GPU
#      step against the CPU step (lesson 13 exits 1 when they disagree), and with
#      --gradient_checkpointing time the same step with every layer recomputed in the backward:
#      its cost in step time, the activation memory it saves, its gradients against the step's.
#   5b. (section mixed) lesson 13's step in bf16 and fp16 (float32 master weights; fp16 with
#      dynamic loss scaling: --precision bf16|fp16) at bert-base's shape, batch 32 x 128 and
#      32 x 512, and at all-MiniLM-L6-v2's, 32 x 128, beside PyTorch eager with autocast (bf16;
#      fp16 + GradScaler) and torch.compile (mode default) of the same bf16 step
#      (bench/torch_bert_step.py --precision P [--compile]): samples/s, our ratio to each, and
#      model FLOP utilisation of each against the cuBLAS bf16/fp16 rate lesson 13 measures in
#      the same run. MIXED_RUNS="bert-base:512" runs some of the three shape:sequence pairs (to
#      split the section over two 600-second commands).
#   6. lesson 16's trainer on `make run`'s GPU recipe (scripts/run_main.sh: SST-2, 3 epochs, batch 32,
#      lr 2e-5, --device cuda) beside the Hugging Face Trainer on the same recipe
#      (bench/hf_trainer_sst2.py): dev accuracy and training wall time of each. TRAINER_MAX_STEPS=N
#      shortens both to N optimizer steps (to fit a 600-second command); TRAINER_SEEDS="42 43 44"
#      runs both trainers once per seed (default 42; the issue's comparison is the mean over 3 seeds,
#      which may take more than one 600-second command: run the seeds in turn).
# Logs and RESULTS-gpu.md (machine, date and every table, ready for bench/RESULTS.md) go to
# $OUT when it is set, else to bench/out/. The exit status is 1 when a test, a sanitizer or the
# sweep found an error.
#
#   bash bench/gpu.sh           run everything (builds first when this machine can)
#   bash bench/gpu.sh matmul    the tests, then sections 2-4 only (lesson 12)
#   bash bench/gpu.sh bert      the tests, then section 5 only (lesson 13, fp32 and tf32)
#   bash bench/gpu.sh mixed     the tests, then section 5b only (lesson 13, bf16 and fp16)
#   bash bench/gpu.sh trainer   the tests, then section 6 only (lesson 16; needs data/cache)
#   bash bench/gpu.sh pack      on a build machine without a GPU: build the GPU programs only,
#                               copy the shared libraries they need into build/gpu-libs/, and the
#                               trainer section's checkpoint (fp16) and SST-2 into build/carry/
#
# Building needs nvcc and the Debian packages of scripts/deps.sh. A GPU machine that has nvcc
# but not those packages (and no network to install them) runs what `pack` built on another
# x86-64 machine, carried along in build/ (with the device tool: carry ["build"]). Each half
# (matmul, bert) takes a few minutes; where one command may run at most 600 seconds, run the two
# halves as two commands (their RESULTS-gpu.md files then go to two $OUT folders).
set -uo pipefail
cd "$(dirname "$0")/.."

programs="build/12_cuda_matmul build/13_bert_cuda build/16_trainer build/tests/gpu_tests"

if [ "${1:-}" = pack ]; then
    set -e
    make -j2 $programs
    rm -rf build/gpu-libs && mkdir -p build/gpu-libs
    # every shared library they use except glibc's and CUDA's own (the GPU machine has those)
    ldd $programs | awk '/=> \//{print $3}' | sort -u |
        grep -vE '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libcublas[^/]*|libcuda[^/]*)\.so' |
        xargs -r cp -L -t build/gpu-libs/
    # The trainer section's checkpoint and data: the GPU machine has no network, and a call carries
    # at most 64 MiB. all-MiniLM-L6-v2 goes in fp16 (43 MiB instead of 87; the section turns it back
    # into fp32 there, so both trainers start from the same weights, each rounded to fp16: a
    # relative change of at most 2^-11), SST-2 gzipped.
    make data
    rm -rf build/carry && mkdir -p build/carry/minilm
    m=data/cache/models/all-MiniLM-L6-v2
    cp $m/config.json $m/vocab.txt $m/tokenizer_config.json build/carry/minilm/
    ${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )} bench/checkpoint_dtype.py fp16 $m/model.safetensors build/carry/minilm/model.safetensors
    gzip -9 -c data/cache/sst2/train.tsv >build/carry/sst2-train.tsv.gz
    gzip -9 -c data/cache/sst2/dev.tsv >build/carry/sst2-dev.tsv.gz
    echo "packed: $programs, build/gpu-libs/ ($(ls build/gpu-libs | tr '\n' ' ')) and build/carry/ ($(du -sh build/carry | cut -f1))"
    echo "carry: [$(printf '"%s", ' $programs build/gpu-libs) \"build/carry\"]"
    exit 0
fi

# unpack_carried: the trainer section's data/cache from build/carry (bench/gpu.sh pack), where the
# machine could not fetch it.
unpack_carried() {
    local m=data/cache/models/all-MiniLM-L6-v2
    [ -f $m/model.safetensors ] && [ -f data/cache/sst2/train.tsv ] && return 0
    [ -d build/carry ] || return 0
    mkdir -p $m data/cache/sst2
    cp build/carry/minilm/config.json build/carry/minilm/vocab.txt build/carry/minilm/tokenizer_config.json $m/
    python3 bench/checkpoint_dtype.py fp32 build/carry/minilm/model.safetensors $m/model.safetensors
    gunzip -c build/carry/sst2-train.tsv.gz >data/cache/sst2/train.tsv
    gunzip -c build/carry/sst2-dev.tsv.gz >data/cache/sst2/dev.tsv
    note "checkpoint: all-MiniLM-L6-v2 carried in fp16 and widened to fp32 here (both trainers start from it)"
}

sections="${1:-all}"
case $sections in all | matmul | bert | mixed | trainer) ;; *) echo "usage: bash bench/gpu.sh [all|matmul|bert|mixed|trainer|pack]" >&2; exit 2 ;; esac
run_matmul() { [ "$sections" = all ] || [ "$sections" = matmul ]; }
run_bert() { [ "$sections" = all ] || [ "$sections" = bert ]; }
run_mixed() { [ "$sections" = all ] || [ "$sections" = mixed ]; }
run_trainer() { [ "$sections" = all ] || [ "$sections" = trainer ]; }

out="${OUT:-bench/out}"
mkdir -p "$out"
status=0
note() { printf '%s\n' "$*" | tee -a "$out/RESULTS-gpu.md"; }
fail() { echo "FAILED: $*" | tee -a "$out/RESULTS-gpu.md"; status=1; }
: >"$out/RESULTS-gpu.md"

command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 ||
    echo "warning: nvidia-smi sees no GPU here; the programs will say what they find" >&2

# CUDA's shared libraries (cuBLAS) for programs built elsewhere: the toolkit's, or the pip wheels'.
cuda_libs=""
for d in "$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")/../lib64" \
         /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -e "$d/libcublas.so.13" ] && cuda_libs="$cuda_libs:$d"
done
if command -v python3 >/dev/null; then
    for d in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
        for f in $(find "$d/nvidia" -name 'libcublas.so.13' 2>/dev/null); do cuda_libs="$cuda_libs:$(dirname "$f")"; done
    done
fi
export LD_LIBRARY_PATH="${cuda_libs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# 1. build, and the GPU tests
if command -v nvcc >/dev/null && bash scripts/deps.sh --check 2>/dev/null; then
    make -j"$(nproc)" test-gpu >"$out/test-gpu.log" 2>&1 || fail "make test-gpu (see test-gpu.log)"
    built="built here with nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
elif [ -x build/12_cuda_matmul ] && [ -x build/13_bert_cuda ] && [ -x build/tests/gpu_tests ]; then
    built="carried from a build machine (bench/gpu.sh pack)"
    # libraries this machine lacks come from build/gpu-libs, and only those
    mkdir -p /tmp/bertstep-libs
    for lib in $(ldd $programs | awk '/not found/{print $1}' | sort -u); do
        [ -e "build/gpu-libs/$lib" ] && ln -sf "$PWD/build/gpu-libs/$lib" /tmp/bertstep-libs/
    done
    export LD_LIBRARY_PATH="/tmp/bertstep-libs:$LD_LIBRARY_PATH"
    build/tests/gpu_tests >"$out/test-gpu.log" 2>&1 || fail "build/tests/gpu_tests (see test-gpu.log)"
else
    echo "error: cannot build here (needs nvcc and: bash scripts/deps.sh --check) and no carried $programs;" \
         "run 'bash bench/gpu.sh pack' on a build machine and carry build/" >&2
    exit 1
fi

note "# GPU results ($(date -u '+%Y-%m-%d %H:%M UTC'))"
note ""
note "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo unknown)"
note "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
note "- programs: $built, NVFLAGS -arch=sm_90"
note ""
note "## GPU tests"
note ""
note '```text'
grep -E '^(GPU|PASS|FAIL|SKIP|  )|passed' "$out/test-gpu.log" | tee -a "$out/RESULTS-gpu.md"
note '```'
grep -q '^SKIP: no CUDA device' "$out/test-gpu.log" && fail "no CUDA device on this machine: nothing below was measured"

# 2. compute-sanitizer: out-of-bounds accesses (memcheck) and shared-memory races (racecheck)
# in the kernels' tests. It exits 99 when it finds an error; other failures mean that the tool
# does not work on this machine (it does not under gVisor), which is reported, not failed.
# sanitize "TOOL TESTS" ...: one run per argument.
sanitize() {
    if ! command -v compute-sanitizer >/dev/null; then
        note "- compute-sanitizer: not installed"
        return
    fi
    for run in "$@"; do
        set -- $run
        timeout 150 compute-sanitizer --tool "$1" --error-exitcode 99 build/tests/gpu_tests "$2" >>"$out/sanitizer.log" 2>&1
        rc=$?
        case $rc in
            0) note "- compute-sanitizer --tool $1 on tests '$2': no errors" ;;
            99) fail "compute-sanitizer --tool $1 on tests '$2' found errors (see sanitizer.log)" ;;
            *) note "- compute-sanitizer --tool $1 did not run here or timed out (exit $rc, see sanitizer.log)" ;;
        esac
    done
}
run_matmul && sanitize "memcheck hand_kernels" "memcheck cublas_" "racecheck hand_kernels_match_cpu"
run_bert && sanitize "memcheck bert_kernels_match_cpu_small" "racecheck bert_kernels_match_cpu_small" "memcheck bert_model"
run_mixed && sanitize "memcheck bert_mixed_precision"

# lesson13 TITLE LOG FLAGS...: a "### TITLE" block of the results with lesson 13's run (its output
# also into LOG); sets ours (samples/s), our_mfu (%) and rate (the cuBLAS TFLOP/s it measured).
lesson13() {
    local title=$1 log=$2
    shift 2
    note "### $title"
    note '```text'
    note "\$ build/13_bert_cuda $*"
    build/13_bert_cuda "$@" 2>&1 | tee "$log" | tee -a "$out/RESULTS-gpu.md"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "build/13_bert_cuda $*"
    ours=$(sed -n 's/^GPU step: \([0-9.]*\) ms, \([0-9.]*\) samples\/s.*/\2/p' "$log")
    our_mfu=$(sed -n 's/.*= \([0-9.]*\)% of that cuBLAS rate.*/\1/p' "$log")
    rate=$(sed -n 's/^cuBLAS .*: \([0-9.]*\) TFLOP\/s in this run$/\1/p' "$log")
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
mfu() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1f%%", 100 * a / b; else print "n/a" }'; }
# have_torch: python3 can run the PyTorch baselines (bench/torch_bert_step.py)
have_torch=$(python3 -c 'import torch, transformers' 2>/dev/null && echo yes)

if run_matmul; then
# 3. lesson 12's sweep, at its default sizes
note ""
note "## Lesson 12 (build/12_cuda_matmul)"
note ""
note '```text'
build/12_cuda_matmul 2>&1 | tee "$out/12_cuda_matmul.txt" | tee -a "$out/RESULTS-gpu.md" || fail "build/12_cuda_matmul"
note '```'

# 4. PyTorch at the same sizes (the lesson's default --sizes, read from its --help)
sizes=$(build/12_cuda_matmul --help | sed -n 's/^ *--sizes .*(default: \(.*\))$/\1/p')
note ""
note "## PyTorch torch.matmul, same sizes (bench/torch_matmul.py)"
note ""
note '```text'
if python3 -c 'import torch' 2>/dev/null; then
    python3 bench/torch_matmul.py --sizes "$sizes" 2>&1 | tee "$out/torch_matmul.txt" | tee -a "$out/RESULTS-gpu.md" ||
        fail "bench/torch_matmul.py"
else
    note "python3 has no torch here: the PyTorch baseline was not measured"
fi
note '```'
fi

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
    bash scripts/run_main.sh $steps_flag --seed "$seed" --output_dir "$out/trainer-run-$seed" >"$out/trainer-$seed.log" 2>&1 ||
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
