"""Serial link benchmark over a pseudo-terminal (CPython; `make bench` runs it).

    python tools/bench/bench_serial_link.py [--quick]

Board side: a SerialConnection on the pty's master (asyncio pipes). Host side: the gateway's own
path, pyserial on the pty's slave (SerialPortStream) under a host-role SerialConnection.
Prints `RESULT <name> <value> <unit>` lines:
  pty_raw_bytes_per_s              raw bytes through the same two ends (no framing, no routing)
  goodput_bytes_per_s_<N>          payload bytes/s of N-byte messages routed over the link
  goodput_ratio_<N>                goodput / raw byte rate over the same pty and I/O path
  frame_overhead_bytes_<N>         serial frame bytes per message (00 F8, type, CRC, COBS, 00)
  routing_overhead_bytes_<N>       routing message bytes around the payload (CBOR, routes)
  overhead_bytes_per_msg_<N>       all wire bytes per message minus the payload (frame + routing
                                   message: routes and CBOR), measured on the wire
  wire_efficiency_<N>              payload bytes per wire byte (what a real UART's rate is scaled by)
  est_goodput_115200_<N>           payload bytes/s those wire bytes allow on a 115200-baud UART (8N1)
  vboard_echo_round_trips_per_s    sequential echo round trips to the virtual board (MicroPython)
The reliable link (serial-link.md §8) against the version-1 link, 1024-byte messages, over a
socket pair through a line that damages bits (hopseal_host.line_faults) in both directions:
  link_v1_goodput_ber0 / link_reliable_goodput_ber0 / link_reliable_vs_v1_ber0
                                   payload B/s of each link on a clean line, and the ratio
  link_reliable_goodput_ber1e-3 / link_reliable_ber1e-3_vs_ber0
                                   the reliable link at BER 1e-3 (every message arrives), and the
                                   ratio to its clean-line goodput
  link_v1_delivered_ber1e-3        the fraction of messages the v1 link delivers at BER 1e-3
The board's portal under MicroPython (the virtual board, unix board file, an outlet to a local TCP
server; the host runs the inlet on the serial connection, no channel):
  vboard_portal_bytes_per_s / vboard_portal_vs_raw
                                   a download through the portal, and its ratio to pty_raw_bytes_per_s
A pty has no baud rate: raw and goodput figures measure the software on both ends.
"""
from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import tty

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for p in ("firmware", "host"):
    sys.path.insert(0, os.path.join(ROOT, p))

from hopseal.compat import set_log_sink  # noqa: E402
from hopseal.node import Node  # noqa: E402
from hopseal.wire.message import encode_message, route  # noqa: E402
from hopseal.wire.serial_frame import DATA, encode_frame  # noqa: E402
from hopseal.transport.serial import SerialConnection  # noqa: E402
from hopseal_host.serial_port import SerialPortStream  # noqa: E402

SIZES = (64, 256, 1024)


