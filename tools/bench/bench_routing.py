"""Messages per second through the three-node route (initiator -> forward_to_bob -> echo) over
loopback TCP, all three nodes in this interpreter. Runs under CPython and MicroPython:

    PYTHONPATH=firmware:host python3 tools/bench/bench_routing.py
    MICROPYPATH=firmware micropython tools/bench/bench_routing.py

Prints `RESULT <name> <value> <unit>` lines that tools/bench/bench.py collects.
"""
import asyncio
import gc
import sys
import time

try:
    ticks = time.ticks_us
    diff = time.ticks_diff
except AttributeError:

    def ticks():
        return int(time.perf_counter() * 1e6)

    def diff(a, b):
        return a - b


from hopseal.compat import set_log_sink
from hopseal.node import Node
from hopseal.services.basic import Forwarder, start_default_services
from hopseal.transport.tcp import TCPTransport

N_RTT = 300
N_PIPE = 1000


async def main():
    set_log_sink(lambda *a: None, 40)
    bob = Node("bob")
    start_default_services(bob)
    tb = TCPTransport(bob)
    port = 39000 + (ticks() % 1000)
    lb = await tb.listen("127.0.0.1", port)
    mid = Node("mid")
    tm = TCPTransport(mid)
    c = await tm.connect("127.0.0.1", port)
    mid.start_worker("forward_to_bob", Forwarder("forward_to_bob", [c.address]))
    await tm.listen("127.0.0.1", port + 1)
    alice = Node("alice")
    TCPTransport(alice)
    hop = "1#127.0.0.1:%d" % (port + 1)
    payload = b"x" * 64
    await alice.send_and_receive([hop, "forward_to_bob", "echo"], payload, 5)  # warm up
    gc.collect()
    t0 = ticks()
    for _ in range(N_RTT):
        await alice.send_and_receive([hop, "forward_to_bob", "echo"], payload, 5)
    rtt_us = diff(ticks(), t0) / N_RTT
    # pipelined: send N, then collect N replies at one mailbox
    mb = alice.mailbox()
    mb.limit = N_PIPE + 1
    t0 = ticks()
    for _ in range(N_PIPE):
        await alice.send([hop, "forward_to_bob", "echo"], payload, [mb.address])
        while mb.queue:
            mb.queue.pop()
            got[0] += 1
    while got[0] < N_PIPE:
        await mb.receive(10)
        got[0] += 1
    pipe_s = diff(ticks(), t0) / 1e6
    print("RESULT route_rtt_us %.0f us" % rtt_us)
    print("RESULT route_msgs_per_s %.0f msg/s" % (N_PIPE / pipe_s))
    if hasattr(gc, "mem_alloc"):
        gc.collect()
        print("RESULT heap_live_bytes_3_nodes %d B" % gc.mem_alloc())
    await alice.stop()
    await mid.stop()
    await bob.stop()


got = [0]
asyncio.run(main())
sys.exit(0)
