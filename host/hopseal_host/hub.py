"""`hopseal hub`: the node boards and clients meet at.

It has the default services of an `ockam node create` node (ockam-wire §3.4, §5.3): a TCP
listener, the secure-channel listener `api` with the hub's persistent identity, the relay service
at `forwarding_service` and `static_forwarding_service` (relays named `forward_to_<name>`), `echo`
and `uppercase`; plus `readings`, a channel-only sink for boards' sensor readings (it logs each
reading with the sender's identifier and replies `ack <n>`).

Relays belong to their owners (services/relay.py): a static name is registered through a secure
channel to the hub's `api` and bound to that identity, unless `--relay-policy open` also takes
plain-TCP registrations as Ockam nodes make them; a TOML policy file can reserve names for
identifiers. `--readings-from` restricts who may send readings.

SIGHUP (`systemctl reload`) reads the config file and a relay policy file again and applies the
relay policy, --relays-per-owner, --max-relays and --readings-from to what comes next (relays
held stay); other settings need a restart, and a warning says which changed.

`--capture FILE` appends every byte the hub sends or receives on any connection to FILE, so
anyone can check that relayed traffic is ciphertext.

Streams (ockam-wire §7, issue 11): the services `stream` and `stream_index` store records for
clients that are not online at the same time, in SQLite in the hub's home by default
($HOPSEAL_HOME/streams.sqlite3), or in Kafka with `--streams kafka://HOST:PORT` (then also under
Ockam's Kafka names `stream_kafka` and `stream_kafka_index`); `--streams off` offers none.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os

from hopseal.apps.node import build, hostport_text
from hopseal.compat import printable, say
from hopseal.errors import ConfigError, HopsealError
from hopseal.secure.trust import channel_only
from hopseal.services.relay import CHANNEL, OPEN, RelayPolicy, RelayService

from . import eventloop
from .capture import Capture
from .home import default_home, host_crypto, hostport, identifier_arg, open_identity, titled
from .limits import add_transport_args, transport_options
from .logsetup import add_log_format_arg

log = logging.getLogger("hopseal.hub")


class Readings:
    """Channel-only sink: a reading is UTF-8 text; the reply is `ack <count>`."""

    def __init__(self) -> None:
        self.count = 0
        self.last: dict[str, str] = {}

    async def handle_message(self, node, msg) -> None:
        self.count += 1
        peer = msg.origin.peer()  # channel-only: a verified identifier
        text = printable(msg.payload, 200)
        self.last[peer] = text
        say("reading %d from %s: %s" % (self.count, peer, text))
        await node.send(msg.return_, b"ack %d" % self.count, ["readings"])


def relay_policy(text: str) -> RelayPolicy:
    """`channel`, `open`, or a TOML file: mode = "channel"|"open" and a [names] table NAME = "I…"."""
    if text in (CHANNEL, OPEN):
        return RelayPolicy(text)
    import tomllib

    try:
        with open(text, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError("cannot read the relay policy %s: %s" % (text, e.strerror or e))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("relay policy %s: %s" % (text, e))
    unknown = set(data) - {"mode", "names"}
    if unknown:
        raise ConfigError("relay policy %s: unknown key %s (mode, names)" % (text, sorted(unknown)[0]))
    names = data.get("names", {})
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise ConfigError("relay policy %s: [names] maps relay names to identifiers (\"I\" + 64 hex)" % text)
    try:
        return RelayPolicy(data.get("mode", CHANNEL), names)
    except (ValueError, HopsealError) as e:
        raise ConfigError("relay policy %s: %s" % (text, e))


def _relay_policy_arg(text: str) -> RelayPolicy:
    try:
        return relay_policy(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


async def start_streams(node, url: str, home: str, limits=None):
    """Open the stream store `url` names and start the stream services on `node` (closed when
    the node stops). A store that cannot be opened is a ConfigError (one line)."""
    from hopseal.services.stream_service import KAFKA_PREFIX, StreamService

    from .streams import StreamError, StreamLimits, describe, open_store

    try:
        store = open_store(url, home)
    except ValueError as e:
        raise ConfigError("stream store: %s" % e) from None
    try:
        await store.open()
    except ValueError as e:
        raise ConfigError("stream store: %s" % e) from None
    except StreamError as e:  # e.g. Kafka not reachable yet: a failure (exit 1, a supervisor retries), not a usage error
        raise HopsealError("stream store: %s" % e.reason) from None
    except OSError as e:
        raise ConfigError("stream store %s: %s" % (url or "sqlite", e)) from None
    limits = limits or StreamLimits()
    services = [StreamService(node, store, limits)]
    if store.name == "kafka":  # Ockam's hub offered its Kafka-backed streams under these names
        services.append(StreamService(node, store, limits, prefix=KAFKA_PREFIX))
    for svc in services:
        await svc.start()
    node.streams = services[0]
    node.stream_store = store
    node.on_stop(store)
    return services


def _limits(args: argparse.Namespace):
    from .streams import StreamLimits

    return StreamLimits(max_streams=args.stream_max_streams, max_message=args.stream_max_message,
                        max_stream_bytes=args.stream_max_bytes, max_pull=args.stream_max_pull)


async def start_hub(listen: tuple[str, int], crypto, vault, relays_per_owner: int = 16, capture: str | None = None,
                    name: str = "hub", policy: RelayPolicy | None = None, max_relays: int = 10000,
                    readings_from: list[str] | None = None, transport: dict | None = None,
                    streams: str | None = None, stream_limits=None, home: str | None = None):
    """The hub's node and listener. `streams`: None or "off" for no stream services, else the
    store URL ("" or "sqlite": SQLite in `home`)."""
    node, listener = await build(name=name, listen=None, crypto=crypto, vault=vault, transport=transport)
    if capture:
        node.wire_tap = Capture(capture)
    node.relays = RelayService(node, per_owner=relays_per_owner, max_relays=max_relays, policy=policy)
    node.readings = Readings()
    node.start_worker("readings", node.readings, access=channel_only(readings_from or None))
    if streams is not None and streams != "off":
        await start_streams(node, streams, home or default_home(), stream_limits)
    listener = await node.tcp.listen(listen[0], listen[1])
    say("hopseal %s listening on %s" % (titled("hub", name), hostport_text(listen[0], listener.port)))
    return node, listener


async def serve(args: argparse.Namespace) -> None:
    crypto = host_crypto()
    vault = open_identity(args.vault or os.path.join(default_home(), "hub-identity"), crypto)
    node, _ = await start_hub(args.listen, crypto, vault, args.relays_per_owner, args.capture,
                              policy=args.relay_policy, max_relays=args.max_relays, readings_from=args.readings_from,
                              transport=transport_options(args), streams=args.streams, stream_limits=_limits(args))
    from .status import start_control

    await start_control(node, args.control, "hub")
    if hasattr(args, "reparse"):  # run from the CLI: SIGHUP reads the config (and policy) files again
        import signal

        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload, node, args)
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        await node.stop()


# what SIGHUP applies to a running hub (registrations and readings from then on; relays held stay),
# and what it only warns about (they need a restart: listeners, identity, files, transport limits)
RELOADS = ("relay_policy", "relays_per_owner", "max_relays", "readings_from")
RESTART = ("listen", "vault", "capture", "control", "max_connections", "idle_timeout", "frame_timeout",
           "streams", "stream_max_streams", "stream_max_message", "stream_max_bytes", "stream_max_pull")


def reload(node, args: argparse.Namespace) -> None:
    """SIGHUP: parse the command line again with the config file (and a relay policy file) read
    again; apply RELOADS, warn about RESTART settings that changed. A mistake in a file is logged
    and the running settings are kept."""
    try:
        new = args.reparse()
    except (ConfigError, OSError) as e:
        log.error("reload: %s; keeping the running settings", e)
        return
    policy = new.relay_policy
    node.relays.policy = policy
    node.relays.per_owner = new.relays_per_owner
    node.relays.max_relays = new.max_relays
    node.set_access("readings", channel_only(new.readings_from or None))
    changed = [k for k in RESTART if getattr(new, k, None) != getattr(args, k, None)]
    if changed:
        log.warning("reload: %s changed: restart the hub to apply (kept as it runs)",
                    ", ".join("--" + k.replace("_", "-") for k in changed))
    log.info("reloaded: relay policy %s with %d reserved name(s), %d relays per owner, %d at most, readings from %s",
             policy.mode, len(policy.pinned), new.relays_per_owner, new.max_relays,
             "%d identifier(s)" % len(new.readings_from) if new.readings_from else "any verified identity")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError("%r is not a positive whole number" % text)
    return n


def _nonnegative(text: str) -> int:
    return 0 if text.strip() == "0" else _positive(text)


_positive.toml_kind = int  # in the hub's TOML these are numbers (config.py)
_nonnegative.toml_kind = int


def add_parser(sub) -> argparse.ArgumentParser:
    h = sub.add_parser(
        "hub", help="run a hub: relays, the api secure-channel listener, echo, uppercase, readings",
        description=__doc__.split("\n\n")[1] + "\n\nRelays: `register` gives a random name; any other name is static "
        "and belongs to whoever holds it: its owner registering it again (say, after a board reconnects) "
        "replaces the old relay, anyone else is refused. Relays go when the connection or channel that "
        "registered them closes.",
    )
    h.add_argument("--listen", type=hostport, default=("127.0.0.1", 4000), metavar="HOST:PORT",
                   help="TCP address to listen on (default 127.0.0.1:4000)")
    h.add_argument("--vault", default=None, metavar="PATH",
                   help="the hub's identity file (created on first use; default $HOPSEAL_HOME/hub-identity)")
    h.add_argument("--relay-policy", type=_relay_policy_arg, default=RelayPolicy(), metavar="channel|open|FILE",
                   help="who may register static relay names: channel (default: only through a secure channel, "
                   "bound to that identity), open (plain TCP too, as Ockam nodes register), or a TOML file "
                   "with mode = \"channel\"|\"open\" and a [names] table reserving names for identifiers "
                   "(board1 = \"I…\")")
    h.add_argument("--relays-per-owner", "--relays-per-connection", type=int, default=16, metavar="N",
                   help="refuse more than N relays held by one owner (identity or connection; default 16)")
    h.add_argument("--max-relays", type=int, default=10000, metavar="N", help="relays the hub holds at most (default 10000)")
    h.add_argument("--readings-from", type=identifier_arg, action="append", metavar="IDENTIFIER",
                   help="accept readings only from this identifier (repeatable; default: any verified identity)")
    h.add_argument("--streams", default="", metavar="URL",
                   help="where the stream services keep records: sqlite (default: $HOPSEAL_HOME/streams.sqlite3), "
                   "sqlite:///PATH[?sync=full], kafka://HOST:PORT[,HOST:PORT][?prefix=NAME], or off")
    h.add_argument("--stream-max-streams", type=_positive, default=1000, metavar="N",
                   help="streams the hub holds at most (default 1000)")
    h.add_argument("--stream-max-message", type=_positive, default=16 * 1024, metavar="BYTES",
                   help="largest record a push may carry (default 16384)")
    h.add_argument("--stream-max-bytes", type=_nonnegative, default=64 * 1024 * 1024, metavar="BYTES",
                   help="bytes kept per stream; beyond, the oldest records are dropped (default 64 MiB; 0: no limit)")
    h.add_argument("--stream-max-pull", type=_positive, default=1000, metavar="N",
                   help="most records one pull may ask for; a larger limit is refused (default 1000)")
    add_transport_args(h)
    h.add_argument("--control", default=None, metavar="PATH",
                   help="the local control socket `hopseal status` reads (default $HOPSEAL_HOME/hub.sock; \"\" for none)")
    h.add_argument("--capture", default=None, metavar="FILE",
                   help="append every byte sent or received on any connection to FILE")
    h.add_argument("--config", metavar="FILE",
                   help="read settings from a TOML file whose keys are the flags (relay_policy = \"open\", "
                   "relays_per_owner = 16, readings_from = [\"I…\"]); flags given here win")
    h.set_defaults(config_keys=True)
    add_log_format_arg(h)
    h.set_defaults(func=lambda a: eventloop.run(serve(a)) or 0)
    return h
