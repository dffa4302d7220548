"""Route the runtime's tiny loggers into Python `logging` (level from -v/-q or HOPSEAL_LOG_LEVEL),
on stderr, as text or (`--log-format json`) one JSON object per line.

The JSON fields are stable (scripts and log shippers read them): `ts` (UTC, ISO 8601 with
milliseconds), `level` (DEBUG, INFO, WARNING, ERROR, CRITICAL), `logger` (e.g. hopseal.hub),
`message`, and `traceback` when there is one.

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


class JSONFormatter(logging.Formatter):
    """One JSON object per record, on one line (json escapes every control character)."""

    def format(self, record: logging.LogRecord) -> str:
        import json
        import time

        t = time.gmtime(record.created)
        out = {"ts": "%s.%03dZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", t), int(record.msecs)),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


FORMATS = ("text", "json")


def setup(verbosity: int = 0, fmt: str = "text") -> None:
    env = os.environ.get("HOPSEAL_LOG_LEVEL")
    if env:
        level = getattr(logging, env.upper(), logging.INFO)
    else:
        level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG if verbosity > 0 else logging.ERROR)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else OneLineFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)

    def sink(lvl: int, name: str, msg: str) -> None:
        logging.getLogger("hopseal." + name).log(lvl, msg)

    set_log_sink(sink, level)


def add_log_format_arg(p) -> None:
    """--log-format text|json, for the commands that run until stopped (hub, gateway, node, ...)."""
    p.add_argument("--log-format", choices=FORMATS, default="text",
                   help="log lines on stderr as text (default) or as one JSON object each: ts, level, logger, "
                   "message (and traceback)")
