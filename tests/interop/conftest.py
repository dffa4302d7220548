"""Interop tests against the real `ockam` crate: what they share, and the closing table.

The Rust programs (tests/interop/src/bin, built by `make interop` with cargo) are looked up in
$HOPSEAL_INTEROP_BIN, else $CARGO_TARGET_DIR/debug, else ~/.cache/hopseal/interop-target/debug.
Without them the tests are skipped, with one line saying how to build them. `make test`
never collects this folder (pytest.ini's testpaths leave it out).

Each test is one scenario of the matrix: `@scenario(name, hopseal_role)` names it, the test puts
its round-trip time in `row["rtt"]` (milliseconds, a median) and its notes in `row["note"]`, and
the session ends with the table: scenario, hopseal role, result, round-trip time.
"""
from __future__ import annotations

import pytest
from rust_programs import Rust, ockam_version

from hopseal_host.procs import Child


def pytest_configure(config):
    config.addinivalue_line("markers", "interop_scenario(name, role): a row of the interop table")
    config._interop_rows = []


@pytest.fixture
def row(request):
    """The test's row: set row['rtt'] (ms) and row['note']."""
    m = request.node.get_closest_marker("interop_scenario")
    r = {"scenario": m.kwargs["name"] if m else request.node.name, "role": m.kwargs["role"] if m else "",
         "rtt": None, "note": ""}
    request.node._interop_row = r
    return r


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    r = getattr(item, "_interop_row", None)
    if r is None:
        m = item.get_closest_marker("interop_scenario")
        if m is None:
            return
        r = item._interop_row = {"scenario": m.kwargs["name"], "role": m.kwargs["role"], "rtt": None, "note": ""}
    if rep.when == "call" or (rep.when == "setup" and not rep.passed):
        if rep.skipped:
            r["result"] = "skipped"
        else:
            r["result"] = "ok" if rep.passed else "FAIL"
        if r not in item.config._interop_rows:
            item.config._interop_rows.append(r)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = getattr(config, "_interop_rows", [])
    if not rows:
        return
    w = terminalreporter
    w.section("interop with ockam %s (real processes)" % ockam_version())
    head = ("scenario", "hopseal role", "result", "round trip")
    table = [head] + [(r["scenario"], r["role"], r.get("result", "?"),
                       "%.1f ms" % r["rtt"] if r["rtt"] is not None else "-") for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(4)]
    for i, t in enumerate(table):
        w.write_line("  ".join(c.ljust(widths[j]) for j, c in enumerate(t)).rstrip())
        if i == 0:
            w.write_line("  ".join("-" * x for x in widths))
    notes = [(r["scenario"], r["note"]) for r in rows if r["note"]]
    for name, note in notes:
        w.write_line("  %s: %s" % (name, note))
    w.write_line("round trip: median of the echoes through the secure channel (or the relay), measured by the "
                 "sending side, after the channel is up")


@pytest.fixture
def procs(tmp_path):
    """Children started by the test (Rust programs and hopseal commands), stopped at the end;
    `procs.rust(program, *args)` starts a Rust program."""
    class Procs(list):
        def rust(self, program: str, *args: str) -> Rust:
            r = Rust(program, *args, home=str(tmp_path / "ockam-home"))
            self.append(r)
            return r

        def add(self, child: Child) -> Child:
            self.append(child)
            return child

    p = Procs()
    yield p
    for c in reversed(p):
        c.stop()
