"""`hopseal hub`: the node boards and clients meet at.

It has the default services of an `ockam node create` node (ockam-wire §3.4, §5.3): a TCP
listener, the secure-channel listener `api` with the hub's persistent identity, the relay service
at `forwarding_service` and `static_forwarding_service` (relays named `forward_to_<name>`), `echo`
and `uppercase`; plus `readings`, a channel-only sink for boards' sensor readings (it logs each
reading with the sender's identifier and replies `ack <n>`).

`--capture FILE` appends every byte the hub sends or receives on any connection to FILE, so
anyone can check that relayed traffic is ciphertext.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os

from hopseal.apps.node import build
from hopseal.compat import say
from hopseal.secure.trust import channel_only
from hopseal.services.relay import RelayService

from .capture import Capture
from .home import default_home, host_crypto, hostport, open_identity

log = logging.getLogger("hopseal.hub")


class Readings:
    """Channel-only sink: a reading is UTF-8 text; the reply is `ack <count>`."""

    def __init__(self) -> None:
        self.count = 0
        self.last: dict[str, str] = {}

    async def handle_message(self, node, msg) -> None:
        self.count += 1
        peer = msg.origin.peer() if msg.origin is not None else "?"
        text = msg.payload.decode("utf-8", "replace")
        self.last[peer] = text
        say("reading %d from %s: %s" % (self.count, peer, text))
        await node.send(msg.return_, b"ack %d" % self.count, ["readings"])


async def start_hub(listen: tuple[str, int], crypto, vault, relays_per_connection: int = 16, capture: str | None = None,
                    name: str = "hub"):
    node, listener = await build(name=name, listen=None, crypto=crypto, vault=vault)
    if capture:
        node.wire_tap = Capture(capture)
    node.relays = RelayService(node, per_connection=relays_per_connection)
    node.readings = Readings()
    node.start_worker("readings", node.readings, access=channel_only())
    listener = await node.tcp.listen(listen[0], listen[1])
    say("hopseal hub %s listening on %s:%d" % (name, listen[0], listener.port))
    return node, listener


async def serve(args: argparse.Namespace) -> None:
    crypto = host_crypto()
    vault = open_identity(args.vault or os.path.join(default_home(), "hub-identity"), crypto)
    node, _ = await start_hub(args.listen, crypto, vault, args.relays_per_connection, args.capture)
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        await node.stop()


def add_parser(sub) -> argparse.ArgumentParser:
    h = sub.add_parser(
        "hub", help="run a hub: relays, the api secure-channel listener, echo, uppercase, readings",
        description=__doc__.split("\n\n")[1] + "\n\nRelays: `register` gives a random name; any other name is static "
        "and re-registering it (say, after a board reconnects) replaces the old relay. Relays of a closed "
        "connection are removed.",
    )
    h.add_argument("--listen", type=hostport, default=("127.0.0.1", 4000), metavar="HOST:PORT",
                   help="TCP address to listen on (default 127.0.0.1:4000)")
    h.add_argument("--vault", default=None, metavar="PATH",
                   help="the hub's identity file (created on first use; default $HOPSEAL_HOME/hub-identity)")
    h.add_argument("--relays-per-connection", type=int, default=16, metavar="N",
                   help="refuse more than N relays registered over one connection (default 16)")
    h.add_argument("--capture", default=None, metavar="FILE",
                   help="append every byte sent or received on any connection to FILE")
    h.set_defaults(func=lambda a: asyncio.run(serve(a)) or 0)
    return h
