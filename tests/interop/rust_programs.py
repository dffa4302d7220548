"""The Rust programs of tests/interop (the real `ockam` crate) as child processes, for the
interop tests: where they are, how to start one and read its `interop: ...` status lines."""
from __future__ import annotations

import os
import statistics
import time

import pytest

from hopseal_host.procs import Child

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = ("responder", "middle", "initiator", "bob", "alice", "hub")


def bin_dir() -> str:
    if os.environ.get("HOPSEAL_INTEROP_BIN"):
        return os.environ["HOPSEAL_INTEROP_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/hopseal/interop-target")
    return os.path.join(target, "debug")


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if not os.access(os.path.join(bin_dir(), p), os.X_OK)]


def ockam_version() -> str:
    """The `ockam` version Cargo.lock pins."""
    try:
        text = open(os.path.join(HERE, "Cargo.lock")).read()
    except OSError:
        return "?"
    block = text.split('name = "ockam"\nversion = "', 1)
    return block[1].split('"', 1)[0] if len(block) == 2 else "?"


def scenario(name: str, role: str):
    """Name a test's row in the table: the scenario and hopseal's role in it."""
    return pytest.mark.interop_scenario(name=name, role=role)


class Rust(Child):
    """One of the Rust programs as a child process; `interop: ...` lines are its status."""

    def __init__(self, program: str, *args: str, home: str):
        env = dict(os.environ)
        env.setdefault("OCKAM_LOG_LEVEL", "warn")
        env["OCKAM_HOME"] = home
        env["HOME"] = home  # nothing of the user's ~/.ockam is read or written
        super().__init__(program, [os.path.join(bin_dir(), program), *args], env)

    def ready(self, timeout: float = 60) -> dict:
        """Wait for `interop: ready k=v ...`; returns the pairs."""
        return fields(self.wait_for("interop: ready", timeout))

    def rtts(self) -> list[float]:
        """Round trips (ms) of the `interop: reply ... rtt_us=N` lines so far."""
        return [int(l.rsplit("rtt_us=", 1)[1]) / 1000 for l in self.lines if l.startswith("interop: reply ")]

    def finish(self, timeout: float = 60) -> int:
        """Wait for the program to exit by itself; its exit status."""
        deadline = time.monotonic() + timeout
        while self.p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.p.poll() is None:
            self.stop()
            raise AssertionError("%s did not finish within %ss:\n%s" % (self.name, timeout, self.log()))
        self._t.join(2)
        return self.p.returncode


def fields(line: str) -> dict:
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None
