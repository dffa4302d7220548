"""The viper kernels of the board crypto, compiled at import where the port has the viper emitter.

`GCM` (ghash, ctr_blocks, xor_into), `FE` (the GF(2^255-19) field machine) and `SHA512`
(compress) are namespaces (dicts) of native functions, or None where the port cannot compile
viper code (CPython, CircuitPython, a MicroPython build without the native emitter) or the heap
is too short for it at import (_MIN_FREE). `AVAILABLE` is
True when every kernel compiled. The pure-Python modules check these at import and use their own
code when they are None, so the backend's answers never depend on the path (tests run both).

The source text comes from viper_src.py, which is dropped from sys.modules once compiled: a
board keeps the native code, not the text.
"""
import sys

# The fast path's cost at import, measured on the 64-bit unix port (a 32-bit board's is about
# half): compiling the kernels peaks at 15-30 KB, and fast25519 / fastgcm with their buffers stay
# at about 20 KB from .mpy or 50 KB from .py source. With less free heap than this after a
# collection, the board keeps the pure-Python path rather than risk its start-up
# (tests/system/test_board_start.py: source deployments with a vault at 240-300 KB had 65-95 KB
# free here and failed to start with the viper path).
_MIN_FREE = 128 * 1024

GCM = None
FE = None
SHA512 = None
AVAILABLE = False


def _compile(text):
    ns = {}
    exec(text, ns)  # viper needs the compiler: the text becomes native code for this core
    return ns


def _load():
    global GCM, FE, SHA512, AVAILABLE
    if sys.implementation.name != "micropython":
        return
    import gc

    gc.collect()
    if hasattr(gc, "mem_free") and gc.mem_free() < _MIN_FREE:
        return  # compiling, and then carrying, the fast path would take the heap the node needs
    try:
        from hopseal.crypto import viper_src  # a board short of RAM can leave this file out
    except (ImportError, MemoryError):
        return
    try:
        GCM = _compile(viper_src.GCM)
        if hasattr(viper_src, "FE"):
            FE = _compile(viper_src.FE)
        if hasattr(viper_src, "SHA512"):
            SHA512 = _compile(viper_src.SHA512)
        AVAILABLE = GCM is not None and FE is not None and SHA512 is not None
    except Exception:  # SyntaxError / NotImplementedError: no viper emitter; MemoryError
        GCM = FE = SHA512 = None
        AVAILABLE = False
    finally:
        sys.modules.pop("hopseal.crypto.viper_src", None)
        pkg = sys.modules.get("hopseal.crypto")
        if pkg is not None and hasattr(pkg, "viper_src"):
            delattr(pkg, "viper_src")


_load()
del _load, _compile  # run once: their bytecode need not stay
