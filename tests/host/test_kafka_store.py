"""The Kafka engine's own rules (host/hopseal_host/streams/kafka_store.py) beyond the contract in
test_stream_store.py: stream names map to legal topic names one to one, names that cannot be a
topic are one StreamError, acknowledged appends survive the broker's kill -9 and restart."""
from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

pytest.importorskip("aiokafka", reason="aiokafka is not installed (pip install -r requirements.txt)")

from hopseal_host.streams import StreamError  # noqa: E402
from hopseal_host.streams.kafka_store import KafkaStore, stream_name, topic_part  # noqa: E402

LEGAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@pytest.mark.parametrize("name", ["a", "sensor-1", "alice_to_bob", "a.b", "a_2eb", "_", "__indexes",
                                  "ünïcode", "spaces and/slashes", "\x00", "x" * 200])
def test_stream_names_map_to_legal_topics_and_back(name):
    part = topic_part(name)
    assert set(part) <= LEGAL and "." not in part
    assert stream_name(part) == name


def test_distinct_names_give_distinct_topics_and_foreign_topics_are_no_stream():
    names = ["a.b", "a_b", "a_2eb", "a-b", "A.b", "a%2eb"]
    assert len({topic_part(n) for n in names}) == len(names)
    # the index topic and topics that topic_part never makes are not streams
    for part in ("__indexes", "_zz", "_2", "a.b", "_41"):
        assert stream_name(part) is None


def test_a_bad_prefix_is_refused():
    for bad in ("", "has space.", "x" * 101, "slash/"):
        with pytest.raises(ValueError):
            KafkaStore("127.0.0.1:9", prefix=bad)


def test_no_broker_is_one_stream_error():
    async def body():
        s = KafkaStore("127.0.0.1:9", timeout=3)
        with pytest.raises(StreamError, match="cannot connect"):
            await s.open()

    asyncio.run(body())


def test_a_name_too_long_for_a_topic_is_a_stream_error(kafka_broker):
    async def body():
        s = KafkaStore(kafka_broker.bootstrap, prefix="t%s." % uuid.uuid4().hex[:12])
        await s.open()
        try:
            with pytest.raises(StreamError, match="too long"):
                await s.create("é" * 100)  # 200 bytes, 600 characters escaped
            assert await s.create("ok") is True
        finally:
            await s.close()

    asyncio.run(body())


def test_acknowledged_appends_survive_a_broker_kill_and_restart(kafka_broker):
    """A writer appends without pause while the broker is killed (SIGKILL) and started again:
    every append that returned is there afterwards, at its index, once, with its bytes; appends
    during the outage wait for the broker or fail with one StreamError line; numbering goes on."""
    prefix = "t%s." % uuid.uuid4().hex[:12]
    acked: dict[int, bytes] = {}
    errors: list[str] = []

    async def body():
        s = KafkaStore(kafka_broker.bootstrap, prefix=prefix, timeout=60)
        await s.open()
        try:
            await s.create("k")
            restarted = threading.Event()

            def restart():
                kafka_broker.restart(kill=True)
                restarted.set()

            n = 0
            while len(acked) < 50:  # some before the kill
                data = b"record %d" % n
                acked[await s.append("k", data)] = data
                n += 1
            t = threading.Thread(target=restart)
            t.start()
            while not restarted.is_set() or len(acked) < 150:
                data = b"record %d" % n
                n += 1
                try:
                    acked[await s.append("k", data)] = data
                except StreamError as e:
                    errors.append(e.reason)
                    await asyncio.sleep(0.2)
            t.join()
            got = await s.read("k", 0, 100000)
            return got
        finally:
            await s.close()

    got = asyncio.run(body())
    indexes = [i for i, _ in got]
    assert indexes == list(range(len(got)))                 # no gap, no index twice
    stored = dict(got)
    for i, data in acked.items():
        assert stored[i] == data
    assert len(set(d for _, d in got)) == len(got)          # no record written twice
    assert kafka_broker.starts >= 2
    for reason in errors:
        assert "\n" not in reason and reason.startswith("Kafka at ")


def test_open_store_takes_a_topic_prefix():
    from hopseal_host.streams import open_store

    s = open_store("kafka://127.0.0.1:9092,127.0.0.2:9093?prefix=site1.", "/nonexistent")
    assert isinstance(s, KafkaStore) and s.prefix == "site1." and s.bootstrap == "127.0.0.1:9092,127.0.0.2:9093"
    assert open_store("kafka://127.0.0.1:9092", "/nonexistent").prefix == "hopseal."
    for bad in ("kafka://127.0.0.1:9092?prefix=", "kafka://127.0.0.1:9092?acks=0", "kafka://127.0.0.1:9092?prefix=a b"):
        with pytest.raises(ValueError):
            open_store(bad, "/nonexistent")


