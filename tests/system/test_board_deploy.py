"""Board lifecycle end to end (issue 13), on the virtual board as a real target: `hopseal
virtual-board --bare` (MicroPython's REPL on a pty, an empty flash folder) → `hopseal board deploy`
(mpremote through the raw REPL: runtime, main.py, board.json, identity created on the board, verified
by hashes, soft reset) → the board runs, registers its relay through the gateway, and the identifier
deploy printed is the one a peer verifies in the secure channel. `board list` finds it on its pty,
`board console` (driven through a real pty) shows its lines, resets it and leaves with Ctrl-]; a
second deploy stops the running firmware with the link's STOP frame and keeps its identity.
"""
import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest
from support.procs import ROOT, hopseal, py_env
from support.scenarios import Hub, gateway, secure_echo_via_relay, wait_line

BOARD = os.path.join(ROOT, "boards", "unix.json")


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", *args], capture_output=True, text=True,
                          env=py_env(), cwd=ROOT, timeout=timeout)


def listed(port):
    r = cli("board", "list", "--port", port, "--json", "--timeout", "4")
    rows = [x for x in json.loads(r.stdout) if x["port"] == port]
    assert len(rows) == 1, r.stdout
    return r.returncode, rows[0]


class PtyConsole:
    """`hopseal board console` on a real pseudo-terminal, as a user's terminal runs it."""

    def __init__(self, port):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the console command
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "hopseal_host.cli", "board", "console", "--port", port],
                      py_env())
        self.out = b""

    def read_until(self, text: bytes, timeout=30, start=0) -> bytes:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.out[start:]:
                return self.out
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    self.out += os.read(self.fd, 4096)
                except OSError:
                    break
        raise AssertionError("console did not show %r within %ss:\n%s" % (text, timeout, self.out.decode("utf-8", "replace")))

    def type(self, data: bytes):
        os.write(self.fd, data)

    def wait(self, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.out += os.read(self.fd, 4096) if select.select([self.fd], [], [], 0.1)[0] else b""
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError("console did not exit:\n%s" % self.out.decode("utf-8", "replace"))


@pytest.fixture
def hub():
    h = Hub()
    yield h
    h.stop()


def test_bare_board_deploy_run_list_console_redeploy(hub, tmp_path):
    port = str(tmp_path / "board")
    flash = str(tmp_path / "flash")
    # .mpy on the unix port keeps the code in the heap: an identity, a relay registered through the
    # channel to the hub and a client's channel need more than unix.json's 256K on this 64-bit port
    # (tests/hil/test_hil.py says more)
    vb = hopseal("vb", "virtual-board", "--bare", "--link", port, "--flash", flash, "--name", "dep", "--heapsize", "320K")
    gw = None
    try:
        vb.wait_for("bare: REPL only")
        # a board fresh from flashing: MicroPython answers, nothing of hopseal on it
        rc, row = listed(port)
        assert rc == 0 and row["implementation"] == "micropython", row
        assert row["hopseal"] == {"main_py": False, "board_json": False, "name": None, "identity": False,
                                  "identifier": None}

        r = cli("board", "deploy", "--port", port, "--board", BOARD, "--name", "dep", "--relay", "dep")
        assert r.returncode == 0, r.stdout + r.stderr
        idline = [ln for ln in r.stdout.splitlines() if ln.startswith("identity I")]
        assert len(idline) == 1 and idline[0].endswith("(created on the board)"), r.stdout
        identifier = idline[0].split()[1]
        assert "files verified" in r.stdout and "Traceback" not in r.stdout + r.stderr
        # only what this board needs: no secure-channel-free extras such as the host node app or TCP
        lib = os.path.join(flash, "lib", "hopseal")
        assert os.path.exists(os.path.join(lib, "secure", "vault.mpy"))
        assert not os.path.exists(os.path.join(lib, "apps", "node.mpy"))
        assert not os.path.exists(os.path.join(lib, "transport", "tcp.mpy"))
        with open(os.path.join(flash, "board.json")) as f:
            cfg = json.load(f)
        assert cfg["name"] == "dep" and cfg["relay"] == "dep" and cfg["vault"] == ""
        assert "notes" not in cfg
        vb.wait_for("reset:")  # the soft reset: the interpreter starts again and runs main.py

        # running firmware ignores Ctrl-C: board list recognises it by its link HELLO frames
        rc, row = listed(port)
        assert rc == 0 and row.get("running") and row["hopseal"]["name"] == "dep", row

        # the console: its frames as summaries; Ctrl-T Ctrl-R resets the board; Ctrl-] leaves
        con = PtyConsole(port)
        con.read_until(b"<HELLO v1 name=dep")
        mark = len(con.out)
        con.type(b"\x14\x12")
        con.read_until(b"link stopped by host")
        back = con.read_until(b"is back").index(b"is back", mark)
        con.read_until(b"<HELLO v1 name=dep", start=back)  # the board runs main.py again
        con.type(b"\x1d")
        assert con.wait() == 0
        assert b"Traceback" not in con.out

        # through the gateway: relay, secure channel, and the identifier deploy printed
        gw = gateway(hub.port, "--serial", port + "=dep", "--console")
        wait_line(gw, "[dep] relay forward_to_dep registered", timeout=60)
        wait_line(gw, "[dep] identity " + identifier)
        # the gateway holds the port: board console shows the board's lines through the gateway
        con = PtyConsole(port)
        con.read_until(b"through the gateway")
        try:
            peer = secure_echo_via_relay(hub, "dep", "hello deployed board", timeout=30)
        except Exception as e:
            raise AssertionError("no channel to the board (%s):\n%s" % (e, gw.log(60)))
        assert peer == identifier
        con.read_until(b"I channel: secure channel up with")  # the board's own line
        con.type(b"\x1d")
        assert con.wait() == 0
        gw.stop()
        gw = None

        # deploy again over the running firmware: STOP frame, same identity kept
        r = cli("board", "deploy", "--port", port, "--board", BOARD, "--name", "dep", "--relay", "dep", "--no-reset")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "identity %s (already on the board, kept)" % identifier in r.stdout
        rc, row = listed(port)
        assert rc == 0 and row["hopseal"]["identifier"] == identifier and row["hopseal"]["name"] == "dep", row
    finally:
        if gw is not None:
            gw.stop()
        vb.stop()


def test_deploy_dry_run_prints_every_step_and_touches_nothing(tmp_path):
    port = str(tmp_path / "nothing-here")
    r = cli("board", "deploy", "--port", port, "--board", os.path.join(ROOT, "boards", "esp32.json"),
            "--name", "greenhouse", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    steps = [ln for ln in r.stdout.splitlines() if ln.startswith("[dry run]")]
    assert len(steps) == 8, r.stdout
    assert "romfs deploy" in r.stdout and "relay greenhouse" in r.stdout and "identity" in r.stdout
    assert not os.path.exists(port)


def test_deploy_to_nothing_is_one_line(tmp_path):
    r = cli("board", "deploy", "--port", str(tmp_path / "nothing-here"), "--board", BOARD)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "cannot open" in r.stderr


def test_circuitpython_deploy_onto_a_circuitpy_drive(tmp_path):
    """CircuitPython: the runtime as source, Adafruit's asyncio and adafruit_ticks in lib/ (as circup
    installs them), boot.py, main.py and board.json onto a folder that looks like CIRCUITPY."""
    drive = tmp_path / "CIRCUITPY"
    drive.mkdir()
    (drive / "boot_out.txt").write_text("Adafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico with rp2040\n")
    (drive / "code.py").write_text("print('hello')\n")  # it would run instead of main.py: kept aside
    board = os.path.join(ROOT, "boards", "circuitpython-pico.json")
    r = cli("board", "deploy", "--board", board, "--drive", str(drive), "--name", "cp1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "deploying without one" in r.stdout and "files verified" in r.stdout
    with open(drive / "board.json") as f:
        cfg = json.load(f)
    assert cfg["name"] == "cp1" and cfg["relay"] is True and "vault" not in cfg and cfg["link"] == {"type": "usb_cdc"}
    assert (drive / "lib" / "hopseal" / "apps" / "board.py").exists()
    assert not (drive / "lib" / "hopseal" / "secure").exists()  # no identity: no secure channel code
    assert "adafruit_ticks" in (drive / "lib" / "asyncio" / "core.py").read_text()
    assert (drive / "lib" / "adafruit_ticks.py").exists()
    assert (drive / "boot.py").read_text() == open(os.path.join(ROOT, "firmware", "boot.py")).read()
    assert (drive / "main.py").read_text() == open(os.path.join(ROOT, "firmware", "main.py")).read()
    assert not (drive / "code.py").exists() and (drive / "code.py.orig").read_text() == "print('hello')\n"
    # not a CIRCUITPY drive: one line
    r = cli("board", "deploy", "--board", board, "--drive", str(tmp_path), "--no-identity")
    assert r.returncode == 1 and "not a CIRCUITPY drive" in r.stderr and r.stderr.count("\n") == 1
