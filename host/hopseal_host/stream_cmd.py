"""`hopseal stream create|push|pull|receive|list`: a hub's streams for operators (issue 11).

create, push and pull speak the stream protocol (ockam-wire §7) to a hub's `stream` and
`stream_index` services over TCP, as any client does: what they show is what a client gets.
`push` stores each MESSAGE as a BARE TransportMessage v1 with an empty onward route (a consumer
hands it to its receiver), or as the bytes given with --raw; `pull` prints each record's index
and, for a TransportMessage, its routes and payload (printable text, else hex), the raw bytes
in hex otherwise. With --client ID, pull starts at that client's saved index and saves the index
after what it printed (as a consumer does). `list` opens the hub's store itself (the same
--streams URL as the hub; SQLite readers do not disturb a running hub) and prints each stream's
next index, records and bytes kept. `receive` is an application end (stream_app.py).
"""
from __future__ import annotations

import argparse
import asyncio
import json

from hopseal.errors import HopsealError, ReceiveTimeout

from .home import default_home, hostport, identifier_arg


async def _ask(node, to, payload, timeout):
    from hopseal.wire import stream as sp

    r = await node.send_and_receive(to, payload, timeout)
    protocol, body = sp.decode_payload(r.payload)
    if protocol == sp.ERROR:
        raise HopsealError("the hub refused: %s" % sp.decode_error(body))
    return protocol, body, r.return_


async def _session(args, fn):
    from hopseal.node import Node
    from hopseal.transport.tcp import TCPTransport
    from hopseal.wire import stream as sp

    node = Node("stream-cli")
    TCPTransport(node)
    hop = "1#%s:%d" % args.hub
    try:
        try:
            _, body, ret = await _ask(node, [hop, args.service], sp.create(args.name), args.timeout)
        except ReceiveTimeout:
            raise HopsealError("no answer from %s within %ss: is it a hopseal hub with streams (not --streams off)?"
                               % ("%s:%d" % args.hub, args.timeout)) from None
        name = sp.decode_init(body)
        return await fn(node, hop, name, list(ret))
    finally:
        await node.stop()


def cmd_create(args: argparse.Namespace) -> int:
    async def fn(node, hop, name, ret):
        print("stream %s at %s:%d (pushes and pulls go to %s)" % (name, args.hub[0], args.hub[1], ret[-1].text()))

    asyncio.run(_session(args, fn))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from hopseal.wire import message_v1
    from hopseal.wire import stream as sp
    from hopseal.wire.message import Message

    async def fn(node, hop, name, ret):
        for i, text in enumerate(args.message):
            data = text.encode()
            if not args.raw:
                data = message_v1.encode(Message([], [], data))
            _, body, _ = await _ask(node, ret, sp.push(i + 1, data), args.timeout)
            rid, ok, index = sp.decode_push_confirm(body)
            if not ok:
                raise HopsealError("the hub could not store message %d (its store failed)" % (i + 1))
            print("%s %d" % (name, index))

    asyncio.run(_session(args, fn))
    return 0


def _show(index: int, data: bytes) -> dict:
    from hopseal.compat import hexstr
    from hopseal.errors import DecodeError
    from hopseal.wire import message_v1
    from hopseal.wire.message import route_str

    out = {"index": index, "bytes": len(data)}
    try:
        m = message_v1.decode(data)
    except DecodeError:
        out["hex"] = hexstr(data)
        return out
    out["onward"] = route_str(m.onward)
    out["return"] = route_str(m.return_)
    try:
        text = bytes(m.payload).decode()
        if text.isprintable():
            out["text"] = text
        else:
            out["hex"] = hexstr(m.payload)
    except UnicodeError:
        out["hex"] = hexstr(m.payload)
    return out


def cmd_pull(args: argparse.Namespace) -> int:
    from hopseal.wire import stream as sp

    async def fn(node, hop, name, ret):
        index = args.index
        if args.client:
            _, body, _ = await _ask(node, [hop, args.index_service], sp.index_get(args.client, name), args.timeout)
            saved = sp.decode_index_reply(body)[2]
            index = saved or 0
        _, body, _ = await _ask(node, ret, sp.pull(1, index, args.limit), args.timeout)
        records = sp.decode_pull_response(body)[1]
        for i, data in records:
            rec = _show(i, bytes(data))
            if args.output == "json":
                print(json.dumps(rec))
            elif "text" in rec:
                print("%d %s -> %s %s" % (i, rec["return"], rec["onward"], rec["text"]))
            elif "onward" in rec:
                print("%d %s -> %s hex:%s" % (i, rec["return"], rec["onward"], rec["hex"]))
            else:
                print("%d raw:%s" % (i, rec["hex"]))
        if args.client and records:
            await node.send([hop, args.index_service], sp.index_save(args.client, name, records[-1][0] + 1), [])
            await asyncio.sleep(0.05)  # the save has no reply: let the frame go out before closing

    asyncio.run(_session(args, fn))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .streams import StreamError, open_store

    async def run() -> list[dict]:
        try:
            store = open_store(args.streams, default_home())
        except ValueError as e:
            raise HopsealError(str(e)) from None
        try:
            await store.open()
            return await store.streams()
        except StreamError as e:
            raise HopsealError("stream store: %s" % e.reason) from None
        finally:
            await store.close()

    streams = asyncio.run(run())
    if args.output == "json":
        print(json.dumps(streams, indent=2))
        return 0
    if not streams:
        print("no streams")
    for s in streams:
        print("%-32s next index %-8d %8d record(s) %10d bytes" % (s["name"], s["next_index"], s["records"], s["bytes"]))
    return 0


