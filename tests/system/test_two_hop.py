"""System test: the two-hop topology of the Ockam tutorial over real loopback TCP, real processes.

initiator (this process, CPython) -> middle node (`forward_to_bob`) -> responder with `echo`,
with one of the two server nodes on MicroPython and the other on CPython, both ways round.
"""
import asyncio
import socket

import pytest
from support.procs import free_port, hopseal, micropython

from hopseal.wire import bare
from hopseal.node import Node
from hopseal.wire.message import Address
from hopseal.transport.tcp import TCPTransport
from hopseal.wire.tcp_frame import encode_frame


def start_node(runtime, name, port, forward=None):
    args = ["--listen", "127.0.0.1:%d" % port, "--name", name]
    if forward:
        args += ["--forward", "forward_to_bob=127.0.0.1:%d" % forward]
    if runtime == "micropython":
        p = micropython(name, "-m", "hopseal.apps.node", *args)
    else:
        p = hopseal(name, "node", *args)
    p.wait_for("listening on 127.0.0.1:%d" % port)
    return p


@pytest.mark.parametrize("responder,middle", [("micropython", "cpython"), ("cpython", "micropython")])
def test_two_hop_echo(responder, middle):
    pb, pm = free_port(), free_port()
    bob = start_node(responder, "bob", pb)
    mid = None
    try:
        mid = start_node(middle, "middle", pm, forward=pb)

        async def initiator():
            alice = Node("alice")
            TCPTransport(alice)
            hub = "1#127.0.0.1:%d" % pm
            replies = []
            for i in range(10):
                payload = bare.encode_string("Hello Ockam! %d" % i)
                r = await alice.send_and_receive([hub, "forward_to_bob", "echo"], payload, 10)
                replies.append(r)
                assert r.payload == payload
            up = await alice.send_and_receive([hub, "forward_to_bob", "uppercase"], bare.encode_string("shout"), 10)
            await alice.stop()
            return replies, up

        replies, up = asyncio.run(initiator())
        # the reply travelled back along the return route: bob's echo, via two connections
        assert all(len(r.return_) == 3 and r.return_[-1] == Address.parse("echo") for r in replies)
        assert bare.decode_string(up.payload) == "SHOUT"
    finally:
        if mid:
            mid.stop()
        bob.stop()
    assert "accepted connection" in "\n".join(bob.lines)


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_node_process_survives_malformed_input(runtime):
    port = free_port()
    node = start_node(runtime, "victim", port)
    try:
        good = socket.create_connection(("127.0.0.1", port))
        good.sendall(b"\x01")
        assert good.recv(1) == b"\x01"
        for bad in (b"\x01\xff\xff\xff\xff", b"\x07", b"\x01" + encode_frame(b"\x83\x81")):
            s = socket.create_connection(("127.0.0.1", port))
            s.settimeout(5)
            s.sendall(bad)
            data = b""
            while True:
                chunk = s.recv(100)
                if not chunk:
                    break
                data += chunk
            assert data in (b"", b"\x01")  # at most the version byte, then closed
            s.close()
        # the first connection still gets echo replies
        from hopseal.wire.message import decode_message, encode_message, route

        good.sendall(encode_frame(encode_message(route("echo"), route("me"), b"ping")))
        good.settimeout(5)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "big"):
            buf += good.recv(4096)
        m = decode_message(buf[4:])
        assert m.payload == b"ping" and m.onward == route("me")
        good.close()
    finally:
        node.stop()
    errors = [l for l in node.lines if "closing" in l]
    assert len(errors) == 3, node.log()
