"""TCP portals host <-> host across a hub relay, real processes and sockets (issue 10):

    client (this process) -> `hopseal tcp-inlet create` -> hub (forward_to_board1) ->
    `hopseal tcp-outlet create --relay board1` -> TCP server (this process, a thread)

The inlet's route opens a secure channel to the outlet node through the relay, so the hub carries
only ciphertext. Checked: 64 MiB downloaded and 64 MiB echoed (each way at once) arrive with the
same SHA-256, 100 connections at once carry 1 MiB each intact, closing either end closes the
other, and an outlet that cannot reach its target makes the inlet close its client at once (the
Disconnect path, not the Pong timeout). The soak variant (1 GiB) runs with HOPSEAL_SOAK=1
(`make soak`). Throughput is printed (`pytest -s`), not asserted: tools/bench/bench_portal.py
measures it.
"""
import hashlib
import os
import socket
import socketserver
import threading
import time

import pytest
from support.attack import soak
from support.procs import free_port, hopseal

MiB = 1024 * 1024


class _Handler(socketserver.BaseRequestHandler):
    """First byte chooses: b"E" echo until EOF; b"D" + 8-byte size: send that many bytes of a
    fixed pattern, then close."""

    def handle(self):
        s = self.request
        srv = self.server
        with srv.lock:
            srv.active += 1
        try:
            mode = s.recv(1)
            if mode == b"E":
                while True:
                    d = s.recv(256 * 1024)
                    if not d:
                        break
                    s.sendall(d)
            elif mode == b"D":
                n = int.from_bytes(_recv_exactly(s, 8), "big")
                block = pattern(MiB)
                while n > 0:
                    k = min(n, len(block))
                    s.sendall(block[:k])
                    n -= k
        except OSError:
            pass
        finally:
            with srv.lock:
                srv.active -= 1


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # a real service's backlog: socketserver's 5 refuses 100 connects at once

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.active = 0  # connections the server is serving
        threading.Thread(target=self.serve_forever, daemon=True).start()


def pattern(n, seed=b"portal"):
    out = bytearray()
    c = 0
    while len(out) < n:
        out += hashlib.sha256(seed + c.to_bytes(4, "big")).digest() * 64
        c += 1
    return bytes(out[:n])


