"""Route the runtime's tiny loggers into Python `logging` (level from -v/-q or HOPSEAL_LOG_LEVEL).

One event, one line: the formatter escapes whatever in a message is not printable (newlines,
carriage returns, terminal escapes, other control and format characters) as \\x0a-style escapes,
so text from the network that reached a message unescaped still cannot forge a log line. This is
defence in depth: runtime code escapes names from the wire with hopseal.compat.printable, and the
runtime's Log escapes a message holding a newline before it gets here. Tracebacks keep their lines.
"""
from __future__ import annotations

import logging
import os
import sys

from hopseal.compat import set_log_sink

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _escape(ch: str) -> str:
    o = ord(ch)
    if o < 0x100:
        return "\\x%02x" % o
    if o < 0x10000:
        return "\\u%04x" % o
    return "\\U%08x" % o


def one_line(text: str) -> str:
    """`text` with every non-printable character (str.isprintable: control, format and separator
    characters other than the space) escaped; printable text, non-ASCII letters included, as is."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


class OneLineFormatter(logging.Formatter):
    """A logging.Formatter whose message part is always one line (see one_line)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        # format() has set record.message; other handlers share the record: restore it after
        message = record.message
        record.message = one_line(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


def setup(verbosity: int = 0) -> None:
    env = os.environ.get("HOPSEAL_LOG_LEVEL")
    if env:
        level = getattr(logging, env.upper(), logging.INFO)
    else:
        level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG if verbosity > 0 else logging.ERROR)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])

    def sink(lvl: int, name: str, msg: str) -> None:
        logging.getLogger("hopseal." + name).log(lvl, msg)

    set_log_sink(sink, level)
