# bench/gpu_env.sh — sourced (not run) by bench/gpu_quick.sh, bench/gpu.sh and `make test-gpu`:
# where the GPU programs are, and the shared libraries they need on this machine.
#
#   BERTSTEP_BIN  the folder of 12_cuda_matmul, 13_bert_cuda, 16_trainer and gpu_tests: bin/ of
#                 BERTSTEP_CARRY (build/carry) where `make gpu-pack` put them (for a GPU machine
#                 that cannot build), else build/ (bertstep_program gives each one's path)
#   BERTSTEP_LD   the LD_LIBRARY_PATH to run them with: CUDA's cuBLAS (the toolkit's, else the one
#                 in python3's nvidia wheels), NCCL's libnccl.so.2 likewise (loaded at run time by
#                 the data-parallel trainer; 200 MiB, never carried), then a folder with those libraries of
#                 BERTSTEP_CARRY/lib that this machine lacks. Only those: a carried library older
#                 than the system's would hide the newer one from programs that need it.
#
# Set BERTSTEP_BIN or BERTSTEP_CARRY beforehand to run other programs (tests/gpu_quick_stub.sh).
bertstep_carry=${BERTSTEP_CARRY:-build/carry}
if [ -z "${BERTSTEP_BIN:-}" ]; then
    if [ -d "$bertstep_carry/bin" ]; then BERTSTEP_BIN=$bertstep_carry/bin; else BERTSTEP_BIN=build; fi
fi

# bertstep_program NAME: the path of GPU program NAME (gpu_tests lives in build/tests/ when built here)
bertstep_program() {
    if [ "$1" = gpu_tests ] && [ "$BERTSTEP_BIN" = build ]; then echo build/tests/gpu_tests; else echo "$BERTSTEP_BIN/$1"; fi
}

# bertstep_cuda_libs [LIB]: the folder of LIB (cuBLAS 13, what nvcc 13 links, by default): the
# toolkit's lib64, else the pip wheel's (nvidia-cublas, nvidia-nccl-cu13)
bertstep_cuda_libs() {
    local d f lib=${1:-libcublas.so.13}
    for d in "$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")/../lib64" \
             /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -e "$d/$lib" ] && { echo "$d"; return; }
    done
    for d in $(${PYTHON:-python3} -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
        f=$(find "$d/nvidia" -name "$lib" 2>/dev/null | head -n1)
        [ -n "$f" ] && { dirname "$f"; return; }
    done
}

# bertstep_missing_libs LD_PATH: a new folder of links to the carried libraries that the programs
# do not find with LD_PATH (nothing when they find all)
bertstep_missing_libs() {
    [ -d "$bertstep_carry/lib" ] || return 0
    local dir="" lib p programs=""
    for p in 12_cuda_matmul 13_bert_cuda 16_trainer gpu_tests; do
        [ -x "$(bertstep_program $p)" ] && programs="$programs $(bertstep_program $p)"
    done
    for lib in $(LD_LIBRARY_PATH="$1" ldd $programs 2>/dev/null | awk '/not found/{print $1}' | sort -u); do
        [ -e "$bertstep_carry/lib/$lib" ] || continue
        [ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/bertstep-libs.XXXXXX")
        ln -sf "$(cd "$bertstep_carry/lib" && pwd)/$lib" "$dir/"
    done
    echo "$dir"
}

BERTSTEP_LD=$(bertstep_cuda_libs)
bertstep_nccl_dir=$(bertstep_cuda_libs libnccl.so.2)
[ -n "$bertstep_nccl_dir" ] && [ "$bertstep_nccl_dir" != "$BERTSTEP_LD" ] && BERTSTEP_LD="$BERTSTEP_LD${BERTSTEP_LD:+:}$bertstep_nccl_dir"
BERTSTEP_LD="$BERTSTEP_LD${BERTSTEP_LD:+:}$(bertstep_missing_libs "$BERTSTEP_LD")"
BERTSTEP_LD="${BERTSTEP_LD%:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BERTSTEP_LD=${BERTSTEP_LD#:}
