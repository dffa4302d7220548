"""`hopseal board list` against a bare virtual board (real processes): `hopseal virtual-board --bare`
is MicroPython's REPL alone on a pty, the board list asks it over the raw REPL; a port with nothing
behind it is one line on stderr and exit status 1."""
import json
import os
import subprocess
import sys
import time
import tty

from support.procs import hopseal, py_env


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", *args], env=py_env(), capture_output=True,
                          text=True, timeout=timeout)


def test_board_list_finds_a_bare_virtual_board(tmp_path):
    link = str(tmp_path / "b1")
    flash = tmp_path / "flash"
    board = hopseal("b1", "virtual-board", "--bare", "--link", link, "--flash", str(flash))
    try:
        board.wait_for("bare: REPL only", timeout=30)
        r = run("board", "list", "--port", link, "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        row = [x for x in json.loads(r.stdout) if x["port"] == link][0]
        assert row["ok"] and row["repl"] == "answered", row
        assert row["implementation"] == "micropython"
        assert row["version"].count(".") == 2 and row["version"][0].isdigit(), row
        assert "MicroPython" in row["sys_version"]
        assert row["hopseal"] == {"main_py": False, "board_json": False, "name": None, "identity": False,
                                  "identifier": None}

        # what a deploy leaves (board.json, main.py importing hopseal, an identity) shows as installed;
        # the board's REPL is still there after the first listing (back in the friendly REPL)
        (flash / "board.json").write_text('{"name": "board1"}')
        (flash / "main.py").write_text("import hopseal\n")
        (flash / "hopseal_identity.cbor").write_bytes(b"\xa0")
        r = run("board", "list", "--port", link)
        assert r.returncode == 0, r.stdout + r.stderr
        line = [ln for ln in r.stdout.splitlines() if ln.startswith(link)][0]
        assert "micropython 1." in line and "hopseal installed, name board1, identity present" in line, r.stdout
        assert r.stdout.splitlines()[0].split() == ["PORT", "VID:PID", "DESCRIPTION", "REPL", "HOPSEAL"]
    finally:
        assert board.stop() == 130  # Ctrl-C unplugs it
    assert not os.path.lexists(link)


def test_a_pty_nobody_answers_and_a_missing_port(tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        quiet = os.ttyname(slave)
        t0 = time.monotonic()
        r = run("board", "list", "--port", quiet, "--timeout", "1")
        assert time.monotonic() - t0 < 15
        assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
        assert r.stderr.strip().splitlines() == ["hopseal board list: error: %s: no raw REPL answer within 1 s" % quiet]
        row = [ln for ln in r.stdout.splitlines() if ln.startswith(quiet)][0]
        assert "no raw REPL answer within 1 s (nothing answers, or a program that ignores Ctrl-C runs" in row
    finally:
        os.close(master)
        os.close(slave)

    missing = str(tmp_path / "nothing-here")
    r = run("board", "list", "--port", missing, "--json")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == ["hopseal board list: error: %s: no such port" % missing]
    row = [x for x in json.loads(r.stdout) if x["port"] == missing][0]
    assert row == {"port": missing, "given": True, "vid_pid": "", "description": "", "repl": "no such port",
                   "ok": False}


def test_help_and_bare_mistakes():
    for cmd in (["board", "--help"], ["board", "list", "--help"], ["virtual-board", "--help"]):
        r = run(*cmd)
        assert r.returncode == 0 and "usage: hopseal" in r.stdout, cmd
    assert "--bare" in run("virtual-board", "--help").stdout
    r = run("virtual-board", "--bare", "--relay", "b1", "--mpy")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "hopseal virtual-board: error: --bare runs no firmware, so --relay, --mpy cannot apply (drop them, "
        "or drop --bare)"]
    r = run("board")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
