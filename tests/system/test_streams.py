"""Streams with real processes (issue 11): a MicroPython board (the virtual ESP32 board, ROMFS,
on a pty behind a gateway) sends readings through a secure channel over a pair of streams at a
hub process, to an application process (`hopseal stream receive`), as Ockam's Alice and Bob.
During traffic the application is stopped and killed, the gateway restarted and the hub killed
(-9); afterwards the application has recorded every reading the board queued, once, in order,
and every record the hub's store holds is ciphertext without the plaintext. Then bad input to a
real hub: the protocol's error reply, nothing stored wrongly, the service keeps serving.

The engine is a parameter: `streams` gives the hub's --streams URL and reads back what the store
holds. "sqlite" is here; the Kafka engine adds its own parameter (the broker fixture in
tests/support/kafka.py, the records read back with a plain Kafka consumer).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import time
import uuid

import pytest

from support.procs import ROOT, Child, free_port, hopseal

BOARD = os.path.join(ROOT, "boards", "esp32.json")
PLAINTEXT = (b"temperature=", b"reading 1 from", b"from board1")


class Streams:
    """What a test needs of an engine: the hub's URL and every record the store holds."""

    def __init__(self, name: str, url: str, records, restart=None, readings: float = 0.3) -> None:
        self.name = name
        self.url = url
        self.records = records  # () -> list[bytes], every stored record of every stream
        self.restart = restart  # () -> None: kill the engine's own server and start it again (Kafka's broker)
        # seconds between the board's readings: its producer holds 16 and waits 10 s for room, so an
        # outage longer than 16 x this + 10 s drops readings (counted); a Kafka broker's restart
        # (5-15 s on a busy machine) plus the board's retry back-off can outlast what 0.3 s allows
        self.readings = readings


def _sqlite(tmp_path, request) -> Streams:
    path = str(tmp_path / "hub-streams.sqlite3")

    def records() -> list[bytes]:
        db = sqlite3.connect(path)
        try:
            return [bytes(d) for (d,) in db.execute("SELECT data FROM records")]
        finally:
            db.close()

    return Streams("sqlite", "sqlite://" + path, records)


def _kafka(tmp_path, request) -> Streams:
    broker = request.getfixturevalue("kafka_broker")  # skips (or fails in CI) where no broker can run
    from support.kafka import read_topics

    prefix = "sys%s." % uuid.uuid4().hex[:8]  # one broker per session: each test its own topics

    def records() -> list[bytes]:  # read back with a plain Kafka consumer, the index topic aside
        topics = asyncio.run(read_topics(broker.bootstrap, prefix))
        return [r.value for topic, recs in topics.items() if not topic.endswith("__indexes") for r in recs]

    return Streams("kafka", "%s?prefix=%s" % (broker.url, prefix), records, lambda: broker.restart(kill=True), 1.0)


ENGINES = {"sqlite": _sqlite, "kafka": _kafka}


@pytest.fixture(params=sorted(ENGINES))
def streams(request, tmp_path) -> Streams:
    return ENGINES[request.param](tmp_path, request)


class HubProc:
    def __init__(self, tmp_path, url: str) -> None:
        self.port = free_port()
        self.url = url
        self.vault = str(tmp_path / "hub-identity")
        self.child: Child | None = None

    def start(self) -> Child:
        self.child = hopseal("hub", "hub", "--listen", "127.0.0.1:%d" % self.port, "--vault", self.vault,
                             "--streams", self.url, "--control", "")
        self.child.wait_for("listening on", 60)
        return self.child

    def kill9(self) -> None:
        self.child.stop(sig=signal.SIGKILL)


def app(tmp_path, hub_port: int, board_id: str | None = None) -> Child:
    args = ["app", "stream", "receive", "--hub", "127.0.0.1:%d" % hub_port, "--from", "board1_to_app",
            "--to", "app_to_board1", "--db", str(tmp_path / "app.sqlite3"), "--vault", str(tmp_path / "app-identity"),
            "--interval", "0.1"]
    if board_id:
        args += ["--authorized", board_id]
    p = hopseal(*args)
    p.wait_for("streams ready", 60)
    return p


