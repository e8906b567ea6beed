#!/usr/bin/env python3
"""scripts/quote.py — refresh the quoted output blocks of an explainer in notebooks-md/.

    python3 scripts/quote.py notebooks-md/04_optimizers.md

Each block is marked `<!-- output: CMD -->` (tests/test_lessons.c checks it). A marker may
select part of the output: `<!-- output: CMD -->` followed by a block whose first line
is `...` and/or last line is `...` keeps that shape: the script keeps the lines from the
first to the last line it finds of the old block's non-`...` lines (by their first 12
characters), so an excerpt stays an excerpt. Lines with `{?}` holes are kept as written when
they still match. Run it after changing a lesson, then read the diff."""
import re
import subprocess
import sys


def run(cmd):
    return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False).stdout.rstrip("\n").split("\n")


def hole_re(line):
    return re.compile("^" + re.escape(line).replace(re.escape("{?}"), r"\S+") + "$")


def refresh(block, got):
    lead = bool(block) and block[0] == "..."
    trail = len(block) > 1 and block[-1] == "..."
    body = [l for l in block if l != "..."]
    if not body:
        return got
    def find(line, start):
        key = line[:12]
        for i in range(start, len(got)):
            if ("{?}" in line and hole_re(line).match(got[i])) or got[i][:12] == key:
                return i
        return None
    first = find(body[0], 0) if lead else 0
    if first is None:
        first = 0
    last = find(body[-1], first) if trail else len(got) - 1
    if last is None:
        last = len(got) - 1
    new = got[first:last + 1]
    holes = {i: l for i, l in enumerate(body) if "{?}" in l}
    for i, l in holes.items():
        if i < len(new) and hole_re(l).match(new[i]):
            new[i] = l
    return (["..."] if lead else []) + new + (["..."] if trail else [])


def main(path):
    lines = open(path).read().split("\n")
    out, i = [], 0
    while i < len(lines):
        out.append(lines[i])
        m = re.search(r"<!-- output: (.*) -->", lines[i])
        if m and i + 1 < len(lines) and lines[i + 1].startswith("```"):
            j = i + 2
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append(lines[i + 1])
            out += refresh(lines[i + 2:j], run(m.group(1)))
            i = j
            continue
        i += 1
    open(path, "w").write("\n".join(out))


if __name__ == "__main__":
    for p in sys.argv[1:]:
        main(p)
