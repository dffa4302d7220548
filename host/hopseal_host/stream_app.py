"""The application end of a secure channel over a pair of streams (issue 11), exactly once.

`hopseal stream receive` runs it: a node with this host's identity, a secure-channel listener
(`listener`, Ockam's example name) reached only through the streams, and a channel-only
`readings` worker; a StreamPair reads FROM_STREAM (what boards write) and writes TO_STREAM (what
goes back). Each reading is recorded in an SQLite file (--db, default
$HOPSEAL_HOME/stream-app.sqlite3) in ONE transaction with the channel's state after it
(secure/resume.py): so after a crash or a stop the application resumes its channels where they
were, the stream's replay of records it already had (the consumer's index is saved after
delivery: at-least-once) is refused by the channel's replay window, and each reading is recorded
once, in order. What it cannot do, and counts:
- a record for a channel end this application no longer has (its state was lost: a new --db, or
  a channel replaced since) cannot be decrypted: `undeliverable` (the consumer's
  stream_undeliverable counter, logged at most every 10 s, and in the line this program prints
  when it stops);
- a copy of a record already recorded: `replays` (the channel's replay/window counter);
- a jump of more than 32 nonces ahead of the last one read (records dropped by retention
  before they were read): refused by the window, counted in `replays` too; that channel cannot
  carry on (the board opens a new one when it restarts).
When a peer opens a new channel (a board that restarted), the states of its older channels are
dropped: their records precede the new handshake in the stream, so they have been read.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time

from hopseal.compat import printable, say

log = logging.getLogger("hopseal.stream_app")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (seq INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL,
    text TEXT NOT NULL, received REAL NOT NULL);
CREATE TABLE IF NOT EXISTS channels (decryptor TEXT PRIMARY KEY, peer TEXT NOT NULL, state TEXT NOT NULL,
    updated REAL NOT NULL);
"""


class AppDB:
    """The application's own file: what it received and the channel states that go with it."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        os.chmod(path, 0o600)  # it holds channel keys

    def record(self, peer: str, text: str, key: str, state: dict) -> int:
        """The reading and its channel's state, in one transaction; the reading's number."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute("INSERT INTO readings (peer, text, received) VALUES (?, ?, ?)", (peer, text, time.time()))
            self._save(key, peer, state)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return cur.lastrowid

    def _save(self, key: str, peer: str, state: dict) -> None:
        self.db.execute("INSERT INTO channels (decryptor, peer, state, updated) VALUES (?, ?, ?, ?) ON CONFLICT "
                        "(decryptor) DO UPDATE SET state = excluded.state, updated = excluded.updated",
                        (key, peer, json.dumps(state), time.time()))

    def save_channel(self, key: str, peer: str, state: dict) -> list[str]:
        """A new channel's state; drops (and returns the keys of) the peer's older channels."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            old = [k for (k,) in db.execute("SELECT decryptor FROM channels WHERE peer = ? AND decryptor != ?", (peer, key))]
            db.execute("DELETE FROM channels WHERE peer = ? AND decryptor != ?", (peer, key))
            self._save(key, peer, state)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return old

    def channels(self) -> list[dict]:
        return [json.loads(s) for (s,) in self.db.execute("SELECT state FROM channels ORDER BY updated")]

    def readings(self) -> list[tuple[int, str, str]]:
        return list(self.db.execute("SELECT seq, peer, text FROM readings ORDER BY seq"))

    def close(self) -> None:
        self.db.close()


class _Ready(list):
    """The listener's list of ready channels: the listener appends a channel the moment its
    handshake completes, so this is where a new channel's state is saved, before it carries
    anything."""

    def __init__(self, app) -> None:
        super().__init__()
        self.app = app

    def append(self, ch) -> None:
        super().append(ch)
        self.app.channel_ready(ch)


class StreamApp:
    def __init__(self, node, vault, db: AppDB, authorized=None, listener: str = "listener") -> None:
        from hopseal.secure.channel import SecureChannelListener
        from hopseal.secure.trust import TrustIdentifiers, channel_only

        self.node = node
        self.db = db
        self.count = 0
        self.by_key: dict[str, object] = {}
        # a channel over streams may be quiet for as long as the board is offline: a week
        self.listener = SecureChannelListener(node, vault, listener, trust=TrustIdentifiers(authorized) if authorized else None,
                                              idle_timeout=7 * 86400)
        self.listener.channels = _Ready(self)
        node.start_worker("readings", self, access=channel_only(authorized or None))

    @staticmethod
    def key(ch) -> str:
        return ch.decryptor_address.text()

    def resume_saved(self) -> int:
        from hopseal.secure import resume

        n = 0
        for st in self.db.channels():
            ch = resume.resume(self.node, st)
            self.by_key[self.key(ch)] = ch
            n += 1
        return n

    def channel_ready(self, ch) -> None:
        from hopseal.secure import resume

        for key in self.db.save_channel(self.key(ch), ch.peer(), resume.state(ch)):
            old = self.by_key.pop(key, None)
            if old is not None:
                old.drop()
            log.info("channel %s of %s replaced by a new one", key, ch.peer())
        self.by_key[self.key(ch)] = ch
        say("secure channel from %s up (over streams)" % ch.peer())

    def handle_message(self, node, msg) -> None:
        from hopseal.secure import resume

        ch = msg.origin
        text = printable(msg.payload, 500)
        seq = self.db.record(ch.peer(), text, self.key(ch), resume.state(ch))
        self.count += 1
        say("reading %d: %s" % (seq, text))


async def run_app(hub: tuple[str, int], from_stream: str, to_stream: str, client_id: str, db_path: str,
                  vault_path: str | None, authorized=None, service: str = "stream", index_service: str = "stream_index",
                  interval: float = 0.25, listener: str = "listener", ready=None) -> None:
    from hopseal.node import Node
    from hopseal.services.stream import StreamPair
    from hopseal.transport.tcp import TCPTransport

    from .home import host_crypto, open_identity

    crypto = host_crypto()
    vault = open_identity(vault_path, crypto)
    node = Node("stream-app", crypto=crypto)
    TCPTransport(node)
    db = AppDB(db_path)
    app = StreamApp(node, vault, db, authorized, listener)
    resumed = app.resume_saved()
    hop = "1#%s:%d" % hub
    pair = StreamPair(node, [hop], to_stream, from_stream, client_id, service, index_service, interval=interval,
                      producer_address="app_to_" + to_stream)
    pair.start()
    say("identifier %s" % vault.identifier_text())
    say("stream application: reading %s, writing %s at %s:%d as client %s; %d channel(s) resumed, %d reading(s) recorded"
        % (from_stream, to_stream, hub[0], hub[1], client_id, resumed, len(db.readings())))
    try:
        await pair.wait_ready(3600)
        say("streams ready")
        if ready is not None:
            ready.set()
        while True:
            await asyncio.sleep(3600)
    finally:
        c = node.counters
        say("stopping: %d reading(s) this run, %d undeliverable record(s), %d replay(s) refused"
            % (app.count, c.get("stream_undeliverable", 0), c.get("channel_replay_or_window", 0)))
        await pair.close()
        await node.stop()
        db.close()
