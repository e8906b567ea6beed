#!/usr/bin/env bash
# bench/gpu_pack.sh (`make gpu-pack`) — on a build machine with nvcc (no GPU needed): build the GPU
# programs and put into build/carry/ all that bench/gpu_quick.sh needs on a GPU machine that
# cannot build them (no Debian packages, no network), and nothing else:
#   bin/    12_cuda_matmul, 13_bert_cuda, 16_trainer, gpu_tests (host debug sections stripped;
#           the kernels keep their -lineinfo, which compute-sanitizer reports with)
#   lib/    the shared libraries they load, except glibc's, the C++ runtime's and CUDA's own (any
#           machine that runs PyTorch has those); bench/gpu_env.sh uses only the ones it lacks
#   data/   the trainer's inputs: all-MiniLM-L6-v2 with its weights in fp16 (the trainer reads F16
#           tensors; 44 MiB instead of 87), SST-2 train (gzipped) and dev
#   COMMIT  the commit the programs were built from (and "+ changes" when the tree had some)
# A device call carries at most 64 MiB, the repository's files included: the script prints the
# total and fails above CARRY_LIMIT_MIB (60). Needs `make data` done and a python3 with numpy and
# safetensors for the fp16 copy (.venv/bin/python from `make venv`, else python3; PYTHON=... names another).
set -euo pipefail
cd "$(dirname "$0")/.."
programs="build/12_cuda_matmul build/13_bert_cuda build/16_trainer build/tests/gpu_tests"
model=data/cache/models/all-MiniLM-L6-v2
sst2=data/cache/sst2
for f in $model/model.safetensors $model/config.json $model/vocab.txt $sst2/train.tsv $sst2/dev.tsv; do
    [ -f "$f" ] || { echo "error: $f is missing: run 'make data' first" >&2; exit 1; }
done

make -j"${JOBS:-2}" $programs
rm -rf build/carry && mkdir -p build/carry/bin build/carry/lib build/carry/data/minilm
for p in $programs; do strip --strip-debug -o "build/carry/bin/${p##*/}" "$p"; done
# every shared library they load except glibc's, the C++ runtime's and CUDA's
ldd $programs | awk '/=> \//{print $3}' | sort -u |
    grep -vE '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcublas|libcublasLt|libcudart|libcuda)\.so' |
    xargs -r cp -L -t build/carry/lib/

cp $model/config.json $model/vocab.txt build/carry/data/minilm/
[ -f $model/tokenizer_config.json ] && cp $model/tokenizer_config.json build/carry/data/minilm/
${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )} bench/checkpoint_dtype.py fp16 $model/model.safetensors build/carry/data/minilm/model.safetensors
gzip -9 -c $sst2/train.tsv >build/carry/data/sst2-train.tsv.gz
cp $sst2/dev.tsv build/carry/data/sst2-dev.tsv

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit + changes"
echo "$commit" >build/carry/COMMIT

carry_kib=$(du -sk build/carry | cut -f1)
repo_kib=$(git ls-files -z --cached --others --exclude-standard | du -ck --files0-from=- 2>/dev/null | tail -n1 | cut -f1)
total_mib=$(((carry_kib + repo_kib + 1023) / 1024))
echo "packed build/carry: $((carry_kib / 1024)) MiB (bin: $(ls build/carry/bin | tr '\n' ' '); lib: $(ls build/carry/lib | tr '\n' ' '))"
echo "with the repository's files: $total_mib MiB of the 64 MiB a device call carries"
if [ "$total_mib" -gt "${CARRY_LIMIT_MIB:-60}" ]; then
    echo "error: $total_mib MiB is over CARRY_LIMIT_MIB (${CARRY_LIMIT_MIB:-60})" >&2
    exit 1
fi
echo "device call: command 'bash bench/gpu_quick.sh', carry [\"build/carry\"], timeout_s 600"
