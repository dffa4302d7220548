"""Small shims so the runtime reads the same on MicroPython, CircuitPython and CPython.

Capabilities are detected with imports and hasattr, never by implementation name.
"""
import sys

try:
    from micropython import const  # noqa: F401
except ImportError:  # CPython

    def const(x):
        return x


try:
    from time import ticks_add, ticks_diff, ticks_ms  # MicroPython
except ImportError:  # CPython, CircuitPython without them
    import time as _time

    def ticks_ms():
        return int(_time.monotonic() * 1000) & 0x3FFFFFFF

    def ticks_diff(a, b):
        d = (a - b) & 0x3FFFFFFF
        return d - 0x40000000 if d & 0x20000000 else d

    def ticks_add(a, b):
        return (a + b) & 0x3FFFFFFF


try:
    from os import urandom as random_bytes
except ImportError:  # pragma: no cover - every supported port has os.urandom

    def random_bytes(n):
        # Keys and nonces need a CSPRNG; a port without one must not pretend.
        from .errors import CryptoError

        raise CryptoError("no os.urandom on this port: cannot make keys")


try:
    from binascii import hexlify as _hexlify
except ImportError:  # pragma: no cover
    _hexlify = None


def hexstr(b):
    """Lowercase hex text of bytes (bytes.hex() is missing on some ports)."""
    if hasattr(b, "hex"):
        return b.hex()
    return _hexlify(b).decode()


def unhex(s):
    """bytes.fromhex that works everywhere."""
    from binascii import unhexlify

    if isinstance(s, str):
        s = s.encode()
    return unhexlify(s)


CLOCK_VALID_FROM = const(1735689600)  # 2025-01-01 UTC: a clock before it has not been set
_clock_offset = [0]  # seconds added to time.time() where the RTC cannot be set (apps/board_clock.py)


def wall_time():
    """Seconds since the Unix epoch (UTC), as an int (identity time rules need it)."""
    import time

    t = int(time.time()) + _clock_offset[0]
    # MicroPython's embedded ports count from 2000-01-01; the unix port from 1970.
    return t + 946684800 if hasattr(time, "gmtime") and time.gmtime(0)[0] == 2000 else t


def clock_set():
    """True once the clock reads 2025 or later: before that it was never set (a board without an
    RTC battery starts at 2000-01-01), and identities can be neither created nor verified."""
    return wall_time() >= CLOCK_VALID_FROM


IS_MICROPYTHON = sys.implementation.name in ("micropython", "circuitpython")


def is_awaitable(r):
    """True if a hook or worker returned a coroutine (it must be awaited or run as a task).
    Generators stand in for coroutines on MicroPython, so this asks for `send`, not a type."""
    return r is not None and hasattr(r, "send")


def collect():
    """A garbage collection, where the port has one (every MicroPython does)."""
    try:
        import gc

        gc.collect()
    except ImportError:  # pragma: no cover
        pass


CLOSE_WAIT = 2  # seconds a closing stream waits for the peer to take what is left


async def release(writer, abort=False):
    """Close a stream writer and release its socket (connections and portals both use it). With
    `abort`, or when the peer does not take what is left within CLOSE_WAIT seconds, unsent bytes
    are dropped (CPython's transport.abort(); MicroPython's streams close at once)."""
    import asyncio

    t = getattr(writer, "transport", None)  # CPython's StreamWriter; MicroPython's Stream has none
    try:
        if abort and t is not None:
            t.abort()
            return
        writer.close()
        if not hasattr(writer, "wait_closed"):
            return
        if t is None:
            await writer.wait_closed()  # MicroPython: the socket is closed here
            return
        await asyncio.wait_for(writer.wait_closed(), CLOSE_WAIT)
    except (OSError, asyncio.TimeoutError):
        if t is not None:
            t.abort()


# The TCP streams the runtime opens (transport.tcp, services.portal): asyncio's, or a pair a host
# installs (hopseal_host.fastio: a reader that does not copy what it hands out)
_tcp_streams = [None]


def set_tcp_streams(open_connection, start_server):
    """Open the runtime's TCP streams with these (asyncio.open_connection's and start_server's
    signatures); None, None for asyncio's own."""
    _tcp_streams[0] = (open_connection, start_server) if open_connection else None


def open_connection(host, port):
    import asyncio

    s = _tcp_streams[0]
    return s[0](host, port) if s else asyncio.open_connection(host, port)


def start_server(cb, host, port):
    import asyncio

    s = _tcp_streams[0]
    return s[1](cb, host, port) if s else asyncio.start_server(cb, host, port)


def current_task():
    """The running asyncio task, or None where the port cannot tell."""
    import asyncio

    try:
        return asyncio.current_task()
    except (AttributeError, RuntimeError):
        return None


def say(text=""):
    """Print a status line and flush it: a supervising process (gateway, tests) reads it."""
    print(text)
    out = getattr(sys, "stdout", None)
    if out is not None and hasattr(out, "flush"):
        out.flush()


class Backoff:
    """Exponential backoff for retry loops: `await b.wait()` sleeps `first`, then twice as long each
    time up to `most` seconds; `reset()` after a success starts again from `first`."""

    def __init__(self, first=0.5, most=10):
        self.first = first
        self.most = most
        self.delay = first

    def reset(self):
        self.delay = self.first

    def next(self):
        """The delay to wait now (and double the one after it)."""
        d = self.delay
        self.delay = min(d * 2, self.most)
        return d

    async def wait(self):
        import asyncio

        await asyncio.sleep(self.next())


