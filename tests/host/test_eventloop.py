"""The host's event loop (hopseal_host.eventloop): uvloop's where it is installed, asyncio's with
HOPSEAL_EVENT_LOOP=asyncio, and a node's TCP round trip works on either."""
import asyncio

import pytest

from hopseal.node import Node
from hopseal.services.basic import Echo
from hopseal.transport.tcp import TCPTransport
from hopseal_host import eventloop


def _loop_module() -> str:
    async def go():
        return type(asyncio.get_running_loop()).__module__

    return eventloop.run(go())


def test_uvloop_when_installed(monkeypatch):
    pytest.importorskip("uvloop")
    monkeypatch.delenv("HOPSEAL_EVENT_LOOP", raising=False)
    assert eventloop.name() == "uvloop"
    assert _loop_module().startswith("uvloop")


def test_asyncio_when_asked(monkeypatch):
    monkeypatch.setenv("HOPSEAL_EVENT_LOOP", "asyncio")
    assert eventloop.name() == "asyncio"
    assert not _loop_module().startswith("uvloop")


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_tcp_round_trip_on_each_loop(monkeypatch, loop):
    if loop == "uvloop":
        pytest.importorskip("uvloop")
        monkeypatch.delenv("HOPSEAL_EVENT_LOOP", raising=False)
    else:
        monkeypatch.setenv("HOPSEAL_EVENT_LOOP", "asyncio")

    async def go():
        server, client = Node("server"), Node("client")
        server.start_worker("echo", Echo())
        st, ct = TCPTransport(server), TCPTransport(client)
        listener = await st.listen("127.0.0.1", 0)
        try:
            payload = bytes(range(256)) * 400  # more than one read of a board, one frame
            reply = await client.send_and_receive(["1#127.0.0.1:%d" % listener.port, "echo"], payload, timeout=10)
            return reply.payload == payload
        finally:
            await client.stop()
            await server.stop()

    assert eventloop.run(go())
