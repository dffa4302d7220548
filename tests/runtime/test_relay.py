"""Relay service and client (ockam-wire §5.3) over real loopback TCP, on both runtimes."""
import asyncio

from hopseal.errors import ReceiveTimeout
from hopseal.node import Node
from hopseal.services.basic import start_default_services
from hopseal.services.relay import RelayClient, RelayService
from hopseal.transport.tcp import TCPTransport
from hopseal.wire import bare
from hopseal.wire.message import encode_message, route
from hopseal.wire.tcp_frame import encode_frame
from rt import listen_anywhere, quiet, run
from vectors import unhex


def test_registration_frame_matches_spec_example():
    # ockam-wire §5.3 "Example registration frame" (the 32-hex return address is made up)
    body = encode_message(route("forwarding_service"), route("0123456789abcdef0123456789abcdef"), bare.encode_string("register"))
    expect = unhex(
        "00000046" "8381820052666f7277617264696e675f73657276696365"
        "8182005820" "3031323334353637383961626364656630313233343536373839616263646566"
        "49087265676973746572"
    )
    assert encode_frame(body) == expect


async def hub_and_board(static=None, per_connection=16):
    hub = Node("hub")
    th = TCPTransport(hub)
    svc = RelayService(hub, per_connection=per_connection)
    lst = await listen_anywhere(th)
    board = Node("board")
    TCPTransport(board)
    start_default_services(board)
    hub_route = ["1#127.0.0.1:%d" % lst.port]
    client = RelayClient(board, hub_route, name=static)
    return hub, svc, lst, board, client


def test_random_relay_and_messages_through_it():
    quiet()

    async def main():
        hub, svc, lst, board, client = await hub_and_board()
        name = await client.register(5)
        assert name.startswith("forward_to_") and len(name) == len("forward_to_") + 32
        # a third node reaches the board's echo through the hub's relay
        other = Node("other")
        TCPTransport(other)
        r = await other.send_and_receive(["1#127.0.0.1:%d" % lst.port, name, "echo"], b"via relay", 5)
        assert r.payload == b"via relay"
        assert svc.relays[name[len("forward_to_"):]].forwarded == 1
        assert await client.ping(2)
        await other.stop()
        await board.stop()
        await asyncio.sleep(0.1)
        # the board's connection closed: its relay is gone
        assert not svc.relays and not hub.has_worker(name)
        await hub.stop()

    run(main())


def test_static_relay_replaced_on_reregistration():
    quiet()

    async def main():
        hub, svc, lst, board, client = await hub_and_board(static="board1")
        assert await client.register(5) == "forward_to_board1"
        # a second registration of the same name (say, after a reconnect) replaces the first
        board2 = Node("board2")
        TCPTransport(board2)
        start_default_services(board2)
        c2 = RelayClient(board2, ["1#127.0.0.1:%d" % lst.port], name="board1")
        assert await c2.register(5) == "forward_to_board1"
        assert len(svc.relays) == 1
        other = Node("other")
        TCPTransport(other)
        r = await other.send_and_receive(["1#127.0.0.1:%d" % lst.port, "forward_to_board1", "echo"], b"x", 5)
        assert r.payload == b"x"
        assert board2.counters.get("echo") == 1 and not board.counters.get("echo")
        # the first board's ping now fails: its relay is no longer its own
        assert not await client.ping(0.5)
        for n in (other, board, board2, hub):
            await n.stop()

    run(main())


def test_per_connection_limit():
    quiet()

    async def main():
        hub, svc, lst, board, client = await hub_and_board(per_connection=2)
        await client.register(5)
        await client.register(5)
        try:
            await client.register(0.5)
            raise AssertionError("third relay on one connection should be refused")
        except ReceiveTimeout:
            pass
        assert hub.counters["relay_refused"] == 1 and len(svc.relays) == 2
        await board.stop()
        await hub.stop()

    run(main())


def test_keep_alive_reregisters_after_hub_restart():
    quiet()

    async def main():
        hub, svc, lst, board, client = await hub_and_board(static="b")
        await client.register(5)
        port = lst.port
        await hub.stop()
        await asyncio.sleep(0.1)
        hub2 = Node("hub2")
        t2 = TCPTransport(hub2)
        svc2 = RelayService(hub2)
        await t2.listen("127.0.0.1", port)
        changed = []
        task = asyncio.create_task(client.keep_alive(interval=0.1, timeout=0.3, failures=1, on_change=changed.append))
        for _ in range(50):
            if changed:
                break
            await asyncio.sleep(0.1)
        task.cancel()
        assert changed and "b" in svc2.relays
        assert await client.ping(2)
        await board.stop()
        await hub2.stop()

    run(main())
