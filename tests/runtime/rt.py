"""Helpers for runtime tests that run under both pytest and MicroPython."""
import asyncio
import os


def run(coro):
    """Run a coroutine on a fresh event loop (MicroPython keeps one global loop)."""
    if hasattr(asyncio, "new_event_loop"):
        try:
            asyncio.new_event_loop()
        except Exception:
            pass
    return asyncio.run(coro)


def random_port():
    b = os.urandom(2)
    return 20000 + ((b[0] << 8) | b[1]) % 30000


async def listen_anywhere(tcp, host="127.0.0.1"):
    """Listen on a random free port (MicroPython cannot report the port of a port-0 bind)."""
    for _ in range(20):
        port = random_port()
        try:
            return await tcp.listen(host, port)
        except OSError:
            continue
    raise OSError("no free port")


def raises(exc, fn, *args):
    """Assert that fn(*args) raises exc; return the exception."""
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %r" % (exc.__name__, fn))


def quiet():
    """Silence runtime log output in tests; returns the list the lines go to."""
    from hopseal.compat import set_log_sink

    lines = []
    set_log_sink(lambda lvl, name, msg: lines.append((lvl, name, msg)))
    return lines


async def closed_by_peer(reader, timeout=3):
    """True when the peer closes within `timeout` s: reads until EOF (discarding what comes)."""
    try:
        while True:
            data = await asyncio.wait_for(reader.read(100), timeout)
            if not data:
                return True
    except OSError:
        return True
    except asyncio.TimeoutError:
        return False
