"""The BARE `TransportMessage` v1 (ockam-wire §2.1): the 2021 TCP format, still used by Ockam's
UDP/BLE/WebSocket transports. Optional: nothing on the TCP path imports it.

    struct TransportMessage { version: u8 = 1, onward_route: Route, return_route: Route, payload: Vec<u8> }
    Route = ULEB128 count ‖ Address*;  Address = tt: u8 ‖ ULEB128 len ‖ bytes
"""
from ..compat import const
from ..errors import DecodeError
from .bare import read_data, read_uleb128, write_uleb128
from .message import MAX_ADDRESS, MAX_HOPS, Address, Message

_VERSION = const(1)  # TransportMessage.version


def _write_route(buf, r):
    write_uleb128(buf, len(r))
    for a in r:
        buf.append(a.tt)
        write_uleb128(buf, len(a.value))
        buf.extend(a.value)


def encode(msg):
    buf = bytearray((_VERSION,))
    _write_route(buf, msg.onward)
    _write_route(buf, msg.return_)
    write_uleb128(buf, len(msg.payload))
    buf.extend(msg.payload)
    return bytes(buf)


def _read_route(buf, pos):
    n, pos = read_uleb128(buf, pos)
    if n > MAX_HOPS:
        raise DecodeError("route has %d hops, more than %d" % (n, MAX_HOPS))
    out = []
    for _ in range(n):
        if pos >= len(buf):
            raise DecodeError("truncated address")
        tt = buf[pos]
        v, pos = read_data(buf, pos + 1, MAX_ADDRESS)
        out.append(Address(tt, v))
    return out, pos


def decode(buf):
    if not buf:
        raise DecodeError("empty transport message")
    if buf[0] != _VERSION:
        raise DecodeError("unsupported TransportMessage version %d" % buf[0])
    onward, pos = _read_route(buf, 1)
    ret, pos = _read_route(buf, pos)
    payload, pos = read_data(buf, pos)
    if pos != len(buf):
        raise DecodeError("trailing bytes after TransportMessage")
    return Message(onward, ret, payload)
