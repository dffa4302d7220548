"""The `hopseal` command: run nodes, hubs and gateways; manage identities; send messages.

Commands follow the `ockam` CLI's noun-verb vocabulary where it fits.
"""
from __future__ import annotations

import argparse
import asyncio
import sys

from hopseal.app import parse_hostport

from . import logsetup


def _hostport(s: str) -> tuple[str, int]:
    try:
        return parse_hostport(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def _forward(s: str) -> tuple[str, tuple[str, int]]:
    name, sep, hp = s.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=HOST:PORT, got %r" % s)
    return name, _hostport(hp)


def cmd_node(args: argparse.Namespace) -> int:
    from hopseal.app import serve

    asyncio.run(serve(name=args.name, listen=args.listen, forwards=args.forward))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hopseal",
        description="End-to-end encrypted Ockam routing for microcontrollers: nodes, hubs, serial gateways.",
        epilog="Run `hopseal COMMAND --help` for the options of each command.",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (repeat for debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    n = sub.add_parser(
        "node",
        help="run a node with the default services (echo, uppercase) on a TCP listener",
        description="Run a hopseal node in the foreground with the default services of an "
        "`ockam node create` node (echo, uppercase) on a TCP listener speaking the Ockam 0.128+ "
        "wire format. Stops cleanly on Ctrl-C.",
    )
    n.add_argument("--listen", type=_hostport, default=("127.0.0.1", 4000), metavar="HOST:PORT",
                   help="TCP address to listen on (default 127.0.0.1:4000; port 0 picks a free one)")
    n.add_argument("--name", default="node", help="node name used in logs (default: node)")
    n.add_argument("--forward", type=_forward, action="append", default=[], metavar="NAME=HOST:PORT",
                   help="start a forwarding worker NAME that relays everything to the node at "
                   "HOST:PORT (the middle node of the two-hop example, e.g. forward_to_bob=127.0.0.1:4000)")
    n.set_defaults(func=cmd_node)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logsetup.setup(-1 if args.quiet else args.verbose)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
