"""Relay service and client (ockam-wire §5.3) over real loopback TCP, on both runtimes."""
import asyncio

from hopseal.errors import RoutingError
from hopseal.node import Node
from hopseal.services.basic import start_default_services
from hopseal.services.relay import OPEN, RelayClient, RelayPolicy, RelayService
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


async def hub_and_board(static=None, per_owner=16):
    """A hub in "open" mode (static names over plain TCP, as Ockam nodes register them)."""
    hub = Node("hub")
    th = TCPTransport(hub)
    svc = RelayService(hub, per_owner=per_owner, policy=RelayPolicy(OPEN))
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


async def refused(client, timeout=5):
    try:
        await client.register(timeout)
    except RoutingError as e:
        return str(e)
    raise AssertionError("registration should have been refused")


def test_a_live_static_relay_belongs_to_its_owner():
    quiet()

    async def main():
        hub, svc, lst, board, client = await hub_and_board(static="board1")
        assert await client.register(5) == "forward_to_board1"
        # another connection asking for the same live name is refused with a reason, and the
        # owner's relay is untouched: it still leads to the first board
        thief = Node("thief")
        TCPTransport(thief)
        start_default_services(thief)
        c2 = RelayClient(thief, ["1#127.0.0.1:%d" % lst.port], name="board1")
        assert "held by another owner" in await refused(c2)
        assert hub.counters["relay_refused"] == 1 and len(svc.relays) == 1
        other = Node("other")
        TCPTransport(other)
        r = await other.send_and_receive(["1#127.0.0.1:%d" % lst.port, "forward_to_board1", "echo"], b"x", 5)
        assert r.payload == b"x" and board.counters.get("echo") == 1 and not thief.counters.get("echo")
        assert await client.ping(2)
        # the owner registering again (same connection) replaces its own relay
        assert await client.register(5) == "forward_to_board1" and len(svc.relays) == 1
        # once the owner's connection closes its relay goes at once, and the name is free
        await board.stop()
        await asyncio.sleep(0.1)
        assert not svc.relays and not svc.by_owner and not svc.by_holder
        assert await c2.register(5) == "forward_to_board1"
        for n in (other, thief, hub):
            await n.stop()

    run(main())


def test_per_owner_limit_and_empty_return_route():
    quiet()

    async def main():
        hub, svc, lst, board, client = await hub_and_board(per_owner=2)
        await client.register(5)
        await client.register(5)
        assert "at most 2 relays" in await refused(client)
        assert hub.counters["relay_refused"] == 1 and len(svc.relays) == 2
        # a request with no return route cannot be answered: refused, nothing created
        await board.send(["1#127.0.0.1:%d" % lst.port, "static_forwarding_service"], bare.encode_string("x"), [])
        await asyncio.sleep(0.2)
        assert hub.counters["relay_refused"] == 2 and len(svc.relays) == 2
        await board.stop()
        await hub.stop()

    run(main())


def test_relay_with_an_empty_return_route_is_refused():
    # from the network the connection puts its own address first: a request with no hop of the
    # sender's after it would make a relay into the hub itself ([hub, forward_to_x, echo] answered
    # by the hub's echo) and hold the name for nobody
    quiet()

    async def main():
        hub, svc, lst, board, client = await hub_and_board()
        await board.send(["1#127.0.0.1:%d" % lst.port, "static_forwarding_service"], bare.encode_string("ghost"), [])
        await asyncio.sleep(0.2)
        assert hub.counters.get("relay_refused") == 1 and "ghost" not in svc.relays
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
        svc2 = RelayService(hub2, policy=RelayPolicy(OPEN))
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
