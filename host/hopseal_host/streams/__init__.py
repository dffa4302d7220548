"""Stream storage for the hub (issue 11): the interface (store.py) and its engines.

open_store(url, home) picks the engine from `hopseal hub --streams URL`:
  "" | "sqlite"            SQLite at HOME/streams.sqlite3 (the default)
  "sqlite:///ABS/PATH"     SQLite at that file ("sqlite://REL/PATH" is relative to the working directory)
  "kafka://HOST:PORT[,HOST:PORT…][?prefix=NAME]"   Kafka (aiokafka, imported only then); topics
                           are NAME + stream name (default prefix "hopseal.")
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
        rest, _, query = url[len("kafka://"):].partition("?")
        rest = rest.rstrip("/")
        options = {}
        for part in query.split("&") if query else ():
            key, _, value = part.partition("=")
            if key != "prefix" or not value:
                raise ValueError("--streams %s: the only option is prefix=NAME (topics NAME<stream>)" % url)
            options["prefix"] = value
        hosts = [h for h in rest.split(",") if h]
        for h in hosts:
            host, _, port = h.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("--streams %s: %r is not HOST:PORT" % (url, h))
        if not hosts:
            raise ValueError("--streams %s: give the bootstrap servers, kafka://HOST:PORT[,HOST:PORT]" % url)
        try:
            from .kafka_store import KafkaStore  # aiokafka is needed only here
        except ImportError as e:
            raise ValueError("--streams %s: the Kafka engine needs aiokafka (pip install 'hopseal[kafka]'): %s" % (url, e)) from None

        return KafkaStore(",".join(hosts), **options)
    raise ValueError("--streams %s: expected sqlite, sqlite:///PATH or kafka://HOST:PORT" % url)


def describe(store: StreamStore) -> str:
    """One line for logs: the engine and where it keeps its data."""
    return getattr(store, "where", store.name)
