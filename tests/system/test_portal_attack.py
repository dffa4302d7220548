"""TCP portals under attack, through the real secure channel (issue 10, "bad input"): real hub,
outlet and inlet processes; the attacker is a CPython node in this process (support.attack.Peer)
with its own identity, which opens a real channel and sends what an honest portal never would.

- against an outlet behind a hub relay (the attacker plays the inlet): a Payload in place of the
  Ping, a Pong after setup, a counter gap, hops after the portal address, a Disconnect for a
  connection the outlet does not know;
- against an inlet whose route leads to the attacker (the attacker plays the outlet): a Payload
  before the Pong, a Pong after setup, a counter gap, hops after the portal address.
Each is rejected and counted (the process's counters, read through its control socket), the
portal connection it hit closes cleanly (Disconnect back, the TCP side closed), and a connection
opened before the attack still carries data afterwards. No process prints a traceback.

A slow reader: a client behind an inlet that asks for 256 MiB and reads nothing. Backpressure
holds the data back at the outlet (every hop awaits its writes), so the hub's RSS stays flat
while another relay at the same hub carries 16 MiB through its own inlet and outlet; then the
slow client reads everything, intact. A client that never reads is cut off after the inlet end's
write timeout (10 s), before the transports would give up on the connections its channel runs
over (30 s): the same inlet, channel and relay go on carrying its other connection.
"""
import hashlib
import os
import threading
import time

import pytest
from hopseal.secure.channel import SecureChannelListener
from hopseal.services import portal as P
from hopseal.wire.message import route
from hopseal_host.status import query
from support.attack import Peer, Sampler, proc_rss_kib, quiet_runtime_log, tracebacks
from support.procs import free_port, hopseal
from test_portal_relay import MiB, Server, connect, download, expected_download, wait_until


def counters(control):
    return query(control, kind="node")["counters"]


