"""A board's console text, as the gateway shows it: split into lines, made safe, prefixed `[NAME] `.

The text is whatever the board printed between the serial link's frames (print(), tracebacks, a
REPL prompt). Rules upheld here:
- it is untrusted: control characters and terminal escapes are shown escaped (`\\x1b`), never
  sent to the terminal;
- a line longer than MAX_LINE is shown in pieces; a partial line (a prompt, a line cut by a reset)
  is shown once it is old enough (`flush`);
- every line is also logged at DEBUG on `hopseal.console`.
"""
from __future__ import annotations

import logging
import sys
import time

console_log = logging.getLogger("hopseal.console")


def safe_text(line: bytes) -> str:
    """A board's console line as printable text (it is untrusted: no terminal escapes)."""
    s = line.decode("utf-8", "replace")
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\t" or (o >= 32 and o != 127 and not 0x80 <= o < 0xA0):
            out.append(ch)
        else:
            out.append("\\x%02x" % o)
    return "".join(out)


class ConsoleLines:
    """Splits a board's console text into lines and shows them as `[NAME] line`.

    `on_text(conn, data)` is a SerialConnection's console hook (transport/serial.py).
    """

    MAX_LINE = 1024

    def __init__(self, name: str, out=None, on_line=None):
        self.name = name
        self.out = out
        self.on_line = on_line  # fn(text): each line as shown (the gateway reads announcements)
        self.buf = b""
        self.since = 0.0
        self.lines = 0

    def on_text(self, conn, data: bytes) -> None:
        if not self.buf:
            self.since = time.monotonic()
        self.buf += data
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                break
            self._emit(self.buf[:i])
            self.buf = self.buf[i + 1 :]
        if len(self.buf) > self.MAX_LINE:
            self._emit(self.buf)
            self.buf = b""

    def flush(self, older_than: float = 0.0) -> None:
        """Show a partial line (a prompt, a line cut by a reset) once it is `older_than` s old."""
        if self.buf and time.monotonic() - self.since >= older_than:
            self._emit(self.buf)
            self.buf = b""

    def _emit(self, line: bytes) -> None:
        text = safe_text(line.rstrip(b"\r"))
        self.lines += 1
        print("[%s] %s" % (self.name, text), file=self.out or sys.stdout, flush=True)
        console_log.debug("[%s] %s", self.name, text)
        if self.on_line is not None:
            self.on_line(text)
