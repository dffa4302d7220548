"""Real processes for system tests (a thin layer over hopseal_host.procs)."""
from __future__ import annotations

import sys

from hopseal_host.procs import Child, free_port, micropython_path, mp_env, py_env  # noqa: F401

Proc = Child


def hopseal(name: str, *args: str) -> Child:
    """`hopseal ARGS` under CPython."""
    return Child(name, [sys.executable, "-m", "hopseal_host.cli", *args], py_env())


def micropython(name: str, *args: str, heapsize: str | None = None) -> Child:
    cmd = [micropython_path()] + (["-X", "heapsize=%s" % heapsize] if heapsize else []) + list(args)
    return Child(name, cmd, mp_env())