def _recv_exactly(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            break
        buf += d
    return bytes(buf)


def connect(port, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def echo_through(port, total, block=64 * 1024):
    """Send `total` bytes through the echo server, reading concurrently; (sha sent, sha received)."""
    s = connect(port)
    s.sendall(b"E")
    sent, got = hashlib.sha256(), hashlib.sha256()
    received = [0]

    def reader():
        while received[0] < total:
            d = s.recv(256 * 1024)
            if not d:
                break
            got.update(d)
            received[0] += len(d)

    t = threading.Thread(target=reader)
    t.start()
    data = pattern(block, os.urandom(8))
    left = total
    while left > 0:
        k = min(left, block)
        s.sendall(data[:k])
        sent.update(data[:k])
        left -= k
    t.join(300)
    s.close()
    return sent.hexdigest(), got.hexdigest(), received[0]


def download(port, total):
    s = connect(port)
    s.sendall(b"D" + total.to_bytes(8, "big"))
    h = hashlib.sha256()
    n = 0
    while True:
        d = s.recv(256 * 1024)
        if not d:
            break  # the server closed: the inlet closed the client
        h.update(d)
        n += len(d)
    s.close()
    return h.hexdigest(), n


def expected_download(total):
    h = hashlib.sha256()
    block = pattern(MiB)
    while total > 0:
        k = min(total, len(block))
        h.update(block[:k])
        total -= k
    return h.hexdigest()


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    """hub, outlet node (relay board1) in front of a Server, inlet node: yields (inlet port, server)."""
    tmp = tmp_path_factory.mktemp("portal")
    server = Server()
    hub_port, inlet_port = free_port(), free_port()
    procs = []
    try:
        hub = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % hub_port, "--vault", str(tmp / "hub"),
                      "--control", "")
        procs.append(hub)
        hub.wait_for("listening on")
        outlet = hopseal("outlet", "tcp-outlet", "create", "--to", "127.0.0.1:%d" % server.server_address[1],
                         "--relay", "board1", "--hub", "127.0.0.1:%d" % hub_port, "--vault", str(tmp / "outlet"),
                         "--control", "")
        procs.append(outlet)
        outlet.wait_for("relay forward_to_board1 registered")
        route = "/ip4/127.0.0.1/tcp/%d/service/forward_to_board1/secure/api/service/outlet" % hub_port
        inlet = hopseal("inlet", "tcp-inlet", "create", "--from", "127.0.0.1:%d" % inlet_port, "--to", route,
                        "--vault", str(tmp / "inlet"), "--control", "")
        procs.append(inlet)
        inlet.wait_for("tcp inlet listening on")
        yield inlet_port, server, procs
    finally:
        for p in reversed(procs):
            p.stop()
        server.shutdown()


def test_64_mib_each_way_arrives_with_the_same_sha256(portal):
    port, server, procs = portal
    t = time.monotonic()
    want = expected_download(64 * MiB)
    got, n = download(port, 64 * MiB)
    down = time.monotonic() - t
    assert n == 64 * MiB and got == want
    t = time.monotonic()
    sent, back, n = echo_through(port, 64 * MiB)
    echo = time.monotonic() - t
    assert n == 64 * MiB and sent == back
    print("\nportal host<->host via hub relay, secure channel: download 64 MiB %.1f MB/s; echo 64 MiB "
          "(each way at once) %.1f MB/s" % (64 * MiB / down / 1e6, 64 * MiB / echo / 1e6))


def _concurrent(port, n, size):
    results = [None] * n

    def one(i):
        try:
            results[i] = echo_through(port, size, block=16 * 1024)
        except OSError as e:
            results[i] = e

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t = time.monotonic()
    for th in ts:
        th.start()
    for th in ts:
        th.join(600)
    dt = time.monotonic() - t
    for r in results:
        assert isinstance(r, tuple), r
        sent, back, got = r
        assert got == size and sent == back
    return dt


def test_100_connections_at_once_each_carry_1_mib_intact(portal):
    port, server, procs = portal
    dt = _concurrent(port, 100, MiB)
    print("\nportal: 100 x 1 MiB echo at once in %.2f s" % dt)


def wait_until(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cond()


def test_closing_either_end_closes_the_other(portal):
    port, server, procs = portal
    # the client closes: the server sees EOF
    assert wait_until(lambda: server.active == 0)  # what earlier tests opened is gone
    s = connect(port, timeout=10)
    s.sendall(b"E" + b"x" * 1000)
    assert _recv_exactly(s, 1000) == b"x" * 1000
    assert server.active == 1
    s.close()
    assert wait_until(lambda: server.active == 0)
    # the server closes (after its data): the client sees EOF after all of it
    got, n = download(port, 1000)
    assert n == 1000


def test_node_flags_outlet_and_inlet(tmp_path):
    """The same through `hopseal node --outlet` and `hopseal node --inlet`, node to node (no hub)."""
    server = Server()
    p1, p2, ip = free_port(), free_port(), free_port()
    procs = []
    try:
        a = hopseal("a", "node", "--listen", "127.0.0.1:%d" % p1, "--vault", str(tmp_path / "a"), "--control", "",
                    "--outlet", "web=127.0.0.1:%d" % server.server_address[1])
        procs.append(a)
        a.wait_for("listening on")
        b = hopseal("b", "node", "--listen", "127.0.0.1:%d" % p2, "--vault", str(tmp_path / "b"), "--control", "",
                    "--inlet", "127.0.0.1:%d=/ip4/127.0.0.1/tcp/%d/secure/api/service/web" % (ip, p1))
        procs.append(b)
        b.wait_for("tcp inlet listening on")
        got, n = download(ip, MiB)
        assert n == MiB and got == expected_download(MiB)
    finally:
        for p in procs:
            p.stop()
        server.shutdown()


def test_an_outlet_that_cannot_reach_its_target_closes_the_inlets_client(tmp_path):
    """The outlet answers Disconnect when its connect fails: the client is closed as soon as that
    comes back (the inlet says so), long before its Pong wait (10 s) would have ended."""
    hub_port, inlet_port, dead_port = free_port(), free_port(), free_port()  # nothing on dead_port
    procs = []
    try:
        hub = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % hub_port, "--vault", str(tmp_path / "hub"),
                      "--control", "")
        procs.append(hub)
        hub.wait_for("listening on")
        outlet = hopseal("outlet", "tcp-outlet", "create", "--to", "127.0.0.1:%d" % dead_port, "--relay", "dead",
                         "--hub", "127.0.0.1:%d" % hub_port, "--vault", str(tmp_path / "outlet"), "--control", "")
        procs.append(outlet)
        outlet.wait_for("relay forward_to_dead registered")
        route = "/ip4/127.0.0.1/tcp/%d/service/forward_to_dead/secure/api/service/outlet" % hub_port
        inlet = hopseal("inlet", "tcp-inlet", "create", "--from", "127.0.0.1:%d" % inlet_port, "--to", route,
                        "--vault", str(tmp_path / "inlet"), "--control", "")
        procs.append(inlet)
        inlet.wait_for("tcp inlet listening on")
        for i in (1, 2):  # the second time over the channel the first one opened
            s = connect(inlet_port, timeout=30)
            assert s.recv(1) == b""  # closed by the inlet
            s.close()
            assert wait_until(lambda: sum("the outlet could not reach its target" in l for l in inlet.lines) == i)
        assert wait_until(lambda: sum("cannot connect to the target" in l for l in outlet.lines) == 2)
        assert not any("no Pong" in l for l in inlet.lines)
        assert not any("Traceback" in l for p in procs for l in p.lines)
    finally:
        for p in reversed(procs):
            p.stop()


@soak
def test_soak_1_gib_arrives_with_the_same_sha256(portal):
    port, server, procs = portal
    t = time.monotonic()
    want = expected_download(1024 * MiB)
    got, n = download(port, 1024 * MiB)
    dt = time.monotonic() - t
    assert n == 1024 * MiB and got == want
    print("\nportal soak: 1 GiB download %.1f MB/s" % (1024 * MiB / dt / 1e6))
