"""The storage interface behind the hub's stream services (issue 11).

Engines (sqlite_store.SqliteStore, kafka_store.KafkaStore) implement StreamStore; the service in
host/hopseal_host/stream_service.py speaks the stream protocol (ockam-wire §7) and checks the
limits in StreamLimits itself, so an engine only stores. Rules every engine upholds (the contract
test is tests/host/test_stream_store.py):
- a stream is a log of records with indexes 0, 1, 2, … in append order; an index is never reused,
  not even after older records were trimmed;
- `append` returns only once the record is durable (it survives a kill -9 of the hub);
- `read(stream, index, limit)` returns the records with index >= index in order, at most limit;
  records trimmed away are simply absent (a reader behind the retained range gets the oldest
  retained ones);
- consumer indexes are kept per (client_id, stream), durably; saving one for a stream that does
  not exist is allowed (the service checks existence before it asks);
- an unknown stream in append/read/trim raises StreamError; so does anything an engine cannot do
  (its reason becomes the protocol's `error` reply, so it is one line, no secrets).
"""
from __future__ import annotations

from dataclasses import dataclass


class StreamError(Exception):
    """A request the store cannot serve (unknown stream, over a limit). `reason` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class StreamLimits:
    """What the stream service accepts (checked by the service, not by each engine).

    max_streams: streams the hub holds at most; max_message: bytes of one pushed record;
    max_stream_bytes: bytes retained per stream (beyond it the oldest records are dropped;
    0 = no limit); max_pull: the largest `limit` a pull may ask for (larger is an error: an absurd
    limit is a client bug, not a wish to be granted silently); max_pull_bytes: a pull response
    carries at most this many record bytes (fewer records than asked when they are large);
    max_name: bytes of a stream name or client id; max_indexes: consumer indexes kept at most."""

    max_streams: int = 1000
    max_message: int = 16 * 1024
    max_stream_bytes: int = 64 * 1024 * 1024
    max_pull: int = 1000
    max_pull_bytes: int = 64 * 1024
    max_name: int = 200
    max_indexes: int = 100000


class StreamStore:
    """Abstract asyncio store of named streams and per-client indexes (see the module text)."""

    name = "abstract"

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def create(self, stream: str) -> bool:
        """Create `stream`; True if it is new (creating an existing stream is fine: False)."""
        raise NotImplementedError

    async def exists(self, stream: str) -> bool:
        raise NotImplementedError

    async def streams(self) -> list[dict]:
        """Every stream as {"name", "next_index", "records", "bytes"}, sorted by name."""
        raise NotImplementedError

    async def append(self, stream: str, data: bytes) -> int:
        """Append one record; return its index (0, 1, 2, …) once it is durable."""
        raise NotImplementedError

    async def read(self, stream: str, index: int, limit: int) -> list[tuple[int, bytes]]:
        """Records with index >= `index`, in order, at most `limit`."""
        raise NotImplementedError

    async def get_index(self, client_id: str, stream: str) -> int | None:
        raise NotImplementedError

    async def save_index(self, client_id: str, stream: str, index: int) -> None:
        raise NotImplementedError

    async def count_indexes(self) -> int | None:
        """How many (client_id, stream) indexes are kept, for StreamLimits.max_indexes; None where
        the engine cannot tell cheaply (then the service does not enforce max_indexes)."""
        return None

    async def trim(self, stream: str, keep_bytes: int) -> int:
        """Drop the oldest records of `stream` until at most `keep_bytes` remain; return how many
        were dropped. May be a no-op (0) where the engine retains by its own configuration."""
        raise NotImplementedError