def cmd_receive(args: argparse.Namespace) -> int:
    import os

    from .stream_app import run_app

    db = args.db or os.path.join(default_home(), "stream-app.sqlite3")
    asyncio.run(run_app(args.hub, args.from_stream, args.to_stream, args.client or "app-" + args.from_stream, db,
                        args.vault, args.authorized, args.service, args.service + "_index", args.interval,
                        args.listener))
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("stream", help="create, push to, pull from and list a hub's streams",
                       description=__doc__.split("\n\n")[1])
    ssub = p.add_subparsers(dest="stream_command", required=True, metavar="create|push|pull|receive|list")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("name", metavar="NAME", help="the stream's name (letters, digits, '.', '_', '-')")
        q.add_argument("--hub", type=hostport, default=("127.0.0.1", 4000), metavar="HOST:PORT",
                       help="the hub (default 127.0.0.1:4000)")
        q.add_argument("--service", default="stream", metavar="ADDRESS",
                       help="the hub's stream service (default stream; stream_kafka on Ockam's Kafka-backed hubs)")
        q.add_argument("--timeout", type=float, default=5.0, metavar="S", help="wait this long for each reply (default 5)")

    c = ssub.add_parser("create", help="create a stream (nothing happens if it exists)",
                        description="Create stream NAME at the hub; creating one that exists is fine.")
    common(c)
    c.set_defaults(func=cmd_create)
    pu = ssub.add_parser("push", help="append messages to a stream",
                         description="Append each MESSAGE to stream NAME (created if new); prints the index of each.")
    common(pu)
    pu.add_argument("message", nargs="+", metavar="MESSAGE", help="text to store, one record each")
    pu.add_argument("--raw", action="store_true",
                    help="store the text as it is (default: as a TransportMessage, what consumers expect)")
    pu.set_defaults(func=cmd_push)
    pl = ssub.add_parser("pull", help="read records from a stream",
                         description="Print up to --limit records of stream NAME from --index (or from the saved "
                         "index of --client, which is then saved after the last record printed).")
    common(pl)
    pl.add_argument("--index", type=int, default=0, metavar="N", help="first index to read (default 0)")
    pl.add_argument("--limit", type=int, default=100, metavar="N", help="records at most (default 100)")
    pl.add_argument("--client", default=None, metavar="ID",
                    help="read from this client's saved index and save the new one (as a consumer does)")
    pl.add_argument("--index-service", default="stream_index", metavar="ADDRESS",
                    help="the hub's index service (default stream_index)")
    pl.add_argument("--output", choices=("text", "json"), default="text", help="text (default) or one JSON object per record")
    pl.set_defaults(func=cmd_pull)
    rv = ssub.add_parser("receive", help="be the application end of a secure channel over two streams",
                         description="Read FROM_STREAM and write TO_STREAM at the hub; accept secure channels (at "
                         "--listener) through them, and record every reading sent to `readings` through such a channel "
                         "in --db, exactly once and in order, across restarts of this program (the channel state is "
                         "saved with each reading; see host/hopseal_host/stream_app.py for what it cannot recover).")
    rv.add_argument("--from", dest="from_stream", required=True, metavar="STREAM", help="the stream boards write")
    rv.add_argument("--to", dest="to_stream", required=True, metavar="STREAM", help="the stream boards read")
    rv.add_argument("--hub", type=hostport, default=("127.0.0.1", 4000), metavar="HOST:PORT",
                    help="the hub (default 127.0.0.1:4000)")
    rv.add_argument("--client", default=None, metavar="ID", help="the consumer's client id (default app-FROM_STREAM)")
    rv.add_argument("--db", default=None, metavar="PATH",
                    help="readings and channel states (default $HOPSEAL_HOME/stream-app.sqlite3; 0600: it holds channel keys)")
    rv.add_argument("--vault", default=None, metavar="PATH", help="this application's identity (default $HOPSEAL_HOME/identity)")
    rv.add_argument("--authorized", type=identifier_arg, action="append", metavar="IDENTIFIER",
                    help="accept channels only from this identifier (repeatable; default anyone)")
    rv.add_argument("--listener", default="listener", metavar="ADDRESS", help="the secure-channel listener's address (default listener)")
    rv.add_argument("--service", default="stream", metavar="ADDRESS",
                    help="the hub's stream service (default stream; its index service is SERVICE_index)")
    rv.add_argument("--interval", type=float, default=0.25, metavar="S", help="seconds between pulls when idle (default 0.25)")
    rv.set_defaults(func=cmd_receive)
    ls = ssub.add_parser("list", help="list the streams a hub's store holds (run where the store is)",
                         description="Open the hub's stream store (the hub's --streams URL; default SQLite in "
                         "$HOPSEAL_HOME) and list its streams: next index, records and bytes kept.")
    ls.add_argument("--streams", default="", metavar="URL",
                    help="the store: sqlite (default: $HOPSEAL_HOME/streams.sqlite3), sqlite:///PATH, kafka://HOST:PORT")
    ls.add_argument("--output", choices=("text", "json"), default="text", help="text (default) or JSON")
    ls.set_defaults(func=cmd_list)
    return p
