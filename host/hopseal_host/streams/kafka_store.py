"""The Kafka stream engine (issue 11): `hopseal hub --streams kafka://HOST:PORT[,HOST:PORT]`.

Each stream is one topic with one partition, PREFIX + the stream name (escaped: letters, digits
and '-' stay, every other byte is `_XX` in hex, so any name maps to one legal topic name and
back). A record's index is its Kafka offset: the producer is idempotent and never transactional,
so offsets are 0, 1, 2, … with no gaps and are never reused, even after older records are
deleted. `append` returns once the broker acknowledged with acks=all (on every in-sync replica).

Consumer indexes live in one compacted topic, PREFIX + "__indexes" (key: client id and stream,
value: the index as u64 big-endian); the hub reads it whole at open and keeps a copy, so
get_index costs no round trip; save_index returns once Kafka has the new value.

Retention: topics are created with time and size retention off (retention.ms=-1); `trim` drops
the oldest records exactly as SQLite does, with Kafka's DeleteRecords. To know a stream's bytes
without reading it, every record carries a header `hopseal.end`: the stream's total appended
bytes through that record (u64 BE), so the retained bytes are end(last) - end(first) + len(first).

One hub owns one PREFIX (several hubs on one cluster each take their own: ?prefix=NAME. in the
URL): the hub keeps each stream's end in memory and re-reads it from Kafka at most once a second
when a reader has caught up with it.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from aiokafka.errors import KafkaConnectionError, KafkaError

from .store import StreamError, StreamStore

# reads switch the one reader between topics: aiokafka logs every switch at INFO
logging.getLogger("aiokafka.consumer.subscription_state").setLevel(logging.WARNING)

_END = "hopseal.end"          # record header: stream bytes appended through this record
_INDEXES = "__indexes"        # PREFIX + this: the compacted topic of consumer indexes
_READ_BYTES = 1 << 20        # a read returns fewer records than asked once it holds this many bytes
_TOPIC_MAX = 249              # Kafka's longest topic name
_TOPIC_OK = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_HEX = "0123456789abcdef"
_TOPIC_ALREADY_EXISTS = 36
# segments of 16 MiB: records trimmed away leave the disk once their whole segment is behind
# the log start, so a stream takes at most its retained bytes + 16 MiB (Kafka's 1 GiB default
# would keep up to a GiB of trimmed records per stream)
_STREAM_TOPIC = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1",
                 "segment.bytes": str(16 << 20)}
# every save appends a record: small segments rolled every 10 minutes get compacted, so what the
# hub reads at open stays about one value per (client, stream), not every save since the last week
_INDEX_TOPIC = {"cleanup.policy": "compact", "segment.bytes": str(8 << 20), "segment.ms": "600000",
                "min.cleanable.dirty.ratio": "0.1"}


def topic_part(name: str) -> str:
    """The escaped stream name (the topic is PREFIX + this); injective and reversible."""
    out = []
    for b in name.encode("utf-8"):
        out.append(chr(b) if b in _TOPIC_OK else "_" + _HEX[b >> 4] + _HEX[b & 15])
    return "".join(out)


def stream_name(part: str) -> str | None:
    """The stream a topic part names, or None if it is not one topic_part() makes."""
    out = bytearray()
    i = 0
    try:
        while i < len(part):
            c = part[i]
            if c == "_":
                h = part[i + 1:i + 3]
                if len(h) != 2 or any(x not in _HEX for x in h):
                    return None
                b = int(h, 16)
                if b in _TOPIC_OK:
                    return None
                out.append(b)
                i += 3
            elif ord(c) < 128 and ord(c) in _TOPIC_OK:
                out.append(ord(c))
                i += 1
            else:
                return None
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _index_key(client_id: str, stream: str) -> bytes:
    c = client_id.encode("utf-8")
    return struct.pack(">H", len(c)) + c + stream.encode("utf-8")


def _end_of(record) -> int | None:
    for key, value in record.headers or ():
        if key == _END and len(value) == 8:
            return struct.unpack(">Q", value)[0]
    return None


class _Meta:
    """What the hub knows of one stream: offsets [first, next) retained, and their byte span."""

    __slots__ = ("first", "next", "start", "end", "checked", "lock")

    def __init__(self, first: int, next_: int, start: int, end: int) -> None:
        self.first, self.next, self.start, self.end = first, next_, start, end
        self.checked = time.monotonic()
        self.lock = asyncio.Lock()


class KafkaStore(StreamStore):
    name = "kafka"

    def __init__(self, bootstrap: str, prefix: str = "hopseal.", timeout: float = 30.0,
                 replication: int | None = None) -> None:
        if not 0 < len(prefix) <= 100 or any(ord(c) not in _TOPIC_OK and c not in "._" for c in prefix):
            raise ValueError("Kafka topic prefix %r: use letters, digits, '.', '_' and '-'" % prefix)
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.timeout = timeout
        self.replication = replication
        self.where = "kafka %s (topics %s*)" % (bootstrap, prefix)
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._read_lock = asyncio.Lock()
        self._after: tuple[TopicPartition, int] | None = None  # where the reader stands after the last read
        self._topics: set[str] = set()
        self._meta: dict[str, _Meta] = {}
        self._indexes: dict[bytes, int] = {}
        self._index_topic = prefix + _INDEXES

    # -- helpers ---------------------------------------------------------------------------------
    def _topic(self, stream: str) -> str:
        topic = self.prefix + topic_part(stream)
        if len(topic) > _TOPIC_MAX:
            raise StreamError("stream name too long for a Kafka topic (%d > %d characters escaped)" % (len(topic), _TOPIC_MAX))
        return topic

    async def _call(self, what: str, aw):
        """Await a Kafka operation; any failure is one StreamError line."""
        if self._producer is None:
            if asyncio.iscoroutine(aw):
                aw.close()
            raise StreamError("the stream store is closed")
        try:
            return await asyncio.wait_for(aw, self.timeout)
        except StreamError:
            raise
        except asyncio.TimeoutError:
            raise StreamError("Kafka at %s: %s timed out after %.0f s" % (self.bootstrap, what, self.timeout)) from None
        except (KafkaError, OSError) as e:
            raise StreamError("Kafka at %s: %s failed: %s" % (self.bootstrap, what, type(e).__name__ if not str(e) else e)) from None

    async def _fetch(self, tp: TopicPartition, offset: int, limit: int) -> list:
        """Records of `tp` from `offset` on, at most `limit` (fewer past _READ_BYTES); the caller
        knows they exist. Under the read lock: one consumer serves every read."""
        out: list = []
        async with self._read_lock:
            c = self._consumer
            if c.assignment() != {tp}:
                c.assign([tp])
                self._after = None
            if self._after != (tp, offset):  # a reader going on from the last read keeps what was prefetched
                c.seek(tp, offset)
            self._after = None
            deadline = time.monotonic() + self.timeout
            size = 0
            while len(out) < limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    if out:
                        break
                    raise StreamError("Kafka at %s: no records from %s at offset %d within %.0f s"
                                      % (self.bootstrap, tp.topic, offset, self.timeout))
                got = await c.getmany(tp, timeout_ms=int(min(left, 1.0) * 1000), max_records=limit - len(out))
                batch = got.get(tp, [])
                if not batch:
                    if out:
                        break
                    # a reader behind the log start is moved to it by auto_offset_reset; a stream
                    # whose end we overestimated returns nothing: ask where it ends
                    end = (await c.end_offsets([tp]))[tp]
                    if end <= offset:
                        return []
                    continue
                batch = [r for r in batch if r.offset >= offset]
                out += batch
                size += sum(len(r.value or b"") for r in batch)
                if size >= _READ_BYTES:
                    break  # enough for one pull (the service sends at most max_pull_bytes)
            if out:
                self._after = (tp, out[-1].offset + 1)
        return out

    async def _load_meta(self, stream: str, topic: str) -> _Meta:
        tp = TopicPartition(topic, 0)
        c = self._consumer
        first = (await c.beginning_offsets([tp]))[tp]
        next_ = (await c.end_offsets([tp]))[tp]
        start = end = 0
        if next_ > first:
            last = await self._fetch(tp, next_ - 1, 1)
            head = await self._fetch(tp, first, 1)
            if last and head:
                end = _end_of(last[0]) or 0
                start = (_end_of(head[0]) or 0) - len(head[0].value or b"")
                start = min(max(0, start), end)
        return _Meta(first, next_, start, end)

    async def _meta_of(self, stream: str) -> _Meta:
        meta = self._meta.get(stream)
        if meta is None:
            topic = self._topic(stream)
            if not await self._has(topic):
                raise StreamError("unknown stream %r" % stream)
            meta = await self._call("reading the end of %s" % topic, self._load_meta(stream, topic))
            meta = self._meta.setdefault(stream, meta)
        return meta

    async def _has(self, topic: str) -> bool:
        if topic not in self._topics:
            names = await self._call("listing topics", self._admin.list_topics())
            self._topics |= {t for t in names if t.startswith(self.prefix)}
        return topic in self._topics

    # -- the interface ---------------------------------------------------------------------------
    async def open(self) -> None:
        if self._producer is not None:
            return
        ms = int(self.timeout * 1000)
        makers = (
            lambda: AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="hopseal-hub", request_timeout_ms=ms),
            lambda: AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id="hopseal-hub", acks="all",
                                     enable_idempotence=True, linger_ms=0, request_timeout_ms=ms),
            lambda: AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id="hopseal-hub", group_id=None,
                                     enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100,
                                     request_timeout_ms=ms),
        )
        parts = []
        try:
            for make in makers:  # each made only once the one before is up: nothing left unclosed
                parts.append(make())
                await asyncio.wait_for(parts[-1].start(), self.timeout)
        except (KafkaError, OSError, asyncio.TimeoutError) as e:
            for part in parts:
                try:
                    await (part.close() if isinstance(part, AIOKafkaAdminClient) else part.stop())
                except Exception:
                    pass
            why = ("no broker answered" if isinstance(e, KafkaConnectionError)
                   else "timed out" if isinstance(e, asyncio.TimeoutError) else str(e) or type(e).__name__)
            raise StreamError("Kafka at %s: cannot connect (%s)" % (self.bootstrap, why)) from None
        admin, producer, consumer = parts
        self._admin, self._producer, self._consumer = admin, producer, consumer
        try:
            if self.replication is None:
                brokers = (await self._call("describing the cluster", admin.describe_cluster()))["brokers"]
                self.replication = max(1, min(3, len(brokers)))
            await self._create_topic(self._index_topic, _INDEX_TOPIC)
            await self._load_indexes()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        admin, producer, consumer = self._admin, self._producer, self._consumer
        self._admin = self._producer = self._consumer = None
        for part in (producer, consumer):
            if part is not None:
                try:
                    await part.stop()
                except Exception:  # closing: nothing left to tell anyone
                    pass
        if admin is not None:
            try:
                await admin.close()
            except Exception:
                pass

    def _topic_config(self, base: dict) -> dict:
        config = dict(base)
        if self.replication and self.replication > 1:
            config["min.insync.replicas"] = str(self.replication - 1)
        return config

    async def _create_topic(self, topic: str, config: dict) -> bool:
        if await self._has(topic):
            return False
        new = NewTopic(topic, 1, self.replication or 1, topic_configs=self._topic_config(config))
        resp = await self._call("creating topic %s" % topic, self._admin.create_topics([new]))
        for entry in resp.topic_errors:
            code = entry[1]
            if code == _TOPIC_ALREADY_EXISTS:
                self._topics.add(topic)
                return False
            if code:
                msg = entry[2] if len(entry) > 2 and entry[2] else "error code %d" % code
                raise StreamError("Kafka at %s: creating topic %s failed: %s" % (self.bootstrap, topic, msg))
        self._topics.add(topic)
        return True

    async def create(self, stream: str) -> bool:
        topic = self._topic(stream)
        new = await self._create_topic(topic, _STREAM_TOPIC)
        if new:
            self._meta[stream] = _Meta(0, 0, 0, 0)
        return new

    async def exists(self, stream: str) -> bool:
        return await self._has(self._topic(stream))

    async def streams(self) -> list[dict]:
        names = await self._call("listing topics", self._admin.list_topics())
        # union: a topic this hub just created may not be in the broker's metadata answer yet
        self._topics |= {t for t in names if t.startswith(self.prefix)}
        out = []
        for topic in sorted(self._topics):
            stream = stream_name(topic[len(self.prefix):])
            if stream is None:
                continue  # the index topic, or a topic hopseal did not make
            meta = await self._meta_of(stream)
            out.append({"name": stream, "next_index": meta.next, "records": meta.next - meta.first,
                        "bytes": meta.end - meta.start})
        out.sort(key=lambda s: s["name"])
        return out

    async def append(self, stream: str, data: bytes) -> int:
        meta = await self._meta_of(stream)
        topic = self._topic(stream)
        data = bytes(data)
        async with meta.lock:  # positions are assigned in send order
            end = meta.end + len(data)
            fut = await self._call("sending to %s" % topic, self._producer.send(
                topic, data, partition=0, headers=[(_END, struct.pack(">Q", end))]))
            meta.end = end
        try:
            md = await self._call("appending to %s" % topic, fut)
        except StreamError:
            self._meta.pop(stream, None)  # re-read where the stream ends before the next append
            raise
        if md.offset >= meta.next:
            meta.next = md.offset + 1
        return md.offset

    async def read(self, stream: str, index: int, limit: int) -> list[tuple[int, bytes]]:
        meta = await self._meta_of(stream)
        if limit <= 0:
            return []
        index = max(index, meta.first)
        if index >= meta.next:
            if time.monotonic() - meta.checked < 1.0:
                return []
            tp = TopicPartition(self._topic(stream), 0)
            end = (await self._call("reading the end of %s" % tp.topic, self._consumer.end_offsets([tp])))[tp]
            meta.checked = time.monotonic()
            if end <= index:
                return []
            meta.next = max(meta.next, end)
        tp = TopicPartition(self._topic(stream), 0)
        records = await self._call("reading %s" % tp.topic, self._fetch(tp, index, min(limit, meta.next - index)))
        return [(r.offset, r.value or b"") for r in records]

    async def _load_indexes(self) -> None:
        tp = TopicPartition(self._index_topic, 0)
        c = self._consumer
        first = (await self._call("reading indexes", c.beginning_offsets([tp])))[tp]
        end = (await self._call("reading indexes", c.end_offsets([tp])))[tp]
        offset = first
        while offset < end:
            batch = await self._call("reading indexes", self._fetch(tp, offset, 1000))
            if not batch:
                break
            for r in batch:
                if r.key is not None and r.value is not None and len(r.value) == 8:
                    self._indexes[r.key] = struct.unpack(">Q", r.value)[0]
                elif r.key is not None and r.value is None:
                    self._indexes.pop(r.key, None)
            offset = batch[-1].offset + 1

    async def get_index(self, client_id: str, stream: str) -> int | None:
        return self._indexes.get(_index_key(client_id, stream))

    async def save_index(self, client_id: str, stream: str, index: int) -> None:
        if not 0 <= index < 1 << 63:
            raise StreamError("index %d out of range" % index)
        key = _index_key(client_id, stream)
        await self._call("saving an index", self._producer.send_and_wait(
            self._index_topic, struct.pack(">Q", index), key=key, partition=0))
        self._indexes[key] = index

    async def count_indexes(self) -> int | None:
        return len(self._indexes)

    async def trim(self, stream: str, keep_bytes: int) -> int:
        meta = await self._meta_of(stream)
        if meta.end - meta.start <= keep_bytes:
            return 0
        tp = TopicPartition(self._topic(stream), 0)
        async with meta.lock:
            target = meta.end - max(0, keep_bytes)  # keep the records that start at or after this
            cut, cut_start = await self._call("trimming %s" % tp.topic, self._find_cut(tp, meta, target))
            if cut <= meta.first:
                return 0
            await self._call("deleting records of %s" % tp.topic,
                             self._admin.delete_records({tp: RecordsToDelete(cut)}))
            dropped = cut - meta.first
            meta.first, meta.start = cut, cut_start
        return dropped

    async def _find_cut(self, tp: TopicPartition, meta: _Meta, target: int) -> tuple[int, int]:
        """The first offset whose record starts at or after byte `target`, and that start: the
        first 500 records are scanned (the usual case: a little over the limit), then bisected."""

        def start_of(r) -> int:
            return (_end_of(r) or 0) - len(r.value or b"")

        lo, hi = meta.first, meta.next
        if hi <= lo:
            return lo, meta.end
        batch = await self._fetch(tp, lo, min(500, hi - lo))
        for r in batch:
            if start_of(r) >= target:
                return r.offset, start_of(r)
        if not batch or batch[-1].offset + 1 >= hi:
            return hi, meta.end
        lo = batch[-1].offset + 1
        while lo < hi:  # invariant: every record before lo starts before target
            mid = (lo + hi) // 2
            r = (await self._fetch(tp, mid, 1))[0]
            if start_of(r) >= target:
                hi = mid
            else:
                lo = mid + 1
        if lo >= meta.next:
            return meta.next, meta.end
        return lo, start_of((await self._fetch(tp, lo, 1))[0])
