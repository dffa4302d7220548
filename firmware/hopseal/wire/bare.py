"""BARE encoding, as produced by serde_bare (ockam-wire §0.1): the subset hopseal needs.

Relay requests and replies, `String` payloads and portal messages use it. Decoders take
`(buf, pos)` and return `(value, new_pos)`; they raise `DecodeError` and nothing else.
"""
from ..errors import DecodeError, EncodeError


def write_uleb128(buf, n):
    """Append ULEB128(n) to bytearray `buf`."""
    if n < 0 or n >= 1 << 64:
        raise EncodeError("varint out of range")
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            buf.append(b | 0x80)
        else:
            buf.append(b)
            return


def read_uleb128(buf, pos):
    """Read a ULEB128 u64. Rejects a 10th byte other than 0x01 (ockam_core::bare)."""
    n = 0
    shift = 0
    end = len(buf)
    for i in range(10):
        if pos >= end:
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        if i == 9 and b != 0x01:
            raise DecodeError("varint overflows u64")
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
    raise DecodeError("varint too long")  # pragma: no cover - unreachable


def encode_data(b):
    """BARE `data` / serde `Vec<u8>`: ULEB128(len) ‖ bytes."""
    buf = bytearray()
    write_uleb128(buf, len(b))
    buf.extend(b)
    return bytes(buf)


def read_data(buf, pos, max_len=1 << 20):
    n, pos = read_uleb128(buf, pos)
    if n > max_len:
        raise DecodeError("data length %d over limit" % n)
    end = pos + n
    if end > len(buf):
        raise DecodeError("truncated data")
    return bytes(buf[pos:end]), end


def encode_string(s):
    """BARE String: ULEB128(len) ‖ UTF-8. `"Hello Ockam!"` -> `0c48656c6c6f204f636b616d21`."""
    if isinstance(s, str):
        s = s.encode()
    return encode_data(s)


def read_string(buf, pos, max_len=1 << 20):
    b, pos = read_data(buf, pos, max_len)
    try:
        return b.decode(), pos
    except UnicodeError:
        raise DecodeError("string is not UTF-8")


def decode_string(buf):
    """Decode a whole buffer holding exactly one BARE String."""
    s, pos = read_string(buf, 0)
    if pos != len(buf):
        raise DecodeError("trailing bytes after BARE string")
    return s
