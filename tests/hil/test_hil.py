"""Hardware in the loop: the same scenarios against the virtual board and against real boards.

    pytest tests/hil                                                 # the virtual board; hardware skipped
    pytest tests/hil --port /dev/ttyUSB0 --board boards/esp32.json   # also the board on that port

The `dut` fixture (device under test, in the style of pytest-embedded) hands each scenario a board
that was just deployed with `hopseal board deploy` (the runtime, board.json, an identity created on
the board, verified, reset) and is served by a gateway (`hopseal gateway`) to a real hub process
(`hopseal hub`, with its own identity and its `readings` service). `dut.expect(text)` waits for a
line of the board's console, which the gateway shows as `[NAME] line`.

The virtual DUT is `hopseal virtual-board --bare` (MicroPython's REPL on a pseudo-terminal, an
empty flash folder, the heap of boards/unix.json), so deploy runs against it exactly as against a
board. A real board must already run MicroPython (`hopseal board flash`); its serial port must be
the one its board file's link uses (stdio: the USB-CDC / USB-UART REPL port). Set
HOPSEAL_HIL_BAUD for a UART link (default 115200). A --port that does not exist fails the run at
once, in one line.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support.procs import ROOT, free_port, hopseal, py_env
from support.scenarios import secure_echo_via_relay

VIRTUAL_BOARD = os.path.join(ROOT, "boards", "unix.json")


def pytest_generate_tests(metafunc):
    if "dut" in metafunc.fixturenames:
        ports = metafunc.config.getoption("--port")
        params = ["virtual"] + ["port:" + p for p in ports]
        if not ports:
            params.append(pytest.param("hardware", marks=pytest.mark.skip(reason="no --port given: no board attached")))
        metafunc.parametrize("dut", params, indirect=True)


class Hub:
    """`hopseal hub` on a free port, with its identity."""

    def __init__(self):
        self.port = free_port()
        self.p = hopseal("hub", "hub", "--listen", "127.0.0.1:%d" % self.port)
        self.identifier = self.p.wait_for("identifier ").split()[-1]
        self.p.wait_for("listening on")

    def stop(self):
        self.p.stop()


class Dut:
    """A deployed board behind a gateway. `expect(text)` waits for a console line containing
    `text` (newer than the last one matched, unless `since=0`)."""

    def __init__(self, port: str, board_file: str, name: str, hub: Hub, tmp_path, vb=None):
        self.port, self.board_file, self.name, self.hub, self.vb = port, board_file, name, hub, vb
        self.gw = None
        self.mark = 0
        self.baud = os.environ.get("HOPSEAL_HIL_BAUD", "115200")
        r = subprocess.run([sys.executable, "-m", "hopseal_host.cli", "board", "deploy", "--port", port, "--board",
                            board_file, "--name", name, "--relay", name, "--hub-identifier", hub.identifier,
                            "--baud", self.baud], capture_output=True, text=True, env=py_env(), cwd=ROOT, timeout=600)
        self.deploy_output = r.stdout + r.stderr
        assert r.returncode == 0, self.deploy_output
        self.identifier = [ln for ln in r.stdout.splitlines() if ln.startswith("identity I")][0].split()[1]

    def serve(self):
        """Start the gateway on the board's port."""
        self.gw = hopseal("gw", "gateway", "--hub", "127.0.0.1:%d" % self.hub.port, "--serial",
                          "%s=%s" % (self.port, self.name), "--baud", self.baud, "--ping-interval", "0.5",
                          "--backoff-max", "1")
        self.gw.wait_for("hopseal gateway")
        self.mark = 0
        return self

    def expect(self, text: str, timeout: float = 60, since: int | None = None) -> str:
        import time

        prefix = "[%s] " % self.name
        i = self.mark if since is None else since
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            lines = self.gw.lines
            while i < len(lines):
                i += 1
                if lines[i - 1].startswith(prefix) and text in lines[i - 1]:
                    self.mark = i
                    return lines[i - 1]
            time.sleep(0.05)
        raise AssertionError("the board's console showed no line with %r within %ss:\n%s" % (text, timeout, self.gw.log(60)))

    def stop_serving(self):
        if self.gw is not None:
            self.gw.stop()
            self.gw = None

    def reset(self):
        """Reset the board as `hopseal board console`'s Ctrl-T Ctrl-R does: the link's STOP frame,
        Ctrl-C, Ctrl-D (a soft reset; the virtual board's interpreter starts again)."""
        import time

        import serial

        from hopseal_host.serial_port import stop_frame

        with serial.serial_for_url(self.port, baudrate=int(self.baud), timeout=0.2, exclusive=True) as s:
            s.write(bytes(stop_frame()))
            time.sleep(0.5)
            s.write(b"\x03\x03")
            time.sleep(0.2)
            s.write(b"\x04")
            time.sleep(0.5)

    def close(self):
        self.stop_serving()
        if self.vb is not None:
            self.vb.stop()


