"""System test: transport attacks against a real `hopseal hub` process (issue 9, items 4 and 5).

Each test asserts outcomes, not mechanisms: the service is kept (an echo through the hub answers
within 1 s), the log is not flooded, and when the attack ends the hub's file descriptors return to
their baseline and its RSS to near it.

- idle sockets: N connections that say nothing, while a normal client keeps being served; then all
  N close at once (a disconnect storm) and the client is still served within 1 s;
- past the connection cap: the connections over it are closed at once, logged once per 10 s;
- out of file descriptors: the hub at a small RLIMIT_NOFILE neither spins nor floods its log;
- half-sent frames and idle connections are closed after the (small) timeouts given.

The hub runs through a small launcher (LAUNCH) that can lower the process's RLIMIT_NOFILE; the
transport settings are the hub's own flags `--max-connections`, `--idle-timeout`, `--frame-timeout`.
Heavy variants (thousands of connections) are marked `soak` and run only with HOPSEAL_SOAK=1
(`make soak`); each prints its figures.
"""
from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time

import pytest
from support.attack import HubProcess, RawClient, closed_within, echo_time, soak
from support.procs import Child, free_port, py_env

from hopseal.wire.tcp_frame import encode_frame
from hopseal_host.limits import raise_fd_limit

LAUNCH = """
import json, sys
cfg = json.loads(sys.argv[1])
if cfg.get("nofile"):
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (cfg["nofile"], cfg["nofile"]))
from hopseal_host.cli import main
sys.exit(main(sys.argv[2:]))
"""
FLAGS = {"max_connections": "--max-connections", "idle_timeout": "--idle-timeout", "frame_timeout": "--frame-timeout"}


class Hub(HubProcess):
    """`hopseal hub` on a free port with the transport flags given, run through LAUNCH (which can
    lower its RLIMIT_NOFILE first)."""

    def __init__(self, tmp_path, nofile: int | None = None, **transport):
        self.nofile = nofile
        args = []
        for k, v in transport.items():
            args += [FLAGS[k], str(v)]
        HubProcess.__init__(self, tmp_path, *args)

    def spawn(self, argv: list[str]) -> Child:
        return Child(self.name, [sys.executable, "-c", LAUNCH, json.dumps({"nofile": self.nofile}), *argv], py_env())


def flood(port: int, n: int) -> list[socket.socket]:
    """Open `n` connections that say nothing (non-blocking connects: none waits on the backlog)."""
    raise_fd_limit()
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    return socks


def flood_settled(port: int, n: int, batch: int = 50) -> tuple[list[socket.socket], int, int]:
    """`n` silent connections opened `batch` at a time, each batch waited for (the listen backlog
    drops what comes faster, and a dropped SYN is tried again seconds later); the sockets, and
    how many the hub greeted and closed (settle)."""
    socks: list[socket.socket] = []
    greeted = closed = 0
    while len(socks) < n:
        more = flood(port, min(batch, n - len(socks)))
        g, c = settle(more, 30)
        greeted += g
        closed += c
        socks += more
    return socks, greeted, closed


def settle(socks: list[socket.socket], timeout: float = 10) -> tuple[int, int]:
    """(greeted, closed): how many got the hub's version byte, how many were closed by it."""
    sel = selectors.DefaultSelector()  # epoll: select() stops at fd 1024
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    left = len(socks)
    greeted = closed = 0
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            sel.unregister(key.fileobj)
            left -= 1
            try:
                data = key.fileobj.recv(16)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if data:
                greeted += 1
            else:
                closed += 1
    sel.close()
    return greeted, closed


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        s.close()


def baseline(hub: Hub) -> tuple[int, int]:
    """fds and RSS (KiB) after a warm-up: a few connections and echoes, closed again."""
    for _ in range(3):
        echo_time(hub.port)
    socks = flood(hub.port, 20)
    settle(socks)
    close_all(socks)
    time.sleep(1.5)
    return hub.fds(), hub.rss_kib()


