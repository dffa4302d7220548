"""Hub benchmarks (CPython orchestrates real processes; prints RESULT lines for tools/bench/bench.py):

- board <-> client round trip: a virtual board (MicroPython, firmware in ROMFS, the ESP32 heap
  budget) behind a gateway on a pseudo-terminal; a CPython client with a secure channel to the
  board through its relay at the hub calls the board's echo; median and p99 over 200 round trips;
- hub relay throughput: a node registers a relay at a hub process; a client streams messages
  through `forward_to_<name>` to it (one way, pipelined); messages per second through the relay;
- hub memory per board: 1,000 simulated boards (each a node with its own TCP connection that
  registers a static relay) connect to a hub process; growth of the hub's resident memory
  (VmRSS) divided by the number of boards.

    python tools/bench/bench_hub.py [--quick]      (--quick: 50 round trips, 5,000 messages, 100 boards)
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host")]

from hopseal.compat import set_log_sink, wall_time  # noqa: E402
from hopseal.node import Node  # noqa: E402
from hopseal.secure.channel import create_secure_channel  # noqa: E402
from hopseal.secure.vault import create_vault  # noqa: E402
from hopseal.services.relay import RelayClient  # noqa: E402
from hopseal.transport.tcp import TCPTransport  # noqa: E402
from hopseal_host.crypto_host import HostCrypto  # noqa: E402
from hopseal_host.procs import Child, free_port  # noqa: E402
from hopseal_host.procs import cli as hopseal  # noqa: E402

QUICK = "--quick" in sys.argv
BOARDS = 100 if QUICK else 1000
ROUND_TRIPS = 50 if QUICK else 200
RELAY_MSGS = 5000 if QUICK else 20000



def rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_hub(tmp: str) -> tuple[Child, int]:
    port = free_port()
    hub = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % port, "--vault", os.path.join(tmp, "hub-id"),
                  "--relays-per-connection", "4", "--relay-policy", "open")  # simulated boards register over plain TCP
    hub.wait_for("listening on")
    return hub, port


def board_rtt(tmp: str) -> None:
    hub, port = start_hub(tmp)
    board = json.load(open(os.path.join(ROOT, "boards", "esp32.json")))
    link = os.path.join(tmp, "b1")
    vb = hopseal("vb", "virtual-board", "--board", os.path.join(ROOT, "boards", "esp32.json"), "--name", "b1",
                 "--link", link, "--romfs", "--heapsize", board["heap"], "--relay", "b1", "--vault", os.path.join(tmp, "b1-flash"))
    gw = None
    try:
        vb.wait_for("virtual board b1")
        gw = hopseal("gw", "-q", "gateway", "--hub", "127.0.0.1:%d" % port, "--serial", link + "=b1")
        gw.wait_for("relay forward_to_b1 registered", timeout=60)

        async def go() -> list[float]:
            c = HostCrypto()
            n = Node("client", crypto=c)
            TCPTransport(n)
            ch = await create_secure_channel(n, create_vault(c, wall_time()), ["1#127.0.0.1:%d" % port, "forward_to_b1", "api"], timeout=30)
            out = []
            for i in range(ROUND_TRIPS + 10):
                t0 = time.perf_counter()
                r = await n.send_and_receive([ch.encryptor_address, "echo"], b"x" * 32, 10)
                out.append((time.perf_counter() - t0) * 1000)
                assert r.payload == b"x" * 32
            await n.stop()
            return out[10:]  # the first few warm caches

        rtts = sorted(asyncio.run(go()))
        print("RESULT board_client_rtt_median_ms %.2f ms" % statistics.median(rtts))
        print("RESULT board_client_rtt_p99_ms %.2f ms" % rtts[int(len(rtts) * 0.99) - 1])
    finally:
        for p in (gw, vb, hub):
            if p:
                p.stop()


def relay_throughput(tmp: str) -> None:
    hub, port = start_hub(tmp)
    n_msgs = RELAY_MSGS
    try:
        async def go() -> float:
            board = Node("board")
            TCPTransport(board)
            sink = board.mailbox("sink")
            sink.limit = n_msgs + 1
            relay = await RelayClient(board, ["1#127.0.0.1:%d" % port], name="fast").register(5)
            client = Node("client")
            TCPTransport(client)
            route = ["1#127.0.0.1:%d" % port, relay, "sink"]
            await client.send_and_receive(["1#127.0.0.1:%d" % port, "echo"], b"warm", 5)
            payload = b"y" * 64
            t0 = time.perf_counter()
            for i in range(n_msgs):
                await client.send(route, payload)
                if i % 200 == 0:
                    await asyncio.sleep(0)
            while len(sink.queue) < n_msgs:
                await asyncio.sleep(0.01)
                if time.perf_counter() - t0 > 120:
                    raise RuntimeError("only %d of %d arrived" % (len(sink.queue), n_msgs))
            dt = time.perf_counter() - t0
            await client.stop()
            await board.stop()
            return n_msgs / dt

        print("RESULT hub_relay_msgs_per_s %.0f msg/s" % asyncio.run(go()))
    finally:
        hub.stop()


def memory_per_board(tmp: str) -> None:
    hub, port = start_hub(tmp)
    try:
        async def go() -> tuple[int, int]:
            # settle, then measure the hub before and after the boards arrive
            await asyncio.sleep(0.5)
            before = rss_kib(hub.p.pid)
            nodes = []
            for i in range(BOARDS):
                n = Node("sim%d" % i)
                TCPTransport(n)
                await RelayClient(n, ["1#127.0.0.1:%d" % port], name="sim%d" % i).register(10)
                nodes.append(n)
            await asyncio.sleep(0.5)
            after = rss_kib(hub.p.pid)
            # every relay works: spot-check a few boards through the hub
            for i in (0, BOARDS // 2, BOARDS - 1):
                probe = nodes[(i + 1) % BOARDS]
                mb = nodes[i].mailbox("inbox")
                await probe.send(["1#127.0.0.1:%d" % port, "forward_to_sim%d" % i, "inbox"], b"hi")
                assert (await mb.receive(5)).payload == b"hi"
            for n in nodes:
                await n.stop()
            return before, after

        before, after = asyncio.run(go())
        print("RESULT hub_rss_before_KiB %d KiB" % before)
        print("RESULT hub_rss_with_%d_boards_KiB %d KiB" % (BOARDS, after))
        print("RESULT hub_memory_per_board_KiB %.1f KiB" % ((after - before) / BOARDS))
    finally:
        hub.stop()


def main() -> int:
    set_log_sink(lambda *a: None, 40)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HOPSEAL_HOME"] = os.path.join(tmp, "home")
        board_rtt(tmp)
        relay_throughput(tmp)
        memory_per_board(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
