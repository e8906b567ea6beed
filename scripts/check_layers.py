#!/usr/bin/env python3
"""scripts/check_layers.py — the folder rules of docs/DESIGN.md, checked on every #include "..."
in common/, kernels/, lessons/ and bench/ (run by `make test`; exit 1 on any violation).

    python3 scripts/check_layers.py [ROOT]

The rules:
  1. Layers. Within common/ and within kernels/, a folder includes only itself and lower layers:
         common:  core (0) < text (1), model (1) < train (2)
         kernels: core (0) < matmul (1), bert (1) < backend (2)
     Folders on the same layer (text and model; matmul and bert) do not include each other.
  2. Trees. common/ includes only common/; kernels/ includes common/ and kernels/; lessons/ and
     bench/ include common/ and kernels/. No product file includes tests/ (the tests wrap the
     product from outside), and nothing includes a lesson or a benchmark.
  3. No cycles: a module is a file with its header (x.c + x.h, x.cu + x.cuh); no module
     reaches itself through the includes of its files.
  4. Every quoted include names a file in the repository (from the root, as -I. reads it, or
     beside the including file), so no include escapes the rules above.
Each violation is printed on one line: `file:line: what is wrong`."""
import os
import re
import sys

SCANNED = ("common", "kernels", "lessons", "bench")
SOURCE_EXT = (".c", ".h", ".cu", ".cuh", ".cpp")
LAYERS = {
    "common": {"core": 0, "text": 1, "model": 1, "train": 2},
    "kernels": {"core": 0, "matmul": 1, "bert": 1, "backend": 2},
}
# The trees each tree may include (rule 2).
MAY_INCLUDE = {
    "common": {"common"},
    "kernels": {"common", "kernels"},
    "lessons": {"common", "kernels"},
    "bench": {"common", "kernels"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def sources(root):
    for top in SCANNED:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith(SOURCE_EXT):
                    yield os.path.relpath(os.path.join(d, f), root)


def includes(root, path):
    """(line number, included path relative to root or None when it names no file) per #include "..."."""
    with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            name = m.group(1)
            beside = os.path.normpath(os.path.join(os.path.dirname(path), name))
            if os.path.isfile(os.path.join(root, beside)):
                yield n, name, beside
            elif os.path.isfile(os.path.join(root, name)):
                yield n, name, os.path.normpath(name)
            else:
                yield n, name, None


def folder(path):
    """(tree, layer folder or None): common/text/tokenizer.h -> ("common", "text")."""
    parts = path.split("/")
    return parts[0], parts[1] if len(parts) > 2 else None


def rule_violation(src, dst):
    """Why src may not include dst (rules 1 and 2), or None."""
    (st, sf), (dt, df) = folder(src), folder(dst)
    if dt == "tests":
        return "product code includes tests/ (the tests wrap the product from outside)"
    if dt not in MAY_INCLUDE.get(st, set()):
        return f"{st}/ may include only {', '.join(sorted(MAY_INCLUDE[st]))}/" if st in MAY_INCLUDE else None
    if st == dt and st in LAYERS:
        layers = LAYERS[st]
        if sf not in layers:
            return f"{st}/{sf} is no layer of {st}/ ({', '.join(layers)})"
        if df not in layers:
            return f"{dt}/{df} is no layer of {dt}/ ({', '.join(layers)})"
        if sf != df and layers[df] >= layers[sf]:
            how = "the same layer as" if layers[df] == layers[sf] else "a higher layer than"
            return f"{dt}/{df} is {how} {st}/{sf}"
    return None


def module(path):
    """The module a file belongs to: its path without the extension (x.cu and x.cuh are one)."""
    return os.path.splitext(path)[0]


def cycles(edges):
    """Each cycle of the module graph once, as a list of modules (first = the smallest name)."""
    found, state, stack = set(), {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == "open":
                cyc = stack[stack.index(n):]
                i = cyc.index(min(cyc))
                found.add(tuple(cyc[i:] + cyc[:i]))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return sorted(found)


def check(root):
    problems, edges, where = [], {}, {}
    for src in sources(root):
        for n, name, dst in includes(root, src):
            if dst is None:
                problems.append(f'{src}:{n}: #include "{name}" names no file of the repository')
                continue
            why = rule_violation(src, dst)
            if why:
                problems.append(f'{src}:{n}: #include "{name}": {why}')
            a, b = module(src), module(dst)
            if a != b:
                edges.setdefault(a, set()).add(b)
                where.setdefault((a, b), f"{src}:{n}")
    for cyc in cycles(edges):
        ring = list(cyc) + [cyc[0]]
        steps = ", ".join(f"{where[(a, b)]}" for a, b in zip(ring, ring[1:]))
        problems.append(f"{where[(ring[0], ring[1])]}: include cycle {' -> '.join(ring)} (at {steps})")
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    problems = check(root)
    for p in problems:
        print(p)
    sys.stdout.flush()
    n = sum(1 for _ in sources(root))
    if problems:
        print(f"check_layers: {len(problems)} violation(s) of the folder rules (docs/DESIGN.md) in {n} files",
              file=sys.stderr)
        return 1
    print(f"check_layers: {n} files in {', '.join(d + '/' for d in SCANNED)} keep the folder rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
