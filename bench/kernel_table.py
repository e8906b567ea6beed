#!/usr/bin/env python3
"""bench/kernel_table.py — the per-kernel time table of a profile, as markdown (bench/gpu_quick.sh).

    python3 bench/kernel_table.py PROFILE.csv [--top N]

PROFILE.csv is either Nsight Compute's `ncu --csv --metrics gpu__time_duration.sum` output (one row
per kernel launch and metric; lines before the header, such as ncu's ==PROF== notes, are skipped)
or Nsight Systems' `nsys stats --report cuda_gpu_kern_sum --format csv` (one row per kernel name).
Launches are grouped by kernel name; the table has the N longest (total time), one row for the
rest, and the total: launches, total microseconds, share of the total, mean microseconds."""
import argparse
import csv
import sys


def number(text):
    return float(text.replace(",", ""))  # ncu may write thousands separators


def rows_from(path):
    """(name, launches, total ns) per kernel name."""
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"') or line.startswith('"Time (%)"')
                  or line.startswith("Time (%)")), None)
    if start is None:
        sys.exit(f"error: {path}: no ncu (\"ID\",...) or nsys (Time (%),...) CSV header found")
    table = list(csv.DictReader(lines[start:]))
    totals = {}
    if table and "Kernel Name" in table[0]:  # ncu: one row per launch and metric
        for r in table:
            if r.get("Metric Name") != "gpu__time_duration.sum":
                continue
            unit = r.get("Metric Unit", "nsecond")
            scale = {"nsecond": 1, "ns": 1, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6}.get(unit)
            if scale is None:
                sys.exit(f"error: {path}: unknown time unit {unit!r}")
            n, t = totals.get(r["Kernel Name"], (0, 0.0))
            totals[r["Kernel Name"]] = (n + 1, t + number(r["Metric Value"]) * scale)
    else:  # nsys: one row per kernel name, times in ns
        for r in table:
            totals[r["Name"]] = (int(number(r["Instances"])), number(r["Total Time (ns)"]))
    return sorted(((name, n, t) for name, (n, t) in totals.items()), key=lambda x: -x[2])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile")
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()
    rows = rows_from(a.profile)
    if not rows:
        sys.exit(f"error: {a.profile}: no kernel times in it")
    total = sum(t for _, _, t in rows)
    shown, rest = rows[: a.top], rows[a.top:]
    if rest:
        shown.append((f"({len(rest)} other kernels)", sum(n for _, n, _ in rest), sum(t for _, _, t in rest)))
    print("| kernel | launches | total us | share | mean us |")
    print("|---|---:|---:|---:|---:|")
    for name, n, t in shown:
        name = name.replace("|", "\\|")
        print(f"| `{name}` | {n} | {t / 1e3:.1f} | {100 * t / total:.1f}% | {t / 1e3 / n:.2f} |")
    launches = sum(n for _, n, _ in rows)
    print(f"| **all {len(rows)} kernels** | {launches} | {total / 1e3:.1f} | 100% | |")


if __name__ == "__main__":
    main()