def test_a_read_of_large_records_stops_near_a_mebibyte(kafka_broker):
    """A pull of many large records does not gather them all in the hub's memory first."""
    async def body():
        s = KafkaStore(kafka_broker.bootstrap, prefix="t%s." % uuid.uuid4().hex[:12])
        await s.open()
        try:
            await s.create("big")
            await asyncio.gather(*[s.append("big", bytes([i % 256]) * 16384) for i in range(200)])  # 3.2 MB
            first = await s.read("big", 0, 1000)
            assert 0 < len(first) < 200 and sum(len(d) for _, d in first) <= (1 << 20) + 16384 * 64
            assert [i for i, _ in first] == list(range(len(first)))
            rest, index = [], len(first)
            while index < 200:
                got = await s.read("big", index, 1000)
                rest += got
                index = got[-1][0] + 1
            assert [i for i, _ in first + rest] == list(range(200))
            assert all(d == bytes([i % 256]) * 16384 for i, d in first + rest)
        finally:
            await s.close()

    asyncio.run(body())


def test_topics_are_made_for_streams_and_indexes(kafka_broker):
    """What Kafka itself says of the topics: one partition; streams keep everything until the hub
    trims (no time or size retention) in 16 MiB segments; the index topic is compacted."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    prefix = "t%s." % uuid.uuid4().hex[:12]

    async def body():
        s = KafkaStore(kafka_broker.bootstrap, prefix=prefix)
        await s.open()
        try:
            await s.create("cfg")
        finally:
            await s.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
        await admin.start()
        try:
            topics = {t["topic"]: t for t in await admin.describe_topics([prefix + "cfg", prefix + "__indexes"])}
            resp = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, prefix + "cfg"),
                                                 ConfigResource(ConfigResourceType.TOPIC, prefix + "__indexes")])
        finally:
            await admin.close()
        configs = {}
        for r in resp:
            for _code, _msg, _type, name, entries in r.resources:
                configs[name] = {e[0]: e[1] for e in entries}
        return topics, configs

    topics, configs = asyncio.run(body())
    assert all(len(t["partitions"]) == 1 for t in topics.values())
    stream = configs[prefix + "cfg"]
    assert stream["cleanup.policy"] == "delete" and stream["retention.ms"] == "-1"
    assert stream["retention.bytes"] == "-1" and stream["segment.bytes"] == str(16 << 20)
    assert configs[prefix + "__indexes"]["cleanup.policy"] == "compact"


def test_trim_far_past_the_first_records_bisects_to_the_exact_cut(kafka_broker):
    """A cut beyond the 500 records scanned first is found by bisection, at the same record a
    scan would give; bytes and counts follow; what is left reads back in order."""
    async def body():
        s = KafkaStore(kafka_broker.bootstrap, prefix="t%s." % uuid.uuid4().hex[:12])
        await s.open()
        try:
            await s.create("long")
            sizes = [10 + (i * 7) % 23 for i in range(1300)]
            for i in range(0, 1300, 100):
                await asyncio.gather(*[s.append("long", b"%d" % j + b"x" * (sizes[j] - len(b"%d" % j)))
                                       for j in range(i, i + 100)])
            keep = sum(sizes[-37:]) + 5  # the last 37 records fit, the 38th from the end does not
            assert await s.trim("long", keep) == 1300 - 37
            got = await s.read("long", 0, 1000)
            assert [i for i, _ in got] == list(range(1263, 1300))
            assert [len(d) for _, d in got] == sizes[-37:]
            info = next(x for x in await s.streams() if x["name"] == "long")
            assert info == {"name": "long", "next_index": 1300, "records": 37, "bytes": sum(sizes[-37:])}
            assert await s.trim("long", keep) == 0
        finally:
            await s.close()
        s = KafkaStore(kafka_broker.bootstrap, prefix=s.prefix)  # a hub started again sees the same
        await s.open()
        try:
            info = next(x for x in await s.streams() if x["name"] == "long")
            assert info == {"name": "long", "next_index": 1300, "records": 37, "bytes": sum(sizes[-37:])}
        finally:
            await s.close()

    asyncio.run(body())


def test_hubs_with_different_prefixes_do_not_see_each_others_streams(kafka_broker):
    async def body():
        a = KafkaStore(kafka_broker.bootstrap, prefix="a%s." % uuid.uuid4().hex[:12])
        b = KafkaStore(kafka_broker.bootstrap, prefix="b%s." % uuid.uuid4().hex[:12])
        await a.open()
        await b.open()
        try:
            await a.create("same")
            await a.append("same", b"from a")
            await a.save_index("c", "same", 1)
            assert not await b.exists("same")
            assert await b.create("same") is True
            assert await b.read("same", 0, 10) == []
            assert await b.get_index("c", "same") is None
            assert [x["name"] for x in await b.streams()] == ["same"]
        finally:
            await a.close()
            await b.close()

    asyncio.run(body())