class FdStream:
    """A pty master as a byte stream for SerialConnection (asyncio pipe transports)."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.written = 0

    @classmethod
    async def open(cls, fd: int) -> "FdStream":
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
        wt, wp = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, os.fdopen(os.dup(fd), "wb", 0))
        writer = asyncio.StreamWriter(wt, wp, None, loop)
        return cls(reader, writer)

    async def read(self, n: int) -> bytes:
        return await self.reader.read(n)

    def write(self, data) -> None:
        self.written += len(data)
        self.writer.write(bytes(data))

    async def drain(self) -> None:
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class Sink:
    def __init__(self):
        self.n = 0
        self.bytes = 0
        self.done = asyncio.Event()
        self.want = 0

    def handle_message(self, node, msg):
        self.n += 1
        self.bytes += len(msg.payload)
        if self.n >= self.want:
            self.done.set()


async def pty_pair():
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    board = await FdStream.open(master)
    host = await SerialPortStream.open(os.ttyname(slave), 115200, "bench")
    return board, host, slave


async def raw_rate(total: int) -> float:
    board, host, slave = await pty_pair()
    chunk = os.urandom(4096)
    got = 0

    async def reader():
        nonlocal got
        while got < total:
            got += len(await host.read(1 << 16))

    t0 = time.perf_counter()
    task = asyncio.create_task(reader())
    sent = 0
    while sent < total:
        board.write(chunk)
        await board.drain()
        sent += len(chunk)
    await task
    dt = time.perf_counter() - t0
    board.close()
    host.close()
    os.close(slave)
    return got / dt


async def link_pair():
    board, host, slave = await pty_pair()
    bn, hn = Node("board"), Node("host")
    sink = Sink()
    hn.start_worker("sink", sink)
    b = SerialConnection(bn, board, board, "host", "board", interval=1.0)
    h = SerialConnection(hn, host, host, "board", "gw", interval=1.0, speak_first=False)
    await h.start()
    await b.start()
    while not (b.up and h.up):
        await asyncio.sleep(0.01)
    return board, host, slave, bn, b, h, sink


def payload_of(size: int) -> bytes:
    return random.Random(size).randbytes(size)


async def goodput(size: int, count: int) -> tuple[float, float]:
    board, host, slave, bn, b, h, sink = await link_pair()
    payload = payload_of(size)
    sink.want = count
    w0 = board.written
    t0 = time.perf_counter()
    route = b.route_to("sink")
    for _ in range(count):
        await bn.send(route, payload)
    await asyncio.wait_for(sink.done.wait(), 120)
    dt = time.perf_counter() - t0
    wire_per_msg = (board.written - w0) / count
    await b.close()
    await h.close()
    host.close()
    os.close(slave)
    return sink.bytes / dt, wire_per_msg


async def board_link(vb):
    """(serial stream, host node, link) to the virtual board `vb` once its link is up."""
    host = await SerialPortStream.open(vb.path, 115200, "vboard")
    hn = Node("host")
    h = SerialConnection(hn, host, host, "vboard", "gw", interval=1.0, speak_first=False)
    await h.start()
    for _ in range(500):
        if h.up:
            break
        await asyncio.sleep(0.02)
    return host, hn, h


async def vboard_round_trips(n: int) -> float:
    from hopseal_host.virtual_board import VirtualBoard

    vb = VirtualBoard("bench", None, args=["--ping-interval", "1"]).start()
    try:
        host, hn, h = await board_link(vb)
        payload = b"x" * 64
        await hn.send_and_receive(h.route_to("echo"), payload, 10)  # warm up
        t0 = time.perf_counter()
        for _ in range(n):
            r = await hn.send_and_receive(h.route_to("echo"), payload, 10)
            if r.payload != payload:
                raise RuntimeError("echo garbled")
        dt = time.perf_counter() - t0
        await h.close()
        host.close()
        return n / dt
    finally:
        vb.stop()


async def _relay(reader, writer, faults):
    while True:
        data = await reader.read(4096)
        if not data:
            break
        writer.write(faults.apply(data))
        await writer.drain()


async def lossy_goodput(reliable: bool, ber: float, count: int, size: int = 1024, timeout: float = 300):
    """(payload B/s, fraction delivered) of `count` messages board -> host over a damaging line."""
    import socket

    from hopseal_host.line_faults import LineFaults

    bs, r1 = socket.socketpair()
    r2, hs = socket.socketpair()
    br, bw = await asyncio.open_connection(sock=bs)
    a_r, a_w = await asyncio.open_connection(sock=r1)
    b_r, b_w = await asyncio.open_connection(sock=r2)
    hr, hw = await asyncio.open_connection(sock=hs)
    relays = [asyncio.create_task(_relay(a_r, b_w, LineFaults(1, ber))),
              asyncio.create_task(_relay(b_r, a_w, LineFaults(2, ber)))]
    bn, hn = Node("board"), Node("host")
    sink = Sink()
    sink.want = count
    hn.start_worker("sink", sink)
    mm = {} if reliable else {"max_message": None}
    b = SerialConnection(bn, br, bw, "host", "board", interval=0.5, down_after=100, **mm)
    h = SerialConnection(hn, hr, hw, "board", "gw", interval=0.5, down_after=100, speak_first=False, **mm)
    await h.start()
    await b.start()
    while not (b.up and h.up):
        await asyncio.sleep(0.01)
    payload = payload_of(size)
    t0 = time.perf_counter()
    for _ in range(count):
        await bn.send(b.route_to("sink"), payload)
    try:
        await asyncio.wait_for(sink.done.wait(), timeout if reliable else 3)
    except asyncio.TimeoutError:
        if reliable:
            raise
    dt = time.perf_counter() - t0
    await b.close()
    await h.close()
    for t in relays:
        t.cancel()
    for w in (a_w, b_w):
        w.close()
    return sink.bytes / dt, sink.n / count


async def vboard_portal(total: int) -> float:
    """Bytes/s of a download through the virtual board's outlet (MicroPython) over a pty."""
    import socket
    import threading

    from hopseal.services.portal import Inlet
    from hopseal_host.virtual_board import VirtualBoard

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    block = os.urandom(65536)

    def serve():
        c, _ = srv.accept()
        left = total
        while left > 0:
            k = min(left, len(block))
            c.sendall(block[:k])
            left -= k
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    # 2 KiB Payloads from the board (a quarter of max_message, the board default before it became
    # 256, board_extras.py): the unix board's heap with no channel has room for them, and the
    # figure stays comparable with serial-link.md §8.4
    vb = VirtualBoard("bench", None, args=["--ping-interval", "1", "--portal-chunk", "2048",
                                           "--outlet", "127.0.0.1:%d" % srv.getsockname()[1]]).start()
    try:
        host, hn, h = await board_link(vb)
        inlet = await Inlet(hn, h.route_to("outlet"), chunk=2048).listen("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", inlet.port)
        t0 = time.perf_counter()
        got = 0
        while got < total:
            d = await asyncio.wait_for(reader.read(1 << 16), 60)
            if not d:
                break
            got += len(d)
        dt = time.perf_counter() - t0
        writer.close()
        await inlet.close()
        await h.close()
        host.close()
        if got < total:
            raise RuntimeError("the portal closed after %d of %d bytes" % (got, total))
        return got / dt
    finally:
        vb.stop()
        srv.close()


