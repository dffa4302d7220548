"""The stream application (host/hopseal_host/stream_app.py) in one process: a hub's stream service
(over the runtime's MemoryStore) on loopback TCP, a board-like initiator, and the application with
its SQLite file. A board that restarts while the application is offline: what the old channel
carried is read through the application's saved state, the new channel replaces it, and every
reading is recorded once, in order; without its file the application counts what it cannot read."""
from __future__ import annotations

import asyncio

from hopseal.compat import set_log_sink, wall_time
from hopseal.node import Node
from hopseal.secure.channel import create_secure_channel
from hopseal.secure.vault import create_vault
from hopseal.services import stream_service
from hopseal.services.stream import StreamPair
from hopseal.transport.tcp import TCPTransport
from hopseal_host.crypto_host import HostCrypto
from hopseal_host.stream_app import AppDB, StreamApp

CRYPTO = HostCrypto()


async def start_hub():
    hub = Node("hub")
    tcp = TCPTransport(hub)
    store = stream_service.MemoryStore()
    await stream_service.StreamService(hub, store).start()
    lst = await tcp.listen("127.0.0.1", 0)
    return hub, store, "1#127.0.0.1:%d" % lst.port


async def start_app(hop, db_path, vault):
    node = Node("app", crypto=CRYPTO)
    TCPTransport(node)
    db = AppDB(db_path)
    app = StreamApp(node, vault, db)
    resumed = app.resume_saved()
    pair = StreamPair(node, [hop], "app_to_b", "b_to_app", "app", interval=0.02, producer_address="app_to_b").start()
    return node, db, app, pair, resumed


async def board(hop, vault):
    node = Node("board", crypto=CRYPTO)
    TCPTransport(node)
    pair = StreamPair(node, [hop], "b_to_app", "app_to_b", "board", interval=0.02).start()
    return node, pair


async def until(cond, what, timeout=20):
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(what)


def texts(db):
    return [t for _, _, t in db.readings()]


def test_a_board_restart_while_the_application_is_offline(tmp_path):
    set_log_sink(lambda *a: None, 40)
    app_vault = create_vault(CRYPTO, wall_time())
    board_vault = create_vault(CRYPTO, wall_time())
    db_path = str(tmp_path / "app.sqlite3")

    async def main():
        hub, store, hop = await start_hub()
        anode, db, app, apair, _ = await start_app(hop, db_path, app_vault)
        bnode, bpair = await board(hop, board_vault)
        ch = await create_secure_channel(bnode, board_vault, [bpair.address, "listener"], timeout=30)
        await bnode.send([ch.encryptor_address, "readings"], b"r1", [])
        await until(lambda: texts(db) == ["r1"], "r1")
        # the application stops; the board sends r2, r3 on its channel, then restarts
        await apair.close()
        await anode.stop()
        db.close()
        for t in (b"r2", b"r3"):
            await bnode.send([ch.encryptor_address, "readings"], t, [])
        await bpair.producer.flush(10)
        await bpair.close()
        await bnode.stop()
        bnode, bpair = await board(hop, board_vault)
        new = asyncio.create_task(create_secure_channel(bnode, board_vault, [bpair.address, "listener"], timeout=30))
        await asyncio.sleep(0.3)  # its first handshake message waits in the stream
        # the application comes back: the old channel's r2, r3 through the saved state, then
        # the new channel, which replaces the old one's state
        anode, db, app, apair, resumed = await start_app(hop, db_path, app_vault)
        assert resumed == 1
        ch2 = await new
        await bnode.send([ch2.encryptor_address, "readings"], b"r4", [])
        await until(lambda: texts(db) == ["r1", "r2", "r3", "r4"], "r1..r4 once, in order")
        assert len(db.channels()) == 1 and db.channels()[0]["decryptor"] != [0, ch.remote_route[-1].value.hex()]
        assert anode.counters.get("stream_undeliverable", 0) == 0
        await apair.close()
        await anode.stop()
        db.close()
        # an application that lost its file cannot read what the board sends meanwhile: counted
        await bnode.send([ch2.encryptor_address, "readings"], b"r5", [])
        await bpair.producer.flush(10)
        anode, db2, app, apair, resumed = await start_app(hop, str(tmp_path / "new.sqlite3"), app_vault)
        assert resumed == 0
        await until(lambda: anode.counters.get("stream_undeliverable", 0) == 1, "r5 counted as undeliverable")
        assert texts(db2) == []
        await apair.close()
        await bpair.close()
        for n in (anode, bnode, hub):
            await n.stop()
        db2.close()

    asyncio.run(main())
