"""TCP portals (services/portal.py): the codec against tests/vectors/portal.json, then inlets and
outlets over real loopback sockets, and each kind of bad input (both runtimes)."""
import asyncio

from hopseal.compat import IS_MICROPYTHON
from hopseal.errors import DecodeError
from hopseal.node import Node
from hopseal.services import portal
from hopseal.transport.tcp import TCPTransport
from hopseal.wire.message import Message, route
from rt import closed_by_peer, listen_anywhere, quiet, random_port, raises, run
from vectors import load, unhex

V = load("portal.json")


# -- codec ----------------------------------------------------------------------------------------
def test_encodings_match_ockam():
    for v in V["encode"]:
        want = unhex(v["hex"])
        if "data_hex" in v:
            got = portal.encode_payload(unhex(v["data_hex"]), v.get("counter"))
        else:
            got = portal.encode({"ping": portal.PING, "pong": portal.PONG, "disconnect": portal.DISCONNECT}[v["name"]])
        assert bytes(got) == want, v["name"]
    assert bytes(portal.encode_payload(b"x" * 49152))[:4] == unhex(V["payload_header_49152_hex"])
    assert bytes(portal.encode_payload(b"x" * 128))[:3] == unhex(V["payload_header_128_hex"])


def test_decode_vectors_whole_and_with_trailing_bytes():
    for v in V["decode"]:
        kind, data, counter = portal.decode(unhex(v["hex"]))
        assert kind == v["kind"], v
        if "data_hex" in v:
            assert bytes(data) == unhex(v["data_hex"]) and counter == v["counter"], v
    for v in V["invalid"]:
        raises(DecodeError, portal.decode, unhex(v["hex"]))


def test_decode_every_prefix():
    # fed one byte more at a time: a prefix is refused, or (once the data is complete) decodes to
    # the same data; the counter appears only with all 3 of its bytes
    whole = bytes(portal.encode_payload(b"hello portal", 9))
    n = len(b"hello portal") + 2
    for i in range(len(whole) + 1):
        part = whole[:i]
        if i < n:
            raises(DecodeError, portal.decode, part)
            continue
        kind, data, counter = portal.decode(part)
        assert kind == portal.PAYLOAD and bytes(data) == b"hello portal"
        assert counter == (9 if i == len(whole) else None)


def test_counter_round_trip_and_wrap():
    for c in (0, 1, 255, 256, 65535):
        _, data, counter = portal.decode(portal.encode_payload(b"ab", c))
        assert bytes(data) == b"ab" and counter == c


# -- real sockets ---------------------------------------------------------------------------------
async def echo_server():
    """A TCP echo server on a random port: (server, port, state) where state counts EOFs seen."""
    state = {"eof": 0, "conns": 0}

    async def serve(r, w):
        state["conns"] += 1
        try:
            while True:
                d = await r.read(4096)
                if not d or d == b"bye":  # "bye": the target closes
                    break
                w.write(d)
                await w.drain()
        except OSError:
            pass
        state["eof"] += 1
        await hangup(w)

    for _ in range(20):
        port = random_port()
        try:
            s = await asyncio.start_server(serve, "127.0.0.1", port)
            return s, port, state
        except OSError:
            continue
    raise OSError("no free port")


async def hangup(w):
    # MicroPython's close() does nothing: its wait_closed() closes the socket
    w.close()
    await w.wait_closed()


async def inlet_listen(inlet):
    for _ in range(20):
        try:
            return await inlet.listen("127.0.0.1", random_port())
        except OSError:
            continue
    raise OSError("no free port")


async def read_exactly(r, n, timeout=5):
    buf = b""
    while len(buf) < n:
        d = await asyncio.wait_for(r.read(n - len(buf)), timeout)
        if not d:
            break
        buf += d
    return buf


async def wait_until(cond, timeout=3):
    for _ in range(int(timeout / 0.02)):
        if cond():
            return True
        await asyncio.sleep(0.02)
    return cond()


