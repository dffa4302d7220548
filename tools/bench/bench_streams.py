"""Stream benchmarks on SQLite (issue 11; prints RESULT lines for tools/bench/bench.py, make bench).

Throughput: a hub process (`hopseal hub --streams sqlite://TMP`) and a CPython client over TCP
speaking the stream protocol as the runtime's producer and consumer do. For 64 B and 1 KiB
records: N pushes (default 2000, --quick 300), each awaiting its PushConfirm (the record durable
in the WAL), then pulls of 100 records until all N are read; msgs/s. Beside them, in the same run,
what a user would pick instead of a hub: the application writing the same records straight into
its own SQLite file (WAL, synchronous=NORMAL, one INSERT + COMMIT each: the same durability) and
reading them back 100 at a time. Ratios stream/plain show what the stream layer (protocol, TCP,
the hub) costs over a local database.

Latency board -> stream -> application: the runtime on MicroPython (tools/bench/mp_stream_producer.py,
a node over TCP, as a Wi-Fi board talks to its gateway or hub) sends 200 messages (--quick 50), one
every 20 ms, each with its send time; a CPython consumer (StreamConsumer, the runtime's) reads the
stream and takes the receive time. Median and p95 in ms for the consumer's default poll interval
(250 ms, Ockam's) and for 10 ms; beside them the same messages sent directly through a relay at
the same hub to an online application (no store), and the ratio stream(10 ms)/direct. The
MicroPython side's heap (after a collection) is reported too: a node with its TCP connection and
a producer, and what stays allocated after the traffic.

    python tools/bench/bench_streams.py [--quick] [--n N]
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host")]

from hopseal.compat import set_log_sink  # noqa: E402
from hopseal.node import Node  # noqa: E402
from hopseal.services.relay import RelayClient  # noqa: E402
from hopseal.services.stream import StreamConsumer  # noqa: E402
from hopseal.transport.tcp import TCPTransport  # noqa: E402
from hopseal.wire import message_v1  # noqa: E402
from hopseal.wire import stream as sp  # noqa: E402
from hopseal.wire.message import Message  # noqa: E402
from hopseal_host.procs import Child, free_port, micropython  # noqa: E402
from hopseal_host.procs import cli as hopseal  # noqa: E402

QUICK = "--quick" in sys.argv
N = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else (300 if QUICK else 2000)
LAT_COUNT = 50 if QUICK else 200
SIZES = ((64, "64B"), (1024, "1KiB"))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def throughput(port: int, size: int, tag: str) -> tuple[float, float]:
    node = Node("bench")
    TCPTransport(node)
    hop = "1#127.0.0.1:%d" % port
    name = "bench_%s_%d" % (tag, time.monotonic_ns())
    r = await node.send_and_receive([hop, "stream"], sp.create(name), 10)
    route = list(r.return_)
    record = message_v1.encode(Message([], [], os.urandom(size)))
    mb = node.mailbox()
    for i in range(50):  # warm-up: connection, SQLite pages
        await node.send(route, sp.push(i, record), [mb.address])
        await mb.receive(10)
    t0 = time.perf_counter()
    for i in range(N):
        await node.send(route, sp.push(i, record), [mb.address])
        reply = await mb.receive(10)
        protocol, body = sp.decode_payload(reply.payload)
        if protocol != sp.PUSH or not sp.decode_push_confirm(body)[1]:
            raise RuntimeError("push refused: %r" % (protocol,))
    push = N / (time.perf_counter() - t0)
    got = 0
    index = 50
    t0 = time.perf_counter()
    while got < N:
        await node.send(route, sp.pull(1, index, 100), [mb.address])
        protocol, body = sp.decode_payload((await mb.receive(10)).payload)
        records = sp.decode_pull_response(body)[1]
        got += len(records)
        index = records[-1][0] + 1
    pull = N / (time.perf_counter() - t0)
    await node.stop()
    return push, pull


def plain_sqlite(path: str, size: int) -> tuple[float, float]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS records (stream TEXT, idx INTEGER, data BLOB, PRIMARY KEY (stream, idx)) WITHOUT ROWID")
    record = message_v1.encode(Message([], [], os.urandom(size)))
    name = "s%d" % size
    for i in range(50):
        db.execute("INSERT INTO records VALUES (?, ?, ?)", (name, -1 - i, record))
    t0 = time.perf_counter()
    for i in range(N):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO records VALUES (?, ?, ?)", (name, i, record))
        db.execute("COMMIT")
    push = N / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    got, index = 0, 0
    while got < N:
        rows = db.execute("SELECT idx, data FROM records WHERE stream = ? AND idx >= ? ORDER BY idx LIMIT 100",
                          (name, index)).fetchall()
        got += len(rows)
        index = rows[-1][0] + 1
    pull = N / (time.perf_counter() - t0)
    db.close()
    return push, pull


class Receiver:
    def __init__(self, want: int) -> None:
        self.lat: list[float] = []
        self.want = want
        self.done = asyncio.Event()

    def handle_message(self, node, msg) -> None:
        self.lat.append((time.time_ns() - int(bytes(msg.payload))) / 1e6)
        if len(self.lat) >= self.want:
            self.done.set()


async def latency(port: int, mode: str, interval: float) -> tuple[list[float], str]:
    node = Node("app")
    TCPTransport(node)
    hop = "1#127.0.0.1:%d" % port
    rx = Receiver(LAT_COUNT)
    node.start_worker("sink", rx)
    name = "lat_%d" % time.monotonic_ns()
    consumer = None
    if mode == "stream":
        consumer = StreamConsumer(node, [hop], name, "bench-app", receiver="sink", interval=interval).start()
        await asyncio.wait_for(consumer.ready.wait(), 30)
    else:
        client = RelayClient(node, [hop])
        name = (await client.register(10))
    mp = micropython("mp-producer", os.path.join(ROOT, "tools", "bench", "mp_stream_producer.py"), str(port), mode,
                     name, str(LAT_COUNT), "20", heapsize="256K")
    try:
        await asyncio.wait_for(rx.done.wait(), 120)
        while not any("DONE" in line for line in mp.lines):
            await asyncio.sleep(0.05)
        heap = next((l for l in mp.lines if l.startswith("HEAP")), "")
    finally:
        mp.stop()
        if consumer is not None:
            await consumer.close()
        await node.stop()
    return rx.lat, heap


def main() -> int:
    set_log_sink(lambda *a: None, 40)
    tmp = tempfile.mkdtemp(prefix="hopseal-bench-streams-")
    os.environ["HOPSEAL_HOME"] = os.path.join(tmp, "home")
    port = free_port()
    hub: Child = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % port, "--control", "", "--relay-policy", "open",
                         "--streams", "sqlite://" + os.path.join(tmp, "streams.sqlite3"))
    try:
        hub.wait_for("listening on", 60)
        for size, tag in SIZES:
            push, pull = asyncio.run(throughput(port, size, tag))
            ppush, ppull = plain_sqlite(os.path.join(tmp, "plain.sqlite3"), size)
            print("RESULT stream_sqlite_push_%s %.0f msgs/s" % (tag, push))
            print("RESULT stream_sqlite_pull_%s %.0f msgs/s" % (tag, pull))
            print("RESULT plain_sqlite_insert_%s %.0f msgs/s" % (tag, ppush))
            print("RESULT plain_sqlite_select_%s %.0f msgs/s" % (tag, ppull))
            print("RESULT stream_vs_plain_push_%s %.3f ratio" % (tag, push / ppush))
            print("RESULT stream_vs_plain_pull_%s %.3f ratio" % (tag, pull / ppull))
        figures = {}
        for mode, interval, tag in (("stream", 0.25, "stream_poll250ms"), ("stream", 0.01, "stream_poll10ms"),
                                    ("relay", 0, "direct_relay")):
            lat, heap = asyncio.run(latency(port, mode, interval))
            figures[tag] = pct(lat, 0.5)
            print("RESULT e2e_mp_%s_p50 %.1f ms" % (tag, pct(lat, 0.5)))
            print("RESULT e2e_mp_%s_p95 %.1f ms" % (tag, pct(lat, 0.95)))
            if mode == "stream" and interval == 0.01 and heap:
                _, base, ready, end = heap.split()
                print("RESULT mp_node_with_producer_heap %d bytes" % (int(ready) - int(base)))
                print("RESULT mp_heap_kept_after_traffic %d bytes" % (int(end) - int(ready)))
        print("RESULT e2e_stream10ms_vs_direct_p50 %.2f ratio" % (figures["stream_poll10ms"] / figures["direct_relay"]))
    finally:
        hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
