"""Real processes for the tests: the host's helpers (hopseal_host.procs), plus `run_mp`.

Runtime-test helpers (tests/runtime: crosscheck_mp, vectors, ...) are put on a MicroPython
child's path with `mp_env([RUNTIME_TESTS])`.
"""
from __future__ import annotations

import os
import subprocess

from hopseal_host.procs import ROOT, Child, free_port, micropython, micropython_path, mp_env, py_env  # noqa: F401
from hopseal_host.procs import cli as hopseal  # noqa: F401  (`hopseal ARGS` as a child process)

RUNTIME_TESTS = os.path.join(ROOT, "tests", "runtime")


def run_mp(args, heapsize=None, timeout=120, input=None) -> subprocess.CompletedProcess:
    """Run micropython with `args` (tests/runtime on its path) to the end; text output."""
    cmd = [micropython_path()]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    cmd += list(args)
    return subprocess.run(cmd, env=mp_env([RUNTIME_TESTS]), capture_output=True, text=True, timeout=timeout,
                          input=input)
