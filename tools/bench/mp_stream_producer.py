"""The board's side of bench_streams.py's latency figure: the runtime on MicroPython sends COUNT
messages, one every SPACING ms, each carrying its send time (time.time_ns(), the host's clock: the
same machine), either through a stream at the hub (a StreamProducer to STREAM, onward [] so the
consumer hands it to its receiver) or directly through the hub's relay RELAY to the application's
`sink` (the path a user would pick when both ends are online). Prints `HEAP base ready end`:
gc.mem_alloc() after a collection before the node, once it is ready to send, and after the
traffic (queue empty).

    micropython mp_stream_producer.py HUB_PORT stream|relay NAME COUNT SPACING_MS
"""
import asyncio
import sys
import time

from hopseal.node import Node
from hopseal.services.stream import StreamProducer
from hopseal.transport.tcp import TCPTransport


async def main(port, mode, name, count, spacing):
    import gc

    gc.collect()
    base = gc.mem_alloc()
    node = Node("mp-producer")
    TCPTransport(node)
    hub = ["1#127.0.0.1:%d" % port]
    if mode == "stream":
        prod = StreamProducer(node, hub, name, max_queue=count + 1).start()
        await asyncio.wait_for(prod.ready.wait(), 30)
        to = [prod.address]
    else:
        prod = None
        to = hub + [name, "sink"]
    gc.collect()
    ready = gc.mem_alloc()  # the node, its TCP connection and (stream mode) the producer
    for _ in range(count):
        await node.send(to, b"%d" % time.time_ns(), [])
        await asyncio.sleep_ms(spacing)
    if prod is not None:
        await prod.flush(60)
    gc.collect()
    print("HEAP", base, ready, gc.mem_alloc())
    print("DONE")
    await node.stop()


asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
