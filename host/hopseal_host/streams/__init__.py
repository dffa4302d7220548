"""Stream storage for the hub (issue 11): the interface (store.py) and its engines.

open_store(url, home) picks the engine from `hopseal hub --streams URL`:
  "" | "sqlite"            SQLite at HOME/streams.sqlite3 (the default)
  "sqlite:///ABS/PATH"     SQLite at that file ("sqlite://REL/PATH" is relative to the working directory)
  "kafka://HOST:PORT[,HOST:PORT…]"   Kafka (aiokafka, imported only then)
The store is returned unopened: the caller awaits `open()`.
"""
from __future__ import annotations

import os

from .store import StreamError, StreamLimits, StreamStore

__all__ = ["StreamError", "StreamLimits", "StreamStore", "open_store", "describe"]


def open_store(url: str, home: str) -> StreamStore:
    """The engine `url` names (see the module text); a malformed URL raises ValueError (one line)."""
    url = (url or "").strip()
    if url in ("", "sqlite", "sqlite://"):
        from .sqlite_store import SqliteStore

        return SqliteStore(os.path.join(home, "streams.sqlite3"))
    if url.startswith("sqlite://"):
        from .sqlite_store import SqliteStore

        path = url[len("sqlite://"):]
        if not path:
            raise ValueError("--streams %s: give a file, e.g. sqlite:///var/lib/hopseal/streams.sqlite3" % url)
        return SqliteStore(path)
    if url.startswith("kafka://"):
        rest = url[len("kafka://"):].rstrip("/")
        hosts = [h for h in rest.split(",") if h]
        for h in hosts:
            host, _, port = h.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("--streams %s: %r is not HOST:PORT" % (url, h))
        if not hosts:
            raise ValueError("--streams %s: give the bootstrap servers, kafka://HOST:PORT[,HOST:PORT]" % url)
        from .kafka_store import KafkaStore  # aiokafka is needed only here

        return KafkaStore(",".join(hosts))
    raise ValueError("--streams %s: expected sqlite, sqlite:///PATH or kafka://HOST:PORT" % url)


def describe(store: StreamStore) -> str:
    """One line for logs: the engine and where it keeps its data."""
    return getattr(store, "where", store.name)
