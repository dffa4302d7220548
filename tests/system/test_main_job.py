"""System test of the main job: hub <-TCP-> gateway <-pty-> virtual board, plus a client.

The board (MicroPython, ESP32 heap budget, .mpy) registers its relay through the gateway, opens an
end-to-end channel to the hub's `api` and sends readings; a CPython client opens a channel to the
board's `api` through the board's relay and calls its channel-only echo. Then the gateway is
restarted, and then the hub: each time the board reconnects, re-registers its relay and re-opens
its channel, and the client's channel can be established again. Finally the raw bytes the hub and
the gateway carried are searched for every plaintext that went end to end: none is there.
"""
from __future__ import annotations

import asyncio
import json
import os

from support.procs import ROOT, Child, free_port, hopseal

from hopseal.secure.channel import create_secure_channel

from hopseal.secure.trust import TrustIdentifiers
from hopseal.compat import wall_time
from hopseal.node import Node
from hopseal.transport.tcp import TCPTransport
from hopseal.secure.vault import create_vault
from hopseal_host.crypto_host import HostCrypto

BOARD = os.path.join(ROOT, "boards", "esp32.json")



def client_echo(hub_port: int, board_id: str, texts: list[bytes]) -> list[bytes]:
    async def go() -> list[bytes]:
        crypto = HostCrypto()
        node = Node("client", crypto=crypto)
        TCPTransport(node)
        me = create_vault(crypto, wall_time())
        try:
            ch = await create_secure_channel(node, me, ["1#127.0.0.1:%d" % hub_port, "forward_to_board1", "api"],
                                             trust=TrustIdentifiers([board_id]), timeout=20)
            out = []
            for t in texts:
                out.append((await node.send_and_receive([ch.encryptor_address, "echo"], t, 10)).payload)
            await ch.close()
            return out
        finally:
            await node.stop()

    return asyncio.run(go())


def test_main_job_survives_gateway_and_hub_restarts(tmp_path):
    hub_port = free_port()
    hub_vault = str(tmp_path / "hub-identity")
    hub_cap, gw_cap = str(tmp_path / "hub.cap"), str(tmp_path / "gw.cap")
    link = str(tmp_path / "board1")
    heap = json.load(open(BOARD))["heap"]

    def start_hub() -> Child:
        h = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % hub_port, "--vault", hub_vault, "--capture", hub_cap)
        h.wait_for("listening on")
        return h

    def start_gateway() -> Child:
        return hopseal("gateway", "-q", "gateway", "--hub", "127.0.0.1:%d" % hub_port, "--serial", link + "=board1",
                       "--capture", gw_cap, "--ping-interval", "0.5", "--down-after", "3", "--backoff-max", "1")

    hub = start_hub()
    hub_id = hub.wait_for("identifier ").split()[-1]
    vb = hopseal("board1", "virtual-board", "--board", BOARD, "--name", "board1", "--link", link, "--romfs", "--heapsize",
                 heap, "--relay", "board1", "--vault", str(tmp_path / "board1-flash"), "--readings", "0.5",
                 "--hub-identifier", hub_id, "--ping-interval", "0.5")
    procs = [hub, vb]
    secrets: list[bytes] = []
    try:
        vb.wait_for("virtual board board1")
        gw = start_gateway()
        procs.append(gw)
        board_id = gw.wait_for("[board1] identity ", timeout=60).split()[-1]
        gw.wait_for("[board1] relay forward_to_board1 registered", timeout=60)
        gw.wait_for("acknowledged", timeout=60)

        def round_trip(tag: str) -> None:
            texts = [("%s secret %d" % (tag, i)).encode() for i in range(5)]
            secrets.extend(texts)
            assert client_echo(hub_port, board_id, texts) == texts

        round_trip("first")

        # 1. the gateway restarts: the board sees a new HELLO, re-registers, re-opens its channel
        gw.stop()
        procs.remove(gw)
        gw = start_gateway()
        procs.append(gw)
        gw.wait_for("[board1] relay forward_to_board1 registered", timeout=60)
        gw.wait_for("[board1] secure channel to the hub up", timeout=60)
        gw.wait_for("acknowledged", timeout=60)
        round_trip("after-gateway-restart")

        # 2. the hub restarts (same identity): the gateway reconnects and tells the board
        hub.stop()
        procs.remove(hub)
        n = len(gw.lines)
        hub = start_hub()
        procs.append(hub)
        gw.wait_for("[board1] relay forward_to_board1 registered", timeout=60, start=n)
        gw.wait_for("[board1] secure channel to the hub up", timeout=60, start=n)
        hub.wait_for("from " + board_id, timeout=60)  # readings reach the new hub
        round_trip("after-hub-restart")
    finally:
        for p in reversed(procs):
            p.stop()
    readings = [l for l in gw.lines if "acknowledged" in l]
    assert readings
    # the plaintext never crossed the hub or the gateway in the clear
    for path in (hub_cap, gw_cap):
        data = open(path, "rb").read()
        assert len(data) > 10_000
        for s in secrets + [b"temperature=", b"reading 1 from board1"]:
            assert s not in data, (path, s)


def test_demo_runs_and_its_status_page_step_shows_the_board():
    """`make demo` as a user runs it (python -m hopseal_host.demo): every step, including the
    board's HTTP status page fetched by urllib through a TCP inlet -> hub -> relay -> gateway ->
    the board's outlet, and the capture audit that finds none of the page in clear."""
    import subprocess
    import sys

    from support.procs import py_env

    r = subprocess.run([sys.executable, "-m", "hopseal_host.demo"], env=py_env(), cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    out = r.stdout
    assert r.returncode == 0 and out.rstrip().endswith("Done."), out + r.stderr
    board_id = [ln for ln in out.splitlines() if "the board's console, through the gateway: identity " in ln][0]
    board_id = board_id.split("identity ")[1].split(",")[0]
    assert "6. An HTTP client fetches the board's status page" in out
    assert "-> HTTP/1.1 200 OK, Content-Length " in out
    assert "   | hopseal board status\n" in out and "   | identifier: %s\n" % board_id in out, out
    heap = [ln for ln in out.splitlines() if ln.startswith("   | heap: used ")][0].split()
    assert int(heap[3]) + int(heap[5]) <= 240 * 1024, heap
    assert "   |   reading " in out and "temperature=" in out
    assert "the page's identifier is the board's" in out
    assert out.count("none of it contains the readings, the client's messages or the status page") == 2, out
