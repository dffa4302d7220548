"""The plaintext inside a secure channel's transport message (ockam-wire §4.3.6, §8.3), sans-I/O.

    SecureChannelPaddedMessage = [ message, padding: bytes ]
    message = [0, [Payload]] | [1, [RefreshCredentials...]] | [2, []]  (Payload / Refresh / Close)
    Payload = [ onward_route, return_route, payload ]

The Payload's three fields are the routing message's (`wire.message.encode_fields` /
`decode_fields`), so the rule for them lives once. We send empty padding; on receipt padding is
ignored. Every malformed plaintext raises DecodeError.
"""
from ..compat import const
from ..errors import DecodeError
from ..wire import cbor
from ..wire import message
from ..wire.message import decode_fields, encode_fields

PAYLOAD = const(0)
REFRESH = const(1)
CLOSE = const(2)
CLOSE_PLAINTEXT = b"\x82\x82\x02\x80\x40"  # [[2, []], h''] (ockam-wire §8.3)


def encode_payload(onward, return_, payload):
    """CBOR SecureChannelPaddedMessage{ Payload{onward, return, payload}, padding: h'' }."""
    buf = bytearray(b"\x82\x82\x00\x81\x83")
    encode_fields(buf, onward, return_, payload)
    buf.append(0x40)
    return bytes(buf)


def payload_head(onward, return_, n):
    """The bytes of encode_payload(onward, return_, payload) before the n payload bytes (the one
    byte after them is PADDING_TAIL): for Encryptor.encrypt_parts, which writes the plaintext
    straight into the message's buffer."""
    buf = bytearray(b"\x82\x82\x00\x81\x83")
    message.encode_route(buf, onward)
    message.encode_route(buf, return_)
    cbor.write_head(buf, 2, n)
    return buf


PADDING_TAIL = b"\x40"
_USUAL_HEAD = b"\x82\x82\x00\x81\x83"


def decode_plaintext(pt):
    """(kind, Message or None) of a padded secure-channel plaintext."""
    f = message.fast_fields
    if f is None and type(pt) is memoryview:
        # decrypted in place on a board (cipher.Decryptor): a large inner payload stays a view
        # into the same buffer (wire.message.view_fields); anything else is decoded as below
        if bytes(pt[:5]) == _USUAL_HEAD and pt[-1] == 0x40:
            m = message.view_fields(pt, 5, len(pt) - 1)
            if m is not None:
                return PAYLOAD, m
    if f is not None and pt[:5] == b"\x82\x82\x00\x81\x83" and pt[-1:] == b"\x40":
        # what every sender writes, a Payload with empty padding: a host reads it straight from
        # the bytes (wire.message.fast_fields)
        m = f(pt, 5, len(pt) - 1)
        if m is not None:
            return PAYLOAD, m
    v = cbor.decode(pt)
    if not isinstance(v, list) or len(v) < 1 or not isinstance(v[0], list) or len(v[0]) < 2:
        raise DecodeError("not a SecureChannelPaddedMessage")
    kind, fields = v[0][0], v[0][1]
    if kind == PAYLOAD:
        if not isinstance(fields, list) or len(fields) != 1:
            raise DecodeError("malformed secure-channel Payload")
        return kind, decode_fields(fields[0], "secure-channel Payload")
    if kind == REFRESH or kind == CLOSE:
        return kind, None
    raise DecodeError("unknown secure-channel message type %r" % (kind,))
