"""A host's fast reader of the routing message in the form every sender writes (CPython only).

The runtime decodes a routing message (and a secure channel's Payload, which carries the same three
fields) with its general CBOR decoder: a dozen Python calls per message, about three quarters of
the decode time of a 48 KiB portal chunk, paid three times per chunk at a relayed outlet.
`fields_at` reads the usual form straight from the bytes instead: each route fewer than 24 hops,
each address `82 tt len value` with a type below 24 and a value of at most 255 bytes, then the
payload's byte string, ending exactly at `end`. Anything else (another head, a longer route or
value, trailing bytes, a truncation) returns None and the general decoder takes it, with all its
limits and errors; for what this reader takes, both give the same Message
(tests/host/test_codec_properties.py). Routes read before come from a small bounded cache (a portal
connection's chunks all carry the same routes): new lists of the same Address objects. `install()`
hands it to the runtime (hopseal.wire.message.fast_fields), as importing hopseal_host does; a
board never carries it.
"""
from __future__ import annotations

from hopseal.wire import message
from hopseal.wire.message import Address, Message


# Routes seen lately, by their bytes: a portal connection's chunks carry the same routes over and
# over, and Address objects are never changed once made, so a route read before is a new list of
# the same Addresses. Bounded: past _CACHE_MAX routes the cache starts again (a peer sending
# ever new routes costs this dict, not memory without end).
_cache: dict = {}
_CACHE_MAX = 512


def _route_at(buf, pos: int, end: int):
    """(route, next position) of a route in the usual form at `pos`, or None."""
    if pos >= end:
        return None
    n = buf[pos] - 0x80
    if n < 0 or n > 23:
        return None
    start = pos
    pos += 1
    for _ in range(n):  # where it ends, every address in the usual form
        if pos + 3 > end or buf[pos] != 0x82 or buf[pos + 1] > 23:
            return None
        h = buf[pos + 2]
        if 0x40 <= h <= 0x57:
            pos += 3 + h - 0x40
        elif h == 0x58 and pos + 4 <= end:
            pos += 4 + buf[pos + 3]
        else:
            return None
        if pos > end:
            return None
    key = bytes(buf[start:pos])
    r = _cache.get(key)
    if r is None:
        r = _addresses(key, n)
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = r
    return list(r), pos


def _addresses(b: bytes, n: int) -> tuple:
    """The Addresses of a route's bytes that _route_at has checked."""
    out = []
    pos = 1
    for _ in range(n):
        tt = b[pos + 1]
        h = b[pos + 2]
        if h == 0x58:
            ln = b[pos + 3]
            pos += 4
        else:
            ln = h - 0x40
            pos += 3
        out.append(Address(tt, b[pos:pos + ln]))
        pos += ln
    return tuple(out)


def fields_at(buf, pos: int, end: int) -> Message | None:
    """Onward route, return route and payload from `pos` to exactly `end`, or None."""
    r = _route_at(buf, pos, end)
    if r is None:
        return None
    onward, pos = r
    r = _route_at(buf, pos, end)
    if r is None:
        return None
    return_, pos = r
    if pos >= end:
        return None
    h = buf[pos]
    if 0x40 <= h <= 0x57:
        ln = h - 0x40
        pos += 1
    elif h == 0x58 and pos + 2 <= end:
        ln = buf[pos + 1]
        pos += 2
    elif h == 0x59 and pos + 3 <= end:
        ln = (buf[pos + 1] << 8) | buf[pos + 2]
        pos += 3
    elif h == 0x5A and pos + 5 <= end:
        ln = int.from_bytes(buf[pos + 1:pos + 5], "big")
        pos += 5
    else:
        return None
    if pos + ln != end:
        return None
    return Message(onward, return_, bytes(buf[pos:end]))


def install() -> None:
    message.fast_fields = fields_at