def figures(what: str, **kw) -> None:
    print("\n%s: %s" % (what, ", ".join("%s %s" % (k, v) for k, v in kw.items())), flush=True)


# -- idle sockets, then a disconnect storm ---------------------------------------------------------
def idle_sockets(tmp_path, n: int) -> None:
    hub = Hub(tmp_path, max_connections=n + 1000)
    try:
        fd0, rss0 = baseline(hub)
        lines0 = len(hub.lines)
        regular = RawClient(hub.port)
        regular.echo(b"before")
        socks, greeted, closed = flood_settled(hub.port, n)
        assert greeted == n and closed == 0, (greeted, closed)
        fd_peak, rss_peak = hub.fds(), hub.rss_kib()
        during = [regular.echo(b"during %d" % i) for i in range(5)]
        new = echo_time(hub.port)
        assert max(during) < 1 and new < 1, (during, new)
        # the disconnect storm: all at once, while the regular client keeps asking
        close_all(socks)
        storm = [regular.echo(b"storm %d" % i) for i in range(20)]
        assert max(storm) < 1, storm
        fd1 = hub.wait_fds(fd0 + 1)  # + the regular client
        # near the baseline: less than half of what the attack took stays (allocator arenas);
        # the transport's sweeper collects the garbage within a round (5 s at the defaults)
        near = rss0 + (rss_peak - rss0) // 2 + 4096
        deadline = time.monotonic() + 12
        rss1 = hub.rss_kib()
        while rss1 > near and time.monotonic() < deadline:
            time.sleep(0.5)
            rss1 = hub.rss_kib()
        regular.echo(b"after")
        regular.close()
        logged = len(hub.lines) - lines0
        figures("%d idle sockets" % n, fds="%d -> %d -> %d" % (fd0, fd_peak, fd1),
                rss_KiB="%d -> %d -> %d" % (rss0, rss_peak, rss1), echo_during_ms="%.1f" % (1000 * max(during)),
                new_client_ms="%.1f" % (1000 * new), echo_in_storm_ms="%.1f" % (1000 * max(storm)),
                log_lines=logged)
        assert fd1 <= fd0 + 1, (fd0, fd1)
        assert rss1 <= near, (rss0, rss_peak, rss1)
        assert logged < 120, "\n".join(hub.lines[lines0:])
    finally:
        hub.stop()


def test_idle_sockets_do_not_lock_out_clients(tmp_path):
    idle_sockets(tmp_path, 300)


@soak
@pytest.mark.parametrize("n", [1100, 4000])
def test_idle_sockets_do_not_lock_out_clients_soak(tmp_path, n):
    idle_sockets(tmp_path, n)


# -- the connection cap ----------------------------------------------------------------------------
def past_the_cap(tmp_path, n: int, cap: int) -> None:
    hub = Hub(tmp_path, max_connections=cap)
    try:
        fd0, rss0 = baseline(hub)
        lines0 = len(hub.lines)
        regular = RawClient(hub.port)
        regular.echo(b"before")
        t0 = time.monotonic()
        socks, greeted, closed = flood_settled(hub.port, n)
        elapsed = int(time.monotonic() - t0) + 1
        assert greeted == cap - 1 and closed == n - greeted, (greeted, closed)
        during = [regular.echo(b"during %d" % i) for i in range(5)]
        assert max(during) < 1, during
        fd_peak = hub.fds()
        close_all(socks)
        fd1 = hub.wait_fds(fd0 + 1)
        new = echo_time(hub.port)  # room again
        regular.close()
        logged = hub.lines[lines0:]
    finally:
        hub.stop()
    told = [l for l in logged if "refused a connection" in l]
    figures("%d sockets at a cap of %d" % (n, cap), fds="%d -> %d -> %d" % (fd0, fd_peak, fd1),
            echo_during_ms="%.1f" % (1000 * max(during)), refused=closed, refusal_lines=len(told),
            log_lines=len(logged))
    assert fd1 <= fd0 + 1 and new < 1
    # every refusal closed at once, and told in one line per 10 s (with how many more since)
    most = 1 + elapsed // 10  # one line per started 10 s of refusals
    assert 1 <= len(told) <= most, told
    assert len(logged) < 120, "\n".join(logged)


