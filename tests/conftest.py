"""pytest configuration for every test folder: import paths, the --port option for
hardware-in-the-loop tests, and an isolated HOPSEAL_HOME per test.

    tests/runtime   runtime tests: pytest here, and the MicroPython interpreter (tests/mp_run.py)
    tests/host      CPython, in process: properties, crypto and Noise cross-checks, host modules
    tests/system    real processes, sockets and pseudo-terminals
    tests/hil       the gateway scenarios against a board given with --port (or the virtual board)
    tests/support   what they share (support.procs, support.scenarios); tests/ is on sys.path
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host"), os.path.join(ROOT, "tests", "runtime"), os.path.join(ROOT, "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)


def pytest_addoption(parser):
    parser.addoption("--port", action="append", default=[],
                     help="serial port of a real board for hardware-in-the-loop tests (repeatable); "
                          "without it those tests are skipped")
    parser.addoption("--board", metavar="FILE",
                     help="the board file (boards/*.json) of the board on --port (hardware-in-the-loop tests)")


def pytest_configure(config):
    """A --port that does not exist fails the run at once, in one line."""
    import os

    for p in config.getoption("--port"):
        if "://" not in p and not os.path.exists(p):
            raise pytest.UsageError("--port %s: no such port (is the board plugged in? `hopseal board list`)" % p)
    board = config.getoption("--board")
    if board and not os.path.exists(board):
        raise pytest.UsageError("--board %s: no such board file" % board)


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test (and every process it starts) gets its own HOPSEAL_HOME."""
    monkeypatch.setenv("HOPSEAL_HOME", str(tmp_path / "hopseal-home"))


# The real Kafka broker (one per session) for the stream tests on Kafka, and the end-of-run line
# that says loudly when they were skipped (tests/support/kafka.py)
from support.kafka import kafka_broker, pytest_terminal_summary  # noqa: E402,F401