@pytest.fixture
def hub():
    h = Hub()
    yield h
    h.stop()


@pytest.fixture
def dut(request, hub, tmp_path):
    if request.param == "virtual":
        with open(VIRTUAL_BOARD) as f:
            cfg = json.load(f)
        cfg.update({"relay": True, "readings": 2, "ping_interval": 0.5})  # what a board file for the field has
        # deploy puts .mpy files on the unix port (it has no ROMFS partition): their code lives in the
        # heap, and on this 64-bit port an identity, a relay, the board's channel to the hub and a
        # client's channel to the board need more than unix.json's 256K (measured: channels closed
        # out of memory at 256K); a 32-bit board's objects take about half
        cfg["heap"] = "320K"
        board_file = str(tmp_path / "hil-board.json")
        with open(board_file, "w") as f:
            json.dump(cfg, f)
        port = str(tmp_path / "hil-port")
        vb = hopseal("vb", "virtual-board", "--bare", "--link", port, "--flash", str(tmp_path / "flash"),
                     "--board", board_file, "--name", "hil")
        vb.wait_for("bare: REPL only")
        d = Dut(port, board_file, "hil", hub, tmp_path, vb)
    else:
        board_file = request.config.getoption("--board")
        if not board_file:
            pytest.fail("--port needs --board FILE (the board file of the board on that port)", pytrace=False)
        d = Dut(request.param.split(":", 1)[1], board_file, "dut", hub, tmp_path)
    try:
        yield d.serve()
    finally:
        d.close()


def channel_to_board(hub: Hub, relay: str, text: str) -> str:
    """A client's secure channel to the board's `api` through its relay, the board's echo through
    it; the board's identifier as the channel verified it."""
    return secure_echo_via_relay(hub, relay, text, timeout=60)


def test_deployed_board_links_registers_and_answers_end_to_end(dut, hub):
    dut.expect("identity " + dut.identifier, since=0)  # the identity deploy created is the one it runs with
    dut.expect("relay forward_to_%s registered" % dut.name)
    assert channel_to_board(hub, dut.name, "hello %s" % dut.name) == dut.identifier
    dut.expect("secure channel to the hub up", since=0)  # its own channel, to the hub it was told to trust
    dut.expect("acknowledged", since=0)  # its readings reach the hub's readings service


def test_board_reset_and_return(dut, hub):
    dut.expect("relay forward_to_%s registered" % dut.name)
    dut.stop_serving()
    dut.reset()
    dut.serve()
    dut.expect("identity " + dut.identifier)  # the same identity after the reset
    dut.expect("relay forward_to_%s registered" % dut.name)
    try:
        peer = channel_to_board(hub, dut.name, "back again")
    except Exception as e:
        raise AssertionError("no channel to the board after its reset (%s):\n%s" % (e, dut.gw.log(60)))
    assert peer == dut.identifier