def test_connections_past_the_cap_are_refused_without_a_flood(tmp_path):
    past_the_cap(tmp_path, 300, 100)


@soak
def test_connections_past_the_cap_are_refused_without_a_flood_soak(tmp_path):
    past_the_cap(tmp_path, 4000, 1000)


# -- out of file descriptors -----------------------------------------------------------------------
def test_out_of_descriptors_neither_spins_nor_floods_the_log(tmp_path):
    # The hub's fd limit is far below its connection cap (until it takes the cap from the limit:
    # then this is the cap's test again): accept() fails for want of descriptors.
    hub = Hub(tmp_path, nofile=128)
    try:
        fd0, _ = baseline(hub)
        lines0 = len(hub.lines)
        regular = RawClient(hub.port)
        regular.echo(b"before")
        socks = flood(hub.port, 300)
        time.sleep(1)
        cpu0, t0 = hub.cpu_s(), time.monotonic()
        during = [regular.echo(b"during %d" % i) for i in range(5)]
        time.sleep(3)
        cpu = (hub.cpu_s() - cpu0) / (time.monotonic() - t0)
        assert max(during) < 1, during
        assert cpu < 0.5, "the hub used %.0f%% of a CPU while out of descriptors" % (100 * cpu)
        close_all(socks)
        fd1 = hub.wait_fds(fd0 + 1)
        deadline = time.monotonic() + 10
        while True:  # accepting again (asyncio retries each second)
            try:
                new = echo_time(hub.port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
        regular.close()
        logged = hub.lines[lines0:]
        figures("300 sockets at RLIMIT_NOFILE 128", cpu="%.1f%%" % (100 * cpu),
                echo_during_ms="%.1f" % (1000 * max(during)), fds="%d -> %d" % (fd0, fd1), log_lines=len(logged))
        assert fd1 <= fd0 + 1 and new < 5
        assert len(logged) < 120, "\n".join(logged)
    finally:
        hub.stop()


# -- half-sent frames and idle connections ---------------------------------------------------------
def test_half_sent_frame_and_idle_connection_are_dropped(tmp_path):
    hub = Hub(tmp_path, frame_timeout=1, idle_timeout=3)
    try:
        fd0, _ = baseline(hub)
        half = socket.create_connection(("127.0.0.1", hub.port))
        half.sendall(b"\x01" + encode_frame(b"\x00" * 1000)[:100])  # 96 of 1000 body bytes
        idle = socket.create_connection(("127.0.0.1", hub.port))
        idle.sendall(b"\x01")
        t_open = time.monotonic()
        busy = RawClient(hub.port)
        t_half = closed_within(half, 10)
        for i in range(8):  # one echo every 0.5 s: never idle
            busy.echo(b"busy %d" % i)
            time.sleep(0.5)
        t_idle = closed_within(idle, 10)
        assert t_half is not None and t_idle is not None, (t_half, t_idle)
        busy.echo(b"still here")
        figures("timeouts 1 s / 3 s", half_sent_closed_after_s="%.1f" % t_half,
                idle_closed_within_s="%.1f" % (time.monotonic() - t_open))
        half.close()
        idle.close()
        busy.close()
        assert hub.wait_fds(fd0) <= fd0
    finally:
        hub.stop()


# -- the host's fd limit and cap (hopseal_host.limits) ---------------------------------------------
def test_fd_limit_is_raised_and_the_cap_kept_below_it():
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 512)); "
            "from hopseal_host import limits; "
            "print(limits.max_connections(), limits.max_connections(100), limits.max_connections(5000), "
            "resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    r = subprocess.run([sys.executable, "-c", code], env=py_env(), capture_output=True, text=True, timeout=30)
    assert r.stdout.split() == ["448", "100", "448", "512"], (r.stdout, r.stderr)
    assert "at most 448 connections" in r.stderr  # an explicit wish the limit lowers is logged
