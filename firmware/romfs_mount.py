"""Mount a ROMFS image handed over in memory (the virtual board, see host/hopseal_host/romfs.py).

Importing this module mounts the image at /rom and puts /rom first on sys.path, so the runtime's
bytecode runs in place instead of being loaded into the heap, as from a board's ROMFS partition
(which MicroPython mounts at /rom by itself; there HOPSEAL_ROMFS is unset and this does nothing).
Import it before anything from `hopseal`.
"""
import os
import sys

_spec = os.getenv("HOPSEAL_ROMFS") if hasattr(os, "getenv") else None
if _spec:
    import uctypes
    import vfs

    _addr, _size = _spec.split(":")
    vfs.mount(vfs.VfsRom(uctypes.bytearray_at(int(_addr), int(_size))), "/rom")
    sys.path.insert(0, "/rom")
