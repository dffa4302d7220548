"""The `hopseal` command: run nodes, hubs and gateways; manage identities; send messages.

Commands follow the `ockam` CLI's noun-verb vocabulary where it fits. Rules upheld here:
- one handler (main) turns every error into one line, `hopseal COMMAND: error: what is wrong and
  what to do`, with exit status 2 for usage (bad arguments, config files: ConfigError) and 1 for
  failures (HopsealError, OSError); anything else is an internal error, told in one line too;
  `-v` (before or after the command) adds the traceback;
- Ctrl-C stops a command with status 130, a supervisor's SIGTERM with 0 (home.exit_status);
  either way the command's own cleanup runs (nodes stop, ports close, boards are unplugged);
- arguments are checked when they are parsed (routes, identifiers, hex, HOST:PORT), so a mistake
  is reported before anything is started.
"""
from __future__ import annotations

import argparse
import asyncio
import errno
import sys

from hopseal.errors import ConfigError, HopsealError

from . import eventloop, logsetup
from .home import exit_status, host_crypto, hostport, identifier_arg, open_identity, stop_on_signals
from .limits import add_transport_args, transport_options
from .status import output_arg


class Parser(argparse.ArgumentParser):
    """argparse whose mistakes are one line, `PROG: error: MESSAGE`, exit status 2 (no usage dump:
    the message says what is wrong; `--help` is named where it does not)."""

    def error(self, message: str):
        if not message.startswith("argument "):  # a missing or unknown argument, not a bad value
            message += " (see %s --help)" % self.prog
        self.exit(2, "%s: error: %s\n" % (self.prog, message))


class CommandParser(Parser):
    """A (sub)command's parser: also takes -v/-q after the command name, and records its name for
    error messages (`hopseal message send: error: ...`)."""

    by_prog: dict[str, "CommandParser"] = {}

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        _verbosity_args(self, after_command=True)
        self.set_defaults(prog=self.prog)
        CommandParser.by_prog[self.prog] = self


def _verbosity_args(p: argparse.ArgumentParser, after_command: bool = False) -> None:
    # after the command, a flag that is not given must not reset the one given before it: SUPPRESS
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if after_command else 0,
                   help="more log output (repeat for debug); errors come with their traceback")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS if after_command else False,
                   help="only warnings and errors")


def route_arg(text: str) -> str:
    """argparse `type=` for --to: a route that parses (kept as text; open_route parses it again)."""
    from .multiaddr import parse

    try:
        parse(text)
    except HopsealError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _forward(s: str) -> tuple[str, tuple[str, int]]:
    name, sep, hp = s.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=HOST:PORT, got %r" % s)
    return name, hostport(hp)


async def serve_node(control: str | None, **kw) -> None:
    """The runtime's node (hopseal.apps.node.build) with a control socket for `hopseal status node`."""
    from hopseal.apps.node import build

    from .limits import host_transport
    from .status import start_control

    kw["transport"] = {**host_transport(), **(kw.get("transport") or {})}
    node, _ = await build(**kw)
    try:
        await start_control(node, control, "node", kw.get("name"))
        while True:
            await asyncio.sleep(3600)
    finally:
        await node.stop()


def _control_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--control", default=None, metavar="PATH",
                   help="the local control socket `hopseal status node` reads (default $HOPSEAL_HOME/node.sock, "
                   "node-NAME.sock for another --name; \"\" for none)")


def cmd_node(args: argparse.Namespace) -> int:
    if (args.relay is None) != (args.at is None):
        raise HopsealError("--relay NAME and --at HOST:PORT go together")
    kw: dict = dict(name=args.name, listen=args.listen, forwards=args.forward, relay=args.relay, relay_at=args.at,
                    transport=transport_options(args), outlets=args.outlet)
    vault = None
    if not args.no_secure_channel:
        crypto = host_crypto()
        vault = open_identity(args.vault, crypto)
        kw.update(crypto=crypto, vault=vault, secure_only=args.secure_only, authorized=args.authorized or None)
    kw["inlets"] = [(hp, _inlet_route(text, vault, args.authorized, args.timeout)) for hp, text in args.inlet]
    eventloop.run(serve_node(args.control, **kw))
    return 0


