"""Limits that keep a node serving under attack (issue 9), on both runtimes over real loopback TCP:
idle and half-sent connections time out, a connection cap sheds load, CBOR work per frame is
bounded, and a MemoryError while receiving closes only that connection.

Timeouts here are small (a fraction of a second) and the waits generous: what is asserted is the
outcome (closed, counted, still serving), never how fast.
"""
import asyncio

from hopseal.errors import DecodeError
from hopseal.node import Node
from hopseal.services.basic import Forwarder, start_default_services
from hopseal.transport.tcp import TCPTransport
from hopseal.wire import cbor
from hopseal.wire.message import MAX_HOPS, Address, decode_message, encode_message, route
from hopseal.wire.tcp_frame import TCPFrameDecoder, TCPFraming, encode_frame
from rt import closed_by_peer, listen_anywhere, quiet, raises, run

HEARTBEAT = encode_frame(encode_message([], [], b""))  # empty onward route: ignored (ockam-wire §1.2)


# -- helpers ---------------------------------------------------------------------------------------
async def raw_connect(port):
    return await asyncio.open_connection("127.0.0.1", port)


async def echo_raw(reader, writer, payload, first=False, hello_unread=False):
    """Send one echo request on a raw connection and return the reply's payload. `first`: send
    the version byte first (and read the node's); `hello_unread`: the node's is still to be read."""
    writer.write((b"\x01" if first else b"") + encode_frame(encode_message(route("echo"), route("x"), payload)))
    await writer.drain()
    return await read_reply(reader, first or hello_unread)


async def read_reply(reader, hello_unread=False):
    """The payload of the next message the node sends on a raw connection."""
    d = TCPFrameDecoder(expect_version=hello_unread)
    while True:
        data = await asyncio.wait_for(reader.read(256), 5)
        assert data, "closed by the node"
        bodies = d.feed(data)
        if bodies:
            return decode_message(bodies[0]).payload


async def shut(writer):
    """Close a raw connection (MicroPython's stream closes its socket in wait_closed)."""
    try:
        writer.close()
        await writer.wait_closed()
    except OSError:
        pass


async def served(node_port, text=b"still serving"):
    """A fresh client node gets an echo through the node on `node_port`."""
    c = Node("client")
    TCPTransport(c)
    try:
        r = await c.send_and_receive(["1#127.0.0.1:%d" % node_port, "echo"], text, 5)
        return r.payload == text
    finally:
        await c.stop()


async def victim(**kw):
    node = Node("victim")
    tcp = TCPTransport(node, **kw)
    start_default_services(node)
    lst = await listen_anywhere(tcp)
    return node, tcp, lst


async def wait_for_count(node, what, n=1, timeout=5):
    for _ in range(int(timeout / 0.05)):
        if node.counters.get(what, 0) >= n:
            return True
        await asyncio.sleep(0.05)
    return False


# -- CBOR work per frame ---------------------------------------------------------------------------
class Counting:
    """A byte buffer that counts how many times the decoder looks into it."""

    def __init__(self, data):
        self.data = data
        self.reads = 0

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        self.reads += 1
        return self.data[i]


def test_cbor_counts_are_refused_from_the_head():
    # a head claiming more items than a decode reads is refused before any item is read
    # (5,000 items, not more: a 200 KB test body wants a heap in one piece MicroPython may not have)
    for body in (b"\x99\x13\x88" + b"\x00" * 5000,  # array of 5,000 uints
                 b"\xb9\x09\xc4" + b"\x00" * 5000,  # map of 2,500 pairs
                 b"\x83\x99\x04\x01" + b"\x00" * 1025 + b"\x80\x40"):  # an onward route of 1025 items
        buf = Counting(body)
        e = raises(DecodeError, cbor.decode, buf)
        assert "items" in str(e) and buf.reads < 16, (str(e), buf.reads)
        raises(DecodeError, decode_message, body)