def printable(text, limit=64):
    """Text or bytes from the wire (a relay name, an address, a reading) as one line of safe
    display text: printable ASCII as is, a backslash doubled, every other character (control
    characters, newlines, non-ASCII) as an escape (\x0a, \u20ac), so that a name cannot forge a
    log line or send terminal escapes. At most `limit` characters of that, then "..." if anything
    was cut (limit 0: no limit). Takes str, bytes, bytearray or memoryview."""
    is_text = isinstance(text, str)
    out = []
    n = 0
    for c in text:
        o = ord(c) if is_text else c
        if o == 92:
            s = "\\\\"
        elif 32 <= o < 127:
            s = c if is_text else chr(o)
        elif o < 0x100:
            s = "\\x%02x" % o
        elif o < 0x10000:
            s = "\\u%04x" % o
        else:
            s = "\\U%08x" % o
        n += len(s)
        if limit and n > limit:
            out.append("...")
            break
        out.append(s)
    return "".join(out)


_RATE_KEYS = const(32)


class RateLimit:
    """Summarise a repeated event per interval instead of one line per event.

    `check(key, interval_s)` answers None while the event is to be held back, otherwise the text to
    append to the line that reports it: "" the first time, and " (N more in the last S s)" when N
    occurrences were held back since the previous line, S seconds ago. The window starts at each
    reported line. Occurrences held back when the event stops are not reported (the node's
    counters have the totals).

    Bounded for boards: at most `keys` keys (32) are remembered; a new key evicts the one reported
    longest ago. So a key names a kind of event (a constant per call site, like the node's counter
    names), never text from the wire, or a flood of new keys would log a line each.
    Host code may use it with `logging` too: `more = limit.check(k, 10)`, then
    `if more is not None: log.warning("...%s", more)`.
    """

    def __init__(self, keys=_RATE_KEYS, clock=ticks_ms):
        self.keys = keys
        self.clock = clock
        self._seen = {}  # key -> [ticks_ms of the last reported line, occurrences held back since]

    def check(self, key, interval_s):
        now = self.clock()
        seen = self._seen
        e = seen.get(key)
        if e is None:
            if len(seen) >= self.keys:  # evict the key reported longest ago (wrapped ticks: oldest)
                old = None
                age = -1
                for k in seen:
                    d = ticks_diff(now, seen[k][0])
                    if d < 0 or d > age:
                        old = k
                        if d < 0:
                            break
                        age = d
                del seen[old]
            seen[key] = [now, 0]
            return ""
        d = ticks_diff(now, e[0])
        if 0 <= d < interval_s * 1000:  # (d < 0: the ticks wrapped past half their period: long ago)
            e[1] += 1
            return None
        n = e[1]
        e[0] = now
        e[1] = 0
        return " (%d more in the last %d s)" % (n, (d + 500) // 1000) if n else ""


class Log:
    """A tiny logger with the logging module's method names, plus `every` for repeated warnings.

    On CPython the host replaces the sink with `logging`; on a board lines go to the console.
    A message that holds a newline, carriage return or ESC (text from the wire) is escaped whole
    with `printable`: one event, one line.
    """

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40
    limits = None  # the RateLimit `every` uses: one for all loggers, made on first use

    def __init__(self, name, level=20, sink=None):
        self.name = name
        self.level = level
        self.sink = sink

    def _emit(self, level, tag, msg, args, more=""):
        if level < self.level:
            return
        if args:
            try:
                msg = msg % args
            except Exception:
                msg = "%s %r" % (msg, args)
        if more:
            msg += more
        if "\n" in msg or "\r" in msg or "\x1b" in msg:
            msg = printable(msg, 0)
        if self.sink is not None:
            self.sink(level, self.name, msg)
        else:
            print("%s %s: %s" % (tag, self.name, msg))

    def debug(self, msg, *args):
        self._emit(10, "D", msg, args)

    def info(self, msg, *args):
        self._emit(20, "I", msg, args)

    def warning(self, msg, *args):
        self._emit(30, "W", msg, args)

    def error(self, msg, *args):
        self._emit(40, "E", msg, args)

    def every(self, key, interval_s, msg, *args):
        """A warning at most once per `interval_s` seconds for `key` (see RateLimit: a constant
        naming the event, e.g. the counter the call site bumps); the occurrences in between are
        counted and the next line ends "(N more in the last S s)"."""
        if self.level > 30:
            return
        limits = self.limits
        if limits is None:
            limits = Log.limits = RateLimit()
        more = limits.check(key, interval_s)
        if more is not None:
            self._emit(30, "W", msg, args, more)


_loggers = {}
_default_sink = [None]
_default_level = [20]


def get_logger(name):
    lg = _loggers.get(name)
    if lg is None:
        lg = Log(name, _default_level[0], _default_sink[0])
        _loggers[name] = lg
    return lg


def set_log_sink(sink, level=None):
    """Route every runtime logger to `sink(level, name, msg)` (the host installs `logging`)."""
    _default_sink[0] = sink
    if level is not None:
        _default_level[0] = level
    for lg in _loggers.values():
        lg.sink = sink
        if level is not None:
            lg.level = level
