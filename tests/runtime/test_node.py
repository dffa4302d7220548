"""Node, router, services and the TCP transport over real loopback sockets (both runtimes)."""
import asyncio

from hopseal.errors import ReceiveTimeout, RoutingError
from hopseal.node import FunctionWorker, Node
from hopseal.services.basic import Forwarder, start_default_services
from hopseal.transport.tcp import TCPTransport
from hopseal.wire import bare, cbor
from hopseal.wire.message import Address, encode_message, route
from hopseal.wire.tcp_frame import TCPFrameDecoder, encode_frame
from rt import closed_by_peer, listen_anywhere, quiet, raises, run


def test_local_routing_and_return_routes():
    quiet()

    async def main():
        n = Node("n")
        start_default_services(n)
        r = await n.send_and_receive(["echo"], b"abc", 2)
        assert r.payload == b"abc" and r.return_ == route("echo")
        r = await n.send_and_receive(["uppercase"], bare.encode_string("MiXed"), 2)
        assert bare.decode_string(r.payload) == "MIXED"
        # unknown worker: dropped and counted, never raised
        await n.send(["nobody"], b"x")
        assert n.counters["no_worker"] == 1
        # empty onward route: ignored
        await n.send([], b"x")
        assert n.counters["empty_onward"] == 1
        raises(RoutingError, n.start_worker, "echo", FunctionWorker(lambda n, m: None))
        raises(RoutingError, n.start_worker, "1#h:1", FunctionWorker(lambda n, m: None))
        try:
            await n.send(["7#elsewhere", "echo"], b"x")
            raise AssertionError("no transport for type 7 should raise")
        except RoutingError:
            pass
        mb = n.mailbox("inbox")
        try:
            await mb.receive(0.05)
            raise AssertionError("timeout expected")
        except ReceiveTimeout:
            pass
        await n.stop()

    run(main())


def test_access_rule_drops_and_counts():
    quiet()

    async def main():
        n = Node("n")
        start_default_services(n)
        n.set_access("echo", lambda msg: msg.origin is not None)
        mb = n.mailbox()
        await n.send(["echo"], b"x", [mb.address])
        assert n.counters["access_denied"] == 1 and not mb.queue
        await n.stop()

    run(main())


async def three_nodes():
    bob = Node("bob")
    tb = TCPTransport(bob)
    start_default_services(bob)
    lb = await listen_anywhere(tb)
    mid = Node("mid")
    tm = TCPTransport(mid)
    c = await tm.connect("127.0.0.1", lb.port)
    mid.start_worker("forward_to_bob", Forwarder("forward_to_bob", [c.address]))
    lm = await listen_anywhere(tm)
    alice = Node("alice")
    ta = TCPTransport(alice)
    return bob, mid, alice, lb, lm


def test_two_hop_echo_over_tcp():
    quiet()

    async def main():
        bob, mid, alice, lb, lm = await three_nodes()
        hub = "1#127.0.0.1:%d" % lm.port
        for i in range(20):
            payload = bare.encode_string("Hello Ockam! %d" % i)
            r = await alice.send_and_receive([hub, "forward_to_bob", "echo"], payload, 5)
            assert r.payload == payload
            # the reply came back along the return route: three hops, ending at echo
            assert len(r.return_) == 3 and r.return_[-1] == Address.parse("echo")
        # one outgoing connection reused for all of them
        assert len(alice.tcp.outgoing) == 1
        assert bob.counters["echo"] == 20
        await alice.stop()
        await mid.stop()
        await bob.stop()

    run(main())