# -- TCP portals (`ockam tcp-outlet create`, `ockam tcp-inlet create`) ------------------------------
def _outlet(s: str) -> tuple[str, tuple[str, int]]:
    from hopseal.apps.node import outlet_arg

    try:
        return outlet_arg(s)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _inlet(s: str) -> tuple[tuple[str, int], str]:
    hp, sep, text = s.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("expected HOST:PORT=ROUTE, got %r" % s)
    return hostport(hp), route_arg(text)


def _inlet_route(text: str, vault, authorized: list[str] | None, timeout: float):
    """For build(inlets=...): a function of the node giving the inlet's `to`, an async function that
    opens the route's transport and secure channels on first use and again once they are gone (one
    channel carries every connection of the inlet, as Ockam's inlets share theirs)."""
    first_hop_check(text)
    if "/secure/" in text and vault is None:
        raise ConfigError("inlet route %r opens a secure channel: it needs an identity (drop --no-secure-channel)" % text)

    def make(node):
        held: dict = {}
        lock = asyncio.Lock()

        async def to():
            async with lock:
                r = held.get("route")
                if r is None or not node.has_worker(r[0]):
                    r, _ = await open_route(node, text, vault, authorized or None, timeout)
                    held["route"] = r
                return r

        return to

    return make


def _portal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--outlet", type=_outlet, action="append", default=[], metavar="[ADDR=]HOST:PORT",
                   help="start a TCP outlet at ADDR (default outlet) to HOST:PORT: the far end of an inlet's route "
                   "(with an identity, reachable only through a secure channel; from --authorized ones if given)")
    p.add_argument("--inlet", type=_inlet, action="append", default=[], metavar="HOST:PORT=ROUTE",
                   help="start a TCP inlet on HOST:PORT whose connections go to the outlet at ROUTE, e.g. "
                   "127.0.0.1:5000=/ip4/127.0.0.1/tcp/4000/service/forward_to_board1/secure/api/service/outlet")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds an inlet waits for its secure channels (default 10)")


def cmd_tcp_outlet_create(args: argparse.Namespace) -> int:
    if (args.relay is None) != (args.hub is None):
        raise HopsealError("--relay NAME and --hub HOST:PORT go together")
    if args.relay is None and args.listen is None:
        raise ConfigError("nothing could reach this outlet: give --relay NAME --hub HOST:PORT, or --listen HOST:PORT")
    crypto = host_crypto()
    eventloop.run(serve_node(args.control, name="outlet", listen=args.listen, forwards=[], crypto=crypto,
                           vault=open_identity(args.vault, crypto), authorized=args.authorized or None,
                           relay=args.relay, relay_at=args.hub, outlets=[(args.at, args.to)], portal_chunk=args.chunk))
    return 0


def cmd_tcp_inlet_create(args: argparse.Namespace) -> int:
    crypto = host_crypto()
    vault = open_identity(args.vault, crypto) if "/secure/" in args.to else None
    eventloop.run(serve_node(args.control, name="inlet", listen=None, forwards=[], crypto=crypto, vault=None,
                           services=False,
                           inlets=[(args.from_, _inlet_route(args.to, vault, args.authorized, args.timeout))],
                           portal_chunk=args.chunk))
    return 0


def _identity_args(p: argparse.ArgumentParser) -> None:
    """The flags of a node that runs the `api` listener with its identity."""
    p.add_argument("--vault", default=None, metavar="PATH",
                   help="the node's identity file (created on first use; default $HOPSEAL_HOME/identity, "
                   "HOPSEAL_HOME defaults to ~/.hopseal)")
    p.add_argument("--secure-only", action="append", default=[], metavar="SERVICE",
                   help="make SERVICE (e.g. echo) reachable only through a secure channel")
    p.add_argument("--authorized", type=identifier_arg, action="append", default=[], metavar="IDENTIFIER",
                   help="accept secure channels only from this identifier (repeatable)")


def _relay_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--relay", default=None, metavar="NAME",
                   help="register relay forward_to_NAME at the hub --at, leading to this node, and keep it alive")
    p.add_argument("--at", type=hostport, default=None, metavar="HOST:PORT", help="the hub for --relay")


def cmd_relay_create(args: argparse.Namespace) -> int:
    crypto = host_crypto()
    eventloop.run(serve_node(args.control, name=args.relay, listen=None, forwards=[], crypto=crypto, vault=open_identity(args.vault, crypto),
                      secure_only=args.secure_only, authorized=args.authorized or None, relay=args.relay, relay_at=args.at,
                      relay_interval=args.ping_interval))
    return 0


