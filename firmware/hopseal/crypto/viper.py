"""The viper kernels of the board crypto (crypto/kernels.py), where this MicroPython can run them.

`GCM` (ghash, ctr_blocks, xor_into), `FE` (the GF(2^255-19) field machine: run, ladder) and
`SHA512` (compress) are namespaces (dicts) of native functions, or None where there are none:
CPython, CircuitPython, a deployment without kernels (the arch-neutral .mpy set), a kernels.mpy
for another core, a MicroPython build without the native emitter, or a source deployment short of
heap (_MIN_FREE_SOURCE). `AVAILABLE` is True when every kernel loaded. The pure-Python modules
check these at import and use their own code when they are None, so the backend's answers never
depend on the path (tests run both).

Two ways in, one module:
- precompiled: kernels.mpy (`mpy-cross -march=ARCH`, from the board file's "arch") beside this
  module: importing it loads native code and compiles nothing, so it takes no heap condition;
- source: kernels.py compiled at import by this interpreter's viper emitter (peak about 60 KB on
  the 64-bit unix port); then only with _MIN_FREE_SOURCE free after a collection.
"""
import sys

# A source deployment's fast path at import, measured on the 64-bit unix port (a 32-bit board's
# is about half): compiling kernels.py peaks at about 60 KB, and fast25519 / fastgcm from .py
# source stay at about 50 KB. With less free heap than this after a collection the board keeps
# the pure-Python path rather than risk its start-up (tests/system/test_board_start.py: source
# deployments with a vault at 240-300 KB had 65-95 KB free here and failed to start with it).
_MIN_FREE_SOURCE = 128 * 1024

GCM = None
FE = None
SHA512 = None
AVAILABLE = False


def _precompiled():
    """True if a kernels.mpy is on sys.path (a ROMFS image's /rom, a board's /lib or /)."""
    import os

    for d in sys.path:
        try:
            os.stat((d + "/" if d else "") + "hopseal/crypto/kernels.mpy")
            return True
        except OSError:
            pass
    return False


def _load():
    global GCM, FE, SHA512, AVAILABLE
    if sys.implementation.name != "micropython":
        return
    import gc

    if not _precompiled():
        gc.collect()
        if hasattr(gc, "mem_free") and gc.mem_free() < _MIN_FREE_SOURCE:
            return  # compiling, and then carrying, the fast path would take the heap the node needs
    try:
        from hopseal.crypto import kernels as k
    except Exception:  # ImportError: not deployed; ValueError: .mpy of another arch; SyntaxError /
        return  # NotImplementedError: no viper emitter; MemoryError
    GCM = {"ghash": k.ghash, "ctr_blocks": k.ctr_blocks, "xor_into": k.xor_into}
    FE = {"run": k.run, "ladder": k.ladder}
    SHA512 = {"compress": k.compress}
    AVAILABLE = True


_load()
del _load, _precompiled  # run once: their bytecode need not stay
