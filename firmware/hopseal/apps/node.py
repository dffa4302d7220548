"""Run a node with the default services: the one entry point shared by boards and the host CLI.

On the unix port (and so on the virtual board): `micropython -m hopseal.apps.node --help` (USAGE).
The host's `hopseal node` calls `serve()` with the same meaning. (Its old name, hopseal.app, is
gone: a board carries every module of the package, so no alias is kept.)
"""
import asyncio
import sys

from ..compat import say
from ..errors import ConfigError, HopsealError
from ..node import Node
from ..services.basic import Forwarder, start_default_services
from ..transport.tcp import TCPTransport


# a string, not the docstring: MicroPython keeps no __doc__
USAGE = """usage: micropython -m hopseal.apps.node [--listen HOST:PORT] [--forward NAME=HOST:PORT ...] [--name N]
        [--vault DIR] [--secure-only SERVICE ...] [--authorized IDENTIFIER ...] [--relay NAME --at HOST:PORT]
        [--outlet [ADDR=]HOST:PORT ...]
Run a node with the default services (echo, uppercase). With --vault it loads (or creates) its
identity in DIR and runs the secure-channel listener api; --secure-only makes a service reachable
only through a secure channel, --authorized only from that identifier. --relay registers
forward_to_NAME at the hub --at and keeps it alive. --outlet starts a TCP outlet at ADDR (default
outlet) to HOST:PORT. Ctrl-C stops it."""


def parse_hostport(s):
    """("host", port) from "HOST:PORT" or "[IPv6]:PORT" (the brackets are dropped); ConfigError
    when it is not that."""
    host, _, port = s.rpartition(":")
    if host[:1] == "[" and host[-1:] == "]":
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError("write an IPv6 address in brackets, [%s]:%s, got %r" % (host, port, s))
    if not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError("expected HOST:PORT with a port up to 65535, got %r" % s)
    return host, int(port)


def hostport_text(host, port):
    """HOST:PORT as parse_hostport reads it: an IPv6 address in brackets."""
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def outlet_arg(s):
    """(address, (host, port)) from "[ADDR=]HOST:PORT" (the address defaults to outlet)."""
    oaddr, sep, hp = s.rpartition("=")
    if sep and not oaddr:
        raise ConfigError("expected [ADDR=]HOST:PORT, got %r" % s)
    return (oaddr if sep else "outlet"), parse_hostport(hp)


