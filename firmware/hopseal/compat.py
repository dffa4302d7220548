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


def wall_time():
    """Seconds since the Unix epoch, as an int (identity time rules need it)."""
    import time

    t = int(time.time())
    # MicroPython's embedded ports count from 2000-01-01; the unix port from 1970.
    if t < 946684800 and hasattr(time, "gmtime") and time.gmtime(0)[0] == 2000:
        t += 946684800
    return t


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


class Log:
    """A tiny logger with the logging module's method names.

    On CPython the host replaces the sink with `logging`; on a board lines go to the console.
    """

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40

    def __init__(self, name, level=20, sink=None):
        self.name = name
        self.level = level
        self.sink = sink

    def _emit(self, level, tag, msg, args):
        if level < self.level:
            return
        if args:
            try:
                msg = msg % args
            except Exception:
                msg = "%s %r" % (msg, args)
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
