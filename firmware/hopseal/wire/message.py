"""Addresses, routes and the routing message (ockam-wire §2.3, §3).

Wire form of the current (Ockam 0.128+) TCP routing message, a CBOR array:
    [ onward_route, return_route, payload: bytes, ?tracing_context: text ]
    route   = [* address]
    address = [ transport_type: uint, inner: bytes ]
Rules upheld here:
- decoders accept 3 or 4 (or more, skipped) elements; element 3 is kept only if it is text;
- we send 3 elements unless a tracing context was set;
- bounded: at most MAX_HOPS addresses per route, at most MAX_ADDRESS bytes per address;
- every malformed input raises DecodeError (nothing else escapes).
"""
from . import cbor
from ..compat import const, hexstr, random_bytes
from ..errors import DecodeError, RoutingError

LOCAL = const(0)  # ockam_core::LOCAL
TCP = const(1)  # ockam_transport_tcp::TCP
UDP = const(2)
WS = const(3)
BLE = const(4)
UDS = const(5)

MAX_HOPS = 32
MAX_ADDRESS = 255


class Address:
    """`Address { tt, inner }`; text form `"<tt>#<inner>"`, and a bare name means `0#name`."""

    def __init__(self, tt, value):
        if isinstance(value, str):
            value = value.encode()
        self.tt = tt
        self.value = bytes(value)

    @staticmethod
    def parse(s):
        if isinstance(s, Address):
            return s
        if isinstance(s, (bytes, bytearray)):
            return Address(LOCAL, s)
        i = s.find("#")
        if i > 0 and s[:i].isdigit():
            return Address(int(s[:i]), s[i + 1 :])
        return Address(LOCAL, s)

    @staticmethod
    def random():
        """A fresh local address: 16 random bytes as 32 hex chars (ockam-wire §3.1)."""
        return Address(LOCAL, hexstr(random_bytes(16)))

    def is_local(self):
        return self.tt == LOCAL

    def text(self):
        try:
            return self.value.decode()
        except UnicodeError:
            return hexstr(self.value)

    def __eq__(self, other):
        return isinstance(other, Address) and self.tt == other.tt and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.value) ^ self.tt

    def __repr__(self):
        return "%d#%s" % (self.tt, self.text())

    def to_cbor(self):
        return [self.tt, self.value]


def route(*hops):
    """Build a route (a list of Address) from Address objects, names, `"1#host:port"`, or lists."""
    out = []
    for h in hops:
        if isinstance(h, (list, tuple)):
            for x in h:
                out.append(x if type(x) is Address else Address.parse(x))
        else:
            out.append(Address.parse(h))
    return out


def route_str(r):
    return "[" + ", ".join(repr(a) for a in r) + "]"


class Message:
    """A routing message: onward route, return route, payload bytes, optional tracing context.

    `origin` is node-local (never on the wire): the transport connection or secure channel the
    message arrived through, for access control.
    """

    def __init__(self, onward, return_, payload, tracing=None):
        self.onward = onward
        self.return_ = return_
        self.payload = payload
        self.tracing = tracing
        self.origin = None

    def __repr__(self):
        return "Message(onward=%s, return=%s, %d bytes)" % (
            route_str(self.onward),
            route_str(self.return_),
            len(self.payload),
        )

    def encode(self):
        """CBOR TcpTransportMessage (ockam-wire §2.3), as a bytearray: the payload is copied once,
        into a buffer of the exact size (a board's heap in small pieces has no room for a
        growing buffer and then a copy of it)."""
        if self.tracing is not None:
            buf = bytearray()
            _encode_into(buf, self)
            return buf
        head = bytearray(b"\x83")
        encode_route(head, self.onward)
        encode_route(head, self.return_)
        cbor.write_head(head, 2, len(self.payload))
        h = len(head)
        buf = bytearray(h + len(self.payload))
        buf[:h] = head
        buf[h:] = self.payload
        return buf


def encode_route(buf, r):
    """Append the CBOR of route `r` (an array of [type, bytes]) to bytearray `buf`."""
    cbor.write_head(buf, 4, len(r))
    for a in r:
        v = a.value
        n = len(v)
        buf.append(0x82)
        if a.tt < 24 and n < 0x100:  # the usual address (a portal chunk's routes have six)
            buf.append(a.tt)
            if n < 24:
                buf.append(0x40 | n)
            else:
                buf.append(0x58)
                buf.append(n)
        else:
            cbor.write_head(buf, 0, a.tt)
            cbor.write_head(buf, 2, n)
        buf.extend(v)


