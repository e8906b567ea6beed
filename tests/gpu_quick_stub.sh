#!/usr/bin/env bash
# tests/gpu_quick_stub.sh (run by `make test`) — bench/gpu_quick.sh end to end on a machine without
# a GPU: every program it calls is replaced by a stand-in that prints what the real one prints
# (the lines the script reads, in the programs' formats): nvidia-smi, mpirun, the four GPU programs,
# compute-sanitizer, ncu, nsys, and python3's bench/torch_*.py. Checks that
#   1. summary.txt has every table, with the numbers and ratios the stand-ins imply, and that a
#      failing test group, a sanitizer that finds errors and a later step all get their rows (a
#      failure does not stop the steps after it); $OUT holds summary.txt and logs.tar.gz only;
#   2. the deadline cuts a step that would run too long, and the steps after it are not started;
#   3. without ncu the kernel table comes from nsys; 4. when ncu's NVTX filter keeps no kernel,
#      from ncu's profile of the whole run.
# Prints "ok" lines and exits 1 at the first failed check. Takes about 10 seconds.
set -uo pipefail
cd "$(dirname "$0")/.."
for f in bench/*.sh tests/gpu_quick_stub.sh; do bash -n "$f" || { echo "FAIL: bash -n $f" >&2; exit 1; }; done

tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
real_py=$(python3 -c 'import sys; print(sys.executable)')
mkdir -p "$tmp/carry/bin" "$tmp/carry/lib" "$tmp/path" "$tmp/nsys" "$tmp/carry/data/minilm"
: >"$tmp/carry/data/minilm/model.safetensors"
: >"$tmp/carry/lib/libstub_only.so.1"
printf 'sentence\tlabel\n' | gzip >"$tmp/carry/data/sst2-train.tsv.gz"

# stub NAME BODY: an executable stand-in $tmp/NAME
stub() {
    printf '#!/usr/bin/env bash\n%s\n' "$2" >"$tmp/$1"
    chmod +x "$tmp/$1"
}
# known_flags REAL [SUBCOMMAND]: (in a stand-in) exit 2 when an --option of its arguments is not in
# the real program's --help (build/, built by make test first), so the script's flags are real ones
known_flags='known_flags() {
    local real=$1 a; shift
    [ -x "$real" ] || return 0
    local help; help=$(env -u LD_LIBRARY_PATH "$real" "$@" --help 2>&1)
    for a in $args; do
        [[ $a == --* ]] || continue
        grep -q -- "^  $a " <<<"$help" || { echo "error: $real has no option $a"; exit 2; }
    done
}'

stub path/ldd 'echo "$1:"; echo "	libstub_only.so.1 => not found"'
# mpirun: its version, else the command after its options (-np N and flags), run as it is
stub path/mpirun '
[ "$1" = --version ] && { echo "mpirun (Open MPI) 4.1.4 (stub)"; exit 0; }
while [[ $1 == -* ]]; do [ "$1" = -np ] && shift; shift; done
exec "$@"'
stub path/nvidia-smi 'echo "NVIDIA H100 80GB HBM3 (stub), 580.159.04, 81559 MiB"'

# gpu_tests FILTER...: PASS (or FAIL, for names containing $STUB_FAIL) for every test of
# tests/gpu/*.cu whose name contains a filter; sleeps when a filter contains $STUB_SLOW; a CUDA
# error line (naming the launch under BERTSTEP_CUDA_SYNC=1) and exit 1 at a test named $STUB_CUDA_ERROR.
stub carry/bin/gpu_tests '
for f in "$@"; do [ -n "${STUB_SLOW:-}" ] && [[ $f == *"$STUB_SLOW"* ]] && exec sleep 30; done
echo "GPU: NVIDIA H100 80GB HBM3 (stub), compute capability 9.0, 132 SMs, 79.1 GiB, driver 13.0, runtime 13.0"
for f in "$@"; do [[ $f == nccl_* ]] && echo "NCCL 2.28.9, 1 rank: all-reduce (ncclAvg) of 109483778 floats (437.9 MB, bert-base'"'"'s gradients): 0.500 ms, 875.9 GB/s"; done
bad=0
for t in $(grep -ho "GPU_TEST([a-z0-9_]*)" tests/gpu/*.cu | sed "s/GPU_TEST(\(.*\))/\1/"); do
    for f in "$@"; do
        [[ $t == *"$f"* ]] || continue
        if [ -n "${STUB_CUDA_ERROR:-}" ] && [[ $t == *"$STUB_CUDA_ERROR"* ]]; then
            [ "${BERTSTEP_CUDA_SYNC:-}" = 1 ] && where="kernel launched here (BERTSTEP_CUDA_SYNC)" || where="cudaMemcpy(out, g->loss, 4)"
            echo "error: $where failed: an illegal memory access was encountered (cudaErrorIllegalAddress) at stub.cu:1"
            exit 1
        fi
        if [ -n "${STUB_FAIL:-}" ] && [[ $t == *"$STUB_FAIL"* ]]; then
            echo "  tests/gpu/stub.cu:1: CHECK(r.ok) failed: $t went wrong in the stub"
            echo "FAIL $t (0.20 s)"; bad=1
        else
            echo "PASS $t (0.10 s)"
        fi
        break
    done
done
exit $bad'

stub path/compute-sanitizer '
[ "$2" = racecheck ] && { echo "========= Race reported (stub)"; echo "========= ERROR SUMMARY: 1 error"; exit 99; }
shift 4; "$@"; echo "========= ERROR SUMMARY: 0 errors"'

# 13_bert_cuda: lesson 13 (printf formats of lessons/13_bert_cuda.cu); bert-base 100 ms, MiniLM 25 ms
stub carry/bin/13_bert_cuda "$known_flags"'
args="$*"; known_flags build/13_bert_cuda
ms=100.00; [[ " $* " == *" minilm "* ]] && ms=25.00
sps=$(awk -v m=$ms "BEGIN { printf \"%.1f\", 32000 / m }")
if [[ " $* " != *" --compare_cpu false "* ]]; then
    echo "CPU step: loss 0.693, grad norm 1.234, 900.0 ms, 8.9 samples/s"
    echo "check, GPU (fp32) against CPU (float32; same batch, same dropout masks):"
    echo "  logits      max rel. error 1.2e-06"
    echo "  parameters after AdamW: worst tensor rel. error 3.4e-07"
    echo "  ok: every float32 result within 1e-4"
fi
echo "GPU step: $ms ms, $sps samples/s (last loss 0.6931, grad norm 1.2340)"
echo "cuBLAS bf16 on 4096x3072x768 (this model'"'"'s feed-forward product): 600.00 TFLOP/s in this run"
echo "GPU step: 300.00 TFLOP/s of model FLOPs = 50.0% of that cuBLAS rate (MFU against cuBLAS)"'

# 12_cuda_matmul: its --help default sizes, then one block per size (kernel rows "%-20s %10.4f %9.2f %9.1f%%  %s")
stub carry/bin/12_cuda_matmul "$known_flags"'
args="$*"; known_flags build/12_cuda_matmul
if [ "${1:-}" = --help ]; then
    echo "  --sizes S                                comma-separated MxNxK (default: 4096x768x768,4096x4096x4096)"; exit 0
fi
for size in 4096x768x768 4096x4096x4096; do
    echo; echo "== $size: stub: 4.832 GFLOP; CPU reference (sgemm, both products) 0.10 s =="
    printf "%-20s %10s %9s %10s  %s\n" kernel ms TFLOP/s "% cuBLAS" "check: worst |error| / tolerance"
    printf "%-20s %10.4f %9.2f %9.1f%%  %s\n" "1 naive" 5 1.00 5.0 "ok 0.01" cublas 0.25 20.00 100.0 "ok 0.01" \
        cublas_bf16 0.0125 400.00 2000.0 "ok 0.2"
done'

# 16_trainer: the summary lines of lessons/16_trainer.c, when its LD_LIBRARY_PATH has the carried
# libstub_only.so.1 that (the stand-in) ldd says this machine lacks
stub carry/bin/16_trainer "$known_flags"'
args="${*:2}"; known_flags build/16_trainer train
for d in ${LD_LIBRARY_PATH//:/ }; do [ -e "$d/libstub_only.so.1" ] && found=1; done
[ -n "${found:-}" ] || { echo "error while loading shared libraries: libstub_only.so.1: cannot open shared object file"; exit 127; }
while [ "$1" != --output_dir ]; do shift; done
mkdir -p "$2" && echo "weights" >"$2/model.safetensors" && echo "{}" >"$2/trainer_state.json"
[ "${BERTSTEP_NCCL:-}" = 1 ] && echo "data parallel on GPUs: NCCL averages the gradients of 1 rank, 7 buckets (one encoder layer each) all-reduced while the backward runs"
echo "step 1/2  epoch 0.25 | loss 0.6925  grad_norm 0.6756  learning_rate 5.000e-05 | 8.5 samples/s"
echo "step 2/2  epoch 0.50 | loss 0.6949  grad_norm 0.4067  learning_rate 2.500e-05 | 21.1 samples/s"
echo "trained              250 steps (250 this run) in 10s, 400.0 samples/s, train loss 0.3500"
echo "final model on eval  eval_loss 0.4000  eval_accuracy 0.8300  eval_f1 0.8290"'

# ncu: the CSV of `--csv --metrics gpu__time_duration.sum` into --log-file
# (only the header when filtering by NVTX with STUB_NO_NVTX=1: no range matched)
stub path/ncu '
[[ " $* " == *" --nvtx "* ]] && nvtx=1
while [ "$1" != --log-file ]; do shift; done
[ -n "${STUB_NO_NVTX:-}" ] && [ -n "${nvtx:-}" ] && { echo "\"ID\",\"Kernel Name\",\"Metric Name\",\"Metric Unit\",\"Metric Value\"" >"$2"; exit 0; }
{
echo "==PROF== Connected to process 1"
echo "\"ID\",\"Process ID\",\"Process Name\",\"Host Name\",\"Kernel Name\",\"Context\",\"Stream\",\"Block Size\",\"Grid Size\",\"Device\",\"CC\",\"Section Name\",\"Metric Name\",\"Metric Unit\",\"Metric Value\""
for row in "0 gelu_forward_kernel 30,000" "1 nvjet_tst_128x64 60,000" "2 gelu_forward_kernel 10,000"; do
    set -- $row
    echo "\"$1\",\"1\",\"13_bert_cuda\",\"h\",\"$2\",\"1\",\"7\",\"(256, 1, 1)\",\"(9, 1, 1)\",\"0\",\"9.0\",\"Command line profiler metrics\",\"gpu__time_duration.sum\",\"nsecond\",\"$3\""
done
} >"$2"'

# nsys: profile touches the report; stats writes BASE_cuda_gpu_kern_sum.csv
stub nsys/nsys '
case $1 in
profile) while [ "$1" != -o ]; do shift; done; : >"$2.nsys-rep" ;;
stats) while [ "$1" != --output ]; do shift; done
       printf "%s\n" "Time (%),Total Time (ns),Instances,Avg (ns),Med (ns),Min (ns),Max (ns),StdDev (ns),Name" \
           "75.0,90000,3,30000,30000,30000,30000,0,softmax_forward_kernel" "25.0,30000,1,30000,30000,30000,30000,0,adamw_kernel" \
           >"$2_cuda_gpu_kern_sum.csv" ;;
esac'

# python3: torch and transformers "importable", bench/torch_*.py printing their result lines, the
# rest (bench/kernel_table.py, gpu_env.sh's site query) by the real python3
stub path/python3 '
case "$1" in
-c) if [[ $2 == *"import torch"* ]]; then [[ $2 == *print* ]] && echo "torch 2.11.0 (stub), transformers 5.17.0 (stub)"; exit 0; fi ;;
bench/torch_bert_step.py)
    ms=200.00; [[ " $* " == *" minilm "* ]] && ms=100.00
    kind=eager; [[ " $* " == *" --compile "* ]] && { kind=compiled; ms=150.00; }
    echo "PyTorch $kind step: $ms ms, $(awk -v m=$ms "BEGIN { printf \"%.1f\", 32000 / m }") samples/s, 100.00 TFLOP/s of model FLOPs (last loss 0.6931)"
    exit 0 ;;
bench/torch_matmul.py)
    for size in 4096x768x768 4096x4096x4096; do
        echo; echo "== $size: 4.832 GFLOP =="; echo "torch.matmul                 ms   TFLOP/s  worst |error| / sum |a||b|"
        printf "%-20s %10.4f %9.2f  %s\n" fp32 0.2 25.00 1e-7 tf32 0.1 50.00 1e-4 bf16 0.01 500.00 1e-3
    done
    exit 0 ;;
esac
exec '"$real_py"' "$@"'
cp "$tmp/path/nvidia-smi" "$tmp/path/python3" "$tmp/path/ldd" "$tmp/nsys/"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# ok N TEXT: "ok N: TEXT" when part N added no failure
ok() { [ $failures = "$before" ] && echo "ok $1: $2"; before=$failures; }
before=0
# has FILE TEXT: FILE contains the line fragment TEXT
has() { grep -qF -- "$2" "$1" || fail "$(basename "$(dirname "$1")")/summary.txt lacks: $2"; }

# quick NAME ENV...: bench/gpu_quick.sh with the stand-ins, OUT=$tmp/NAME; sets rc and wall
quick() {
    local name=$1 t0=$SECONDS
    shift
    mkdir -p "$tmp/$name"
    env BERTSTEP_CARRY="$tmp/carry" TMPDIR="$tmp" PYTHON="$tmp/path/python3" OUT="$tmp/$name" \
        GPU_QUICK_TOOL_DIRS= PATH="$tmp/path:/usr/bin:/bin" "$@" bash bench/gpu_quick.sh >"$tmp/$name.log" 2>&1
    rc=$?
    wall=$((SECONDS - t0))
}

# 1. everything, one test group failing, racecheck finding an error
quick full STUB_FAIL=mixed_precision STUB_CUDA_ERROR=trainer_cuda_checkpointing GPU_QUICK_SECONDS=200
s=$tmp/full/summary.txt
[ "$rc" = 1 ] || fail "a failed step should make the exit status 1, got $rc"
[ "$(ls "$tmp/full" | tr '\n' ' ')" = "logs.tar.gz summary.txt " ] || fail "OUT holds $(ls "$tmp/full")"
tar -tzf "$tmp/full/logs.tar.gz" >"$tmp/full.list"
grep -q 'tests-memory.log' "$tmp/full.list" || fail "logs.tar.gz lacks tests-memory.log"
grep -q 'trainer-run/trainer_state.json' "$tmp/full.list" || fail "logs.tar.gz lacks the trainer's state"
grep -q 'safetensors' "$tmp/full.list" && fail "logs.tar.gz holds the trainer's model"
has "$s" "- GPU: NVIDIA H100 80GB HBM3 (stub), 580.159.04, 81559 MiB"
has "$s" "| mixed precision | bert_mixed_precision_matches_fp32 | FAIL | 0.20 |"
has "$s" "| memory | memory_matches_the_accounting | PASS | 0.10 |"
has "$s" "| cuBLAS vs CPU | cublas_matches_cpu_all_transposes | PASS | 0.10 |"
has "$s" "| errors and the rest | errors_cublas_check_names_status | PASS | 0.10 |"
has "$s" "CHECK(r.ok) failed: bert_mixed_precision_matches_fp32 went wrong in the stub"
has "$s" "| whole model vs CPU | trainer_cuda_checkpointing_matches_plain | not run (the run ended first) |"
has "$s" "  with BERTSTEP_CUDA_SYNC=1: error: kernel launched here (BERTSTEP_CUDA_SYNC) failed: "
has "$s" "| tests-model-sync | FAILED (exit 1) |"
for t in $(grep -ho 'GPU_TEST([a-z0-9_]*)' tests/gpu/*.cu | sed 's/GPU_TEST(\(.*\))/\1/'); do
    [ "$(sed -n '/^## GPU tests/,/^## compute-sanitizer/p' "$s" | grep -c "^| [^|]* | $t | ")" = 1 ] ||
        fail "GPU test $t should have one row in the tests table"
done
has "$s" "| memcheck | bert_kernels_match_cpu_small | clean (ERROR SUMMARY: 0 errors) |"
has "$s" "| racecheck | bert_kernels_match_cpu_small | **ERRORS**: ERROR SUMMARY: 1 error |"
has "$s" "| memcheck | bert_model_matches_cpu | clean (ERROR SUMMARY: 0 errors) |"
has "$s" "  logits      max rel. error 1.2e-06"
has "$s" "| bert-base | 32 x 128 | bf16 | 100.00 | 320.0 | 50.0% | 200.00 | 160.0 | **2.00x** |"
has "$s" "| minilm | 32 x 128 | bf16 | 25.00 | 1280.0 | 50.0% | 100.00 | 320.0 | **4.00x** |"
has "$s" "| \`nvjet_tst_128x64\` | 1 | 60.0 | 60.0% | 60.00 |"
has "$s" "| \`gelu_forward_kernel\` | 2 | 40.0 | 40.0% | 20.00 |"
has "$s" "| **all 2 kernels** | 3 | 100.0 | 100% | |"
has "$s" "| lesson 16 --device cuda --bf16 | 250 | 10s | 400.0 | 25.0 | 0.8300 |"
has "$s" "- NCCL 2.28.9, 1 rank: all-reduce (ncclAvg) of 109483778 floats (437.9 MB, bert-base's gradients): 0.500 ms, 875.9 GB/s"
has "$s" "- 2 trainer steps under \`mpirun -np 1\` (mpirun (Open MPI) 4.1.4 (stub)) with BERTSTEP_NCCL=1, beside 2 without NCCL:"
has "$s" "| without NCCL | step 1: loss 0.6925, grad_norm 0.6756; step 2: loss 0.6949, grad_norm 0.4067 |"
has "$s" "| NCCL (7 buckets) | step 1: loss 0.6925, grad_norm 0.6756; step 2: loss 0.6949, grad_norm 0.4067 |"
has "$s" "| 4096x768x768 | 1 naive | 1.00 | 5.0% | ok | 25.00 (fp32) | 0.04x |"
has "$s" "| 4096x4096x4096 | cublas_bf16 | 400.00 | 2000.0% | ok | 500.00 (bf16) | 0.80x |"
has "$s" "| bert-base | 32 x 128 | fp16 | 100.00 | 320.0 | 50.0% | 200.00 | 160.0 | **2.00x** |"
has "$s" "| bert-base | 32 x 128 | fp32 |"
has "$s" "| 213.3 | 320.0 | **1.50x** |"
has "$s" "| tests-mixed | FAILED (exit 1) |"
has "$s" "| torch-compile | ok |"
has "$s" "Wall time: "
ok 1 "every table; a failing group, a CUDA error (re-run synchronized) and a sanitizer error leave the later steps measured (${wall} s)"

# 2. the deadline: the first test group would sleep 30 s; 3 s of budget
quick deadline STUB_SLOW=cublas_ GPU_QUICK_SECONDS=3 GPU_QUICK_MIN_STEP=1
s=$tmp/deadline/summary.txt
[ "$rc" = 1 ] || fail "a cut step should make the exit status 1, got $rc"
[ "$wall" -le 12 ] || fail "the run took $wall s with a 3 s deadline"
grep -qE '^\| tests-cublas \| CUT after [0-9]+ s \(the deadline\) \|' "$s" || fail "tests-cublas was not cut by the deadline"
has "$s" "| tests-kernels | not started: "
has "$s" "| lesson13-bert-base-128-bf16 | not started: "
has "$s" "| cuBLAS vs CPU | cublas_strided_batched_attention_shapes | not run (the run ended first) |"
ok 2 "the deadline cut the step that ran too long and started nothing after it (${wall} s)"

# 3. no ncu: nsys's kernel summary
mv "$tmp/path/ncu" "$tmp/ncu.off"
quick nsys GPU_QUICK_STEPS=kernels PATH="$tmp/nsys:/usr/bin:/bin"
s=$tmp/nsys/summary.txt
[ "$rc" = 0 ] || fail "the kernels step alone should pass, got $rc: $(cat "$tmp/nsys.log")"
has "$s" "Measured with nsys"
has "$s" "| \`softmax_forward_kernel\` | 3 | 90.0 | 75.0% | 30.00 |"
ok 3 "without ncu the kernel table comes from nsys"

# 4. ncu whose NVTX filter keeps no kernel: the whole run's kernels
mv "$tmp/ncu.off" "$tmp/path/ncu"
quick nonvtx GPU_QUICK_STEPS=kernels STUB_NO_NVTX=1
s=$tmp/nonvtx/summary.txt
has "$s" "the NVTX filter kept none"
has "$s" "| **all 2 kernels** | 3 | 100.0 | 100% | |"
ok 4 "when ncu's NVTX filter keeps nothing, the table holds every kernel of the run"

[ $failures = 0 ] || { echo "--- summary of run 1:"; cat "$tmp/full/summary.txt"; exit 1; }
