"""System test: secure channels between a MicroPython node and a CPython node over real TCP.

Each runtime is the initiator in turn and exchanges 1,000 messages each way through the
channel-only `echo` (crossing 31 rekeys). Between the two processes a proxy that speaks the TCP
framing tampers with channel traffic in both directions: bit flips in the nonce, the ciphertext
and the tag, exact replays, and messages held back and delivered after the replay window. Every
tampered message must be rejected and counted by the receiving node, no corrupted message may be
delivered, and valid traffic must keep flowing.
"""
from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest
from support.procs import RUNTIME_TESTS, Child, free_port, micropython_path, mp_env, py_env

from hopseal.wire.message import decode_message
from hopseal.wire.tcp_frame import TCPFrameDecoder, encode_frame

PEER = os.path.join(RUNTIME_TESTS, "channel_peer.py")
N = 1000
EVERY = 97  # tamper around every 97th data message of each direction
HOLD_FOR = 40  # a held message is released this many messages later: beyond the 32-window


def peer(runtime: str, name: str, *args: str) -> Child:
    if runtime == "micropython":
        return Child(name, [micropython_path(), PEER, *args], mp_env())
    return Child(name, [sys.executable, PEER, *args], py_env([RUNTIME_TESTS]))


class TamperProxy:
    """TCP proxy that decodes frames and injects faults into secure-channel data messages."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = free_port()
        self.injected = {"to_responder": 0, "to_initiator": 0}
        self.held_back: dict[str, list[int]] = {"to_responder": [], "to_initiator": []}
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except asyncio.CancelledError:
            pass  # closed by the test

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.ready.set()
        async with self.server:
            await self.server.serve_forever()

    async def _accept(self, r1, w1) -> None:
        r2, w2 = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        # frames 1 and 2 towards the responder are msg1 and msg3; frame 1 back is msg2
        await asyncio.gather(self._pump(r1, w2, "to_responder", 2), self._pump(r2, w1, "to_initiator", 1))

    async def _pump(self, reader, writer, direction: str, handshake_frames: int) -> None:
        dec = TCPFrameDecoder(expect_version=False)
        first = await reader.readexactly(1)
        writer.write(first)
        seen = 0
        held: list[tuple[int, bytes]] = []
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for body in dec.feed(data):
                    seen += 1
                    i = seen - handshake_frames - 1  # index of this data message, from 0
                    m = decode_message(body)
                    is_data = i >= 0 and len(m.payload) >= 24 and i < N - 5
                    if is_data and i % EVERY == 10:
                        # three forgeries before the genuine message, a replay after it
                        for where in (3, 8 + 2, len(m.payload) - 1):  # nonce, ciphertext, tag
                            forged = bytearray(m.payload)
                            forged[where] ^= 0x10
                            writer.write(encode_frame(self._with_payload(m, bytes(forged))))
                        writer.write(encode_frame(body))
                        writer.write(encode_frame(body))
                        self.injected[direction] += 4
                    elif is_data and i % EVERY == 50:
                        held.append((i + HOLD_FOR, body))  # delivered late, outside the window
                        self.held_back[direction].append(i)
                        self.injected[direction] += 1
                    else:
                        writer.write(encode_frame(body))
                    for item in [h for h in held if h[0] <= i]:
                        held.remove(item)
                        writer.write(encode_frame(item[1]))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _with_payload(m, payload: bytes) -> bytes:
        m.payload = payload
        return m.encode()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)


def counters(line: str) -> dict[str, int]:
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


@pytest.mark.parametrize("initiator,responder", [("micropython", "cpython"), ("cpython", "micropython")])
def test_channel_between_runtimes_under_attack(initiator, responder, tmp_path):
    port = free_port()
    resp = peer(responder, "responder/" + responder, "respond", str(port), str(tmp_path / "resp"))
    resp.wait_for("ready")
    proxy = TamperProxy(port)
    init = peer(initiator, "initiator/" + initiator, "initiate", "127.0.0.1:%d" % proxy.port, str(tmp_path / "init"), str(N))
    try:
        result = init.wait_for("result", timeout=240)
        init_counters = counters(init.wait_for("counters", timeout=30))
    finally:
        init.stop()
        resp.stop()
        proxy.close()
    resp_counters = counters(resp.wait_for("counters", timeout=10))
    assert "plain_dropped" in "\n".join(init.lines), init.log()
    assert resp_counters.get("access_denied") == 1  # the plain-TCP attempt at echo
    fields = dict(kv.split("=") for kv in result.split()[1:])
    # requests held back were answered never (they arrive outside the window and are rejected);
    # replies held back are lost on the way home: either way exactly those round trips fail
    lost = sorted(proxy.held_back["to_responder"] + proxy.held_back["to_initiator"])
    assert int(fields["bad"]) == 0
    assert int(fields["lost"]) == len(lost), (result, lost)
    assert int(fields["ok"]) == N - len(lost)
    # every injected message was rejected and counted by the node that received it
    for injected, c in ((proxy.injected["to_responder"], resp_counters), (proxy.injected["to_initiator"], init_counters)):
        rejected = c.get("channel_auth_failed", 0) + c.get("channel_replay_or_window", 0)
        assert rejected == injected, (injected, c)
        assert injected >= 40
    # many rekeys happened: 1,000 messages each way is 31 key windows
    assert resp_counters.get("channel_rx", 0) >= N - len(lost)


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_peer_outside_trust_list_is_refused(runtime, tmp_path):
    port = free_port()
    someone_else = "I" + "ab" * 32
    resp = peer(runtime, "responder", "respond", str(port), str(tmp_path / "resp"), someone_else)
    resp.wait_for("ready")
    init = peer("cpython" if runtime == "micropython" else "micropython", "initiator", "initiate",
                "127.0.0.1:%d" % port, str(tmp_path / "init"), "3")
    try:
        result = init.wait_for("result", timeout=60)
    finally:
        init.stop()
        resp.stop()
    c = counters(resp.wait_for("counters", timeout=10))
    assert c.get("handshake_refused") == 1
    assert "ok=0" in result and "lost=3" in result