def result(name: str, value, unit: str) -> None:
    print("RESULT %s %s %s" % (name, value, unit), flush=True)


async def main(quick: bool) -> None:
    set_log_sink(lambda *a: None, 40)
    raw = await raw_rate((4 if quick else 32) << 20)
    result("pty_raw_bytes_per_s", "%.0f" % raw, "B/s")
    for size in SIZES:
        count = max(200, (2 if quick else 16) * (1 << 20) // (size * 8))
        rate, wire = await goodput(size, count)
        result("goodput_bytes_per_s_%d" % size, "%.0f" % rate, "B/s")
        result("goodput_ratio_%d" % size, "%.4f" % (rate / raw), "ratio")
        # the message the board's sender wrote: onward ["sink"], empty return route
        body = encode_message(route("sink"), [], payload_of(size))
        result("frame_overhead_bytes_%d" % size, "%d" % (len(encode_frame(DATA, body)) - len(body)), "B")
        result("routing_overhead_bytes_%d" % size, "%d" % (len(body) - size), "B")
        result("overhead_bytes_per_msg_%d" % size, "%.1f" % (wire - size), "B")
        result("wire_efficiency_%d" % size, "%.4f" % (size / wire), "ratio")
        result("est_goodput_115200_%d" % size, "%.0f" % (11520 * size / wire), "B/s")
    result("vboard_echo_round_trips_per_s", "%.0f" % await vboard_round_trips(50 if quick else 300), "round-trip/s")
    n = 300 if quick else 2000
    v1, _ = await lossy_goodput(False, 0.0, n)
    rel, _ = await lossy_goodput(True, 0.0, n)
    result("link_v1_goodput_ber0", "%.0f" % v1, "B/s")
    result("link_reliable_goodput_ber0", "%.0f" % rel, "B/s")
    result("link_reliable_vs_v1_ber0", "%.3f" % (rel / v1), "ratio")
    lossy, _ = await lossy_goodput(True, 1e-3, n // 10)
    result("link_reliable_goodput_ber1e-3", "%.0f" % lossy, "B/s")
    result("link_reliable_ber1e-3_vs_ber0", "%.3f" % (lossy / rel), "ratio")
    _, frac = await lossy_goodput(False, 1e-3, n // 10)
    result("link_v1_delivered_ber1e-3", "%.3f" % frac, "ratio")
    portal = await vboard_portal((1 if quick else 4) << 20)
    result("vboard_portal_bytes_per_s", "%.0f" % portal, "B/s")
    result("vboard_portal_vs_raw", "%.4f" % (portal / raw), "ratio")


if __name__ == "__main__":
    asyncio.run(main("--quick" in sys.argv))
