"""pytest configuration: import paths, the --port option for hardware-in-the-loop tests."""
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


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test (and every process it starts) gets its own HOPSEAL_HOME."""
    monkeypatch.setenv("HOPSEAL_HOME", str(tmp_path / "hopseal-home"))