async def raw_connect(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return reader, writer


async def read_frame(reader, timeout=5):
    """The first frame body the peer sends (after its version byte), or None if it closes first."""
    d = TCPFrameDecoder()
    while True:
        data = await asyncio.wait_for(reader.read(100), timeout)
        if not data:
            return None
        bodies = d.feed(data)
        if bodies:
            return bodies[0]


def test_malformed_input_closes_only_the_offending_connection():
    lines = quiet()

    def deep():
        return b"\x81" * 64 + b"\x00"

    good_msg = encode_message(route("echo"), route("x"), b"hi")
    cases = [
        ("oversized length prefix", b"\x01" + b"\xff\xff\xff\xff"),
        ("wrong version byte", b"\x02" + encode_frame(good_msg)),
        ("truncated CBOR", b"\x01" + encode_frame(good_msg[:-3])),
        ("deep nesting", b"\x01" + encode_frame(deep())),
        ("not a message", b"\x01" + encode_frame(cbor.encode({"a": 1}))),
    ]

    async def main():
        node = Node("victim")
        tcp = TCPTransport(node, max_frame=4096)
        start_default_services(node)
        lst = await listen_anywhere(tcp)
        client = Node("client")
        TCPTransport(client)
        peer = "1#127.0.0.1:%d" % lst.port
        r = await client.send_and_receive([peer, "echo"], b"before", 5)
        assert r.payload == b"before"
        for name, data in cases:
            reader, writer = await raw_connect(lst.port)
            writer.write(data)
            await writer.drain()
            assert await closed_by_peer(reader), name
            writer.close()
            # the honest connection is still served
            r = await client.send_and_receive([peer, "echo"], name.encode(), 5)
            assert r.payload == name.encode(), name
        assert node.counters["protocol_errors"] == len(cases)
        errors = [m for (lvl, _, m) in lines if lvl >= 40]
        assert len(errors) == len(cases)
        assert "version" in errors[1] and "exceeds" in errors[0]
        # a transport address as the first hop: the node never dials out for the network; the
        # message is dropped and counted, and the connection that carried it stays open
        reader, writer = await raw_connect(lst.port)
        writer.write(b"\x01" + encode_frame(encode_message(route("9#mars", "echo"), route("x"), b"hi")))
        writer.write(encode_frame(encode_message(route("1#127.0.0.1:1", "echo"), route("x"), b"hi")))
        writer.write(encode_frame(good_msg))
        await writer.drain()
        assert (await read_frame(reader)) is not None  # echo answers the good message after both
        assert node.counters["non_local_from_network"] == 2
        assert len(tcp.outgoing) == 0 and node.counters["protocol_errors"] == len(cases)
        writer.close()
        await client.stop()
        await node.stop()

    run(main())


def test_worker_errors_do_not_close_the_connection():
    quiet()

    async def main():
        node = Node("n")
        tcp = TCPTransport(node)
        start_default_services(node)
        lst = await listen_anywhere(tcp)
        client = Node("c")
        TCPTransport(client)
        peer = "1#127.0.0.1:%d" % lst.port
        # uppercase gets a payload that is not a BARE String: the worker fails, the link stays
        mb = client.mailbox()
        await client.send([peer, "uppercase"], b"\x05ab", [mb.address])
        await asyncio.sleep(0.1)
        assert node.counters.get("dropped") == 1
        r = await client.send_and_receive([peer, "echo"], b"still here", 5)
        assert r.payload == b"still here"
        await client.stop()
        await node.stop()

    run(main())


def test_a_worker_bug_loses_one_message_not_the_connection():
    quiet()

    class Buggy:
        def handle_message(self, node, msg):
            return msg.payload + 1  # TypeError: a bug, not a HopsealError

    async def main():
        node = Node("n")
        tcp = TCPTransport(node)
        start_default_services(node)
        node.start_worker("buggy", Buggy())
        lst = await listen_anywhere(tcp)
        client = Node("c")
        TCPTransport(client)
        peer = "1#127.0.0.1:%d" % lst.port
        await client.send([peer, "buggy"], b"x")
        await asyncio.sleep(0.1)
        assert node.counters.get("worker_errors") == 1
        r = await client.send_and_receive([peer, "echo"], b"still here", 5)
        assert r.payload == b"still here"
        assert len(tcp.connections) == 1
        await client.stop()
        await node.stop()

    run(main())


def test_reconnect_after_peer_restart():
    quiet()

    async def main():
        a = Node("a")
        ta = TCPTransport(a)
        start_default_services(a)
        la = await listen_anywhere(ta)
        c = Node("c")
        TCPTransport(c)
        peer = "1#127.0.0.1:%d" % la.port
        assert (await c.send_and_receive([peer, "echo"], b"1", 5)).payload == b"1"
        await a.stop()
        await asyncio.sleep(0.1)
        a2 = Node("a2")
        ta2 = TCPTransport(a2)
        start_default_services(a2)
        await ta2.listen("127.0.0.1", la.port)
        # the dead connection is forgotten; the next send dials again
        assert (await c.send_and_receive([peer, "echo"], b"2", 5)).payload == b"2"
        await c.stop()
        await a2.stop()

    run(main())


def test_ipv6_tcp_hop_is_dialled_once():
    import sys

    if sys.implementation.name != "cpython":  # the unix port's IPv6 depends on its build
        return
    import socket

    if not socket.has_ipv6:
        return
    quiet()

    async def main():
        a = Node("a")
        ta = TCPTransport(a)
        start_default_services(a)
        try:
            lst = await ta.listen("::1", 0)
        except OSError:  # no IPv6 loopback here
            await a.stop()
            return
        c = Node("c")
        tc = TCPTransport(c)
        for i in range(3):
            r = await c.send_and_receive(["1#[::1]:%d" % lst.port, "echo"], b"%d" % i, 5)
            assert r.payload == b"%d" % i
        assert list(tc.outgoing) == ["[::1]:%d" % lst.port] and len(tc.connections) == 1
        await c.stop()
        await a.stop()

    run(main())