def _print_json(data) -> None:
    import json

    print(json.dumps(data, indent=2))


def cmd_identity_create(args: argparse.Namespace) -> int:
    v = open_identity(args.vault)
    if args.output == "json":
        _print_json({"identifier": v.identifier_text()})
    else:
        print(v.identifier_text())
    return 0


def cmd_identity_show(args: argparse.Namespace) -> int:
    from hopseal.compat import hexstr

    v = open_identity(args.vault)
    if args.output == "json":
        data = {"identifier": v.identifier_text()}
        if args.full:
            data.update(change_history=hexstr(v.identity.change_history), x25519_static_key=hexstr(v.x25519_pub),
                        attestation=hexstr(v.attestation), attestation_expires_at=v.attestation_expires_at)
        _print_json(data)
    elif args.full:
        print("identifier:        %s" % v.identifier_text())
        print("change history:    %s" % hexstr(v.identity.change_history))
        print("x25519 static key: %s" % hexstr(v.x25519_pub))
        print("attestation:       %s" % hexstr(v.attestation))
        print("attestation until: %d" % v.attestation_expires_at)
    else:
        print(v.identifier_text())
    return 0


async def open_route(node, text: str, vault, authorized: list[str] | None, timeout: float):
    """Resolve a multiaddr route, opening the secure channels it names; returns (route, channels)."""
    from hopseal.errors import ReceiveTimeout
    from hopseal.secure.channel import create_secure_channel
    from hopseal.secure.trust import TrustIdentifiers
    from hopseal.wire.message import TCP, Address

    from .home import parse_hostport
    from .multiaddr import parse

    segs = parse(text)
    first = segs[0].hops[0] if segs[0].hops else None
    if first is not None and first.tt == TCP:
        # dial the first hop here: its text may be an IPv6 address in brackets ([::1]:4000), and a
        # refused connection is then told before any channel is tried
        conn = await node.tcp.connect(*parse_hostport(first.text()))
        segs[0].hops[0] = conn.address
    current: list = []
    shown: list = []  # the hops as the user wrote them, for messages
    channels = []
    for seg, written in zip(segs, parse(text)):
        current = current + seg.hops
        shown = shown + written.hops
        if seg.secure is not None:
            trust = TrustIdentifiers(authorized) if authorized else None
            try:
                ch = await create_secure_channel(node, vault, current + [seg.secure], trust=trust, timeout=timeout)
            except ReceiveTimeout:
                raise ReceiveTimeout(
                    "no secure channel to %s within %gs: nothing answered along %s; probably no secure-channel "
                    "listener %s there (`hopseal node` runs one named api unless --no-secure-channel)%s"
                    % (seg.secure, timeout, _route_text(shown), seg.secure, _relay_hint(shown))) from None
            print("secure channel to %s established (peer %s)" % (seg.secure, ch.peer()), file=sys.stderr)
            channels.append(ch)
            current = [ch.encryptor_address]
            shown = shown + [Address.parse("secure/%s" % seg.secure)]
    return current, channels


def _route_text(hops) -> str:
    return ", ".join(h.text() for h in hops)


def _relay_hint(hops) -> str:
    relays = [h.text() for h in hops if h.is_local() and h.text().startswith("forward_to_")]
    if not relays:
        return ""
    return ", or relay %s is not registered at the hub (is the board or node behind it up?)" % relays[-1]


def first_hop_check(text: str) -> None:
    """A route must start at a transport: this process has no services of its own to send to."""
    from hopseal.wire.message import TCP

    from .multiaddr import parse

    segs = parse(text)
    first = segs[0].hops[0] if segs and segs[0].hops else None
    if first is None or first.tt != TCP:
        raise ConfigError("route %r starts with no transport hop, so the message could go nowhere: begin it with "
                          "/ip4/HOST/tcp/PORT (or /dnsaddr/NAME/tcp/PORT, /ip6/ADDR/tcp/PORT), e.g. "
                          "/ip4/127.0.0.1/tcp/4000/service/echo" % text)


