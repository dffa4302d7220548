"""Compile the firmware to .mpy with mpy-cross and report sizes (`make mpy`).

    python tools/build_mpy.py [--out DIR] [--board FILE | --arch ARCH] [--quiet]

Writes DIR/hopseal/**/*.mpy (what you copy to a board with `mpremote cp -r`) with the one .mpy
builder (host/hopseal_host/mpy.py) and prints a table of source and .mpy sizes per module, then
the total. Without --board/--arch the set is arch-neutral (build/mpy: any MicroPython board,
CircuitPython too) and has no viper kernels; with one (build/mpy-ARCH by default) it also holds
hopseal/crypto/kernels.mpy, native code for that core. Either way the native kernels are also
built for every arch the board files name and their sizes listed (build/mpy-native/ARCH).
"""
from __future__ import annotations

import argparse
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host")]

from hopseal_host import mpy  # noqa: E402


def board_archs() -> dict[str, list[str]]:
    """arch -> the board files (names) that use it."""
    out: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "boards", "*.json"))):
        arch = mpy.board_arch(path)
        if arch:
            out.setdefault(arch, []).append(os.path.basename(path)[:-5])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="output folder (default build/mpy, or build/mpy-ARCH with an arch)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--board", help="board file: build for its \"arch\" (with the viper kernels)")
    g.add_argument("--arch", choices=sorted(mpy.ARCHS), help="build the viper kernels for this core")
    ap.add_argument("--quiet", action="store_true", help="print only the total line")
    a = ap.parse_args()
    arch = mpy.board_arch(a.board) if a.board else a.arch
    out = a.out or os.path.join(ROOT, "build", "mpy" if arch is None else "mpy-" + arch)
    rows = mpy.build(out, force=True, arch=arch)
    total = sum(r[2] for r in rows)
    if not a.quiet:
        print("%-34s %10s %10s" % ("module", "source B", ".mpy B"))
        for rel, s, m in rows:
            print("%-34s %10d %10d" % (rel, s, m))
    print("%-34s %10d %10d   (%s, in %s)" % ("total", sum(r[1] for r in rows), total,
                                           "arch-neutral" if arch is None else "with kernels.mpy for " + arch,
                                           os.path.relpath(out, ROOT)))
    if not a.quiet:
        print("\nviper kernels (hopseal/crypto/kernels.mpy, mpy-cross -march=ARCH), per arch:")
        for karch, boards in sorted(board_archs().items()):
            kout = os.path.join(ROOT, "build", "mpy-native", karch)
            (row,) = mpy.build(kout, sources=list(mpy.NATIVE), force=True, arch=karch)
            print("%-12s %8d B   boards: %s" % (karch, row[2], ", ".join(boards)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
