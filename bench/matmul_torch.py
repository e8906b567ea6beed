"""bench/matmul_torch.py — the named baseline for bench/matmul_cpu.sh: torch.matmul and a Linear
layer's forward/backward (PyTorch on the CPU, MKL) at the sizes and thread counts lesson 08 uses.

Prints `key GFLOP/s` lines: matmul_1 / matmul_T (n x n on 1 and T threads), linear_fwd and
linear_bwd (T threads). Best of `repeats` timed runs after one warm-up run, as the lesson does.
"""
import sys
import time

import torch


def best_seconds(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    n, threads, rows, cin, cout, repeats = (int(a) for a in sys.argv[1:7])
    torch.manual_seed(0)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for t, key in ((1, "matmul_1"), (threads, f"matmul_{threads}")):
        torch.set_num_threads(t)
        s = best_seconds(lambda: torch.matmul(a, b), repeats)
        print(f"{key} {2 * n**3 / s / 1e9:.1f}")

    torch.set_num_threads(threads)
    inp = torch.randn(rows, cin, requires_grad=True)
    w = torch.randn(cout, cin, requires_grad=True)
    bias = torch.randn(cout, requires_grad=True)
    flops = 2.0 * rows * cin * cout
    with torch.no_grad():
        s = best_seconds(lambda: torch.nn.functional.linear(inp, w, bias), repeats)
    print(f"linear_fwd {flops / s / 1e9:.1f}")
    dout = torch.randn(rows, cout)
    out = torch.nn.functional.linear(inp, w, bias)  # the graph; only its backward is timed
    s = best_seconds(lambda: torch.autograd.grad(out, [inp, w, bias], dout, retain_graph=True), repeats)
    print(f"linear_bwd {2 * flops / s / 1e9:.1f}")


if __name__ == "__main__":
    main()
