"""Real processes for system tests (a thin layer over hopseal_host.procs)."""
from __future__ import annotations

from hopseal_host.procs import Child, free_port, micropython_path, mp_env, py_env  # noqa: F401
from hopseal_host.procs import cli as hopseal  # noqa: F401  (`hopseal ARGS` as a child process)

Proc = Child


def micropython(name: str, *args: str, heapsize: str | None = None) -> Child:
    cmd = [micropython_path()] + (["-X", "heapsize=%s" % heapsize] if heapsize else []) + list(args)
    return Child(name, cmd, mp_env())
