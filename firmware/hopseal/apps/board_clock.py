"""The board's wall clock (issue 13): set from the gateway's TIME frames (serial-link.md §7.7) or,
on Wi-Fi, NTP; a board waits for it before it creates or verifies identities (attestation times).

Imported only by a board that needs it (a vault, or a test's clock_start): compat.py keeps just
`wall_time` and `clock_set`, which every node reads.
"""
import asyncio

from ..compat import _clock_offset, clock_set, say, wall_time


def set_wall_time(t):
    """Set the clock to `t`, Unix seconds UTC: the RTC where the port has one (machine.RTC,
    CircuitPython's rtc), otherwise an offset that compat.wall_time adds (the unix port, CPython)."""
    import time

    t = int(t)
    _clock_offset[0] = 0
    try:
        try:
            import rtc  # CircuitPython: struct_time, epoch 1970

            rtc.RTC().datetime = time.localtime(t)
        except ImportError:
            import machine

            g = time.gmtime(t - 946684800 if time.gmtime(0)[0] == 2000 else t)  # (year, month, day, hour, minute, second, weekday, yearday)
            machine.RTC().datetime((g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0))
    except (ImportError, AttributeError, OSError, ValueError):
        pass
    _clock_offset[0] = t - wall_time()  # ~0 where the RTC took it


def set_clock(t):
    """A TIME frame from the gateway: the clock follows it; said once, when it was not set."""
    was = clock_set()
    set_wall_time(t)
    if not was and clock_set():
        say("clock set from the gateway: %d (Unix seconds, UTC)" % t)


def _waiting():
    say("clock not set (board time %d is before 2025): waiting for the gateway's time before "
        "creating or verifying identities" % wall_time())


def wait_for_clock(ntp, then, ask=None):
    """Say at once (one console line) that the clock is not set, and return the coroutine that
    waits for it: the line again every minute, NTP every 10 s when `ntp` (a Wi-Fi board with
    `ntptime`) and, as often, `ask()` (a coroutine: the gateway's `time` service, Unix seconds or
    None); then it calls `then()`."""
    _waiting()
    return _wait(ntp, then, ask)


async def _wait(ntp, then, ask):
    n = 0
    while not clock_set():
        if ntp and n % 10 == 0:
            try:
                import ntptime

                ntptime.settime()  # UTC into the RTC
            except (ImportError, OSError):
                pass
        if ask is not None and n % 10 == 0 and not clock_set():
            t = await ask()
            if t:
                set_wall_time(t)
                if clock_set():
                    say("clock set from the gateway: %d (Unix seconds, UTC)" % t)
        n += 1
        if n % 60 == 0:
            _waiting()
        await asyncio.sleep(1)
    then()