def encode_fields(buf, onward, return_, payload):
    """Append onward route, return route and payload bytes: the three fields that both the TCP
    routing message and a secure channel's Payload carry, in that order (ockam-wire §2.3, §4.3.6).
    The caller writes the array head."""
    encode_route(buf, onward)
    encode_route(buf, return_)
    cbor.write_head(buf, 2, len(payload))
    buf.extend(payload)


def _encode_into(buf, msg):
    buf.append(0x83 if msg.tracing is None else 0x84)
    encode_fields(buf, msg.onward, msg.return_, msg.payload)
    if msg.tracing is not None:
        cbor.encode_into(buf, msg.tracing)


def encode_message(onward, return_, payload, tracing=None):
    return Message(onward, return_, payload, tracing).encode()


def route_from_cbor(v):
    if not isinstance(v, list):
        raise DecodeError("route is not an array")
    if len(v) > MAX_HOPS:
        raise DecodeError("route has %d hops, more than %d" % (len(v), MAX_HOPS))
    out = []
    for a in v:
        # Address = [tt, bytes]; the pre-0.128 map form {1: tt, 2: [ints]} is refused.
        if not isinstance(a, list) or len(a) < 2:
            raise DecodeError("address is not [type, bytes]")
        tt, inner = a[0], a[1]
        if not isinstance(tt, int) or isinstance(tt, bool) or tt < 0 or tt > 255:
            raise DecodeError("address type is not a u8")
        if not isinstance(inner, bytes):
            raise DecodeError("address value is not a byte string")
        if len(inner) > MAX_ADDRESS:
            raise DecodeError("address longer than %d bytes" % MAX_ADDRESS)
        out.append(Address(tt, inner))
    return out


def decode_fields(v, what="routing message"):
    """A Message from decoded CBOR `[onward, return, payload, ...]` (the fields encode_fields
    writes; element 3 is kept as the tracing context only if it is text). Raises DecodeError."""
    if not isinstance(v, list) or len(v) < 3:
        raise DecodeError("%s is not an array of at least 3 elements" % what)
    payload = v[2]
    if not isinstance(payload, bytes):
        raise DecodeError("%s payload is not a byte string" % what)
    tracing = v[3] if len(v) > 3 and isinstance(v[3], str) else None
    return Message(route_from_cbor(v[0]), route_from_cbor(v[1]), payload, tracing)


# A host installs a faster reader of the usual form here (hopseal_host.fastwire.fields_at:
# (buf, pos, end) -> Message, or None for the general decoder to take); a board keeps None and
# carries no second decoder
fast_fields = None


VIEW_MIN = const(512)  # payloads from this size are views (view_fields), smaller ones bytes


def view_fields(buf, pos, end):
    """A board's reader of the usual form `onward, return, payload` filling buf[pos:end], where
    `buf` is a bytearray or a view of one that the caller owns (the message's receive buffer):
    a payload of VIEW_MIN bytes or more is a memoryview into it, not a copy, so that a secure
    channel decrypts it in place (cipher.Decryptor) and a heap in small pieces still takes
    messages of a few KB. None for any other form, a smaller payload or malformed input: the
    general decoder then takes it, with its errors."""
    try:
        left = [cbor.MAX_ITEMS]
        onward, pos = cbor.decode_item(buf, pos, 1, end, left)
        return_, pos = cbor.decode_item(buf, pos, 1, end, left)
        if pos >= end or buf[pos] >> 5 != 2 or buf[pos] & 0x1F == 31:
            return None
        n, pos = cbor._read_arg(buf, pos + 1, buf[pos] & 0x1F, end)
        if n < VIEW_MIN or pos + n != end:
            return None
        return Message(route_from_cbor(onward), route_from_cbor(return_), memoryview(buf)[pos:end])
    except DecodeError:
        return None


def decode_message(body):
    """Decode a CBOR TcpTransportMessage; raises DecodeError on anything malformed. From a
    bytearray (or a view of one: the reliable serial link's) on a board (no fast_fields), a
    large payload is a view into it (view_fields)."""
    f = fast_fields
    if body and body[0] == 0x83:  # three elements: no tracing context
        if f is not None:
            m = f(body, 1, len(body))
            if m is not None:
                return m
        elif isinstance(body, (bytearray, memoryview)):
            m = view_fields(body, 1, len(body))
            if m is not None:
                return m
    return decode_fields(cbor.decode(body))


def step(msg, me):
    """Remove `me` from the front of the onward route (what every forwarding worker does first)."""
    if not msg.onward or msg.onward[0] != me:
        raise RoutingError("onward route does not start with %r" % (me,))
    msg.onward = msg.onward[1:]
    return msg