async def build(name="node", listen=None, forwards=(), crypto=None, services=True, max_frame=None, node=None,
                vault=None, api="api", secure_only=(), authorized=None, relay=None, relay_at=None,
                relay_interval=10, transport=None, outlets=(), inlets=(), portal_chunk=None):
    """Create (or extend) a node: TCP transport, default services, forwarders, listener.

    With a `vault` (the node's persistent identity) it also runs the secure-channel listener at
    `api`; services named in `secure_only` are then reachable only through a secure channel, and
    with `authorized` identifiers only from those peers (channels from others are refused).
    `outlets` ((address, (host, port)), ...) start TCP outlet listeners (services/portal.py; with
    a vault reachable only through a channel, from `authorized` if given); `inlets`
    (((host, port), to), ...) start TCP inlets, `to` a route or a function of the node returning
    an async function that returns one (a route that opens channels when called).
    """
    if node is None:
        node = Node(name, crypto=crypto)
    kw = dict(transport or ())  # TCPTransport's limits: max_connections, idle_timeout, frame_timeout
    if max_frame is not None:
        kw["max_frame"] = max_frame
    tcp = TCPTransport(node, **kw)
    if services:
        start_default_services(node)
    if vault is not None:
        from ..secure.channel import SecureChannelListener
        from ..secure.identity import VerifiedCache
        from ..secure.trust import TrustIdentifiers, channel_only

        trust = TrustIdentifiers(authorized) if authorized else None
        node.api = SecureChannelListener(node, vault, api, trust=trust, cache=VerifiedCache(8))
        node.vault = vault
        say("identifier %s" % vault.identifier_text())
        for svc in secure_only:
            node.set_access(svc, channel_only(authorized or None))
    for fname, (host, port) in forwards:
        conn = await tcp.connect(host, port)
        node.start_worker(fname, Forwarder(fname, [conn.address]))
        say("forwarder %s -> %s:%d" % (fname, host, port))
    if outlets or inlets:
        from ..services import portal

        for oaddr, (host, port) in outlets:
            access = None
            if vault is not None:
                from ..secure.trust import channel_only

                access = channel_only(authorized or None)
            kw = {"chunk": portal_chunk} if portal_chunk else {}
            portal.Outlet(node, host, port, address=oaddr, **kw).start(access)
            say("tcp outlet %s -> %s" % (oaddr, hostport_text(host, port)))
        for (host, port), to in inlets:
            kw = {"chunk": portal_chunk} if portal_chunk else {}
            inlet = await portal.Inlet(node, to if isinstance(to, (list, tuple, str)) else to(node), **kw).listen(host, port)
            say("tcp inlet listening on %s" % hostport_text(host, inlet.port))
    listener = None
    if listen is not None:
        listener = await tcp.listen(listen[0], listen[1])
        say("hopseal node %slistening on %s" % ("" if name == "node" else name + " ",
                                                 hostport_text(listen[0], listener.port)))
    if relay is not None:
        # `ockam relay create NAME --at HUB --to this node`: forward_to_NAME at the hub leads here,
        # kept alive by pinging through it and re-registering when that fails (ockam-wire §5.3)
        from ..services.relay import RelayClient

        hub = "1#%s:%d" % relay_at
        connect = None
        if vault is not None:
            # static names are registered through a secure channel to the hub: the relay is then
            # bound to this node's identity, and nobody else can take it (services/relay.py)
            from ..secure.channel import create_secure_channel

            async def connect():
                ch = await create_secure_channel(node, vault, [hub, "api"], cache=node.api.cache, timeout=10)
                return [ch.encryptor_address]

        client = RelayClient(node, await connect() if connect else [hub], name=relay, connect=connect,
                             plain_route=[hub] if connect else None)  # docs/wire.md §6.1
        node.relay_client = client  # for the host's status
        say("relay %s registered at %s" % (await client.register(), hostport_text(relay_at[0], relay_at[1])))
        node.relay_task = asyncio.create_task(client.keep_alive(
            interval=relay_interval,
            on_change=lambda c: say("relay %s registered again" % c.relay_address.text())))
    return node, listener


async def serve(**kw):
    node, _ = await build(**kw)
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        await node.stop()


def main(argv):
    try:
        kw = _options(argv)
    except ConfigError as e:
        print("error: %s (see --help)" % e, file=sys.stderr)
        return 2
    if kw is None:
        print(USAGE)
        return 0
    try:
        path = kw.pop("vault_path", None)
        if path is not None:
            from ..compat import wall_time
            from ..crypto.soft import SoftCrypto
            from ..secure.vault import open_vault

            kw["crypto"] = SoftCrypto()
            kw["vault"] = open_vault(kw["crypto"], path, wall_time())
        asyncio.run(serve(**kw))
    except KeyboardInterrupt:
        print("stopped")
        return 130
    except (HopsealError, OSError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    return 0


def _options(argv):
    """build()'s keyword arguments from the command line; None for --help."""
    kw = {"name": "node", "forwards": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            return None
        if i + 1 >= len(argv):
            raise ConfigError("%s needs a value" % a)
        v = argv[i + 1]
        if a == "--listen":
            kw["listen"] = parse_hostport(v)
        elif a == "--forward":
            fname, _, hp = v.partition("=")
            kw["forwards"].append((fname, parse_hostport(hp)))
        elif a == "--name":
            kw["name"] = v
        elif a == "--vault":
            kw["vault_path"] = v
        elif a == "--secure-only":
            kw.setdefault("secure_only", []).append(v)
        elif a == "--authorized":
            kw.setdefault("authorized", []).append(v)
        elif a == "--relay":
            kw["relay"] = v
        elif a == "--at":
            kw["relay_at"] = parse_hostport(v)
        elif a == "--outlet":
            kw.setdefault("outlets", []).append(outlet_arg(v))
        else:
            raise ConfigError("unknown option %s (see --help)" % a)
        i += 2
    return kw


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
