"""`hopseal status`: what a running hub, gateway or node holds, read through a local control socket.

A hub lists its connections, relays with their owners, secure channels and counters; a gateway its
boards (port, link state, last seen, the identity a board announces, link counters), its hub link
and Wi-Fi boards; a node (`hopseal node`, `hopseal relay create`) its connections, secure channels,
the relay it keeps at a hub and its forwarders.

Rules upheld here:
- the control is a Unix socket ($HOPSEAL_HOME/KIND.sock, or KIND-NAME.sock for a node or gateway
  with its own --name), never a network listener: only processes on this machine that may open the
  file reach it; it is created 0600 inside the 0700 home folder;
- it is read-only: a client connects, gets one JSON document (a snapshot) and the socket closes;
- a stale socket file (its process gone) is replaced; a live one (another process with the same
  name and home) is left alone and this one runs without a control, with a warning;
- the JSON field names are stable (scripts read them); the text form is for people.
"""
from __future__ import annotations

import argparse
import asyncio
import glob
import json
import logging
import os
import socket
import time

from hopseal.compat import ticks_diff, ticks_ms
from hopseal.errors import HopsealError

from .home import default_home, titled

log = logging.getLogger("hopseal.status")

KINDS = ("hub", "gateway", "node")


def default_control(kind: str, name: str | None = None) -> str:
    """$HOPSEAL_HOME/KIND.sock, or KIND-NAME.sock when NAME is not the default (KIND itself, or
    "node" for a node)."""
    if not name or name == kind:
        return os.path.join(default_home(), "%s.sock" % kind)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return os.path.join(default_home(), "%s-%s.sock" % (kind, safe))


def _identifier(value) -> str | None:
    if isinstance(value, (bytes, bytearray)) and len(value) == 32:
        from hopseal.secure.identity import identifier_text

        return identifier_text(value)
    return None


def _secs(now: int, then) -> float | None:
    return None if then is None else round(ticks_diff(now, then) / 1000, 1)


def connections(node, now: int) -> list[dict]:
    """The node's TCP connections: accepted (incoming) and dialled."""
    tcp = getattr(node, "tcp", None)
    return [{"peer": str(c.peer), "incoming": bool(incoming), "address": c.address.text(), "rx_frames": c.rx_frames,
             "tx_frames": c.tx_frames, "idle_s": _secs(now, c.rx_at)}
            for c, incoming in (list(tcp.open.items()) if tcp is not None else [])]


def channels(node, now: int) -> list[dict]:
    """Every secure channel of the node that is up, opened by it (initiator) or accepted (responder).

    Messages and rekeys come from the channel's cipher state: tx_messages is the encryptor's next
    nonce (every message sent), rx_messages the highest nonce received + 1 (every message received
    when they came in order); a side rekeys every 32 messages (secure/cipher.py)."""
    from hopseal.secure.cipher import KEY_RENEWAL_INTERVAL

    out = []
    for worker in list(node.workers.values()):
        ch = getattr(worker, "ch", None)
        if not getattr(ch, "is_secure_channel", False) or worker is not node.workers.get(ch.encryptor_address.value):
            continue  # one entry per channel: at its encryptor
        if not ch.ready or ch.closed:
            continue
        enc, dec = ch.encryptor, ch.decryptor
        tx = enc.nonce if enc is not None else 0
        rx = dec.highest + 1 if dec is not None and dec.bitmap else 0
        out.append({"peer": ch.peer(), "role": "initiator" if ch.initiator else "responder", "carrier": ch.carrier,
                    "age_s": _secs(now, getattr(ch, "opened", None)), "idle_s": _secs(now, ch.active),
                    "tx_messages": tx, "rx_messages": rx,
                    "tx_rekeys": (tx - 1) // KEY_RENEWAL_INTERVAL if tx > 0 else 0,
                    "rx_rekeys": dec.cur_interval if dec is not None else 0})
    return out


def _relays(node) -> list[dict]:
    relays = getattr(node, "relays", None)
    out = []
    for name, r in sorted((relays.relays if relays is not None else {}).items()):
        owner = _identifier(r.owner)
        out.append({"name": name, "address": r.address.text(),
                    "owner": owner or "connection %s" % getattr(r.owner, "peer", r.owner),
                    "owner_kind": "identity" if owner else "connection", "forwarded": r.forwarded})
    return out


def _name(key) -> str:
    return key.decode("utf-8", "replace") if isinstance(key, (bytes, bytearray)) else str(key)