def test_inlet_to_outlet_over_tcp_carries_a_stream_and_closes_both_ends():
    quiet()

    async def main():
        srv, sport, state = await echo_server()
        outlet_node = Node("outlet-node")
        ot = TCPTransport(outlet_node)
        lst = await listen_anywhere(ot)
        outlet = portal.Outlet(outlet_node, "127.0.0.1", sport, chunk=1000).start()
        inlet_node = Node("inlet-node")
        TCPTransport(inlet_node)
        inlet = await inlet_listen(portal.Inlet(inlet_node, ["1#127.0.0.1:%d" % lst.port, "outlet"], chunk=700))
        r, w = await asyncio.open_connection("127.0.0.1", inlet.port)
        blob = bytes(range(256)) * 40  # 10 KiB: several chunks each way
        w.write(blob)
        await w.drain()
        got = await read_exactly(r, len(blob))
        assert got == blob
        assert len(outlet.ends) == 1 and len(inlet.ends) == 1
        # the client closes: the outlet closes its connection to the target
        await hangup(w)
        assert await wait_until(lambda: state["eof"] == 1)
        assert await wait_until(lambda: not outlet.ends and not inlet.ends)
        # the target closes: the client is closed
        r, w = await asyncio.open_connection("127.0.0.1", inlet.port)
        w.write(b"ping")
        await w.drain()
        assert await read_exactly(r, 4) == b"ping"
        w.write(b"bye")
        await w.drain()
        assert await closed_by_peer(r)
        await hangup(w)
        assert await wait_until(lambda: not outlet.ends and not inlet.ends)
        assert not outlet_node.counters.get("portal_rejected") and not inlet_node.counters.get("portal_rejected")
        await inlet_node.stop()
        await outlet_node.stop()
        srv.close()

    run(main())


def test_outlet_that_cannot_connect_closes_the_client_promptly():
    quiet()

    async def main():
        n = Node("n")
        outlet = portal.Outlet(n, "127.0.0.1", random_port(), connect_timeout=2).start()
        inlet = await inlet_listen(portal.Inlet(n, ["outlet"], pong_timeout=5))
        r, w = await asyncio.open_connection("127.0.0.1", inlet.port)
        assert await closed_by_peer(r, 3)
        if not IS_MICROPYTHON:
            assert n.counters.get("portal_connect_failed") == 1 and n.counters.get("portal_outlet_refused") == 1
        # (MicroPython's open_connection returns before the connect is refused: the outlet sends
        # Pong, its first read fails, it sends Disconnect; the client is closed as promptly)
        assert await wait_until(lambda: not outlet.ends and not inlet.ends)
        await hangup(w)
        await n.stop()

    run(main())


def test_pong_timeout_closes_the_client():
    quiet()

    async def main():
        n = Node("n")
        silent = n.mailbox("silent")
        inlet = await inlet_listen(portal.Inlet(n, ["silent"], pong_timeout=0.3))
        r, w = await asyncio.open_connection("127.0.0.1", inlet.port)
        ping = await silent.receive(2)
        assert ping.payload == b"\x00" and len(ping.return_) == 1
        assert await closed_by_peer(r, 3)
        assert n.counters.get("portal_pong_timeout") == 1
        await hangup(w)
        await n.stop()

    run(main())


async def outlet_and_peer():
    """An outlet in front of an echo server, and a mailbox playing the inlet: the end's route."""
    srv, sport, state = await echo_server()
    n = Node("n")
    outlet = portal.Outlet(n, "127.0.0.1", sport).start()
    peer = n.mailbox("peer")
    await peer.send(["outlet"], b"\x00")
    pong = await peer.receive(3)
    assert pong.payload == b"\x01" and len(pong.return_) == 1
    return srv, state, n, outlet, peer, pong.return_


def test_outlet_bad_input_is_rejected_counted_and_closes_cleanly():
    quiet()

    async def main():
        srv, state, n, outlet, peer, end = await outlet_and_peer()
        # a payload with the counter, echoed back with one
        await peer.send(end, portal.encode_payload(b"abc", 0))
        m = await peer.receive(3)
        assert portal.decode(m.payload)[0] == portal.PAYLOAD and bytes(portal.decode(m.payload)[1]) == b"abc"
        assert portal.decode(m.payload)[2] == 0
        # another carrier: dropped and counted, the connection goes on (with hops after the end
        # too: that one cannot close it either)
        for to in (list(end), end + route("echo")):
            forged = Message(to, [peer.address], bytes(portal.encode_payload(b"zz", 1)))
            forged.origin = object()
            await n.route(forged)
        assert n.counters.get("portal_wrong_origin") == 2 and not n.counters.get("portal_extra_hops")
        await peer.send(end, portal.encode_payload(b"def"))  # no counter: taken, as Ockam sends it
        assert bytes(portal.decode((await peer.receive(3)).payload)[1]) == b"def"
        # a Pong after setup: Disconnect back, the target's connection closed
        await peer.send(end, b"\x01")
        assert (await peer.receive(3)).payload == b"\x02"
        assert await wait_until(lambda: state["eof"] == 1 and not outlet.ends)
        assert n.counters.get("portal_rejected") == 1
        # a Disconnect for a connection the outlet does not know: rejected by the listener, and
        # to the closed end's address it goes nowhere
        await peer.send(["outlet"], b"\x02")
        assert n.counters.get("portal_rejected") == 2
        await peer.send(end, b"\x02")
        assert n.counters.get("no_worker") == 1
        # the outlet still serves: a counter gap ends the new connection with Disconnect
        await peer.send(["outlet"], b"\x00")
        end = (await peer.receive(3)).return_
        await peer.send(end, portal.encode_payload(b"a", 0))
        await peer.receive(3)
        await peer.send(end, portal.encode_payload(b"b", 2))
        assert (await peer.receive(3)).payload == b"\x02"
        assert n.counters.get("portal_counter_gap") == 1
        assert await wait_until(lambda: state["eof"] == 2 and not outlet.ends)
        # undecodable
        await peer.send(["outlet"], b"\x00")
        end = (await peer.receive(3)).return_
        await peer.send(end, b"\x07")
        assert (await peer.receive(3)).payload == b"\x02"
        assert n.counters.get("portal_rejected") == 3
        assert await wait_until(lambda: state["eof"] == 3 and not outlet.ends)
        # hops after the end's address, from its own carrier: counted, Disconnect back, closed
        await peer.send(["outlet"], b"\x00")
        end = (await peer.receive(3)).return_
        await peer.send(end + route("echo"), portal.encode_payload(b"zz", 0))
        assert (await peer.receive(3)).payload == b"\x02"
        assert n.counters.get("portal_extra_hops") == 1
        assert await wait_until(lambda: state["eof"] == 4 and not outlet.ends)
        await n.stop()
        srv.close()

    run(main())


