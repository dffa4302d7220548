"""Logs an attacker cannot abuse: text from the wire escaped (compat.printable, and the Log escapes a
message holding a newline), repeated warnings summarised per interval (compat.RateLimit, Log.every).

Runs under pytest and under `micropython tests/mp_run.py test_log`. Time is a fake clock passed in:
no test waits.
"""
from hopseal.compat import Log, RateLimit, get_logger, printable, ticks_add
from rt import quiet

FORGED = "x\nI hub: relay admin created"


class Clock:
    """A ticks_ms stand-in the test moves by hand (wrapping as this runtime's ticks_ms does)."""

    def __init__(self, t=1000):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, ms):
        self.t = ticks_add(self.t, ms)


def logger(level=20):
    lines = []
    lg = Log("t", level, lambda lvl, name, msg: lines.append((lvl, name, msg)))
    clock = Clock()
    lg.limits = RateLimit(clock=clock)
    return lg, lines, clock


# -- printable -----------------------------------------------------------------------------------

def test_printable_keeps_plain_ascii():
    assert printable("board1") == "board1"
    assert printable(b"board1") == "board1"
    assert printable("") == "" and printable(b"") == ""
    assert printable("a b ~!{}") == "a b ~!{}"


def test_printable_escapes_control_characters_so_a_name_cannot_forge_a_line():
    out = printable(FORGED)
    assert out == "x\\x0aI hub: relay admin created"
    assert "\n" not in out
    assert printable(b"a\r\x1b[2Jb\x00\x7f\t") == "a\\x0d\\x1b[2Jb\\x00\\x7f\\x09"


def test_printable_escapes_non_ascii_and_doubles_backslashes():
    assert printable("caf\u00e9") == "caf\\xe9"
    assert printable("\u202etxt") == "\\u202etxt"  # a bidi override: escaped, not obeyed
    assert printable("\U0001f600") == "\\U0001f600"
    assert printable(b"\xc3\xa9\xff") == "\\xc3\\xa9\\xff"  # bytes: byte by byte
    # a backslash is doubled, so an escape in the output always came from printable
    assert printable("a\\x0ab") == "a\\\\x0ab"


def test_printable_takes_every_bytes_like():
    for b in (b"ok\n", bytearray(b"ok\n"), memoryview(b"ok\n")):
        assert printable(b) == "ok\\x0a"


def test_printable_truncates_at_the_limit_without_splitting_an_escape():
    assert printable("a" * 64) == "a" * 64
    assert printable("a" * 65) == "a" * 64 + "..."
    assert printable("a" * 200, 10) == "a" * 10 + "..."
    out = printable("abcdefg\n", 10)  # "abcdefg\x0a" is 11 characters: the escape goes whole
    assert out == "abcdefg..."
    assert printable("\n" * 100, 16) == "\\x0a" * 4 + "..."
    assert printable("a" * 500, 0) == "a" * 500  # 0: no limit


def test_log_escapes_a_message_holding_a_newline():
    lg, lines, _ = logger()
    lg.warning("relay %s refused", FORGED)
    lg.info(FORGED)
    lg.error("cr %s esc %s", "a\rb", "\x1b[31m")
    assert [m for _, _, m in lines] == [
        "relay x\\x0aI hub: relay admin created refused",
        "x\\x0aI hub: relay admin created",
        "cr a\\x0db esc \\x1b[31m",
    ]
    lg.info("caf\u00e9 and a \\ stay as they are without a newline")
    assert lines[-1][2] == "caf\u00e9 and a \\ stay as they are without a newline"


# -- RateLimit -----------------------------------------------------------------------------------

def test_rate_limit_reports_the_first_then_counts_then_summarises():
    clock = Clock()
    rl = RateLimit(clock=clock)
    assert rl.check("no_worker", 10) == ""
    for _ in range(41):
        clock.advance(100)
        assert rl.check("no_worker", 10) is None
    clock.advance(10000 - 4100)  # exactly the interval after the reported line
    assert rl.check("no_worker", 10) == " (41 more in the last 10 s)"
    clock.advance(25000)  # a quiet interval: nothing held back, nothing to add
    assert rl.check("no_worker", 10) == ""
    clock.advance(1000)
    assert rl.check("no_worker", 10) is None
    clock.advance(59600)
    assert rl.check("no_worker", 10) == " (1 more in the last 61 s)"


def test_rate_limit_keys_are_independent():
    clock = Clock()
    rl = RateLimit(clock=clock)
    assert rl.check("a", 5) == ""
    assert rl.check("b", 5) == ""
    assert rl.check("a", 5) is None
    assert rl.check("b", 5) is None
    assert rl.check("b", 5) is None
    clock.advance(5000)
    assert rl.check("a", 5) == " (1 more in the last 5 s)"
    assert rl.check("b", 5) == " (2 more in the last 5 s)"


def test_rate_limit_is_bounded_and_evicts_the_oldest():
    clock = Clock()
    rl = RateLimit(keys=4, clock=clock)
    for k in ("k0", "k1", "k2", "k3"):
        assert rl.check(k, 60) == ""
        clock.advance(10)
    assert rl.check("k4", 60) == ""  # k0, reported longest ago, goes
    assert len(rl._seen) == 4 and "k0" not in rl._seen
    for k in ("k1", "k2", "k3", "k4"):
        assert rl.check(k, 60) is None  # still held back
    assert rl.check("k0", 60) == ""  # back as a new key; k1 goes
    assert "k1" not in rl._seen

    big = RateLimit(clock=clock)
    for i in range(2000):
        big.check(i, 60)
    assert len(big._seen) == 32


def test_rate_limit_survives_the_ticks_wrapping():
    clock = Clock(ticks_add(0, -100))
    rl = RateLimit(clock=clock)
    assert rl.check("k", 1) == ""
    clock.advance(300)  # past the wrap, 300 ms later
    assert clock.t == 200
    assert rl.check("k", 1) is None
    clock.advance(800)
    assert rl.check("k", 1) == " (1 more in the last 1 s)"


def test_every_logs_one_line_per_interval_with_the_count():
    lg, lines, clock = logger()
    for i in range(500):
        lg.every("no_worker", 10, "no worker at %r; dropped %d", "0#x", i)
        clock.advance(10)
    assert lines == [(30, "t", "no worker at '0#x'; dropped 0")]
    clock.advance(5000)
    lg.every("no_worker", 10, "no worker at %r; dropped %d", "0#y", 500)
    assert lines[-1] == (30, "t", "no worker at '0#y'; dropped 500 (499 more in the last 10 s)")
    assert len(lines) == 2


def test_every_escapes_what_it_reports():
    lg, lines, _ = logger()
    lg.every("relay_refused", 10, "relay %s refused", FORGED)
    assert lines == [(30, "t", "relay x\\x0aI hub: relay admin created refused")]


def test_every_below_the_level_neither_logs_nor_counts():
    lg, lines, clock = logger(level=40)
    for _ in range(10):
        lg.every("k", 10, "quiet")
    assert lines == [] and len(lg.limits._seen) == 0


def test_runtime_loggers_share_one_bounded_table():
    quiet()
    a, b = get_logger("test_log_a"), get_logger("test_log_b")
    a.every("test_log.shared", 60, "first")
    assert a.limits is b.limits and isinstance(a.limits, RateLimit)
    assert a.limits.keys == 32
