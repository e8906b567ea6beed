#!/usr/bin/env python3
"""bench/torch_matmul.py — PyTorch's matrix multiply on this GPU, the named baseline that lesson
12's table is read against (bench/gpu_quick.sh runs both in the same session).

    python3 bench/torch_matmul.py --sizes 4096x768x768,128x128x64x384

Sizes are lesson 12's MxNxK[xBATCH]: C (M,N) = A (M,K) @ B (K,N), a batch as one torch.matmul
of (BATCH,M,K) @ (BATCH,K,N). For each size: float32 with TF32 off, float32 with TF32 on, and
bfloat16 inputs; time = mean of --repeats products between CUDA events after --warmup ones;
TFLOP/s = 2 M N K BATCH / time. The float32 result is also checked against float64 (the worst
|error| relative to sum |a||b| is printed) so a broken setup cannot pass as fast."""
import argparse
import sys

import torch


def parse_size(text):
    parts = [int(p) for p in text.split("x")]
    if len(parts) not in (3, 4) or min(parts) < 1:
        sys.exit(f"error: --sizes: '{text}' is not MxNxK or MxNxKxBATCH")
    return parts + [1] * (4 - len(parts))


def time_ms(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / repeats


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", required=True, help="comma-separated MxNxK or MxNxKxBATCH")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    sizes = [(text, parse_size(text)) for text in a.sizes.split(",")]
    if not torch.cuda.is_available():
        print("no CUDA device found: torch.cuda.is_available() is False; nothing was timed")
        return
    torch.manual_seed(a.seed)
    print(f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}) on {torch.cuda.get_device_name(0)}")
    print(f"timing: {a.warmup} warm-up run(s), then the mean of {a.repeats} runs between CUDA events")
    for text, (M, N, K, batch) in sizes:
        shape_a, shape_b = ((batch, M, K), (batch, K, N)) if batch > 1 else ((M, K), (K, N))
        A = torch.rand(shape_a, device="cuda") * 2 - 1
        B = torch.rand(shape_b, device="cuda") * 2 - 1
        flops = 2.0 * M * N * K * batch
        exact = torch.matmul(A.double(), B.double())
        bound = torch.matmul(A.double().abs(), B.double().abs())
        print(f"\n== {text}: {flops / 1e9:.4g} GFLOP ==")
        print(f"{'torch.matmul':<20} {'ms':>10} {'TFLOP/s':>9}  worst |error| / sum |a||b|")
        for name, tf32, dtype in (("fp32", False, torch.float32), ("tf32", True, torch.float32),
                                  ("bf16", False, torch.bfloat16)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            x, y = A.to(dtype), B.to(dtype)
            ms = time_ms(lambda: torch.matmul(x, y), a.warmup, a.repeats)
            err = ((torch.matmul(x, y).double() - exact).abs() / bound).max().item()
            print(f"{name:<20} {ms:10.4f} {flops / (ms * 1e-3) / 1e12:9.2f}  {err:.2e}")
        del A, B, exact, bound
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