def test_inlet_rejects_payload_before_pong():
    quiet()

    async def main():
        n = Node("n")
        fake = n.mailbox("fake_outlet")
        inlet = await inlet_listen(portal.Inlet(n, ["fake_outlet"]))
        r, w = await asyncio.open_connection("127.0.0.1", inlet.port)
        ping = await fake.receive(3)
        await fake.send(ping.return_, portal.encode_payload(b"early", 0))
        assert await closed_by_peer(r, 3)
        assert n.counters.get("portal_rejected") == 1
        assert await wait_until(lambda: not inlet.ends)
        # a second client still works up to the Pong
        r, w2 = await asyncio.open_connection("127.0.0.1", inlet.port)
        ping = await fake.receive(3)
        await fake.send(ping.return_, b"\x01")
        await fake.send(ping.return_, portal.encode_payload(b"hi", 0))
        assert await read_exactly(r, 2) == b"hi"
        w2.write(b"yo")
        await w2.drain()
        m = await fake.receive(3)
        kind, data, counter = portal.decode(m.payload)
        assert bytes(data) == b"yo" and counter == 0
        await hangup(w)
        await hangup(w2)
        await n.stop()

    run(main())


def test_outlet_refuses_past_max_connections():
    quiet()

    async def main():
        srv, sport, state = await echo_server()
        n = Node("n")
        portal.Outlet(n, "127.0.0.1", sport, max_connections=1).start()
        peer = n.mailbox("peer")
        await peer.send(["outlet"], b"\x00")
        assert (await peer.receive(3)).payload == b"\x01"
        await peer.send(["outlet"], b"\x00")
        assert (await peer.receive(3)).payload == b"\x02"
        assert n.counters.get("portal_refused") == 1
        await n.stop()
        srv.close()

    run(main())


def test_a_target_that_takes_nothing_is_closed_after_the_write_timeout():
    # the end waits at most write_timeout for its TCP peer to take a Payload (its carrier waits
    # with it), then closes that connection with Disconnect; the outlet serves on
    quiet()

    async def main():
        held = []
        done = asyncio.Event()

        async def never_reads(r, w):
            held.append(w)
            await done.wait()  # (then it returns: no task is left behind)

        for _ in range(20):
            port = random_port()
            try:
                srv = await asyncio.start_server(never_reads, "127.0.0.1", port)
                break
            except OSError:
                continue
        n = Node("n")
        outlet = portal.Outlet(n, "127.0.0.1", port, write_timeout=0.3).start()
        peer = n.mailbox("peer")
        await peer.send(["outlet"], b"\x00")
        end = (await peer.receive(3)).return_
        block = b"z" * 16384
        sent = 0
        for c in range(4096):  # 64 MiB at most: far more than the socket buffers take
            if not outlet.ends:
                break
            await peer.send(end, portal.encode_payload(block, c))
            sent += len(block)
        assert not outlet.ends and n.counters.get("portal_slow_client") == 1, sent
        m = await peer.receive(3)
        assert m.payload == b"\x02"
        # a new connection is served as before
        await peer.send(["outlet"], b"\x00")
        assert (await peer.receive(3)).payload == b"\x01"
        await n.stop()
        done.set()
        for w in held:
            await hangup(w)
        srv.close()
        await srv.wait_closed()

    run(main())