def _is_random(key) -> bool:
    """A worker address made by Address.random (mailboxes, connections, channel ends): 32 hex digits."""
    text = _name(key)
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def node_snapshot(node, started: float, kind: str = "node") -> dict:
    """What a hub or node holds now, as plain data."""
    from hopseal.services.basic import Forwarder

    now = ticks_ms()
    vault = getattr(node, "vault", None)
    out: dict = {"kind": kind, "name": node.name, "identifier": vault.identifier_text() if vault is not None else None,
                 "uptime_s": round(time.time() - started, 1)}
    out["connections"] = connections(node, now)
    out["relays"] = _relays(node)  # relays held here (a hub)
    service = getattr(node, "relays", None)
    if service is not None:  # what registrations meet now (SIGHUP may have changed it)
        out["relay_policy"] = {"mode": service.policy.mode, "reserved": sorted(service.policy.pinned),
                               "per_owner": service.per_owner, "max_relays": service.max_relays}
    out["channels"] = channels(node, now)
    if kind != "hub":
        client = getattr(node, "relay_client", None)
        out["relay"] = None if client is None else {
            "name": client.name, "address": client.relay_address.text() if client.relay_address else None,
            "registered": client.relay_address is not None}
        held = {r["address"] for r in out["relays"]}
        named = {_name(k): w for k, w in node.workers.items() if not _is_random(k) and _name(k) not in held}
        out["forwarders"] = [{"name": k, "to": ", ".join(a.text() for a in w.to), "forwarded": w.forwarded}
                             for k, w in sorted(named.items()) if isinstance(w, Forwarder)]
        out["services"] = sorted(named)
    out["counters"] = dict(sorted(node.counters.items()))
    return out


def snapshot(node, started: float) -> dict:
    """A hub's snapshot (kept for callers of the first version)."""
    return node_snapshot(node, started, "hub")


class Control:
    """The control socket of a running hub, gateway or node: each connection gets one JSON snapshot.

    `snapshot` makes it (default: node_snapshot of `node` as `kind`); `node` stops it on its way out."""

    def __init__(self, node, path: str, kind: str = "hub", snapshot=None):
        self.node = node
        self.path = path
        self.kind = kind
        self.started = time.time()
        self.snapshot = snapshot or (lambda: node_snapshot(self.node, self.started, self.kind))
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
            writer.write((json.dumps(self.snapshot()) + "\n").encode())
            await writer.drain()
        except (OSError, HopsealError) as e:  # a client that went away
            log.debug("status client: %s", e)
        except Exception:  # a bug in a snapshot: told here; the client gets nothing and says so
            log.exception("status: cannot make the snapshot")
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


async def start_control(node, path: str | None, kind: str, name: str | None = None, snapshot=None) -> None:
    """Serve status at `path` (None: the default for kind and name; "": no control socket)."""
    if path == "":
        return
    await Control(node, path or default_control(kind, name), kind, snapshot).start()


