"""The host's log lines: one event, one line, whatever the message holds (hopseal_host.logsetup).

In process for the formatter; a real process for `setup`, which installs it for the CLI's commands
(runtime loggers included) the way a hub or gateway runs.
"""
import io
import logging
import subprocess
import sys

from support.procs import py_env

from hopseal_host.logsetup import FORMAT, OneLineFormatter, one_line

FORGED = "relay x\nI hub: relay admin created"


def capture():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(OneLineFormatter(FORMAT))
    lg = logging.getLogger("test_logs.%d" % id(out))
    lg.propagate = False
    lg.setLevel(logging.DEBUG)
    lg.addHandler(handler)
    return lg, out


def test_one_line_escapes_what_is_not_printable_only():
    assert one_line("plain text, caf\u00e9, \u20ac, a \\ backslash") == "plain text, caf\u00e9, \u20ac, a \\ backslash"
    assert one_line("a\nb\rc\td\x1b[2Je\x00") == "a\\x0ab\\x0dc\\x09d\\x1b[2Je\\x00"
    assert one_line("\u2028\u202e\x85") == "\\u2028\\u202e\\x85"  # line separators, bidi override, NEL


def test_a_message_with_a_newline_stays_one_line():
    lg, out = capture()
    lg.warning("relay %s refused", "x\nI hub: relay admin created")
    lg.info(FORGED)
    text = out.getvalue()
    assert text.count("\n") == 2, text
    first, second = text.splitlines()
    assert first.endswith("WARNING test_logs.%s: relay x\\x0aI hub: relay admin created refused" % lg.name.split(".")[1])
    assert second.endswith(": relay x\\x0aI hub: relay admin created")


def test_a_traceback_keeps_its_lines_and_the_record_is_left_as_it_was():
    lg, out = capture()
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    lg.addHandler(Keep())
    try:
        raise ValueError("boom")
    except ValueError:
        lg.exception("failed on %s", "a\nb")
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(": failed on a\\x0ab")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"
    assert seen == ["failed on a\nb"]  # other handlers see the message unchanged


def test_setup_routes_runtime_logs_through_the_one_line_formatter():
    code = (
        "from hopseal_host import logsetup; logsetup.setup(0)\n"
        "from hopseal.compat import get_logger\n"
        "import logging\n"
        "get_logger('relay').warning('relay %s refused', 'x\\nI hub: relay admin created')\n"
        "logging.getLogger('hopseal.hub').warning('reading from %s', 'y\\r\\nW hub: forged')\n"
        "log = get_logger('node')\n"
        "for i in range(1000):\n"
        "    log.every('no_worker', 60, 'no worker at %r; dropped', '0#w%d' % i)\n"
    )
    env = py_env()
    env.pop("HOPSEAL_LOG_LEVEL", None)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 3, p.stderr
    assert lines[0].endswith("WARNING hopseal.relay: relay x\\x0aI hub: relay admin created refused")
    assert lines[1].endswith("WARNING hopseal.hub: reading from y\\x0d\\x0aW hub: forged")
    assert lines[2].endswith("WARNING hopseal.node: no worker at '0#w0'; dropped")
