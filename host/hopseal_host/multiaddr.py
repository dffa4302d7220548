"""Ockam-style route text (multiaddr), e.g.

    /ip4/127.0.0.1/tcp/4000/service/echo
    /dnsaddr/hub.local/tcp/4000/service/forward_to_board1/secure/api/service/echo

`/ip4|ip6|dnsaddr/HOST/tcp/PORT` is a TCP hop, `/service/NAME` (or `/worker/NAME`) a local address,
and `/secure/NAME` opens a secure channel to the listener NAME along everything before it; the
rest of the route then goes through that channel. The plain form `1#host:port,name,...` is also
accepted (no channels).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hopseal.errors import HopsealError
from hopseal.wire.message import TCP, Address


@dataclass
class Segment:
    """A run of plain hops, optionally ending in a secure-channel listener to open there."""

    hops: list[Address] = field(default_factory=list)
    secure: str | None = None


class RouteSyntaxError(HopsealError):
    """Route text that is not a multiaddr route (the message says where)."""


def parse(text: str) -> list[Segment]:
    text = text.strip()
    if not text.startswith("/"):
        hops = [Address.parse(p.strip()) for p in text.split(",") if p.strip()]
        for a in hops:
            port = a.text().rpartition(":")[2]
            if a.tt == TCP and (not port.isdigit() or int(port) > 65535):
                raise RouteSyntaxError("%s in %r is not HOST:PORT with a port from 0 to 65535" % (a.text(), text))
        return [Segment(hops)]
    parts = [p for p in text.split("/") if p]
    segs = [Segment()]
    i = 0
    while i < len(parts):
        proto = parts[i]
        if proto in ("ip4", "ip6", "dnsaddr", "dns"):
            if i + 3 >= len(parts) or parts[i + 2] != "tcp" or not parts[i + 3].isdigit():
                raise RouteSyntaxError("expected /%s/HOST/tcp/PORT in %r" % (proto, text))
            if int(parts[i + 3]) > 65535:
                raise RouteSyntaxError("port %s in %r is out of range: use 0 to 65535" % (parts[i + 3], text))
            host = parts[i + 1]
            if proto == "ip6":
                host = "[%s]" % host
            segs[-1].hops.append(Address(TCP, "%s:%s" % (host, parts[i + 3])))
            i += 4
        elif proto in ("service", "worker"):
            if i + 1 >= len(parts):
                raise RouteSyntaxError("/%s needs a name" % proto)
            segs[-1].hops.append(Address.parse(parts[i + 1]))
            i += 2
        elif proto == "secure":
            if i + 1 >= len(parts):
                raise RouteSyntaxError("/secure needs a listener name")
            segs[-1].secure = parts[i + 1]
            segs.append(Segment())
            i += 2
        else:
            raise RouteSyntaxError("unknown protocol /%s in %r (use /ip4, /dnsaddr, /tcp, /service, /secure)" % (proto, text))
    if not segs[-1].hops and segs[-1].secure is None and len(segs) > 1:
        segs.pop()
    return segs
