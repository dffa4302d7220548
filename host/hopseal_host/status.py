"""`hopseal status`: what a running hub holds (connections, relays with owners, secure channels,
counters), read through a local control socket.

Rules upheld here:
- the control is a Unix socket ($HOPSEAL_HOME/NAME.sock by default), never a network listener: only
  processes on this machine that may open the file reach it; it is created 0600 inside the 0700
  home folder;
- it is read-only: a client connects, gets one JSON document (a snapshot) and the socket closes;
- a stale socket file (its process gone) is replaced; a live one (another hub with the same name
  and home) is left alone and this hub runs without a control, with a warning.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import time

from hopseal.compat import ticks_diff, ticks_ms
from hopseal.errors import HopsealError

from .home import default_home

log = logging.getLogger("hopseal.status")


def default_control(name: str) -> str:
    return os.path.join(default_home(), "%s.sock" % name)


def _identifier(value) -> str | None:
    if isinstance(value, (bytes, bytearray)) and len(value) == 32:
        from hopseal.secure.identity import identifier_text

        return identifier_text(value)
    return None


def snapshot(node, started: float) -> dict:
    """What `node` holds now, as plain data."""
    now = ticks_ms()
    vault = getattr(node, "vault", None)
    out: dict = {"name": node.name, "identifier": vault.identifier_text() if vault is not None else None,
                 "uptime_s": round(time.time() - started, 1)}
    tcp = getattr(node, "tcp", None)
    out["connections"] = [
        {"peer": str(c.peer), "incoming": bool(incoming), "address": c.address.text(), "rx_frames": c.rx_frames,
         "tx_frames": c.tx_frames, "idle_s": round(ticks_diff(now, c.rx_at) / 1000, 1)}
        for c, incoming in (list(tcp.open.items()) if tcp is not None else [])]
    relays = getattr(node, "relays", None)
    out["relays"] = []
    for name, r in sorted((relays.relays if relays is not None else {}).items()):
        owner = _identifier(r.owner)
        out["relays"].append({"name": name, "address": r.address.text(), "owner": owner or "connection %s" % getattr(r.owner, "peer", r.owner),
                              "owner_kind": "identity" if owner else "connection", "forwarded": r.forwarded})
    api = getattr(node, "api", None)
    out["channels"] = [
        {"peer": ch.peer(), "carrier": ch.carrier, "idle_s": round(ticks_diff(now, ch.active) / 1000, 1)}
        for ch in (api.channels if api is not None else []) if ch.ready and not ch.closed]
    out["counters"] = dict(sorted(node.counters.items()))
    return out


class Control:
    """The control socket of a running node: each connection gets one JSON snapshot."""

    def __init__(self, node, path: str):
        self.node = node
        self.path = path
        self.started = time.time()
        self.server = None

    async def start(self) -> "Control | None":
        if os.path.exists(self.path):
            if _alive(self.path):
                log.warning("control socket %s is in use by another process: no `hopseal status` for this one "
                            "(give it --control PATH)", self.path)
                return None
            os.unlink(self.path)  # stale: its process is gone
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), mode=0o700, exist_ok=True)
        old = os.umask(0o177)  # the socket file is created 0600
        try:
            self.server = await asyncio.start_unix_server(self._serve, self.path)
        finally:
            os.umask(old)
        self.node.on_stop(self)
        return self

    async def _serve(self, reader, writer) -> None:
        try:
            writer.write((json.dumps(snapshot(self.node, self.started)) + "\n").encode())
            await writer.drain()
        except (OSError, HopsealError) as e:  # a client that went away
            log.debug("status client: %s", e)
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _alive(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def query(path: str, timeout: float = 5.0) -> dict:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except FileNotFoundError:
        raise HopsealError("no control socket at %s: is the hub running (with this HOPSEAL_HOME)? give its "
                           "--control PATH with --control" % path) from None
    except ConnectionRefusedError:
        raise HopsealError("nothing answers at %s (a stale socket: the hub that made it is gone)" % path) from None
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    return json.loads(b"".join(chunks))


def render(st: dict) -> str:
    lines = ["%s  %s  up %ss" % (st["name"], st["identifier"] or "(no identity)", st["uptime_s"])]
    lines.append("connections (%d):" % len(st["connections"]))
    for c in st["connections"]:
        lines.append("  %-8s %-24s rx %d tx %d frames, idle %ss" % (
            "in" if c["incoming"] else "out", c["peer"], c["rx_frames"], c["tx_frames"], c["idle_s"]))
    lines.append("relays (%d):" % len(st["relays"]))
    for r in st["relays"]:
        lines.append("  %-24s owner %s, %d forwarded" % (r["address"], r["owner"], r["forwarded"]))
    lines.append("secure channels (%d):" % len(st["channels"]))
    for ch in st["channels"]:
        lines.append("  %s%s, idle %ss" % (ch["peer"], " (relay carrier)" if ch["carrier"] else "", ch["idle_s"]))
    lines.append("counters: " + (", ".join("%s %d" % kv for kv in st["counters"].items()) or "none"))
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    st = query(args.control or default_control("hub"))
    print(json.dumps(st, indent=2) if args.output == "json" else render(st))
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    s = sub.add_parser("status", help="show what a running hub holds: connections, relays, channels, counters",
                       description="Ask a running hub, through its local control socket (never reachable from "
                       "the network), for its connections, relays with their owners, secure channels and "
                       "counters.")
    s.add_argument("--control", metavar="PATH", help="the hub's control socket (default $HOPSEAL_HOME/hub.sock)")
    s.add_argument("--output", choices=("text", "json"), default="text", help="text (default) or json")
    s.set_defaults(func=cmd_status)
    return s