def cmd_message_send(args: argparse.Namespace) -> int:
    from hopseal.errors import DecodeError, ReceiveTimeout, TransportError
    from hopseal.node import Node
    from hopseal.transport.tcp import TCPTransport
    from hopseal.wire import bare

    first_hop_check(args.to)
    # `ockam message send` sends its message as serde_bare data (a length, then the bytes): what
    # String services (uppercase) decode and echo sends back as it came. --raw and --hex send
    # the bytes as they are.
    if args.hex:
        try:
            payload = bytes.fromhex(args.message)
        except ValueError:
            raise ConfigError("MESSAGE %r is not hex: give pairs of hex digits (e.g. 68690a), or drop --hex to "
                              "send it as text" % args.message) from None
    elif args.raw:
        payload = args.message.encode()
    else:
        payload = bare.encode_string(args.message)

    peers: list[str] = []

    async def go() -> bytes:
        crypto = host_crypto()
        node = Node("cli", crypto=crypto)
        TCPTransport(node)
        vault = open_identity(args.vault, crypto) if "/secure/" in args.to else None
        try:
            try:
                route, channels = await open_route(node, args.to, vault, args.authorized, args.timeout)
                try:
                    reply = await node.send_and_receive(route, payload, args.timeout)
                except ReceiveTimeout:
                    raise ReceiveTimeout("no reply within %gs from %s: %s"
                                         % (args.timeout, args.to, _no_reply_hint(args.to))) from None
            except TransportError as e:
                if not str(e).startswith("cannot connect"):
                    raise
                raise TransportError("%s (is a hub or node listening there?)" % e) from None
            for ch in channels:
                peers.append(ch.peer())
                await ch.close()
            return reply.payload
        finally:
            await node.stop()

    data = asyncio.run(go())
    text = None
    if not args.raw and not args.hex:
        try:
            text = bare.decode_string(data)  # a reply in the form we sent
        except (DecodeError, UnicodeError):
            pass
    if args.output == "json":
        # reply: the text as printed without --output (null with --hex); reply_hex: its bytes as they came
        _print_json({"to": args.to, "reply": None if args.hex else (text if text is not None else
                                                                      data.decode(errors="replace")),
                     "reply_hex": data.hex(), "secure_channels": peers})
    elif args.hex:
        print(data.hex())
    else:
        print(text if text is not None else data.decode(errors="replace"))
    return 0


def _no_reply_hint(text: str) -> str:
    """What a message that got no reply probably met, from the shape of its route (one line)."""
    from .multiaddr import parse

    segs = parse(text)
    last = segs[-1].hops[-1].text() if segs[-1].hops else "the last hop"
    why = []
    hint = _relay_hint([h for seg in segs for h in seg.hops])
    if hint:
        why.append(hint[len(", or "):])
    why.append("no service %s there (a node drops messages to workers it does not have; run it with -v to see)" % last)
    if len(segs) == 1:
        why.append("%s takes messages only through a secure channel (try .../secure/api/service/%s)" % (last, last))
    if last == "uppercase":
        why.append("uppercase could not decode the message (it takes text as sent without --raw)")
    return "probably " + "; or ".join(why)


