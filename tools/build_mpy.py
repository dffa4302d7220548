"""Compile the firmware to .mpy with mpy-cross and report sizes (`make mpy`).

    python tools/build_mpy.py [--out build/mpy] [--quiet]

Writes build/mpy/hopseal/**/*.mpy (what you copy to a board with `mpremote cp -r`) with the one
.mpy builder (host/hopseal_host/mpy.py) and prints a table of source and .mpy sizes per module,
then the total.
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host")]

from hopseal_host import mpy  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "mpy"))
    ap.add_argument("--quiet", action="store_true", help="print only the total line")
    a = ap.parse_args()
    rows = mpy.build(a.out, force=True)
    total = sum(r[2] for r in rows)
    if not a.quiet:
        print("%-34s %10s %10s" % ("module", "source B", ".mpy B"))
        for rel, s, m in rows:
            print("%-34s %10d %10d" % (rel, s, m))
    print("%-34s %10d %10d" % ("total", sum(r[1] for r in rows), total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
