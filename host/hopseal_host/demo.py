"""`make demo`: the two-hop example of the Ockam tutorial, narrated.

A responder node with `echo` runs on the real MicroPython interpreter (a virtual board), a middle
node on CPython runs the `forward_to_bob` relay worker, and this process is the initiator: it
sends "Hello Ockam!" along [middle, forward_to_bob, echo] and prints the reply and its route.
"""
from __future__ import annotations

import asyncio
import sys
import time

from hopseal import bare
from hopseal.compat import set_log_sink
from hopseal.node import Node
from hopseal.routing import route_str
from hopseal.tcp import TCPTransport

from .procs import Child, free_port, micropython_path, mp_env, py_env


def say(text: str = "") -> None:
    print(text, flush=True)


async def initiator(middle_port: int) -> None:
    alice = Node("alice")
    TCPTransport(alice)
    hop = "1#127.0.0.1:%d" % middle_port
    for text in ("Hello Ockam!", "hello from hopseal"):
        t0 = time.perf_counter()
        r = await alice.send_and_receive([hop, "forward_to_bob", "echo"], bare.encode_string(text), 10)
        ms = (time.perf_counter() - t0) * 1000
        say("  initiator sent %r along [1#127.0.0.1:%d, forward_to_bob, echo]" % (text, middle_port))
        say("  initiator received %r in %.1f ms; return route %s" % (bare.decode_string(r.payload), ms, route_str(r.return_)))
    r = await alice.send_and_receive([hop, "forward_to_bob", "uppercase"], bare.encode_string("make it loud"), 10)
    say("  uppercase service replied %r" % bare.decode_string(r.payload))
    await alice.stop()


def main() -> int:
    set_log_sink(lambda *a: None, 40)
    bob_port, mid_port = free_port(), free_port()
    say("hopseal demo: initiator -> middle node (forward_to_bob) -> responder with echo")
    say("1. Starting the responder on the MicroPython interpreter (a virtual board) on 127.0.0.1:%d" % bob_port)
    bob = Child("bob/micropython", [micropython_path(), "-X", "heapsize=256K", "-m", "hopseal.app", "--listen",
                                     "127.0.0.1:%d" % bob_port, "--name", "bob"], mp_env())
    mid = None
    try:
        bob.wait_for("listening on")
        say("2. Starting the middle node on CPython on 127.0.0.1:%d with a forward_to_bob relay worker" % mid_port)
        mid = Child("middle/cpython", [sys.executable, "-m", "hopseal_host.cli", "-q", "node", "--listen", "127.0.0.1:%d" % mid_port,
                                       "--name", "middle", "--forward", "forward_to_bob=127.0.0.1:%d" % bob_port], py_env())
        mid.wait_for("listening on")
        say("3. The initiator (this process) sends messages through both TCP hops:")
        asyncio.run(initiator(mid_port))
        say("4. Done: every message went out over two TCP connections and came back along its return route.")
        return 0
    finally:
        if mid:
            mid.stop()
        bob.stop()


if __name__ == "__main__":
    sys.exit(main())
