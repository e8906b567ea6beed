#!/usr/bin/env python3
"""scripts/quote.py — refresh the quoted output blocks of an explainer in notebooks-md/.

    python3 scripts/quote.py notebooks-md/04_optimizers.md

Each block is marked `<!-- output: CMD -->` (tests/test_lessons.c checks it). A block keeps its
shape: each quoted line is replaced by the printed line it stands for (found in order, by its
first 12 characters where it changed), `...` lines stay, and lines with `{?}` holes are kept as
written while they still match, so an excerpt stays an excerpt. A `{?VALUE}` hole (any value
matches in the test) shows what was printed: it is refreshed to the new value. Run it after changing a lesson, then read the diff."""
import re
import subprocess
import sys


def run(cmd):
    return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False).stdout.rstrip("\n").split("\n")


HOLE = re.compile(r"\{\?[^}]*\}")


def hole_re(line):
    parts = HOLE.split(line)
    return re.compile("^" + r"\S+".join(re.escape(p) for p in parts) + "$")


def has_values(line):
    """Whether the line has a `{?VALUE}` hole, which quote.py refreshes."""
    return any(h != "{?}" for h in HOLE.findall(line))


def keep_hole(qw, pw):
    """The printed word pw with the quoted word qw's hole put back: `{?}` as is, `{?VALUE}` with
    the printed value (qw's text around the hole must frame pw)."""
    h = HOLE.search(qw)
    if not h:
        return pw
    before, after = qw[: h.start()], qw[h.end() :]
    if h.group() == "{?}" or not (pw.startswith(before) and pw.endswith(after)) or len(pw) <= len(before + after):
        return qw
    return before + "{?" + pw[len(before) : len(pw) - len(after)] + "}" + after


def keep_holes(quoted, printed):
    """The printed line with the quoted line's holes put back (word by word, spacing kept)."""
    q, p = re.split(r"( +)", quoted), re.split(r"( +)", printed)
    if not HOLE.search(quoted) or len(q) != len(p):
        return printed
    return "".join(keep_hole(qw, pw) for qw, pw in zip(q, p))


def refresh(block, got):
    """The block with each quoted line replaced by the printed line it stands for, in order:
    `...` lines stay (they skip any printed lines), a line with `{?}` holes stays as written while
    it still matches, and a changed line is found by its first 12 characters after the line
    before it. A quoted line with no counterpart is dropped (the diff shows it)."""
    if not [l for l in block if l != "..."]:
        return got
    out, pos, skipping = [], 0, False
    for line in block:
        if line == "...":
            out.append(line)
            skipping = True
            continue
        end = len(got) if skipping else min(pos + 1, len(got))
        holes = HOLE.search(line) is not None
        exact = [i for i in range(pos, len(got)) if got[i] == line or (holes and hole_re(line).match(got[i]))]
        near = [i for i in range(pos, len(got)) if got[i][:12] == line[:12]]
        hit = exact[0] if exact and (skipping or exact[0] < end) else (near[0] if near else None)
        if hit is None:
            continue
        kept = holes and not has_values(line) and hole_re(line).match(got[hit])
        out.append(line if kept else keep_holes(line, got[hit]))
        pos, skipping = hit + 1, False
    return out


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
