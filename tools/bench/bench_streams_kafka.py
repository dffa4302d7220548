"""Stream push and pull throughput on Kafka: the hub's Kafka engine against a plain aiokafka
producer and consumer on the same broker in the same run (prints RESULT lines; make bench).

A local single-node KRaft broker is started (hopseal_host.kafka_broker; `make kafka` fetched its
jars). For 64 B and 1 KiB records, each push path moves N records (default 2000, --quick 300) and
each pull path reads 10 N, after a warm-up, in 3 rounds (--quick 1) taking turns; the median
msgs/s is reported:

  stream_kafka_push     KafkaStore.append, one at a time, each awaited (what a stream push with
                        confirm asks of the engine: durable, acks=all, its index returned)
  kafka_plain_acked     aiokafka producer send_and_wait one at a time, acks=all, idempotent: the
                        same guarantee without the stream layer
  kafka_plain_batched   aiokafka producer sending all N and then awaiting them (linger 5 ms): what
                        a Kafka user would pick for bulk throughput, without per-record confirms
  stream_kafka_pull     KafkaStore.read(stream, index, 100) until all 10 N are read
  kafka_plain_pull      aiokafka consumer (assigned, from offset 0) getmany(max_records=100)

and the ratios stream/plain (push against acked and against batched, pull against pull): what the
stream engine costs over using Kafka directly. Then the whole stream layer: a hub process on Kafka
(`hopseal hub --streams kafka://…`) with bench_streams.py's protocol client (hub_kafka_push: each
push awaiting its confirm; hub_kafka_pull: 100 per request) against the same plain figures, and
bench_streams.py's latency board -> stream -> application (MicroPython producer, consumer polling
every 10 ms) on Kafka, beside the same messages through a relay at that hub (no store). Without
java, the jars or aiokafka: one note and no RESULT lines.

    python tools/bench/bench_streams_kafka.py [--quick] [--n N]
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host")]

from hopseal_host.kafka_broker import KafkaBroker, kafka_version, unavailable  # noqa: E402

QUICK = "--quick" in sys.argv
N = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else (300 if QUICK else 2000)
N_PULL = 10 * N
ROUNDS = 1 if QUICK else 3
WARM = 200
SIZES = ((64, "64B"), (1024, "1KiB"))


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


async def bench_size(bootstrap: str, size: int) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from hopseal_host.streams.kafka_store import KafkaStore

    payload = [os.urandom(size) for _ in range(64)]
    rounds: dict[str, list[float]] = {}
    tag = uuid.uuid4().hex[:8]
    store = KafkaStore(bootstrap, prefix="bench%s." % tag)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    acked = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0)
    batched = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=100)
    for part in (store.open(), admin.start(), acked.start(), batched.start(), consumer.start()):
        await part
    try:
        await store.create("push")
        await store.create("pull")
        topics = {"acked": "plain-acked-" + tag, "batched": "plain-batched-" + tag, "pull": "plain-pull-" + tag}
        await admin.create_topics([NewTopic(t, 1, 1) for t in topics.values()])

        # what is pulled: N_PULL records in each (appends in flight together, one batched send)
        for i in range(0, N_PULL, 1000):
            await asyncio.gather(*[store.append("pull", payload[j % 64]) for j in range(i, min(N_PULL, i + 1000))])
        await asyncio.gather(*[await batched.send(topics["pull"], payload[j % 64], partition=0) for j in range(N_PULL)])
        for i in range(WARM):  # connections, metadata and the JIT warm on every path
            await store.append("push", payload[i % 64])
            await acked.send_and_wait(topics["acked"], payload[i % 64], partition=0)
        await asyncio.gather(*[await batched.send(topics["batched"], payload[i % 64], partition=0) for i in range(WARM)])

        def timed(name, t0, n):
            rounds.setdefault(name, []).append(n / (time.perf_counter() - t0))

        for _ in range(ROUNDS):
            t = time.perf_counter()
            for i in range(N):
                await store.append("push", payload[i % 64])
            timed("stream_kafka_push", t, N)
            t = time.perf_counter()
            for i in range(N):
                await acked.send_and_wait(topics["acked"], payload[i % 64], partition=0)
            timed("kafka_plain_acked", t, N)
            t = time.perf_counter()
            await asyncio.gather(*[await batched.send(topics["batched"], payload[i % 64], partition=0) for i in range(N)])
            timed("kafka_plain_batched", t, N)

            got, index = 0, 0
            t = time.perf_counter()
            while got < N_PULL:
                batch = await store.read("pull", index, 100)
                got += len(batch)
                index = batch[-1][0] + 1
            timed("stream_kafka_pull", t, N_PULL)
            tp = TopicPartition(topics["pull"], 0)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            got = 0
            t = time.perf_counter()
            while got < N_PULL:
                got += len((await consumer.getmany(tp, timeout_ms=1000, max_records=100)).get(tp, []))
            timed("kafka_plain_pull", t, N_PULL)
    finally:
        await store.close()
        for part in (acked, batched, consumer):
            await part.stop()
        await admin.close()
    return {name: median(xs) for name, xs in rounds.items()}


def through_hub(broker: KafkaBroker) -> dict[str, float]:
    """bench_streams.py's protocol client (push awaiting each confirm, pull 100 at a time) and its
    board -> stream -> application latency, against a hub process whose streams are in Kafka."""
    import bench_streams  # tools/bench: the same client and latency probe as for SQLite

    from hopseal.compat import set_log_sink
    from hopseal_host.procs import free_port
    from hopseal_host.procs import cli as hopseal

    set_log_sink(lambda *a: None, 40)
    tmp = tempfile.mkdtemp(prefix="hopseal-bench-kafka-")
    os.environ["HOPSEAL_HOME"] = os.path.join(tmp, "home")
    port = free_port()
    url = "%s?prefix=benchhub%s." % (broker.url, uuid.uuid4().hex[:8])
    hub = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % port, "--control", "", "--relay-policy", "open",
                  "--streams", url)
    out: dict[str, float] = {}
    try:
        hub.wait_for("listening on", 60)
        for size, tag in SIZES:
            out["push", tag], out["pull", tag] = asyncio.run(bench_streams.throughput(port, size, tag))
        lat, _ = asyncio.run(bench_streams.latency(port, "stream", 0.01))
        out["p50"], out["p95"] = bench_streams.pct(lat, 0.5), bench_streams.pct(lat, 0.95)
        lat, _ = asyncio.run(bench_streams.latency(port, "relay", 0))
        out["direct_p50"] = bench_streams.pct(lat, 0.5)
    finally:
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> int:
    # aiokafka warns while a new topic's leader is being elected; the figures are what this prints
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    reason = unavailable()
    if reason:
        print("streams_kafka: not run: " + reason)
        return 0
    broker = KafkaBroker()
    broker.start()
    try:
        print("Apache Kafka %s, single-node KRaft broker on %s; engine: push %d, pull %d records per path and "
              "round, median of %d rounds" % (kafka_version(), broker.bootstrap, N, N_PULL, ROUNDS))
        plain = {}
        for size, tag in SIZES:
            r = asyncio.run(bench_size(broker.bootstrap, size))
            plain[tag] = r
            for name in ("stream_kafka_push", "kafka_plain_acked", "kafka_plain_batched", "stream_kafka_pull",
                         "kafka_plain_pull"):
                print("RESULT %s[%s] %.0f msgs/s" % (name, tag, r[name]))
            print("RESULT stream_kafka_push/plain_acked[%s] %.3f x" % (tag, r["stream_kafka_push"] / r["kafka_plain_acked"]))
            print("RESULT stream_kafka_push/plain_batched[%s] %.3f x" % (tag, r["stream_kafka_push"] / r["kafka_plain_batched"]))
            print("RESULT stream_kafka_pull/plain_pull[%s] %.3f x" % (tag, r["stream_kafka_pull"] / r["kafka_plain_pull"]))
        h = through_hub(broker)
        for size, tag in SIZES:
            print("RESULT hub_kafka_push[%s] %.0f msgs/s" % (tag, h["push", tag]))
            print("RESULT hub_kafka_pull[%s] %.0f msgs/s" % (tag, h["pull", tag]))
            print("RESULT hub_kafka_push/plain_acked[%s] %.3f x" % (tag, h["push", tag] / plain[tag]["kafka_plain_acked"]))
            print("RESULT hub_kafka_pull/plain_pull[%s] %.3f x" % (tag, h["pull", tag] / plain[tag]["kafka_plain_pull"]))
        print("RESULT e2e_mp_kafka_poll10ms_p50 %.1f ms" % h["p50"])
        print("RESULT e2e_mp_kafka_poll10ms_p95 %.1f ms" % h["p95"])
        print("RESULT e2e_mp_direct_relay_p50 %.1f ms" % h["direct_p50"])
        print("RESULT e2e_kafka10ms/direct_p50 %.2f x" % (h["p50"] / h["direct_p50"]))
    finally:
        broker.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
