"""Serial-link framing: binary frames and console text sharing one byte stream (serial-link.md).

A frame on the wire is `00 F8 COBS(type ‖ body ‖ CRC32-LE(type ‖ body)) 00` (serial-link.md §1).
Everything outside frames is console text, which by contract never contains 0x00 or 0xF8 (0xF8
is not a byte of any UTF-8 text). Rules this module upholds:
- The decoder is sans-I/O and never raises on wire input: `feed(data)` returns events, and every
  frame that ends without being delivered increments exactly one counter (§3.2).
- A frame is delivered only if its COBS structure, its length, its CRC-32, its type and its
  per-type body length all check. Nothing damaged is ever passed up (§3.1).
- Whatever came before it, a frame whose own bytes (leading 00 to trailing 00) arrive intact is
  delivered: every state goes to SYNC on 0x00 (§3.1).
- Console text outside frames is passed through byte-exact, without buffering; 0x00 bytes are
  framing and never appear in text events.
- The decoder holds at most max_body + 5 bytes, whatever it is fed; COBS is decoded as it arrives
  into one buffer allocated at construction.
- Encoding is canonical COBS; bodies over the maximum or of the wrong length for their type are
  API misuse and raise FrameError.
"""
from binascii import crc32
from struct import pack_into

from ..compat import const
from ..errors import DecodeError, FrameError

# serial-link.md §2: frame types. FRAME_TYPES maps type -> (min body, max body or None for max_body).
# To add a type, add a constant and a row; encoder and decoder both read the table.
HELLO = const(0x01)  # body: LINK_VERSION ‖ optional info bytes
DATA = const(0x02)  # body: one routing message, opaque here
PING = const(0x03)  # body: up to 8 opaque bytes
PONG = const(0x04)  # body: the PING's bytes echoed back
TIME = const(0x05)  # body: UTC as Unix seconds, u32 big-endian (more bytes reserved); host to board
STOP = const(0x06)  # body: empty or a short reason; host to board: end the link, back to the REPL
RDATA = const(0x07)  # body: offset u16 BE ‖ flags ‖ a fragment of a routing message (reliable link, §8)
ACK = const(0x08)  # body: next offset expected u16 BE ‖ flags ‖ up to 4 SACK ranges (reliable link, §8)
FRAME_TYPES = {HELLO: (1, None), DATA: (0, None), PING: (0, 8), PONG: (0, 8), TIME: (4, 8), STOP: (0, 64),
               RDATA: (3, None), ACK: (3, 19)}

LINK_VERSION = const(0x01)  # first byte of a HELLO body
DEFAULT_MAX_BODY = const(2048)

# Event tags: ("text", bytes) and ("frame", type, body).
EV_TEXT = "text"
EV_FRAME = "frame"

_DELIM = const(0x00)  # COBS delimiter, ends a frame and arms SYNC
_LEAD = const(0xF8)  # after 00 starts a frame; never a UTF-8 byte
_OVERHEAD = const(5)  # type byte + CRC-32
_MIN_ENCODED = const(6)  # COBS of 5 bytes is at least 6 bytes (§3.2 runts)
_CRC_RESIDUE = const(0x2144DF1C)  # crc32(x ‖ CRC32-LE(x)) for every x (RFC 1662 good FCS, post-xorout)

_S_TEXT = const(0)
_S_SYNC = const(1)
_S_FRAME = const(2)
_S_DISCARD = const(3)

_Z = b"\x00"


def cobs_max(n):
    """Largest canonical COBS encoding of n bytes, delimiter excluded: n + max(1, ceil(n/254))."""
    return n + (n + 253) // 254 if n else 1


def max_frame_size(body_len):
    """Upper bound on the wire size of a frame with a body of body_len bytes (00 F8 ... 00 included)."""
    return 3 + cobs_max(body_len + _OVERHEAD)


def _cobs_put(out, w, code_at, src, sv, i, n):
    """Append src[i:n] to a COBS encoding in progress in out (a memoryview).

    src is bytes or a bytearray (for find), sv a memoryview of it. w is the next write index,
    code_at the index of the open block's code byte; returns the new (w, code_at). A full block
    (254 data bytes) is closed only when more data follows, which keeps the encoding canonical
    (no trailing 01 after a final FF block).
    """
    while i < n:
        run = w - code_at - 1
        if run == 254:
            out[code_at] = 0xFF
            code_at = w
            w += 1
            run = 0
        stop = i + 254 - run
        if stop > n:
            stop = n
        z = src.find(_Z, i, stop)
        if z < 0:
            z = stop
        k = z - i
        if k:
            out[w : w + k] = sv[i:z]
            w += k
            i = z
        if i < n and src[i] == 0 and w - code_at < 255:  # a full block closes as FF first
            out[code_at] = w - code_at
            code_at = w
            w += 1
            i += 1
    return w, code_at


def _findable(data):
    # memoryview has no find(); copy it once rather than scan byte by byte in Python.
    return data if hasattr(data, "find") else bytes(data)