def recorded(tmp_path) -> list[int]:
    """The numbers of the readings the application recorded, in its order."""
    db = sqlite3.connect(str(tmp_path / "app.sqlite3"))
    try:
        texts = [t for (t,) in db.execute("SELECT text FROM readings ORDER BY seq")]
    finally:
        db.close()
    out = []
    for t in texts:
        m = re.match(r"reading (\d+) from board1: temperature=", t)
        assert m, t
        out.append(int(m.group(1)))
    return out


def queued(gws: list[Child]) -> int:
    """The highest reading number the board has queued for the stream (its console, via the gateways)."""
    n = 0
    for line in [l for gw in gws for l in list(gw.lines)]:
        m = re.search(r"\[board1\] reading (\d+) queued", line)
        if m:
            n = max(n, int(m.group(1)))
    return n


def wait_until(cond, what: str, timeout: float = 90, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("%s not within %ss\n%s" % (what, timeout, "\n".join(p.log(400) for p in procs)))
        time.sleep(0.1)


def test_board_to_application_through_streams_survives_restarts(tmp_path, streams):
    hub = HubProc(tmp_path, streams.url)
    procs: list[Child] = [hub.start()]
    a = app(tmp_path, hub.port)
    procs.append(a)
    app_id = a.wait_for("identifier ").split()[-1]
    board = json.load(open(BOARD))
    board.update(stream_to="board1_to_app", stream_from="app_to_board1", stream_peer=app_id, stream_interval=0.1)
    board_file = str(tmp_path / "board1.json")
    json.dump(board, open(board_file, "w"))
    link = str(tmp_path / "board1")
    vb = hopseal("board1", "virtual-board", "--board", board_file, "--name", "board1", "--link", link, "--romfs",
                 "--vault", str(tmp_path / "board1-flash"), "--readings", str(streams.readings), "--ping-interval", "0.5")
    procs.append(vb)

    def start_gateway() -> Child:
        return hopseal("gateway", "gateway", "--hub", "127.0.0.1:%d" % hub.port, "--serial", link + "=board1",
                       "--ping-interval", "0.5", "--down-after", "3", "--backoff-max", "1", "--control", "")

    def progress(k: int, what: str) -> None:
        """The board queues k more readings and the application records them all."""
        target = queued(gws) + k
        wait_until(lambda: queued(gws) >= target, "the board queuing reading %d (%s)" % (target, what), procs=procs)
        wait_until(lambda: len(recorded(tmp_path)) >= target, "the application recording reading %d (%s)"
                   % (target, what), procs=procs)

    try:
        vb.wait_for("virtual board board1", 60)
        gw = start_gateway()
        gws = [gw]
        procs.append(gw)
        board_id = gw.wait_for("[board1] identity ", timeout=60).split()[-1]
        gw.wait_for("[board1] secure channel to %s up over streams" % app_id, timeout=90)
        progress(5, "start")

        # 1. the application stops (SIGTERM) while the board goes on; it comes back and reads on
        a.stop(sig=signal.SIGTERM)
        procs.remove(a)
        n = queued(gws)
        wait_until(lambda: queued(gws) >= n + 8, "readings while the application is stopped", procs=procs)
        a = app(tmp_path, hub.port, board_id)
        procs.append(a)
        a.wait_for("1 channel(s) resumed")
        progress(3, "after the application came back")

        # 2. the application is killed (-9) during traffic
        a.stop(sig=signal.SIGKILL)
        procs.remove(a)
        time.sleep(1)
        a = app(tmp_path, hub.port, board_id)
        procs.append(a)
        progress(3, "after the application was killed")

        # 3. the gateway restarts: the board's link goes down and up; its pushes are retried
        gw.stop()
        procs.remove(gw)
        time.sleep(1)
        gw = start_gateway()
        gws.append(gw)
        procs.append(gw)
        gw.wait_for("[board1] identity ", timeout=60)
        progress(3, "after the gateway restarted")

        # 4. the hub is killed (-9) and started again on the same port and store
        hub.kill9()
        procs.remove(hub.child)
        time.sleep(1)
        procs.append(hub.start())
        progress(3, "after the hub was killed")

        # 5. Kafka: the broker is killed (-9) and started again during traffic
        if streams.restart is not None:
            streams.restart()
            progress(3, "after the %s broker was killed" % streams.name)
    finally:
        for p in reversed(procs):
            p.stop()
    got = recorded(tmp_path)
    # every reading once, in order, none missing from 1 to the last one recorded
    assert got == list(range(1, len(got) + 1)), got
    assert len(got) >= 25
    # the store holds only ciphertext
    records = streams.records()
    assert len(records) >= len(got)
    for r in records:
        for s in PLAINTEXT:
            assert s not in r, (streams.name, s)


def test_bad_input_to_a_hub_gets_error_replies_and_the_service_keeps_serving(tmp_path, streams):
    from hopseal.node import Node
    from hopseal.transport.tcp import TCPTransport
    from hopseal.wire import stream as sp

    hub = HubProc(tmp_path, streams.url)
    h = hub.start()
    hop = "1#127.0.0.1:%d" % hub.port

    async def go() -> list[str]:
        node = Node("client")
        TCPTransport(node)
        reasons = []

        async def ask(to, payload):
            r = await node.send_and_receive(to, payload, 10)
            return sp.decode_payload(r.payload)

        async def refused(to, payload):
            protocol, body = await ask(to, payload)
            assert protocol == sp.ERROR, (payload, protocol)
            reasons.append(sp.decode_error(body))

        try:
            protocol, body = await ask([hop, "stream"], sp.create("good"))
            assert sp.decode_init(body) == "good"
            s = [hop, "stream.good"]
            await refused([hop, "stream"], b"\x05abc")                                        # malformed BARE
            await refused([hop, "stream"], sp.encode_payload("stream_drop", b""))             # unknown protocol id
            await refused(s, sp.encode_payload("stream_truncate", b"\x00"))                   # unknown protocol id
            await refused(s, sp.pull(1, 0, 10 ** 9))                                          # absurd limit
            await refused(s, sp.pull(1, 0, 0))
            await refused(s, sp.push(1, b"x" * (16 * 1024 + 1)))                              # oversize push
            await refused([hop, "stream_index"], sp.index_save("I" + "ab" * 32 + "/x", "good", 5))  # another's index
            await refused([hop, "stream_index"], sp.index_get("c", "no_such_stream"))         # unknown stream
            await refused([hop, "stream"], sp.create("../etc/passwd"))                       # a name no engine may take
            # the service keeps serving, and stored only the good push
            protocol, body = await ask(s, sp.push(2, b"fine"))
            assert sp.decode_push_confirm(body) == (2, True, 0)
            protocol, body = await ask(s, sp.pull(3, 0, 10))
            assert [(i, bytes(d)) for i, d in sp.decode_pull_response(body)[1]] == [(0, b"fine")]
            return reasons
        finally:
            await node.stop()

    try:
        reasons = asyncio.run(go())
    finally:
        h.stop()
    assert len(reasons) == 9 and all(r and "\n" not in r for r in reasons), reasons
    assert streams.records() == [b"fine"]


def test_stream_commands_against_a_hub(tmp_path, streams):
    """hopseal stream create|push|pull|list as an operator runs them, and the hub's --streams
    mistakes: one line each."""
    hub = HubProc(tmp_path, streams.url)
    h = hub.start()
    at = ["--hub", "127.0.0.1:%d" % hub.port]

    def run(*args: str, ok: bool = True) -> list[str]:
        p = hopseal("cli", "-q", "stream", *args)
        code = p.p.wait(60)
        p.stop()
        assert (code == 0) == ok, (args, code, p.log())
        return p.lines

    try:
        assert run("create", "ops", *at) == ["stream ops at 127.0.0.1:%d (pushes and pulls go to stream.ops)" % hub.port]
        assert run("push", "ops", "one", "two", "three", *at) == ["ops 0", "ops 1", "ops 2"]
        assert run("push", "ops", "--raw", "bytes", *at) == ["ops 3"]
        assert run("pull", "ops", *at) == ["0 [] -> [] one", "1 [] -> [] two", "2 [] -> [] three", "3 raw:6279746573"]
        assert run("pull", "ops", "--client", "me", "--limit", "2", *at) == ["0 [] -> [] one", "1 [] -> [] two"]
        assert run("pull", "ops", "--client", "me", *at) == ["2 [] -> [] three", "3 raw:6279746573"]
        assert run("pull", "ops", "--client", "me", *at) == []
        lines = run("pull", "ops", "--limit", "0", *at, ok=False)
        assert lines == ["hopseal stream pull: error: the hub refused: pull limit 0: ask for 1 to 1000 records"], lines
        lines = run("push", "ops", "x" * 20000, *at, ok=False)
        assert len(lines) == 1 and "push of more than 16384 bytes refused" in lines[0], lines
        lines = run("create", "bad/name", *at, ok=False)
        assert len(lines) == 1 and "only letters, digits" in lines[0], lines
    finally:
        h.stop()
    listed = run("list", "--streams", streams.url)
    assert len(listed) == 1 and listed[0].split()[:3] == ["ops", "next", "index"] and "4 record(s)" in listed[0], listed
    lines = run("pull", "ops", *at, ok=False)  # the hub is gone
    assert len(lines) == 1 and "cannot connect" in lines[0], lines
    # the hub's own: one line; a wrong URL is a usage error (2), a store that cannot open a failure (1)
    for url, why, status in (("mysql://x", "expected sqlite", 2), ("kafka://nohost", "is not HOST:PORT", 2),
                             ("sqlite://" + str(tmp_path / "bad.db"), "not a usable stream store", 1)):
        if url.endswith("bad.db"):
            (tmp_path / "bad.db").write_bytes(b"not a database" * 100)
        p = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % free_port(), "--vault", str(tmp_path / "hv"),
                    "--streams", url, "--control", "")
        assert p.p.wait(60) == status, p.lines
        p.stop()
        errors = [l for l in p.lines if not l.startswith("identifier ")]
        assert len(errors) == 1 and why in errors[0], p.lines


