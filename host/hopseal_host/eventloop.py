"""The host's event loop: uvloop's (libuv, in C) when it is installed, else asyncio's own.

uvloop is a pinned requirement (requirements.txt); a host without it (an install that left it out,
a platform it does not build on) runs the same code on asyncio's loop. Everything the runtime and
the host ask of a loop (streams, servers, signal handlers, readers on a file descriptor, executors)
both loops have. What uvloop changes is the cost per event and per read or write: a relayed 48 KiB
portal chunk passes through three processes and six socket calls, and asyncio's selector loop and
transports run in Python (tools/bench/bench_portal.py measures the difference).

`HOPSEAL_EVENT_LOOP=asyncio` keeps asyncio's loop even where uvloop is installed (to compare, or
to rule uvloop out when something looks wrong).
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, Awaitable, Callable


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's new_event_loop, or None for asyncio's default (not installed, or
    HOPSEAL_EVENT_LOOP=asyncio)."""
    if os.environ.get("HOPSEAL_EVENT_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def name() -> str:
    """'uvloop' or 'asyncio': the loop `run` uses."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Awaitable[Any]) -> Any:
    """asyncio.run(main) on the host's loop (see the module's docstring)."""
    factory = loop_factory()
    if factory is None:
        return asyncio.run(main)
    if hasattr(asyncio, "Runner"):  # Python 3.11+
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    loop = factory()  # Python 3.10: what asyncio.run does, on this loop
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
