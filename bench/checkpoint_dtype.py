"""checkpoint_dtype.py — rewrite a safetensors checkpoint with its float tensors in another dtype.

    python3 bench/checkpoint_dtype.py fp16|fp32 IN.safetensors OUT.safetensors

`make gpu-pack` (bench/gpu_pack.sh) stores all-MiniLM-L6-v2 in fp16 to carry it to a GPU machine
that has no network (a call carries at most 64 MiB; the fp32 file is 87 MiB); lesson 16 reads the
fp16 file as it is, and bench/gpu.sh's trainer section widens it back to fp32 for the Hugging Face
Trainer: fp16 -> fp32 is exact, so the only change is the one rounding to fp16: at most
2^-11 relative for a value in fp16's normal range (above 6.1e-5 in size), at most 3e-8 absolute
below it; a value past fp16's largest (65504) is refused. Needs numpy and safetensors."""
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

FORMATS = {"fp16": np.float16, "fp32": np.float32}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in FORMATS:
        sys.exit(__doc__.split("\n\n")[1])
    dtype, src, dst = FORMATS[sys.argv[1]], sys.argv[2], sys.argv[3]
    tensors = load_file(src)
    out = {}
    for name, t in tensors.items():
        if t.dtype.kind != "f":
            out[name] = t
            continue
        if dtype == np.float16:
            big = np.abs(t).max(initial=0)
            if big > np.finfo(np.float16).max:
                sys.exit(f"error: {src}: tensor {name} holds {big:g}, past fp16's largest value 65504")
        out[name] = t.astype(dtype)
    save_file(out, dst + ".tmp")
    os.replace(dst + ".tmp", dst)
    print(f"{dst}: {len(out)} tensors in {sys.argv[1]}")


if __name__ == "__main__":
    main()
