"""The real Apache Kafka broker for the stream tests (issue 11): the pytest side of
hopseal_host.kafka_broker (which the benchmarks use too).

The fixture `kafka_broker` starts one single-node KRaft broker per test session (tests/conftest.py
imports it) on free ports with a throwaway data directory, and stops it at the end. Where Java,
the jars (`make kafka`) or aiokafka are missing, the Kafka tests skip with one reason, printed
again at the end of the run; with HOPSEAL_REQUIRE_KAFKA=1 (.ci/run sets it) they fail with that
reason instead.
"""
from __future__ import annotations

import pytest

from hopseal_host.kafka_broker import CACHE, FAST_START, JARS, KafkaBroker, kafka_version, required, unavailable  # noqa: F401

_skipped: list[str] = []


@pytest.fixture(scope="session")
def kafka_broker():
    """One real broker for the whole test session (skips, or fails in CI, where none can run)."""
    reason = unavailable()
    if reason:
        if required():
            pytest.fail("the Kafka tests must run here (HOPSEAL_REQUIRE_KAFKA=1), but " + reason, pytrace=False)
        _skipped.append(reason)
        pytest.skip("Kafka tests skipped: " + reason)
    broker = KafkaBroker(jvm=FAST_START)
    try:
        broker.start()
    except Exception:
        broker.cleanup()
        raise
    yield broker
    broker.cleanup()


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_line("KAFKA TESTS SKIPPED: %s" % _skipped[0], yellow=True, bold=True)


async def read_topics(bootstrap: str, prefix: str) -> dict[str, list]:
    """Every record of every topic whose name starts with `prefix`, read with a plain aiokafka
    consumer and admin client (no hopseal code): {topic: [ConsumerRecord, ...]} in offset order.
    What Kafka holds, as any Kafka tool would see it."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await c.start()
    out: dict[str, list] = {}
    try:
        for topic in topics:
            tp = TopicPartition(topic, 0)
            start = (await c.beginning_offsets([tp]))[tp]
            end = (await c.end_offsets([tp]))[tp]
            c.assign([tp])
            c.seek(tp, start)
            records: list = []
            for _ in range(60):  # a bounded wait: 60 polls of up to 1 s
                if start >= end or (records and records[-1].offset + 1 >= end):
                    break
                records += (await c.getmany(tp, timeout_ms=1000)).get(tp, [])
            else:
                raise AssertionError("%s: read %d of offsets %d..%d within 60 s" % (topic, len(records), start, end))
            out[topic] = records
    finally:
        await c.stop()
    return out
