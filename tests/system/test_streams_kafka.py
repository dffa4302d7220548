"""Streams on a real Apache Kafka broker (issue 11): a secure channel over two streams, as in
Ockam's Alice and Bob, through a hub process whose stream services keep their records in Kafka
(`hopseal hub --streams kafka://…`), while the broker is killed and restarted and the hub is
killed and restarted during traffic; afterwards every record in Kafka, read back with a plain
aiokafka consumer, is ciphertext that never contains the plaintext.

Real processes: the KRaft broker (tests/support/kafka.py, one per session) and the hub (CPython,
`hopseal hub`); Alice and Bob are runtime nodes in this process, talking to the hub over TCP.
"""
from __future__ import annotations

import asyncio
import signal
import uuid

import pytest

from hopseal.node import Node
from hopseal.secure.channel import SecureChannelListener, create_secure_channel
from hopseal.secure.trust import channel_only
from hopseal.services.stream import StreamPair
from hopseal.transport.tcp import TCPTransport
from hopseal.wire import message_v1
from support.kafka import read_topics
from support.procs import free_port, hopseal
from test_channel import CRYPTO, vaults

N = 60              # readings Alice sends
BROKER_KILL_AT = 15  # the broker is killed (SIGKILL) and started again after this many sends
HUB_KILL_AT = 35     # the hub is killed (SIGKILL) and started again after this many sends


class Hub:
    """`hopseal hub` on a fixed port with its streams in Kafka; kill -9 and start again."""

    def __init__(self, url: str) -> None:
        self.port = free_port()
        self.url = url
        self.child = None
        self.runs = []

    def start(self) -> None:
        self.child = hopseal("hub", "hub", "--listen", "127.0.0.1:%d" % self.port, "--streams", self.url)
        self.runs.append(self.child)
        self.child.wait_for("hopseal hub listening", 60)

    def kill(self) -> None:
        self.child.stop(sig=signal.SIGKILL)

    def log(self) -> str:
        return "\n".join(c.log(40) for c in self.runs)


class Sink:
    """Bob's application: what arrives through the channel, in order of arrival."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def handle_message(self, node, msg) -> None:
        self.got.append(bytes(msg.payload))


def test_alice_and_bob_over_kafka_streams_survive_broker_and_hub_kills(kafka_broker):
    prefix = "sys%s." % uuid.uuid4().hex[:8]
    hub = Hub("%s?prefix=%s" % (kafka_broker.url, prefix))
    hub.start()
    sink = Sink()
    counters = {}

    async def main():
        loop = asyncio.get_running_loop()
        hop = "1#127.0.0.1:%d" % hub.port
        bob = Node("bob", crypto=CRYPTO)
        TCPTransport(bob)
        SecureChannelListener(bob, vaults()[1], "listener")
        bob.start_worker("sink", sink, access=channel_only())
        bob_pair = StreamPair(bob, [hop], "b2a", "a2b", "bob", interval=0.05, max_queue=512).start()
        alice = Node("alice", crypto=CRYPTO)
        TCPTransport(alice)
        alice_pair = StreamPair(alice, [hop], "a2b", "b2a", "alice", interval=0.05, max_queue=512).start()
        try:
            await bob_pair.wait_ready()
            await alice_pair.wait_ready()
            ch = await create_secure_channel(alice, vaults()[0], [alice_pair.address, "listener"], timeout=60)
            outage = None
            for i in range(N):
                await alice.send([ch.encryptor_address, "sink"], b"reading %d" % i, [])
                if i + 1 == BROKER_KILL_AT:  # Alice keeps sending while the broker is down
                    outage = loop.run_in_executor(None, kafka_broker.restart, True)
                if i + 1 == HUB_KILL_AT:
                    await outage  # the broker is back; now the hub dies with pushes in flight
                    hub.kill()
                    await loop.run_in_executor(None, hub.start)
                await asyncio.sleep(0.05)
            for _ in range(3000):  # up to 150 s: retries back off up to 5 s
                if len(sink.got) >= N:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1)  # a duplicate still on its way would show up here
            counters["alice"] = dict(alice.counters)
            counters["bob"] = dict(bob.counters)
        finally:
            await alice_pair.close()
            await bob_pair.close()
            await alice.stop()
            await bob.stop()

    try:
        asyncio.run(main())
        assert sink.got == [b"reading %d" % i for i in range(N)], hub.log()
        assert kafka_broker.starts >= 2 and len(hub.runs) == 2

        # Kafka holds the records: read them back with a plain consumer
        topics = asyncio.run(read_topics(kafka_broker.bootstrap, prefix))
        records = {name: topics[prefix + name] for name in ("a2b", "b2a")}
    finally:
        hub.kill()
    print(counters, {k: len(v) for k, v in records.items()})
    assert len(records["a2b"]) >= N + 1  # the handshake's first message and every reading (copies too)
    assert len(records["b2a"]) >= 1      # the handshake's answer
    for name, recs in records.items():
        for r in recs:
            assert b"reading" not in r.value, (name, r.offset)
            m = message_v1.decode(r.value)  # a TransportMessage around an encrypted payload
            assert b"reading" not in bytes(m.payload)
    # the readings went through as ciphertext: no two records of Alice's readings are equal
    # unless one is a pushed-again copy of the other
    payloads = [bytes(message_v1.decode(r.value).payload) for r in records["a2b"]]
    assert len(set(payloads)) >= N + 1


def test_a_hub_that_cannot_reach_kafka_exits_1_with_one_line():
    """Not a usage error (exit 2, which a supervisor does not retry): Kafka may be up later."""
    pytest.importorskip("aiokafka", reason="aiokafka is not installed (pip install -r requirements.txt)")
    dead = free_port()  # nothing listens there
    hub = hopseal("hub", "hub", "--listen", "127.0.0.1:%d" % free_port(), "--streams", "kafka://127.0.0.1:%d" % dead)
    assert hub.p.wait(60) == 1
    hub._t.join(5)
    errors = [line for line in hub.lines if "error" in line.lower() and "aiokafka" not in line]
    assert errors == ["hopseal hub: error: stream store: Kafka at 127.0.0.1:%d: cannot connect (no broker answered)" % dead]
    assert not any("Traceback" in line or "Unclosed" in line for line in hub.lines)
