"""The stream storage contract (host/hopseal_host/streams/store.py), run against every engine.

The `store_factory` fixture is parametrized by engine: "sqlite", and "kafka" on the session's
real broker (tests/support/kafka.py; each test its own topic prefix). A factory makes a fresh store object on the
same data, so a test can close one and open another (a hub restart). Tests run their body with
`run(factory, body)`: open, body(store), close, in one event loop.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import pytest

from hopseal_host.streams import StreamError, open_store
from hopseal_host.streams.sqlite_store import SqliteStore


def _sqlite_factory(tmp_path, request):
    path = str(tmp_path / "streams.sqlite3")
    return lambda: SqliteStore(path)


def _kafka_factory(tmp_path, request):
    broker = request.getfixturevalue("kafka_broker")  # skips (or fails in CI) where no broker can run
    from hopseal_host.streams.kafka_store import KafkaStore

    prefix = "t%s." % uuid.uuid4().hex[:12]  # one session broker: each test its own topics
    return lambda: KafkaStore(broker.bootstrap, prefix=prefix)


ENGINES = {"sqlite": _sqlite_factory, "kafka": _kafka_factory}


@pytest.fixture(params=sorted(ENGINES))
def store_factory(request, tmp_path):
    return ENGINES[request.param](tmp_path, request)


def run(factory, body):
    async def main():
        store = factory()
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_create_is_idempotent_and_listed(store_factory):
    async def body(s):
        assert not await s.exists("a")
        assert await s.create("a") is True
        assert await s.create("a") is False
        assert await s.exists("a")
        await s.create("b")
        listed = await s.streams()
        names = [x["name"] for x in listed]
        assert "a" in names and "b" in names
        a = next(x for x in listed if x["name"] == "a")
        assert a == {"name": "a", "next_index": 0, "records": 0, "bytes": 0}

    run(store_factory, body)


def test_append_assigns_consecutive_indexes_and_read_returns_them_in_order(store_factory):
    async def body(s):
        await s.create("s")
        idx = [await s.append("s", b"m%d" % i) for i in range(10)]
        assert idx == list(range(10))
        assert await s.read("s", 0, 100) == [(i, b"m%d" % i) for i in range(10)]
        assert await s.read("s", 3, 2) == [(3, b"m3"), (4, b"m4")]
        assert await s.read("s", 10, 5) == []
        assert await s.read("s", 1 << 62, 5) == []
        info = next(x for x in await s.streams() if x["name"] == "s")
        assert info["next_index"] == 10 and info["records"] == 10 and info["bytes"] == 20

    run(store_factory, body)


def test_streams_are_separate(store_factory):
    async def body(s):
        await s.create("x")
        await s.create("y")
        assert await s.append("x", b"1") == 0
        assert await s.append("y", b"2") == 0
        assert await s.append("x", b"3") == 1
        assert await s.read("y", 0, 10) == [(0, b"2")]

    run(store_factory, body)


def test_binary_and_empty_records_round_trip(store_factory):
    data = [b"", bytes(range(256)), b"\x00" * 1000, os.urandom(16 * 1024)]

    async def body(s):
        await s.create("bin")
        for d in data:
            await s.append("bin", d)
        assert [d for _, d in await s.read("bin", 0, 10)] == data

    run(store_factory, body)


def test_unknown_stream_is_a_stream_error(store_factory):
    async def body(s):
        with pytest.raises(StreamError, match="unknown stream"):
            await s.append("nope", b"x")
        with pytest.raises(StreamError, match="unknown stream"):
            await s.read("nope", 0, 1)
        assert not await s.exists("nope")

    run(store_factory, body)


def test_indexes_are_per_client_and_stream(store_factory):
    async def body(s):
        await s.create("s")
        assert await s.get_index("alice", "s") is None
        await s.save_index("alice", "s", 5)
        await s.save_index("bob", "s", 2)
        await s.save_index("alice", "t", 9)
        assert await s.get_index("alice", "s") == 5
        assert await s.get_index("bob", "s") == 2
        assert await s.get_index("alice", "t") == 9
        await s.save_index("alice", "s", 7)
        assert await s.get_index("alice", "s") == 7
        n = await s.count_indexes()
        assert n is None or n == 3

    run(store_factory, body)


def test_everything_survives_a_reopen(store_factory):
    async def write(s):
        await s.create("keep")
        for i in range(5):
            await s.append("keep", b"r%d" % i)
        await s.save_index("c", "keep", 3)

    async def check(s):
        assert await s.exists("keep")
        assert await s.read("keep", 0, 10) == [(i, b"r%d" % i) for i in range(5)]
        assert await s.get_index("c", "keep") == 3
        assert await s.append("keep", b"r5") == 5  # numbering continues

    run(store_factory, write)
    run(store_factory, check)


def test_trim_drops_the_oldest_and_keeps_numbering(store_factory):
    async def body(s):
        await s.create("t")
        for i in range(10):
            await s.append("t", bytes(100))
        dropped = await s.trim("t", 450)
        got = await s.read("t", 0, 100)
        if dropped:  # an engine that retains by its own configuration may do nothing here
            assert dropped == 6
            assert [i for i, _ in got] == [6, 7, 8, 9]
            info = next(x for x in await s.streams() if x["name"] == "t")
            assert info["bytes"] == 400 and info["records"] == 4 and info["next_index"] == 10
        assert await s.append("t", b"z") == 10
        assert await s.trim("t", 10 ** 9) == 0

    run(store_factory, body)


# -- SQLite only ---------------------------------------------------------------------------------

def test_open_store_urls(tmp_path):
    home = str(tmp_path / "home")
    assert open_store("", home).path == os.path.join(home, "streams.sqlite3")
    assert open_store("sqlite", home).path == os.path.join(home, "streams.sqlite3")
    assert open_store("sqlite:///tmp/x.db", home).path == "/tmp/x.db"
    assert open_store("sqlite:///tmp/x.db?sync=full", home).sync == "FULL"
    for bad in ("mysql://x", "kafka://", "kafka://host", "kafka://h:0", "sqlite:///x?fast=1"):
        with pytest.raises(ValueError):
            open_store(bad, home)


def test_sqlite_uses_wal_and_a_private_file(tmp_path):
    path = str(tmp_path / "s.db")

    async def body(s):
        await s.create("a")

    run(lambda: SqliteStore(path), body)
    import sqlite3

    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert os.stat(path).st_mode & 0o077 == 0


def test_a_damaged_file_is_one_stream_error(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StreamError, match="not a usable stream store"):
        run(lambda: SqliteStore(str(path)), lambda s: asyncio.sleep(0))


_WRITER = r"""
import asyncio, sys
sys.path[:0] = [%(host)r, %(firmware)r]
from hopseal_host.streams.sqlite_store import SqliteStore
async def main():
    s = SqliteStore(%(path)r)
    await s.open()
    await s.create("k")
    i = 0
    while True:
        idx = await s.append("k", b"record %%d" %% i)
        print(idx, flush=True)   # printed only once append returned: it must survive kill -9
        i += 1
asyncio.run(main())
"""


def test_appends_that_returned_survive_kill_9(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = str(tmp_path / "k.db")
    code = _WRITER % {"host": os.path.join(root, "host"), "firmware": os.path.join(root, "firmware"), "path": path}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    acked = []
    for line in p.stdout:
        acked.append(int(line))
        if len(acked) >= 300:
            break
    p.send_signal(signal.SIGKILL)
    p.wait()
    tail = p.stdout.read().split()  # acks printed before the kill landed
    acked += [int(x) for x in tail]

    async def check(s):
        got = await s.read("k", 0, 100000)
        assert [i for i, _ in got][: len(acked)] == acked
        assert all(d == b"record %d" % i for i, d in got)

    run(lambda: SqliteStore(path), check)
