"""The embedded stream engine: SQLite in the hub's home (issue 11).

One file, WAL journal, one connection used from one worker thread (sqlite3 blocks; the hub's
event loop does not). Every append is its own transaction, committed before `append` returns:
with WAL and synchronous=NORMAL (the default) a committed record is in the WAL file when the call
returns, so it survives a kill -9 of the hub; a power cut can lose the last commits unless the
URL asks for `?sync=full` (an fsync per commit). Schema:

  streams(id, name UNIQUE, next_index, records, bytes)     counters kept in the same transaction
  records(sid, idx, data)                                  PRIMARY KEY (sid, idx), WITHOUT ROWID
  indexes(client, stream, idx)                             PRIMARY KEY (client, stream)
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from .store import StreamError, StreamStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    next_index INTEGER NOT NULL DEFAULT 0,
    records INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS records (
    sid INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sid, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS indexes (
    client TEXT NOT NULL,
    stream TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (client, stream)
) WITHOUT ROWID;
"""


class SqliteStore(StreamStore):
    name = "sqlite"

    def __init__(self, path: str, sync: str = "NORMAL") -> None:
        if "?" in path:  # sqlite:///PATH?sync=full
            path, _, query = path.partition("?")
            for part in query.split("&"):
                key, _, value = part.partition("=")
                if key != "sync" or value.upper() not in ("NORMAL", "FULL"):
                    raise ValueError("sqlite URL option %r: only sync=normal|full" % part)
                sync = value.upper()
        self.path = path
        self.sync = sync
        self.where = "sqlite %s" % path
        self._db: sqlite3.Connection | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._ids: dict[str, int] = {}

    async def _run(self, fn, *args):
        if self._pool is None:
            raise StreamError("the stream store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # -- blocking parts, run on the store's one thread -------------------------------------------
    def _open(self) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, mode=0o700, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)  # autocommit; BEGIN IMMEDIATE by hand
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StreamError("%s: SQLite refused WAL mode (%s)" % (self.path, mode))
            db.execute("PRAGMA synchronous=%s" % self.sync)
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            db.close()
            raise StreamError("%s is not a usable stream store: %s" % (self.path, e)) from None
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass
        self._db = db
        self._ids = {name: sid for sid, name in db.execute("SELECT id, name FROM streams")}

    def _sid(self, stream: str) -> int:
        sid = self._ids.get(stream)
        if sid is None:
            raise StreamError("unknown stream %r" % stream)
        return sid

    def _create(self, stream: str) -> bool:
        if stream in self._ids:
            return False
        cur = self._db.execute("INSERT OR IGNORE INTO streams (name) VALUES (?)", (stream,))
        new = cur.rowcount == 1
        self._ids[stream] = self._db.execute("SELECT id FROM streams WHERE name = ?", (stream,)).fetchone()[0]
        return new

    def _streams(self) -> list[dict]:
        rows = self._db.execute("SELECT name, next_index, records, bytes FROM streams ORDER BY name")
        return [{"name": n, "next_index": i, "records": r, "bytes": b} for n, i, r, b in rows]

    def _append(self, stream: str, data: bytes) -> int:
        sid = self._sid(stream)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            idx = db.execute("SELECT next_index FROM streams WHERE id = ?", (sid,)).fetchone()[0]
            db.execute("INSERT INTO records (sid, idx, data) VALUES (?, ?, ?)", (sid, idx, data))
            db.execute("UPDATE streams SET next_index = ?, records = records + 1, bytes = bytes + ? WHERE id = ?",
                       (idx + 1, len(data), sid))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return idx

    def _read(self, stream: str, index: int, limit: int) -> list[tuple[int, bytes]]:
        sid = self._sid(stream)
        if limit <= 0 or index >= 1 << 63:
            return []
        rows = self._db.execute("SELECT idx, data FROM records WHERE sid = ? AND idx >= ? ORDER BY idx LIMIT ?",
                                (sid, index, limit))
        return [(i, bytes(d)) for i, d in rows]

    def _get_index(self, client_id: str, stream: str):
        row = self._db.execute("SELECT idx FROM indexes WHERE client = ? AND stream = ?", (client_id, stream)).fetchone()
        return None if row is None else row[0]

    def _save_index(self, client_id: str, stream: str, index: int) -> None:
        if not 0 <= index < 1 << 63:
            raise StreamError("index %d out of range" % index)
        self._db.execute("INSERT INTO indexes (client, stream, idx) VALUES (?, ?, ?) "
                         "ON CONFLICT (client, stream) DO UPDATE SET idx = excluded.idx", (client_id, stream, index))

    def _count_indexes(self) -> int:
        return self._db.execute("SELECT count(*) FROM indexes").fetchone()[0]

    def _trim(self, stream: str, keep_bytes: int) -> int:
        sid = self._sid(stream)
        db = self._db
        total = db.execute("SELECT bytes FROM streams WHERE id = ?", (sid,)).fetchone()[0]
        if total <= keep_bytes:
            return 0
        excess = total - keep_bytes
        cut, dropped, freed = None, 0, 0
        for idx, size in db.execute("SELECT idx, length(data) FROM records WHERE sid = ? ORDER BY idx", (sid,)):
            cut, dropped, freed = idx, dropped + 1, freed + size
            if freed >= excess:
                break
        if cut is None:
            return 0
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM records WHERE sid = ? AND idx <= ?", (sid, cut))
            db.execute("UPDATE streams SET records = records - ?, bytes = bytes - ? WHERE id = ?", (dropped, freed, sid))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return dropped

    # -- the interface -------------------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hopseal-streams")
        try:
            await self._run(self._open)
        except BaseException:
            self._pool.shutdown(wait=False)
            self._pool = None
            raise

    async def close(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(pool, db.close)
        pool.shutdown(wait=True)

    async def create(self, stream: str) -> bool:
        return await self._run(self._create, stream)

    async def exists(self, stream: str) -> bool:
        return stream in self._ids

    async def streams(self) -> list[dict]:
        return await self._run(self._streams)

    async def append(self, stream: str, data: bytes) -> int:
        return await self._run(self._append, stream, bytes(data))

    async def read(self, stream: str, index: int, limit: int) -> list[tuple[int, bytes]]:
        return await self._run(self._read, stream, index, limit)

    async def get_index(self, client_id: str, stream: str) -> int | None:
        return await self._run(self._get_index, client_id, stream)

    async def save_index(self, client_id: str, stream: str, index: int) -> None:
        await self._run(self._save_index, client_id, stream, index)

    async def count_indexes(self) -> int | None:
        return await self._run(self._count_indexes)

    async def trim(self, stream: str, keep_bytes: int) -> int:
        return await self._run(self._trim, stream, keep_bytes)