def test_hub_stream_settings_from_its_toml_file(tmp_path, streams):
    conf = tmp_path / "hub.toml"
    conf.write_text('streams = "%s"\nstream_max_message = 100\nstream_max_pull = 5\n' % streams.url)
    port = free_port()
    h = hopseal("hub", "-q", "hub", "--config", str(conf), "--listen", "127.0.0.1:%d" % port,
                "--vault", str(tmp_path / "hv"), "--control", "")
    try:
        h.wait_for("listening on", 60)

        def run(*args: str) -> tuple[int, list[str]]:
            p = hopseal("cli", "-q", "stream", *args, "--hub", "127.0.0.1:%d" % port)
            code = p.p.wait(60)
            p.stop()
            return code, p.lines

        assert run("push", "t", "x" * 50) == (0, ["t 0"])
        code, lines = run("push", "t", "x" * 101)
        assert code == 1 and "more than 100 bytes" in lines[0], lines
        code, lines = run("pull", "t", "--limit", "6")
        assert code == 1 and "ask for 1 to 5 records" in lines[0], lines
    finally:
        h.stop()
    conf.write_text("stream_max_pull = 0\n")
    p = hopseal("hub", "-q", "hub", "--config", str(conf), "--listen", "127.0.0.1:%d" % free_port(), "--control", "")
    assert p.p.wait(60) == 2
    p.stop()
    assert p.lines[-1].endswith("hub.toml line 1: stream_max_pull = 0: '0' is not a positive whole number"), p.lines
