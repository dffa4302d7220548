"""File-descriptor limits for the host's listeners (hub, gateway, node).

Each TCP connection holds one file descriptor. A process that runs out of them cannot accept,
cannot open its vault, cannot log to a file; so the connection cap (TCPTransport.max_connections)
must stay below the limit, with room for everything else. At start the soft RLIMIT_NOFILE is
raised to the hard limit where the system allows it, and the cap is taken below what is left.
The other TCPTransport options a host gives (transport_options) live here too: how much one read
of a connection takes (HOST_READ_SIZE).
"""
from __future__ import annotations

import logging

log = logging.getLogger("hopseal.limits")

RESERVE = 64  # descriptors kept for everything but accepted connections (listeners, files, dials)
DEFAULT_MAX_CONNECTIONS = 10000  # the cap when the descriptors allow more (memory is the next limit)
# bytes a host's TCP connection reads at a time (a board reads 2 KiB): asyncio's stream holds up to
# 128 KiB before it stops reading the socket, so one read takes what is there, and a 48 KiB portal
# frame is decoded from one read instead of 24 (tools/bench/bench_portal.py)
HOST_READ_SIZE = 256 * 1024


def raise_fd_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit (where allowed); the soft limit after it,
    or None where the platform has no such limit (no `resource` module)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux/macOS
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard
    if want == resource.RLIM_INFINITY or want < 0:
        want = 1 << 20  # an unlimited hard limit: ask for plenty, the kernel's nr_open caps it
    if soft != resource.RLIM_INFINITY and 0 <= soft < want:
        for target in (want, 1 << 16, 1 << 14):
            if target <= soft:
                break
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                log.debug("raised the file-descriptor limit from %d to %d", soft, target)
                soft = target
                break
            except (ValueError, OSError):
                continue  # above the kernel's nr_open (macOS: OPEN_MAX): try less
    return None if soft == resource.RLIM_INFINITY else soft


def max_connections(wanted: int | None = None, reserve: int = RESERVE) -> int:
    """A connection cap the process can hold: `wanted` (default DEFAULT_MAX_CONNECTIONS), but at
    most the soft file-descriptor limit (raised first, see raise_fd_limit) minus `reserve`, and at
    least 1. Logs a warning when the limit lowers an explicitly wanted cap."""
    limit = raise_fd_limit()
    cap = DEFAULT_MAX_CONNECTIONS if wanted is None else wanted
    if limit is not None and cap > limit - reserve:
        safe = max(1, limit - reserve)
        if wanted is not None:
            log.warning("at most %d connections (file-descriptor limit %d, %d kept in reserve), not %d",
                        safe, limit, reserve, wanted)
        cap = safe
    return cap


def add_transport_args(p) -> None:
    """The flags of a TCP listener's limits (`hopseal hub`, `hopseal node`)."""
    from hopseal.transport import tcp

    p.add_argument("--max-connections", type=_positive_int, default=None, metavar="N",
                   help="accepted connections held at once; more are closed at once and counted (default %d, "
                   "lowered to fit the file-descriptor limit)" % DEFAULT_MAX_CONNECTIONS)
    p.add_argument("--idle-timeout", type=_seconds, default=tcp.DEFAULT_IDLE_TIMEOUT, metavar="S",
                   help="close an accepted connection that sent no complete frame for S seconds (0: never; "
                   "default %d)" % tcp.DEFAULT_IDLE_TIMEOUT)
    p.add_argument("--frame-timeout", type=_seconds, default=tcp.DEFAULT_FRAME_TIMEOUT, metavar="S",
                   help="close a connection whose frame has been half-sent, or whose peer has not read, for S "
                   "seconds (0: never; default %d)" % tcp.DEFAULT_FRAME_TIMEOUT)


def transport_options(args) -> dict:
    """TCPTransport keyword arguments from the flags of add_transport_args."""
    return {"max_connections": max_connections(args.max_connections), "idle_timeout": args.idle_timeout or None,
            "frame_timeout": args.frame_timeout or None, **host_transport()}


def host_transport() -> dict:
    """What every host's TCPTransport takes beyond the flags: the read size and the host's framing
    (hopseal_host.fastio.HostTCPFraming: a sent message built in one buffer)."""
    from .fastio import HostTCPFraming

    return {"read_size": HOST_READ_SIZE, "framing": HostTCPFraming}


def _positive_int(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError("expected a whole number of at least 1, got %r" % text)
    return n


def _seconds(text: str) -> float:
    import argparse

    try:
        s = float(text)
    except ValueError:
        s = -1.0
    if not 0 <= s < 1e7:
        raise argparse.ArgumentTypeError("expected seconds (0 or more), got %r" % text)
    return s


# what these flags take in a config file (config.py): a TOML number, checked as the flag checks it
_positive_int.toml_kind = int  # type: ignore[attr-defined]
_seconds.toml_kind = float  # type: ignore[attr-defined]