def version_text() -> str:
    import platform

    import hopseal

    return "hopseal %s (Python %s)" % (hopseal.__version__, platform.python_version())


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="hopseal",
        description="End-to-end encrypted Ockam routing for microcontrollers: nodes, hubs, serial gateways.",
        epilog="Run `hopseal COMMAND --help` for the options of each command.",
    )
    _verbosity_args(p)
    p.add_argument("--version", action="version", version=version_text(), help="print the version and exit")
    p.set_defaults(prog="hopseal")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    sub.required = True

    n = sub.add_parser(
        "node",
        help="run a node with the default services (echo, uppercase) on a TCP listener",
        description="Run a hopseal node in the foreground with the default services of an "
        "`ockam node create` node (echo, uppercase) on a TCP listener speaking the Ockam 0.128+ "
        "wire format. Stops cleanly on Ctrl-C.",
    )
    n.add_argument("--listen", type=hostport, default=("127.0.0.1", 4000), metavar="HOST:PORT",
                   help="TCP address to listen on (default 127.0.0.1:4000; port 0 picks a free one)")
    n.add_argument("--name", default="node", help="node name used in logs (default: node)")
    n.add_argument("--forward", type=_forward, action="append", default=[], metavar="NAME=HOST:PORT",
                   help="start a forwarding worker NAME that relays everything to the node at "
                   "HOST:PORT (the middle node of the two-hop example, e.g. forward_to_bob=127.0.0.1:4000)")
    _identity_args(n)
    n.add_argument("--no-secure-channel", action="store_true",
                   help="do not start the `api` secure-channel listener (no identity needed)")
    _relay_args(n)
    _portal_args(n)
    add_transport_args(n)
    _control_arg(n)
    config_arg(n)
    logsetup.add_log_format_arg(n)
    n.set_defaults(func=cmd_node)

    rel = sub.add_parser("relay", help="create a relay at a hub that leads to a node here",
                         description="Relays at a hub (`forward_to_NAME`) let anyone who can reach the hub reach a "
                         "node behind NAT or a serial cable.")
    rsub = rel.add_subparsers(dest="action", metavar="ACTION")
    rsub.required = True
    rc = rsub.add_parser(
        "create", help="run a node here whose relay NAME at the hub leads to it (foreground)",
        description="Run a node with the default services and the `api` secure-channel listener, register "
        "relay forward_to_NAME at the hub --at HOST:PORT, and keep it alive (ping through it; re-register when "
        "that fails). Others then reach this node along /ip4/HUB/tcp/PORT/service/forward_to_NAME/..., e.g. "
        "/secure/api/service/echo. Like `ockam relay create NAME --at HUB --to NODE`, for a node run by "
        "this command.",
    )
    rc.add_argument("relay", metavar="NAME", help="the relay name (static): forward_to_NAME")
    rc.add_argument("--at", type=hostport, required=True, metavar="HOST:PORT", help="the hub's TCP listener")
    _identity_args(rc)
    rc.add_argument("--ping-interval", type=float, default=10.0, metavar="S",
                    help="seconds between pings through the relay (default 10; Ockam sessions ping every 10 s)")
    _control_arg(rc)
    logsetup.add_log_format_arg(rc)
    rc.set_defaults(func=cmd_relay_create)

    ident = sub.add_parser("identity", help="create or show this host's identity",
                           description="Manage the host's Ockam identity (Ed25519 change history, "
                           "X25519 secure-channel key and its purpose-key attestation).")
    isub = ident.add_subparsers(dest="action", metavar="ACTION")
    isub.required = True
    ic = isub.add_parser("create", help="create the identity (if missing) and print its identifier")
    ic.add_argument("--vault", default=None, metavar="PATH", help="identity file (default $HOPSEAL_HOME/identity)")
    output_arg(ic)
    ic.set_defaults(func=cmd_identity_create)
    ish = isub.add_parser("show", help="print the identifier (and with --full the keys and documents)")
    ish.add_argument("--vault", default=None, metavar="PATH", help="identity file (default $HOPSEAL_HOME/identity)")
    ish.add_argument("--full", action="store_true", help="also print the change history, static key and attestation")
    output_arg(ish)
    ish.set_defaults(func=cmd_identity_show)

    msg = sub.add_parser("message", help="send a message along a route (through secure channels)",
                         description="Send messages along Ockam routes.")
    msub = msg.add_subparsers(dest="action", metavar="ACTION")
    msub.required = True
    ms = msub.add_parser(
        "send", help="send MESSAGE to --to and print the reply",
        description="Send MESSAGE along a route and print the reply. A /secure/NAME segment opens an "
        "end-to-end secure channel to the listener NAME first (with this host's identity), and the rest "
        "of the route goes through it.",
        epilog="examples:\n"
        "  hopseal message send hello --to /ip4/127.0.0.1/tcp/4000/service/echo\n"
        "  hopseal message send hello --to /ip4/127.0.0.1/tcp/4000/secure/api/service/echo\n"
        "  hopseal message send hi --to /ip4/127.0.0.1/tcp/4000/service/forward_to_board1/secure/api/service/uppercase",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ms.add_argument("message", help="the payload: text (sent as Ockam's message send does, as serde_bare data), "
                    "or hex with --hex")
    ms.add_argument("--to", type=route_arg, required=True, metavar="ROUTE", help="route as a multiaddr (see examples) or 1#host:port,name,...")
    ms.add_argument("--hex", action="store_true", help="MESSAGE is the payload's bytes in hex, sent as they are; "
                    "the reply is printed as hex")
    ms.add_argument("--raw", action="store_true",
                    help="send MESSAGE's UTF-8 bytes as they are (no length prefix) and print the reply as text")
    ms.add_argument("--bare-string", action="store_true", help=argparse.SUPPRESS)  # the default now
    ms.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for channels and the reply (default 10)")
    ms.add_argument("--vault", default=None, metavar="PATH", help="identity file for secure channels")
    ms.add_argument("--authorized", type=identifier_arg, action="append", default=[], metavar="IDENTIFIER",
                    help="accept only this identifier on the other end of each secure channel")
    output_arg(ms)
    ms.set_defaults(func=cmd_message_send)

    from . import board_cmd, completion, gateway, hub, status, stream_cmd, virtual_board

    _portal_parsers(sub)
    hub.add_parser(sub)
    gateway.add_parser(sub)
    virtual_board.add_parser(sub)
    board_cmd.add_parser(sub)
    stream_cmd.add_parser(sub)
    status.add_parser(sub)
    completion.add_parser(sub).set_defaults(make_parser=build_parser)
    return p


def _portal_parsers(sub) -> None:
    out = sub.add_parser("tcp-outlet", help="expose a TCP service to inlets, through secure channels",
                         description="A TCP outlet: the far end of an inlet's route connects to HOST:PORT for each "
                         "connection the inlet accepts (Ockam's portals, byte-compatible with ockam 0.150).")
    osub = out.add_subparsers(dest="action", metavar="ACTION")
    osub.required = True
    oc = osub.add_parser(
        "create", help="run a node here with an outlet to HOST:PORT (foreground)",
        description="Run a node with the `api` secure-channel listener and a TCP outlet at ADDR (default outlet) "
        "that connects to --to HOST:PORT; only secure channels (from --authorized ones if given) reach it. With "
        "--relay NAME --hub HOST:PORT the node registers forward_to_NAME at the hub, so an inlet reaches it along "
        "/ip4/HUB/tcp/PORT/service/forward_to_NAME/secure/api/service/outlet.")
    oc.add_argument("--to", type=hostport, required=True, metavar="HOST:PORT", help="the TCP service to expose")
    oc.add_argument("--at", default="outlet", metavar="ADDR", help="the outlet's address on this node (default outlet)")
    oc.add_argument("--listen", type=hostport, default=None, metavar="HOST:PORT",
                    help="also listen for Ockam routing on HOST:PORT (default: none, reach it through --relay)")
    oc.add_argument("--relay", default=None, metavar="NAME", help="register relay forward_to_NAME at --hub")
    oc.add_argument("--hub", type=hostport, default=None, metavar="HOST:PORT", help="the hub for --relay")
    oc.add_argument("--vault", default=None, metavar="PATH",
                    help="the node's identity file (default $HOPSEAL_HOME/identity)")
    oc.add_argument("--authorized", type=identifier_arg, action="append", default=[], metavar="IDENTIFIER",
                    help="accept secure channels only from this identifier (repeatable)")
    oc.add_argument("--chunk", type=int, default=None, metavar="BYTES",
                    help="bytes read from the target per Payload (default 49152)")
    _control_arg(oc)
    oc.set_defaults(func=cmd_tcp_outlet_create)

    inl = sub.add_parser("tcp-inlet", help="accept TCP clients here and carry them to an outlet",
                         description="A TCP inlet: each client accepted on --from goes, through the secure channels "
                         "ROUTE names, to the outlet at its end (Ockam's portals, byte-compatible with ockam 0.150).")
    isub = inl.add_subparsers(dest="action", metavar="ACTION")
    isub.required = True
    ic = isub.add_parser(
        "create", help="run a node here with an inlet on HOST:PORT (foreground)",
        description="Listen on --from HOST:PORT; each connection goes to the outlet at --to ROUTE, e.g. "
        "/ip4/127.0.0.1/tcp/4000/service/forward_to_board1/secure/api/service/outlet (a board's status page: "
        "the same route ending in /service/status, or the address of its status_page). The route's channels are "
        "opened at the first connection and again when they close.")
    ic.add_argument("--from", dest="from_", type=hostport, required=True, metavar="HOST:PORT",
                    help="where clients connect (port 0 picks a free one)")
    ic.add_argument("--to", type=route_arg, required=True, metavar="ROUTE", help="the route to the outlet")
    ic.add_argument("--vault", default=None, metavar="PATH", help="identity file for the secure channels")
    ic.add_argument("--authorized", type=identifier_arg, action="append", default=[], metavar="IDENTIFIER",
                    help="accept only this identifier at the far end of each channel (repeatable)")
    ic.add_argument("--timeout", type=float, default=10.0, metavar="S",
                    help="seconds to wait for the secure channels (default 10)")
    ic.add_argument("--chunk", type=int, default=None, metavar="BYTES",
                    help="bytes read from a client per Payload (default 49152); toward a board, at most its "
                    "max_message less the channels' overhead, and small enough for its heap: 1024 for an ESP32 "
                    "(serial-link.md §8, tests/system/test_board_portal.py)")
    _control_arg(ic)
    ic.set_defaults(func=cmd_tcp_inlet_create)


_OS_HINTS = {
    errno.EADDRINUSE: "another process listens there: stop it, or choose another --listen (port 0 picks a free one)",
    errno.EACCES: "permission denied: check the path's owner and mode (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "that address is not one of this machine's: use 127.0.0.1, 0.0.0.0 or an address "
                         "of one of its interfaces",
}


def describe(e: BaseException) -> str:
    """An error as one line for a user: the message, plus what to do for common OS errors."""
    if isinstance(e, OSError) and not isinstance(e, HopsealError):
        text = e.strerror or str(e)
        if e.filename is not None:
            text = "%s: %s" % (e.filename, text)
        elif e.strerror and "[Errno" in str(e):  # asyncio's messages name the address after the errno
            text = str(e).split("] ", 1)[-1]
        hint = _OS_HINTS.get(e.errno or 0)
        return "%s (%s)" % (text, hint) if hint else text
    return str(e) or type(e).__name__


def with_config(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None):
    """For a command whose flags a config file mirrors (`config_keys`: hub, node): the file's values
    become the command's defaults and the command line is parsed again, so flags win and a
    repeatable flag adds to the file's list. ConfigError (file and line) for a wrong key or value."""
    path = getattr(args, "config", None)
    if not path or not getattr(args, "config_keys", False):
        return args
    from .config import load_toml, values_for

    command = CommandParser.by_prog[args.prog]
    command.set_defaults(**values_for(command, load_toml(path)))
    return parser.parse_args(argv)


def reparse(argv: list[str] | None) -> argparse.Namespace:
    """The command line parsed again by a fresh parser, with the config file read again (SIGHUP);
    ConfigError for a mistake in the file (the running command keeps its settings)."""
    parser = build_parser()
    args, _ = parser.parse_known_args(argv)
    return with_config(parser, args, argv)


def config_arg(p: argparse.ArgumentParser) -> None:
    """--config FILE for a command whose TOML keys are its flags (see config.py)."""
    p.add_argument("--config", metavar="FILE",
                   help="read settings from a TOML file whose keys are the flags (--relays-per-owner: "
                   "relays_per_owner = 16; repeatable flags take lists); flags given here win")
    p.set_defaults(config_keys=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)  # a usage mistake exits here: one line, status 2
    if extra:  # told by the command's parser, so the message names the command
        CommandParser.by_prog.get(args.prog, parser).error("unrecognized arguments: %s" % " ".join(extra))
    verbose = args.verbose or 0
    logsetup.setup(-1 if args.quiet else verbose, getattr(args, "log_format", "text"))
    stop_on_signals()
    prog = args.prog
    json_logs = [getattr(args, "log_format", "text") == "json"]

    def tell(level: int, text: str, e: BaseException | None = None) -> None:
        """A last word on stderr: a line of text, or with --log-format json a log record (so every
        stderr line is JSON for the log shipper)."""
        if json_logs[0]:
            import logging

            logging.getLogger("hopseal.cli").log(level, text, exc_info=e if verbose and e is not None else None)
            return
        if verbose and e is not None:
            import traceback

            traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
        print(text, file=sys.stderr, flush=True)

    def fail(e: BaseException, status: int, what: str = "error") -> int:
        tell(40, "%s: %s: %s" % (prog, what, describe(e)), e)
        return status

    try:
        args = with_config(parser, args, argv)
        if getattr(args, "log_format", "text") != "text":  # set in the config file
            logsetup.setup(-1 if args.quiet else verbose, args.log_format)
            json_logs[0] = args.log_format == "json"
        args.reparse = lambda: reparse(argv)  # SIGHUP: the config file read again (see with_config)
        return args.func(args) or 0
    except KeyboardInterrupt as e:
        tell(20, "stopped")
        return exit_status(e)
    except ConfigError as e:
        return fail(e, 2)
    except (HopsealError, OSError) as e:
        return fail(e, 1)
    except Exception as e:  # a bug: still one line, the traceback with -v
        if not verbose:
            tell(40, "%s: internal error: %s: %s (run again with -v for the traceback, and please report it)"
                 % (prog, type(e).__name__, e))
            return 1
        return fail(e, 1, "internal error")


if __name__ == "__main__":
    sys.exit(main())