def test_cbor_items_counted_as_they_come():
    n = cbor.MAX_ITEMS
    # indefinite array: the head, n - 2 items and the break are exactly the budget
    assert cbor.decode(b"\x9f" + b"\x00" * (n - 2) + b"\xff") == [0] * (n - 2)
    buf = Counting(b"\x9f" + b"\x00" * 5000 + b"\xff")
    raises(DecodeError, cbor.decode, buf)
    assert buf.reads <= n + 1
    # definite ones, nested: the items of the items count too
    assert len(cbor.decode(cbor.encode([[0] * 9] * 100))) == 100  # 1 + 100 + 900 items
    raises(DecodeError, cbor.decode, cbor.encode([[0] * 9] * 110))
    raises(DecodeError, cbor.decode, cbor.encode({i: i for i in range(n // 2)}))
    assert len(cbor.decode(cbor.encode({i: i for i in range(n // 2 - 1)}))) == n // 2 - 1
    # indefinite strings: every chunk is an item
    raises(DecodeError, cbor.decode, b"\x5f" + b"\x41\x00" * 2000 + b"\xff")
    assert cbor.decode(b"\x5f" + b"\x41\x00" * 100 + b"\xff") == b"\x00" * 100
    # array_spans shares one budget over its items
    raises(DecodeError, cbor.array_spans, cbor.encode([[0] * 9] * 110))
    assert len(cbor.array_spans(cbor.encode([[0] * 9] * 100))) == 100


def test_largest_routing_message_is_well_under_the_item_limit():
    hops = [Address(1, b"x" * 200)] * MAX_HOPS
    body = encode_message(hops, hops, b"p" * 1000, tracing="t" * 100)
    m = decode_message(body)
    assert len(m.onward) == MAX_HOPS and m.tracing == "t" * 100
    raises(DecodeError, decode_message, body + b"\x00")  # trailing garbage
    for i in range(0, len(body), 97):
        raises(DecodeError, decode_message, body[:i])  # prefixes


def test_nesting_still_bounded():
    raises(DecodeError, cbor.decode, b"\x81" * (cbor.MAX_DEPTH + 2) + b"\x00")
    raises(DecodeError, cbor.decode, b"\x9f" * 100000)


def test_a_frame_of_cheap_items_closes_only_its_connection():
    quiet()

    async def main():
        node, tcp, lst = await victim()
        reader, writer = await raw_connect(lst.port)
        writer.write(b"\x01" + encode_frame(b"\x9f" + b"\x00" * 60000 + b"\xff"))
        await writer.drain()
        assert await closed_by_peer(reader)
        await shut(writer)
        assert node.counters["protocol_errors"] == 1
        assert await served(lst.port)
        await node.stop()

    run(main())


# -- idle and half-sent connections ----------------------------------------------------------------
def test_idle_connection_is_closed():
    quiet()

    async def main():
        node, tcp, lst = await victim(idle_timeout=0.4, frame_timeout=5)
        r1, w1 = await raw_connect(lst.port)  # says nothing
        r2, w2 = await raw_connect(lst.port)  # heartbeats every 0.1 s: never idle
        w2.write(b"\x01")
        for _ in range(12):
            w2.write(HEARTBEAT)
            await w2.drain()
            await asyncio.sleep(0.1)
        assert await closed_by_peer(r1)
        assert node.counters.get("idle_closed") == 1
        assert await echo_raw(r2, w2, b"alive", hello_unread=True) == b"alive"
        await shut(w1)
        await shut(w2)
        await node.stop()

    run(main())


def test_dialled_connection_is_not_closed_for_idleness():
    quiet()

    async def main():
        node, tcp, lst = await victim(idle_timeout=60)
        client = Node("client")
        ct = TCPTransport(client, idle_timeout=0.2)
        conn = await ct.connect("127.0.0.1", lst.port)
        await asyncio.sleep(0.8)
        assert not conn.closed and "idle_closed" not in client.counters
        await client.stop()
        await node.stop()

    run(main())


def test_half_sent_frame_is_dropped():
    quiet()

    async def main():
        node, tcp, lst = await victim(idle_timeout=60, frame_timeout=0.4)
        # a header for 100 bytes and 10 of them; then nothing
        r1, w1 = await raw_connect(lst.port)
        w1.write(b"\x01" + encode_frame(b"\x00" * 100)[:14])
        # half a length prefix
        r2, w2 = await raw_connect(lst.port)
        w2.write(b"\x01\x00\x00")
        # a whole frame sent slowly, each byte well within the timeout of the frame it is part of
        r3, w3 = await raw_connect(lst.port)
        w3.write(b"\x01")
        for w in (w1, w2, w3):
            await w.drain()
        frame = encode_frame(encode_message(route("echo"), route("x"), b"slow but whole"))
        half = len(frame) // 2
        await asyncio.sleep(0.15)
        w3.write(frame[:half])
        await w3.drain()
        await asyncio.sleep(0.15)
        w3.write(frame[half:])
        await w3.drain()
        assert await closed_by_peer(r1) and await closed_by_peer(r2)
        assert node.counters.get("frame_timeout") == 2
        assert await read_reply(r3, True) == b"slow but whole"
        for w in (w1, w2, w3):
            await shut(w)
        assert not node.counters.get("idle_closed")
        await node.stop()

    run(main())


def test_peer_that_does_not_read_does_not_hold_up_the_others():
    quiet()

    async def main():
        node, tcp, lst = await victim(idle_timeout=60, frame_timeout=0.5, max_frame=70000)
        rb, wb = await raw_connect(lst.port)  # B takes nothing the node sends it
        wb.write(b"\x01")
        await wb.drain()
        for _ in range(40):
            if tcp.connections:
                break
            await asyncio.sleep(0.05)
        b = tcp.connections[0]
        node.start_worker("to_b", Forwarder("to_b", [b.address]))
        # A sends B more than the sockets between them hold: the node's writes to B stall, and
        # with them the receive loop of A's connection, until B's write times out
        ra, wa = await raw_connect(lst.port)
        big = encode_frame(encode_message(route("to_b"), route("x"), b"\x55" * 60000))
        wa.write(b"\x01")
        for _ in range(300):
            wa.write(big)
            await wa.drain()
        assert b.closed and node.counters["write_timeout"] == 1
        assert await echo_raw(ra, wa, b"A goes on", hello_unread=True) == b"A goes on"
        assert await served(lst.port)
        await shut(wa)
        await shut(wb)
        await node.stop()

    run(main())


# -- the connection cap ----------------------------------------------------------------------------
def test_connections_past_the_cap_are_refused_and_logged_once():
    lines = quiet()

    async def main():
        node, tcp, lst = await victim(max_connections=3)
        held = []
        for i in range(3):
            r, w = await raw_connect(lst.port)
            assert await echo_raw(r, w, b"%d" % i, first=True) == b"%d" % i
            held.append((r, w))
        refused = []
        for _ in range(5):
            r, w = await raw_connect(lst.port)
            refused.append((r, w))
        for r, w in refused:
            assert await closed_by_peer(r)  # closed at once, no version byte
            await shut(w)
        assert node.counters["connections_refused"] == 5 and len(tcp.connections) == 3
        for i, (r, w) in enumerate(held):  # the open ones keep working
            assert await echo_raw(r, w, b"again %d" % i) == b"again %d" % i
        told = [m for (lvl, _, m) in lines if "refused" in m]
        assert len(told) == 1 and "at the cap of 3" in told[0], told  # once per 10 s, not per refusal
        # one goes, a newcomer gets its place
        await shut(held.pop()[1])
        for _ in range(40):
            if len(tcp.connections) < 3:
                break
            await asyncio.sleep(0.05)
        assert await served(lst.port)
        for r, w in held:
            await shut(w)
        await node.stop()

    run(main())


def test_many_connections_opened_and_closed_leave_nothing_behind():
    lines = quiet()

    async def main():
        node, tcp, lst = await victim()
        workers = len(node.workers)
        clients = Node("clients")
        ct = TCPTransport(clients)
        conns = []
        for _ in range(40):
            conns.append(await ct.connect("127.0.0.1", lst.port))
        for _ in range(40):
            if len(tcp.connections) == 40:
                break
            await asyncio.sleep(0.05)
        assert len(tcp.connections) == 40 and len(ct.open) == 40
        for c in conns:
            await c.close()
        for _ in range(60):
            if not tcp.open:
                break
            await asyncio.sleep(0.05)
        assert not tcp.open and not ct.open and not ct.outgoing
        assert len(node.workers) == workers
        assert await served(lst.port)
        await clients.stop()
        await node.stop()
        # 80 connections opened and 80 closed on each side: the log shows a bounded number
        shown = [m for (lvl, name, m) in lines if name in ("tcp", "connection") and "connection" in m]
        assert len(shown) <= 2 * (32 + 1) + 4, len(shown)
        assert any("more connection lines not shown" in m for m in shown)

    run(main())


# -- MemoryError in the receive path ---------------------------------------------------------------
class StarvedFraming(TCPFraming):
    """TCP framing that runs out of memory when fed the bytes `OOM!` (as a board's heap would
    on a large frame), and frames normally otherwise."""

    def feed(self, data):
        if b"OOM!" in bytes(data):
            raise MemoryError("memory allocation failed (injected)")
        return TCPFraming.feed(self, data)


def test_memory_error_while_receiving_closes_only_that_connection():
    lines = quiet()

    async def main():
        node, tcp, lst = await victim(framing=StarvedFraming)
        workers = len(node.workers)
        rg, wg = await raw_connect(lst.port)  # an honest client, connected before
        assert await echo_raw(rg, wg, b"before", first=True) == b"before"
        reader, writer = await raw_connect(lst.port)
        writer.write(b"\x01OOM!")
        await writer.drain()
        assert await closed_by_peer(reader)  # its socket released: the peer sees the end
        await shut(writer)
        assert node.counters["memory_errors"] == 1
        for _ in range(40):
            if len(tcp.connections) == 1:
                break
            await asyncio.sleep(0.05)
        assert len(tcp.connections) == 1 and len(node.workers) == workers + 1
        assert any("out of memory" in m for (_, _, m) in lines)
        # the node goes on: the honest connection and a new one are served
        assert await echo_raw(rg, wg, b"after") == b"after"
        assert await served(lst.port)
        await shut(wg)
        await node.stop()

    run(main())
