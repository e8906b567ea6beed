# bert_step_setup.sh — sourced by bert_step_cpu.sh and bert_step_bf16_cpu.sh: what both time and
# how. One training step of MODEL (default all-MiniLM-L6-v2, batch BATCH 32 x SEQ 64 tokens,
# STEPS 5 timed) on THREADS threads (default: every core), REPEATS runs each (default 3).
# Sets ARGS (bench/bert_step's flags), CPU_FLAGS (the ISA extensions that pick the kernels) and
# min A B; exits 0 with a line when the model is not fetched.
MODEL=${MODEL:-data/cache/models/all-MiniLM-L6-v2}
THREADS=${OMP_NUM_THREADS:-$(nproc)}
REPEATS=${REPEATS:-3}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}   # as the Makefile sets it (see Makefile)
ARGS="--model_name_or_path $MODEL --per_device_train_batch_size ${BATCH:-32} --max_seq_length ${SEQ:-64} --steps ${STEPS:-5}"
[ -d "$MODEL" ] || { echo "$(basename "$0" .sh): $MODEL not found (run make data)"; exit 0; }
CPU_FLAGS=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|avx512f|avx512_bf16|amx_tile' | xargs)
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }
