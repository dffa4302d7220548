"""A small CBOR (RFC 8949) codec: the subset minicbor produces (ockam-wire §0.2), plus skipping.

Rules this module upholds:
- Encoding uses the shortest head, definite lengths only. Python types map as: int -> major 0/1,
  bytes/bytearray/memoryview -> byte string, str -> text, list/tuple -> array, dict -> map,
  True/False/None -> f5/f4/f6.
- Decoding accepts every well-formed item (including tags, floats and indefinite lengths) so that
  unknown fields can be skipped, but is bounded: nesting depth (MAX_DEPTH), items per decode call
  (MAX_ITEMS: a definite array or map is refused from its head, before any of its items is read;
  indefinite ones and chunks are counted as they come), and no allocation larger than the bytes
  actually present (a count or length is checked against the remaining input first). So a 256 KiB
  frame of cheap items costs at most MAX_ITEMS items of work: a routing message has a few dozen
  (two routes of at most 32 addresses are under 200 items).
- Any malformed input raises `DecodeError`, and nothing else.
"""
import struct

from ..compat import const
from ..errors import DecodeError, EncodeError

MAX_DEPTH = const(16)
MAX_ITEMS = const(1024)  # items (heads) one decode call reads at most, nested ones included

BREAK = object()  # what decode_item returns for an indefinite-length item's end (0xFF)


def write_head(buf, major, n):
    """Append the shortest head of major type `major` with argument `n` to bytearray `buf`."""
    m = major << 5
    if n < 24:
        buf.append(m | n)
    elif n < 0x100:
        buf.append(m | 24)
        buf.append(n)
    elif n < 0x10000:
        buf.append(m | 25)
        buf.extend(struct.pack(">H", n))
    elif n < 0x100000000:
        buf.append(m | 26)
        buf.extend(struct.pack(">I", n))
    elif n < 0x10000000000000000:
        buf.append(m | 27)
        buf.extend(struct.pack(">Q", n))
    else:
        raise EncodeError("integer too large for CBOR")


def encode_into(buf, obj, depth=0):
    """Append the CBOR encoding of `obj` to bytearray `buf`."""
    if depth > MAX_DEPTH:
        raise EncodeError("nesting too deep")
    if obj is None:
        buf.append(0xF6)
    elif obj is True:
        buf.append(0xF5)
    elif obj is False:
        buf.append(0xF4)
    elif isinstance(obj, int):
        if obj >= 0:
            write_head(buf, 0, obj)
        else:
            write_head(buf, 1, -1 - obj)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        write_head(buf, 2, len(obj))
        buf.extend(obj)
    elif isinstance(obj, str):
        b = obj.encode()
        write_head(buf, 3, len(b))
        buf.extend(b)
    elif isinstance(obj, (list, tuple)):
        write_head(buf, 4, len(obj))
        for item in obj:
            encode_into(buf, item, depth + 1)
    elif isinstance(obj, dict):
        write_head(buf, 5, len(obj))
        for k in obj:
            encode_into(buf, k, depth + 1)
            encode_into(buf, obj[k], depth + 1)
    elif hasattr(obj, "to_cbor"):
        encode_into(buf, obj.to_cbor(), depth)
    else:
        raise EncodeError("cannot encode %s as CBOR" % type(obj).__name__)


def encode(obj):
    buf = bytearray()
    encode_into(buf, obj)
    return bytes(buf)


def _read_arg(buf, pos, info, end):
    if info < 24:
        return info, pos
    if info == 24:
        if pos + 1 > end:
            raise DecodeError("truncated CBOR head")
        return buf[pos], pos + 1
    if info == 25:
        if pos + 2 > end:
            raise DecodeError("truncated CBOR head")
        return (buf[pos] << 8) | buf[pos + 1], pos + 2
    if info == 26:
        if pos + 4 > end:
            raise DecodeError("truncated CBOR head")
        return struct.unpack(">I", bytes(buf[pos : pos + 4]))[0], pos + 4
    if info == 27:
        if pos + 8 > end:
            raise DecodeError("truncated CBOR head")
        return struct.unpack(">Q", bytes(buf[pos : pos + 8]))[0], pos + 8
    raise DecodeError("reserved CBOR additional info %d" % info)


def _half(h):
    exp = (h >> 10) & 0x1F
    mant = h & 0x3FF
    if exp == 0:
        val = mant * 2.0**-24
    elif exp == 31:
        val = float("inf") if mant == 0 else float("nan")
    else:
        val = (mant + 1024) * 2.0 ** (exp - 25)
    return -val if h & 0x8000 else val


def _too_many():
    raise DecodeError("more than %d CBOR items in one decode" % MAX_ITEMS)


def decode_item(buf, pos, depth=0, end=None, left=None):
    """Decode one item at `pos`; return `(value, new_pos)`.

    `left` is the item budget as a one-element list, shared by the nested calls (and by the
    callers of one decode, such as array_spans); a fresh budget of MAX_ITEMS when None."""
    if end is None:
        end = len(buf)
    if left is None:
        left = [MAX_ITEMS]
    if depth > MAX_DEPTH:
        raise DecodeError("CBOR nesting deeper than %d" % MAX_DEPTH)
    if pos >= end:
        raise DecodeError("truncated CBOR")
    left[0] -= 1
    if left[0] < 0:
        _too_many()
    ib = buf[pos]
    pos += 1
    major = ib >> 5
    info = ib & 0x1F
    if major == 7:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info == 22 or info == 23:
            return None, pos
        if info == 24:
            if pos + 1 > end:
                raise DecodeError("truncated simple value")
            return None, pos + 1
        if info == 25:
            if pos + 2 > end:
                raise DecodeError("truncated float")
            return _half((buf[pos] << 8) | buf[pos + 1]), pos + 2
        if info == 26:
            if pos + 4 > end:
                raise DecodeError("truncated float")
            return struct.unpack(">f", bytes(buf[pos : pos + 4]))[0], pos + 4
        if info == 27:
            if pos + 8 > end:
                raise DecodeError("truncated float")
            return struct.unpack(">d", bytes(buf[pos : pos + 8]))[0], pos + 8
        if info == 31:
            return BREAK, pos
        if info < 20:
            return None, pos  # unassigned simple value: skip as null
        raise DecodeError("reserved CBOR simple value")
    if info == 31:
        return _indefinite(buf, pos, major, depth, end, left)
    n, pos = _read_arg(buf, pos, info, end)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major == 2 or major == 3:
        if n > end - pos:
            raise DecodeError("CBOR string longer than the input")
        s = bytes(buf[pos : pos + n])
        pos += n
        if major == 3:
            try:
                s = s.decode()
            except UnicodeError:
                raise DecodeError("CBOR text is not UTF-8")
        return s, pos
    if major == 4:
        if n > end - pos:  # every item takes at least one byte
            raise DecodeError("CBOR array longer than the input")
        if n > left[0]:
            _too_many()
        out = []
        for _ in range(n):
            v, pos = decode_item(buf, pos, depth + 1, end, left)
            if v is BREAK:
                raise DecodeError("unexpected CBOR break")
            out.append(v)
        return out, pos
    if major == 5:
        if 2 * n > end - pos:
            raise DecodeError("CBOR map longer than the input")
        if 2 * n > left[0]:
            _too_many()
        out = {}
        for _ in range(n):
            k, pos = decode_item(buf, pos, depth + 1, end, left)
            v, pos = decode_item(buf, pos, depth + 1, end, left)
            if k is BREAK or v is BREAK:
                raise DecodeError("unexpected CBOR break")
            _put(out, k, v)
        return out, pos
    # major 6: a tag; keep the tagged item, drop the tag number
    v, pos = decode_item(buf, pos, depth + 1, end, left)
    if v is BREAK:
        raise DecodeError("unexpected CBOR break")
    return v, pos


def _put(d, k, v):
    if isinstance(k, (list, dict)):
        raise DecodeError("unhashable CBOR map key")
    d[k] = v


def _indefinite(buf, pos, major, depth, end, left):
    if major == 2 or major == 3:
        chunks = bytearray()
        while True:
            if pos >= end:
                raise DecodeError("truncated indefinite string")
            if buf[pos] == 0xFF:
                pos += 1
                break
            if buf[pos] >> 5 != major or buf[pos] & 0x1F == 31:
                raise DecodeError("bad chunk in indefinite string")
            c, pos = decode_item(buf, pos, depth + 1, end, left)
            chunks.extend(c.encode() if major == 3 else c)
        if major == 3:
            try:
                return bytes(chunks).decode(), pos
            except UnicodeError:
                raise DecodeError("CBOR text is not UTF-8")
        return bytes(chunks), pos
    if major == 4:
        out = []
        while True:
            v, pos = decode_item(buf, pos, depth + 1, end, left)
            if v is BREAK:
                return out, pos
            out.append(v)
    if major == 5:
        out = {}
        while True:
            k, pos = decode_item(buf, pos, depth + 1, end, left)
            if k is BREAK:
                return out, pos
            v, pos = decode_item(buf, pos, depth + 1, end, left)
            if v is BREAK:
                raise DecodeError("CBOR map ends after a key")
            _put(out, k, v)
    raise DecodeError("indefinite length not allowed for major type %d" % major)


def decode(buf):
    """Decode exactly one CBOR item filling all of `buf` (trailing bytes are an error), reading at
    most MAX_ITEMS items."""
    v, pos = decode_item(buf, 0)
    if v is BREAK:
        raise DecodeError("unexpected CBOR break")
    if pos != len(buf):
        raise DecodeError("%d trailing bytes after CBOR item" % (len(buf) - pos))
    return v


def array_spans(buf):
    """The exact byte spans of the items of the definite-length CBOR array that fills `buf`.

    For data that is hashed or signed as sent (identities, attestations): the items are sliced,
    never re-encoded. Raises DecodeError on anything else.
    """
    buf = bytes(buf)
    if not buf or buf[0] >> 5 != 4 or buf[0] & 0x1F == 31:
        raise DecodeError("not a definite-length CBOR array")
    n, pos = _read_arg(buf, 1, buf[0] & 0x1F, len(buf))
    if n > len(buf) - pos:
        raise DecodeError("CBOR array longer than the input")
    left = [MAX_ITEMS - 1]
    if n > left[0]:
        _too_many()
    spans = []
    for _ in range(n):
        v, end = decode_item(buf, pos, 0, None, left)
        if v is BREAK:
            raise DecodeError("unexpected CBOR break")
        spans.append(buf[pos:end])
        pos = end
    if pos != len(buf):
        raise DecodeError("%d trailing bytes after CBOR array" % (len(buf) - pos))
    return spans
