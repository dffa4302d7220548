"""The serial link's STOP frame against real MicroPython on a pty (serial-link.md §2.1).

A board deployed as a board is (main.py, board.json and hopseal in its flash folder, run by a bare
virtual board as `micropython -i main.py`, so its REPL follows when main.py ends) brings its link up
with a host, is sent STOP by `send_stop()`, prints "hopseal: link stopped by host" and is at its
REPL, which works. A board already at its REPL that gets the frame is unharmed: the next line typed
runs as if nothing had come.
"""
import os
import select
import shutil
import time
import tty

from hopseal.wire.serial_link import EV_TEXT, EV_UP, SerialLink
from hopseal_host.procs import ROOT
from hopseal_host.serial_port import send_stop, stop_frame
from hopseal_host.virtual_board import VirtualBoard


class Port:
    """The host end of the board's pty: raw, read with a deadline."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.seen = bytearray()

    def read(self, timeout=0.05):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return b""
        try:
            data = os.read(self.fd, 4096)
        except OSError:
            return b""
        self.seen += data
        return data

    def expect(self, what, timeout=30.0):
        t0 = time.monotonic()
        start = len(self.seen)
        while what not in self.seen[start:]:
            if time.monotonic() - t0 > timeout:
                raise AssertionError("no %r within %.0f s; got %r" % (what, timeout, bytes(self.seen[-600:])))
            self.read()
        return bytes(self.seen[start:])

    def write(self, data):
        os.write(self.fd, data)

    def close(self):
        os.close(self.fd)


def deployed_flash(folder):
    """A board's flash as a deploy leaves it: main.py, board.json, the runtime under lib/."""
    os.makedirs(os.path.join(folder, "lib"))
    shutil.copyfile(os.path.join(ROOT, "firmware", "main.py"), os.path.join(folder, "main.py"))
    shutil.copyfile(os.path.join(ROOT, "boards", "unix.json"), os.path.join(folder, "board.json"))
    shutil.copytree(os.path.join(ROOT, "firmware", "hopseal"), os.path.join(folder, "lib", "hopseal"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_stop_sends_a_running_board_back_to_its_repl(tmp_path):
    vb = VirtualBoard("stopme", bare=True, flash=deployed_flash(str(tmp_path / "flash"))).start()
    port = Port(vb.path)
    try:
        # the host side of the link, as the gateway runs it, until the board's link is up
        link = SerialLink("host", 2048, 250, 3, speak_first=False)
        text = bytearray()
        up = False
        t0 = time.monotonic()
        while not up:
            assert time.monotonic() - t0 < 60, "the board's link did not come up: %r" % bytes(text[-400:])
            link.feed(port.read())
            for ev in link.take_events():
                if ev[0] == EV_TEXT:
                    text += ev[1]
                elif ev[0] == EV_UP:
                    up = True
            link.tick()
            for f in link.take_output():
                port.write(f)
        assert b"hopseal board vboard: link stdio" in text
        assert send_stop(port.fd) == len(stop_frame())
        after = port.expect(b"\n>>> ")
        assert b"hopseal: link stopped by host" in after, after
        assert b"Traceback" not in after and after.count(b"stopped") == 1, after  # one console line
        assert vb.running  # main.py ended, the interpreter did not: the REPL is there
        port.write(b"print(6*7)\r")
        assert b"42\n" in port.expect(b"\n>>> ", 10)
    finally:
        port.close()
        vb.stop()


def test_stop_at_a_repl_is_harmless(tmp_path):
    vb = VirtualBoard("repl", bare=True, flash=str(tmp_path / "flash")).start()
    port = Port(vb.path)
    try:
        port.expect(b">>> ")
        assert send_stop(vb.path) == len(stop_frame())  # by path, through pyserial
        port.read(0.5)
        port.write(b"print(6*7)\r")
        out = port.expect(b"\n>>> ", 10)
        assert b"42\n" in out and b"Error" not in out and b"Traceback" not in out, out
        # the raw REPL (what deploy tools use) takes the bytes into its buffer; the Ctrl-C every
        # tool sends first clears it
        port.write(b"\x01")
        port.expect(b"raw REPL; CTRL-B to exit\r\n>")
        send_stop(port.fd)
        port.write(b"\x03print(6*7)\x04")
        out = port.expect(b"\x04>", 10)
        assert out.startswith(b"OK42\n") or b"OK42\n" in out, out
    finally:
        port.close()
        vb.stop()
