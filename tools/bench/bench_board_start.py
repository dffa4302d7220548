"""Smallest heap a board starts in, per deployment: .py source, .mpy files, ROMFS image.

    python tools/bench/bench_board_start.py [--board boards/unix.json] [--quick]

A start is a first boot of a virtual board (the real MicroPython interpreter, a fresh flash
folder, so with --vault it creates its identity) until its serial link is up (see
tests/system/test_board_start.py, which checks each board file's own heap). From the board file's
heap downwards in 8K steps (16K with --quick), each heap gets 3 starts (1 with --quick); the figure
is the smallest heap from which every step up to the board's heap started every time. Below it a
start fails on some heap layouts, not on all: a compile from source needs tens of KB in one piece,
and whether the heap has them after the earlier modules depends on where they landed.

The user's default is copying the .py files: the ratios compare .mpy and ROMFS with that.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host")]

from hopseal_host.virtual_board import try_start  # noqa: E402

MODES = ("source", "mpy", "romfs")


def kib(text: str) -> int:
    return int(text[:-1]) if text.endswith("K") else int(text) // 1024


def smallest(board: str, mode: str, vault: bool, top: int, step: int, trials: int) -> tuple[int | None, int]:
    """(smallest heap in KiB that starts every time down from `top`, or None if `top` fails;
    heap in use at ready at `top`, bytes)."""
    best = None
    used_at_top = 0
    heap = top
    while heap >= step:
        results = [try_start(board, mode, vault, heapsize="%dK" % heap) for _ in range(trials)]
        if not all(r["up"] for r in results):
            break
        if heap == top:
            used_at_top = max(r["heap_used"] or 0 for r in results)
        best = heap
        heap -= step
    return best, used_at_top


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default=os.path.join(ROOT, "boards", "unix.json"), help="board file (default unix.json)")
    ap.add_argument("--quick", action="store_true", help="16K steps, one start per step")
    args = ap.parse_args()
    top = kib(json.load(open(args.board))["heap"])
    step, trials = (16, 1) if args.quick else (8, 3)
    name = os.path.basename(args.board)[:-5].replace("-", "_")
    for vault in (False, True):
        figures = {}
        for mode in MODES:
            best, used = smallest(args.board, mode, vault, top, step, trials)
            tag = "%s_%s%s" % (name, mode, "_vault" if vault else "")
            figures[mode] = best
            print("RESULT start_min_heap_%s %s KiB" % (tag, best if best is not None else ">%d" % top))
            if used:
                print("RESULT start_heap_used_%s %.1f KiB" % (tag, used / 1024))
        for mode in ("mpy", "romfs"):
            if figures[mode] and figures["source"]:
                print("RESULT start_min_heap_%s_vs_source%s %.2f x" % (mode, "_vault" if vault else "",
                                                                     figures[mode] / figures["source"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