def cobs_encode(data):
    """COBS-encode data (Cheshire & Baker 1999); the trailing 00 delimiter is not included."""
    data = _findable(data)
    out = bytearray(cobs_max(len(data)))
    mv = memoryview(out)
    w, code_at = _cobs_put(mv, 1, 0, data, memoryview(data), 0, len(data))
    out[code_at] = w - code_at
    return bytes(mv[:w])


def cobs_decode(data):
    """Decode one COBS frame (delimiter excluded). Raises DecodeError if it is malformed."""
    data = _findable(data)
    if data.find(_Z) >= 0:
        raise DecodeError("0x00 inside a COBS frame")
    r = _CobsReader(len(data))
    r.write(memoryview(data), 0, len(data))
    n = r.finish()
    if n < 0:
        raise DecodeError("truncated or empty COBS frame")
    return bytes(r.buf[:n])


class _CobsReader:
    """Incremental COBS decoder into a fixed buffer; input is fed in pieces free of 0x00."""

    def __init__(self, cap):
        self.cap = cap
        self.buf = bytearray(cap)
        self._mv = memoryview(self.buf)
        self.reset()

    def reset(self):
        self.n = 0  # decoded bytes held
        self.left = 0  # data bytes the open block still owes; 0 means a code byte comes next
        self.zero = False  # the open block ends in an implied 0x00 (its code was not FF)
        self.codes = 0  # code bytes seen (0 means nothing decoded yet)

    def write(self, src, i, end):
        """Decode src[i:end] (a memoryview). False if the result would exceed cap bytes."""
        n = self.n
        left = self.left
        cap = self.cap
        mv = self._mv
        while i < end:
            if left:
                k = end - i
                if k > left:
                    k = left
                if n + k > cap:
                    return False
                mv[n : n + k] = src[i : i + k]
                n += k
                i += k
                left -= k
            else:
                c = src[i]
                i += 1
                if self.zero:
                    if n >= cap:
                        return False
                    mv[n] = 0
                    n += 1
                left = c - 1
                self.zero = c != 0xFF
                self.codes += 1
        self.n = n
        self.left = left
        return True

    def finish(self):
        """Decoded length if the input ended on a block boundary, else -1."""
        if self.left or not self.codes:
            return -1
        return self.n


def _check_type(types, ftype, body_len, max_body):
    spec = types.get(ftype)
    if spec is None:
        raise FrameError("unknown frame type 0x%02x" % ftype)
    hi = spec[1]
    if hi is None or hi > max_body:
        hi = max_body
    if body_len < spec[0] or body_len > hi:
        raise FrameError("frame type 0x%02x: body of %d bytes outside %d..%d"
                         % (ftype, body_len, spec[0], hi))


class FrameEncoder:
    """Encodes frames into one buffer allocated once (for boards).

    `encode(ftype, body)` returns a memoryview of the complete wire frame; it is valid until the
    next call. Write it out before encoding the next frame.
    """

    def __init__(self, max_body=DEFAULT_MAX_BODY, types=FRAME_TYPES):
        self.max_body = max_body
        self.types = types
        self._buf = bytearray(max_frame_size(max_body))
        self._mv = memoryview(self._buf)
        self._head = bytearray(_OVERHEAD)  # type byte, then the CRC-32
        self._hv = memoryview(self._head)

    def encode(self, ftype, body, pre=None):
        """The wire bytes of one frame (memoryview into the encoder's buffer). FrameError on misuse.
        With `pre` (a bytearray), the frame's body is pre ‖ body, without joining them."""
        _check_type(self.types, ftype, len(body) + (len(pre) if pre else 0), self.max_body)
        return self._mv[: _encode_into(self._mv, self._head, self._hv, ftype, body, pre)]


def _encode_into(out, head, hv, ftype, body, pre=None):
    # serial-link.md §1: 00 F8 COBS(type ‖ body ‖ CRC32-LE(type ‖ body)) 00
    body = _findable(body)
    bv = memoryview(body)
    head[0] = ftype
    crc = crc32(hv[0:1])
    if pre:
        crc = crc32(pre, crc)
    pack_into("<I", head, 1, crc32(bv, crc))
    out[0] = _DELIM
    out[1] = _LEAD
    w, code_at = _cobs_put(out, 3, 2, head, hv, 0, 1)
    if pre:
        w, code_at = _cobs_put(out, w, code_at, pre, memoryview(pre), 0, len(pre))
    w, code_at = _cobs_put(out, w, code_at, body, bv, 0, len(body))
    w, code_at = _cobs_put(out, w, code_at, head, hv, 1, _OVERHEAD)
    out[code_at] = w - code_at
    out[w] = _DELIM
    return w + 1


def encode_frame(ftype, body, max_body=DEFAULT_MAX_BODY, types=FRAME_TYPES):
    """The wire bytes of one frame, as bytes. FrameError if the type is not in `types` or the
    body length is outside that type's bounds (at most max_body)."""
    _check_type(types, ftype, len(body), max_body)
    out = bytearray(max_frame_size(len(body)))
    head = bytearray(_OVERHEAD)
    mv = memoryview(out)
    return bytes(mv[: _encode_into(mv, head, memoryview(head), ftype, body)])