def _alive(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _others(path: str) -> str:
    """A hint naming the control sockets that do exist in the same folder."""
    found = sorted(os.path.basename(p) for p in glob.glob(os.path.join(os.path.dirname(path) or ".", "*.sock"))
                   if p != path)
    if not found:
        return ""
    return " (found %s: `hopseal status KIND --name NAME` reads KIND-NAME.sock)" % ", ".join(found)


def query(path: str, timeout: float = 5.0, kind: str = "hub") -> dict:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except FileNotFoundError:
        raise HopsealError("no control socket at %s: is the %s running (with this HOPSEAL_HOME)? give its "
                           "--control PATH with --control%s" % (path, kind, _others(path))) from None
    except ConnectionRefusedError:
        raise HopsealError("nothing answers at %s (a stale socket: the %s that made it is gone)" % (path, kind)) from None
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    if not chunks:
        raise HopsealError("the %s at %s answered nothing: its log says why" % (kind, path))
    return json.loads(b"".join(chunks))


def _channel_lines(st: dict) -> list[str]:
    lines = ["secure channels (%d):" % len(st["channels"])]
    for ch in st["channels"]:
        lines.append("  %s %s%s, age %ss, idle %ss, messages tx %d rx %d, rekeys tx %d rx %d" % (
            ch["peer"], ch.get("role", ""), " (relay carrier)" if ch["carrier"] else "", ch.get("age_s"),
            ch["idle_s"], ch.get("tx_messages", 0), ch.get("rx_messages", 0), ch.get("tx_rekeys", 0),
            ch.get("rx_rekeys", 0)))
    return lines


def _connection_lines(conns: list[dict], title: str = "connections") -> list[str]:
    lines = ["%s (%d):" % (title, len(conns))]
    for c in conns:
        lines.append("  %-8s %-24s rx %d tx %d frames, idle %ss" % (
            "in" if c["incoming"] else "out", c["peer"], c["rx_frames"], c["tx_frames"], c["idle_s"]))
    return lines


def _counter_line(counters: dict) -> str:
    return "counters: " + (", ".join("%s %d" % kv for kv in counters.items()) or "none")


def render(st: dict) -> str:
    """A snapshot as text for people (the JSON form is the stable one)."""
    if st.get("kind") == "gateway":
        return render_gateway(st)
    kind = st.get("kind", "hub")
    lines = ["%s  %s  up %ss" % (titled(kind, st["name"]), st["identifier"] or "(no identity)", st["uptime_s"])]
    lines += _connection_lines(st["connections"])
    if kind == "hub" or st["relays"]:
        policy = st.get("relay_policy")
        lines.append("relays (%d)%s:" % (len(st["relays"]), "" if policy is None else
                                         ", policy %s, %d reserved name(s), %d per owner" % (
                                             policy["mode"], len(policy["reserved"]), policy["per_owner"])))
        for r in st["relays"]:
            lines.append("  %-24s owner %s, %d forwarded" % (r["address"], r["owner"], r["forwarded"]))
    if kind != "hub":
        r = st.get("relay")
        if r is not None:
            lines.append("relay at the hub: %s (%s)" % (r["address"] or "forward_to_%s" % r["name"],
                                                       "registered" if r["registered"] else "not registered"))
        for f in st.get("forwarders", []):
            lines.append("forwarder %s -> %s, %d forwarded" % (f["name"], f["to"], f["forwarded"]))
        lines.append("services: %s" % (", ".join(st.get("services", [])) or "none"))
    lines += _channel_lines(st)
    lines.append(_counter_line(st["counters"]))
    return "\n".join(lines)


def render_gateway(st: dict) -> str:
    hub = st["hub"]
    lines = ["%s  up %ss" % (titled("gateway", st["name"]), st["uptime_s"]),
             "hub %s: %s (%d connect(s), %d message(s) dropped while down)" % (
                 hub["address"], hub["state"], hub["connects"], hub["dropped"])]
    lines.append("boards (%d):" % len(st["boards"]))
    for b in st["boards"]:
        seen = "never" if b["last_seen_s"] is None else "%ss ago" % b["last_seen_s"]
        c = b["counters"]
        lines.append("  %-12s %-28s link %-4s last seen %s, port %s%s" % (
            b["name"], b["port"], b["link"], seen, b["port_state"],
            ", rtt %d ms" % b["rtt_ms"] if b.get("rtt_ms") is not None else ""))
        if not c and not b["identifier"]:
            continue  # never opened: nothing more to say
        lines.append("  %-12s identity %s%s; frames rx %d tx %d, crc errors %d, link ups %d downs %d" % (
            "", b["identifier"] or "(not announced)", ", relay %s" % b["relay"] if b.get("relay") else "",
            c.get("rx_frames", 0), c.get("tx_frames", 0), c.get("crc_errors", 0), c.get("link_ups", 0),
            c.get("link_downs", 0)))
    if st.get("listen"):
        lines += _connection_lines(st["wifi_boards"], "Wi-Fi boards on %s" % st["listen"])
    lines.append(_counter_line(st["counters"]))
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    st = query(args.control or default_control(args.kind, args.name), kind=args.kind)
    print(json.dumps(st, indent=2) if args.output == "json" else render(st))
    return 0


def output_arg(p: argparse.ArgumentParser) -> None:
    """--output text|json, for every command that prints data."""
    p.add_argument("--output", choices=("text", "json"), default="text",
                   help="text for people (default) or json for scripts (stable field names)")


def add_parser(sub) -> argparse.ArgumentParser:
    s = sub.add_parser("status", help="show what a running hub, gateway or node holds",
                       description="Ask a running hub, gateway or node, through its local control socket (a Unix "
                       "socket in $HOPSEAL_HOME, never reachable from the network), what it holds: a hub its "
                       "connections, relays with their owners, secure channels and counters; a gateway its "
                       "boards (port, link state, last seen, the identity each announces, link counters) and "
                       "its hub link; a node its connections, secure channels, relay and forwarders.",
                       epilog="examples:\n  hopseal status\n  hopseal status gateway --output json\n"
                       "  hopseal status node --name n1          # a node run with --name n1 (node-n1.sock)\n"
                       "  hopseal status --control /run/hopseal/hub.sock",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("kind", nargs="?", choices=KINDS, default="hub", metavar="KIND",
                   help="hub (default), gateway or node: which control socket to read")
    s.add_argument("--name", default=None,
                   help="the --name the gateway or node runs with, when not the default (relay create: the relay name)")
    s.add_argument("--control", metavar="PATH",
                   help="the control socket (default $HOPSEAL_HOME/KIND.sock, KIND-NAME.sock with --name)")
    output_arg(s)
    s.set_defaults(func=cmd_status)
    return s