def wait_counter(control, name, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if counters(control).get(name, 0) >= n:
            return True
        time.sleep(0.05)
    return counters(control).get(name, 0) >= n


def recv_exactly(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            break
        buf += d
    return buf


def closed(s):
    """True once the peer closed `s` (EOF; whatever was still in flight is read and dropped)."""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except OSError:
        return True


class FakeEnd:
    """The attacker's portal end: a mailbox on the Peer, its route through the channel."""

    def __init__(self, peer, ch, listener="outlet"):
        self.peer = peer
        self.ch = ch
        self.mb = peer.call(_mailbox(peer.node))
        self.listener = listener
        self.remote = None
        self.counter = 0

    def send(self, to, payload):
        self.peer.send(to, payload, [self.mb.address])

    def receive(self, timeout=10):
        return self.peer.call(self.mb.receive(timeout), timeout + 5)

    def ping(self):
        """Ping the outlet listener; the Pong's return route becomes the remote route."""
        self.send([self.ch.encryptor_address, self.listener], P.encode(P.PING))
        pong = self.receive()
        assert pong.payload == b"\x01"
        self.remote = list(pong.return_)
        return self

    def payload(self, data, counter=None):
        self.send(self.remote, P.encode_payload(data, self.counter if counter is None else counter))
        self.counter += 1

    def next_data(self):
        m = self.receive()
        kind, data, _ = P.decode(m.payload)
        return kind, bytes(data) if data is not None else None


async def _mailbox(node, address=None):
    return node.mailbox(address)


@pytest.fixture
def peer():
    with quiet_runtime_log():
        p = Peer("attacker")
        try:
            yield p
        finally:
            p.stop()


@pytest.fixture
def relay_outlet(tmp_path):
    """hub, outlet node behind relay board1 (control socket), inlet: (hub port, inlet port,
    outlet control, server, procs)."""
    server = Server()
    hub_port, inlet_port = free_port(), free_port()
    ctl = str(tmp_path / "outlet.sock")
    procs = []
    try:
        hub = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % hub_port, "--vault", str(tmp_path / "hub"),
                      "--control", "")
        procs.append(hub)
        hub.wait_for("listening on")
        outlet = hopseal("outlet", "tcp-outlet", "create", "--to", "127.0.0.1:%d" % server.server_address[1],
                         "--relay", "board1", "--hub", "127.0.0.1:%d" % hub_port, "--vault", str(tmp_path / "outlet"),
                         "--control", ctl)
        procs.append(outlet)
        outlet.wait_for("relay forward_to_board1 registered")
        inlet = hopseal("inlet", "tcp-inlet", "create", "--from", "127.0.0.1:%d" % inlet_port, "--to",
                        "/ip4/127.0.0.1/tcp/%d/service/forward_to_board1/secure/api/service/outlet" % hub_port,
                        "--vault", str(tmp_path / "inlet"), "--control", "")
        procs.append(inlet)
        inlet.wait_for("tcp inlet listening on")
        yield hub_port, inlet_port, ctl, server, procs
    finally:
        for p in reversed(procs):
            p.stop()
        server.shutdown()
    assert not tracebacks([l for p in procs for l in p.lines])


def test_outlet_rejects_bad_portal_messages_through_the_channel(relay_outlet, peer):
    hub_port, inlet_port, ctl, server, procs = relay_outlet
    # an honest connection through the real inlet, open during the whole attack
    honest = connect(inlet_port)
    honest.sendall(b"E" + b"before")
    assert recv_exactly(honest, 6) == b"before"

    conn = peer.connect(hub_port)
    ch = peer.channel([conn.address, "forward_to_board1", "api"])

    # a Payload in place of the Ping: the listener takes only Ping
    e = FakeEnd(peer, ch)
    e.send([ch.encryptor_address, "outlet"], P.encode_payload(b"E" + b"x" * 10, 0))
    assert wait_counter(ctl, "portal_rejected", 1)
    # a Disconnect for a connection the outlet does not know
    e.send([ch.encryptor_address, "outlet"], P.encode(P.DISCONNECT))
    assert wait_counter(ctl, "portal_rejected", 2)

    # a Pong after setup: Disconnect back, the connection to the target closed
    e = FakeEnd(peer, ch).ping()
    e.payload(b"E" + b"abc")
    assert e.next_data() == (P.PAYLOAD, b"abc")
    e.send(e.remote, P.encode(P.PONG))
    assert e.next_data() == (P.DISCONNECT, None)
    assert wait_counter(ctl, "portal_rejected", 3)

    # a counter gap
    e = FakeEnd(peer, ch).ping()
    e.payload(b"E1", 0)
    assert e.next_data() == (P.PAYLOAD, b"1")
    e.payload(b"2", 2)
    assert e.next_data() == (P.DISCONNECT, None)
    assert wait_counter(ctl, "portal_counter_gap", 1)

    # hops after the portal address
    e = FakeEnd(peer, ch).ping()
    e.send(e.remote + route("echo"), P.encode_payload(b"E", 0))
    assert e.next_data() == (P.DISCONNECT, None)
    assert wait_counter(ctl, "portal_extra_hops", 1)

    # each closed cleanly: only the honest connection is left at the server
    assert wait_until(lambda: server.active == 1)
    c = counters(ctl)
    assert (c.get("portal_rejected"), c.get("portal_counter_gap"), c.get("portal_extra_hops")) == (3, 1, 1)
    # the honest connection is untouched, and the outlet still serves new ones
    honest.sendall(b"after" * 1000)
    assert recv_exactly(honest, 5000) == b"after" * 1000
    honest.close()
    got, n = download(inlet_port, MiB)
    assert n == MiB and got == expected_download(MiB)
    assert wait_until(lambda: server.active == 0)


def test_inlet_rejects_bad_portal_messages_from_its_outlet(tmp_path, peer):
    """The inlet's route leads to the attacker's node (a secure channel listener `api` and a
    fake outlet): what it sends back through the channel is checked like any outlet's."""
    port = peer.call(peer.node.tcp.listen("127.0.0.1", 0)).port
    peer.call(_listener(peer))
    fake = FakeEnd(peer, None)
    peer.call(_rename(peer.node, fake.mb, "outlet"))
    inlet_port = free_port()
    ctl = str(tmp_path / "inlet.sock")
    inlet = hopseal("inlet", "tcp-inlet", "create", "--from", "127.0.0.1:%d" % inlet_port, "--to",
                    "/ip4/127.0.0.1/tcp/%d/secure/api/service/outlet" % port, "--vault", str(tmp_path / "inlet"),
                    "--control", ctl)
    try:
        inlet.wait_for("tcp inlet listening on")

        def accept_client():
            """A client of the inlet and the Ping it makes: (socket, the inlet end's route)."""
            s = connect(inlet_port)
            ping = fake.receive(20)
            assert ping.payload == b"\x00"
            return s, list(ping.return_)

        def pong(remote):
            fake.send(remote, P.encode(P.PONG))

        # an honest connection, open during the whole attack
        honest, h_route = accept_client()
        pong(h_route)
        fake.send(h_route, P.encode_payload(b"hello", 0))
        assert recv_exactly(honest, 5) == b"hello"

        # a Payload before the Pong
        s, r = accept_client()
        fake.send(r, P.encode_payload(b"early", 0))
        assert closed(s)
        assert wait_counter(ctl, "portal_rejected", 1)

        # a Pong after setup: Disconnect back, the client closed
        s, r = accept_client()
        pong(r)
        fake.send(r, P.encode(P.PONG))
        assert P.decode(fake.receive().payload)[0] == P.DISCONNECT
        assert closed(s)
        assert wait_counter(ctl, "portal_rejected", 2)

        # a counter gap: what came before the gap arrives, then the client is closed
        s, r = accept_client()
        pong(r)
        fake.send(r, P.encode_payload(b"one", 0))
        fake.send(r, P.encode_payload(b"three", 2))
        assert recv_exactly(s, 3) == b"one"
        assert P.decode(fake.receive().payload)[0] == P.DISCONNECT
        assert closed(s)
        assert wait_counter(ctl, "portal_counter_gap", 1)

        # hops after the portal address
        s, r = accept_client()
        pong(r)
        fake.send(r + route("echo"), P.encode_payload(b"x", 0))
        assert P.decode(fake.receive().payload)[0] == P.DISCONNECT
        assert closed(s)
        assert wait_counter(ctl, "portal_extra_hops", 1)

        # the honest connection still carries data both ways
        fake.send(h_route, P.encode_payload(b" world", 1))
        assert recv_exactly(honest, 6) == b" world"
        honest.sendall(b"from the client")
        kind, data = fake.next_data()
        assert (kind, data) == (P.PAYLOAD, b"from the client")
        honest.close()
        assert P.decode(fake.receive().payload)[0] == P.DISCONNECT  # the client's close, passed on
        c = counters(ctl)
        assert (c.get("portal_rejected"), c.get("portal_counter_gap"), c.get("portal_extra_hops")) == (2, 1, 1)
    finally:
        inlet.stop()
    assert not tracebacks(inlet.lines)


async def _listener(peer):
    SecureChannelListener(peer.node, peer.vault, "api")


async def _rename(node, mb, address):
    """Move mailbox `mb` to a fixed address (the fake outlet listener)."""
    node.stop_worker(mb.address)
    mb.address = node.start_worker(address, mb)


def test_a_slow_reader_holds_back_its_data_without_growing_the_hub(tmp_path):
    hub_port = free_port()
    servers = [Server(), Server()]
    procs = []

    def start(name, *args, wait):
        p = hopseal(name, *args)
        procs.append(p)
        p.wait_for(wait)
        return p

    try:
        hub = start("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % hub_port, "--vault", str(tmp_path / "hub"),
                    "--control", "", wait="listening on")
        inlets = []
        for i, server in enumerate(servers):  # two relays at one hub, each with its own inlet
            start("outlet%d" % i, "tcp-outlet", "create", "--to", "127.0.0.1:%d" % server.server_address[1],
                  "--relay", "web%d" % i, "--hub", "127.0.0.1:%d" % hub_port, "--vault", str(tmp_path / ("o%d" % i)),
                  "--control", "", wait="relay forward_to_web%d registered" % i)
            ip = free_port()
            start("inlet%d" % i, "tcp-inlet", "create", "--from", "127.0.0.1:%d" % ip, "--to",
                  "/ip4/127.0.0.1/tcp/%d/service/forward_to_web%d/secure/api/service/outlet" % (hub_port, i),
                  "--vault", str(tmp_path / ("i%d" % i)), "--control", "", wait="tcp inlet listening on")
            inlets.append(ip)
        # warm up both paths (channels open), then take the hub's RSS
        for ip in inlets:
            got, n = download(ip, MiB)
            assert n == MiB
        time.sleep(0.5)
        base = proc_rss_kib(hub.p.pid)
        sampler = Sampler(hub.p.pid)

        total = 256 * MiB
        slow = connect(inlets[0], timeout=120)
        slow.sendall(b"D" + total.to_bytes(8, "big"))
        time.sleep(2)  # the path fills up to its backpressure and stops
        # meanwhile another relay at the same hub carries 16 MiB through its own inlet and outlet
        got, n = download(inlets[1], 16 * MiB)
        assert n == 16 * MiB and got == expected_download(16 * MiB)
        time.sleep(1)
        peak, _ = sampler.peak()
        # now the slow client reads all of it, intact
        h = hashlib.sha256()
        n = 0
        while True:
            d = slow.recv(256 * 1024)
            if not d:
                break
            h.update(d)
            n += len(d)
        slow.close()
        assert n == total and h.hexdigest() == expected_download(total), "\n".join(
            "[%s] %s" % (p.name, l) for p in procs for l in p.lines[-15:])
        grew = (peak - base) / 1024
        print("\nportal slow reader: hub RSS %.1f MiB before, peak %.1f MiB while 256 MiB waited behind a "
              "client that read nothing" % (base / 1024, peak / 1024))
        assert grew < 32, "the hub grew by %.1f MiB while a slow client held 256 MiB back" % grew
    finally:
        for p in reversed(procs):
            p.stop()
        for s in servers:
            s.shutdown()
    assert not tracebacks([l for p in procs for l in p.lines])


def test_a_client_that_never_reads_is_cut_off_and_its_carrier_goes_on(tmp_path):
    """A client that asks for 1 GiB and never reads: after the inlet end's write timeout (10 s)
    its connection is closed, before any transport gives up on the channel's connections (30 s);
    another connection through the same inlet and channel works again afterwards, and the outlet's
    relay was never lost."""
    server = Server()
    hub_port, inlet_port = free_port(), free_port()
    hub_ctl, inlet_ctl = str(tmp_path / "hub.sock"), str(tmp_path / "inlet.sock")
    procs = []
    try:
        hub = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % hub_port, "--vault", str(tmp_path / "hub"),
                      "--control", hub_ctl)
        procs.append(hub)
        hub.wait_for("listening on")
        outlet = hopseal("outlet", "tcp-outlet", "create", "--to", "127.0.0.1:%d" % server.server_address[1],
                         "--relay", "board1", "--hub", "127.0.0.1:%d" % hub_port, "--vault", str(tmp_path / "outlet"),
                         "--control", "")
        procs.append(outlet)
        outlet.wait_for("relay forward_to_board1 registered")
        inlet = hopseal("inlet", "tcp-inlet", "create", "--from", "127.0.0.1:%d" % inlet_port, "--to",
                        "/ip4/127.0.0.1/tcp/%d/service/forward_to_board1/secure/api/service/outlet" % hub_port,
                        "--vault", str(tmp_path / "inlet"), "--control", inlet_ctl)
        procs.append(inlet)
        inlet.wait_for("tcp inlet listening on")
        other = connect(inlet_port, timeout=60)
        other.sendall(b"E" + b"first")
        assert recv_exactly(other, 5) == b"first"

        stuck = connect(inlet_port, timeout=60)
        stuck.sendall(b"D" + (1024 * MiB).to_bytes(8, "big"))
        assert wait_counter(inlet_ctl, "portal_slow_client", 1, timeout=60)
        # the same inlet, channel and relay carry the other connection again
        other.sendall(b"again" * 20000)
        assert recv_exactly(other, 100000) == b"again" * 20000
        other.close()
        got = 0
        while True:  # what was on its way to the stuck client, then EOF
            d = stuck.recv(256 * 1024)
            if not d:
                break
            got += len(d)
        stuck.close()
        assert got < 1024 * MiB
        assert wait_until(lambda: server.active == 0)
        assert not any("registered again" in l for l in outlet.lines)
        for ctl, kind in ((hub_ctl, "hub"), (inlet_ctl, "node")):
            c = query(ctl, kind=kind)["counters"]
            assert not c.get("write_timeout") and not c.get("frame_timeout"), (kind, c)
        print("\nportal: a client that never read was cut off after %.1f MiB; its inlet's channel went on"
              % (got / MiB))
    finally:
        for p in reversed(procs):
            p.stop()
        server.shutdown()
    assert not tracebacks([l for p in procs for l in p.lines])