class FrameDecoder:
    """Splits a byte stream into console text and frames (serial-link.md §3). Never raises on input.

    `feed(data)` takes bytes, a bytearray or a memoryview and returns a list of events:
        ("text", bytes)          console text, in order, byte-exact; one event per run
        ("frame", type, body)    a frame that passed every check; body is bytes (a memoryview
                                 valid until the next feed when `views` is set)
    Counters (ints, exact): frames, crc_errors, cobs_errors, oversize, unknown_type, bad_length,
    runts, text_bytes. `stats()` returns them as a dict. `pending()` is the number of decoded
    bytes held for a frame in progress (never more than max_body + 5). `max_encoded` is the
    largest number of COBS bytes accepted in one frame. Text events are emitted as soon as text
    is fed; a 00 in the middle of text splits it into two events.
    """

    def __init__(self, max_body=DEFAULT_MAX_BODY, types=FRAME_TYPES):
        self.max_body = max_body
        self.types = types
        cap = max_body + _OVERHEAD
        self.max_encoded = cobs_max(cap)
        self._cobs = _CobsReader(cap)
        self._state = _S_TEXT
        # views: a frame's body is a memoryview of this decoder's buffer, valid until its next
        # feed (serial_link.py feeds it up to one frame end at a time): no copy per frame
        self.views = False
        self._enc = 0  # COBS bytes of the frame in progress
        self.frames = 0
        self.crc_errors = 0
        self.cobs_errors = 0
        self.oversize = 0
        self.unknown_type = 0
        self.bad_length = 0
        self.runts = 0
        self.text_bytes = 0

    def stats(self):
        """The counters as a dict (for logs and the gateway's status)."""
        return {
            "frames": self.frames,
            "crc_errors": self.crc_errors,
            "cobs_errors": self.cobs_errors,
            "oversize": self.oversize,
            "unknown_type": self.unknown_type,
            "bad_length": self.bad_length,
            "runts": self.runts,
            "text_bytes": self.text_bytes,
        }

    def pending(self):
        """Decoded bytes held for the frame in progress (0 outside a frame)."""
        return self._cobs.n if self._state == _S_FRAME else 0

    def feed(self, data, start=0, end=None):
        """Consume data[start:end]; return the list of events it completes (see the class
        docstring)."""
        if not hasattr(data, "find"):
            data = bytes(data)
        n = len(data) if end is None else end
        mv = memoryview(data)
        events = []
        st = self._state
        i = start
        while i < n:
            if st == _S_TEXT:
                j = data.find(_Z, i, n)
                if j < 0:
                    j = n
                if j > i:
                    events.append((EV_TEXT, bytes(mv[i:j])))
                    self.text_bytes += j - i
                if j == n:
                    break
                st = _S_SYNC
                i = j + 1
            elif st == _S_SYNC:
                b = data[i]
                if b == _LEAD:
                    st = _S_FRAME
                    self._cobs.reset()
                    self._enc = 0
                    i += 1
                elif b == _DELIM:
                    i += 1
                else:
                    st = _S_TEXT  # this byte is text; the TEXT branch takes it
            elif st == _S_FRAME:
                j = data.find(_Z, i, n)
                stop = n if j < 0 else j
                self._enc += stop - i
                if self._enc > self.max_encoded or not self._cobs.write(mv, i, stop):
                    self.oversize += 1
                    st = _S_DISCARD
                    continue
                if j < 0:
                    break
                self._end_frame(events)
                st = _S_SYNC
                i = j + 1
            else:  # _S_DISCARD: drop everything up to the next 00
                j = data.find(_Z, i, n)
                if j < 0:
                    break
                st = _S_SYNC
                i = j + 1
        self._state = st
        return events

    def _end_frame(self, events):
        # serial-link.md §3.2: exactly one outcome per frame end.
        if self._enc < _MIN_ENCODED:
            self.runts += 1
            return
        r = self._cobs
        n = r.finish()
        if n < 0:
            self.cobs_errors += 1
            return
        # n >= 5 here: valid COBS of L >= 6 bytes decodes to L - 1 bytes, or to >= 254 if it
        # holds an FF block, so the type byte and the CRC are present.
        mv = r._mv
        if crc32(mv[:n]) != _CRC_RESIDUE:
            self.crc_errors += 1
            return
        ftype = mv[0]
        spec = self.types.get(ftype)
        if spec is None:
            self.unknown_type += 1
            return
        blen = n - _OVERHEAD
        hi = spec[1]
        if blen < spec[0] or (hi is not None and blen > hi):
            self.bad_length += 1
            return
        self.frames += 1
        events.append((EV_FRAME, ftype, mv[1 : n - 4] if self.views else bytes(mv[1 : n - 4])))
