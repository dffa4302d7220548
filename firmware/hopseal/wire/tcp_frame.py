"""TCP framing, current Ockam format (ockam-wire §1.2), sans-I/O.

On connect each side sends one version byte 0x01 and expects the peer's. Then every message is
`u32 big-endian length ‖ body` (body = CBOR routing message). Rules upheld here:
- the version byte is checked first; anything but 0x01 is a FrameError;
- a length above `max_frame` is a FrameError raised as soon as the 4 length bytes are in,
  before any body byte is buffered (Ockam's own limit is 16 MiB; boards use far less);
- the decoder never holds more than 4 + max_frame bytes, whatever it is fed;
- after a FrameError the decoder stays failed: the connection must be closed;
- `partial()` tells whether a frame has begun and not ended (the transport times such a frame
  out), and `close()` drops whatever is held.
"""
import struct

from ..compat import const
from ..errors import FrameError

VERSION = const(1)  # TcpProtocolVersion::V1
HELLO = bytes((VERSION,))  # what each side sends once, first
OCKAM_MAX_FRAME = 16 * 1024 * 1024  # MAX_MESSAGE_SIZE in ockam_transport_tcp
DEFAULT_MAX_FRAME = 256 * 1024

_VERSION = const(0)
_LENGTH = const(1)
_BODY = const(2)
_FAILED = const(3)


def frame_header(body_len, max_frame=OCKAM_MAX_FRAME):
    """The 4-byte header for a body; refuses bodies over `max_frame` (Ockam refuses on send)."""
    if body_len > max_frame:
        raise FrameError("frame of %d bytes exceeds the %d byte maximum" % (body_len, max_frame))
    return struct.pack(">I", body_len)


def encode_frame(body, max_frame=OCKAM_MAX_FRAME):
    return frame_header(len(body), max_frame) + body


class TCPFrameDecoder:
    """Feed bytes from the socket; get whole frame bodies back (bytes; with `views`, a host's
    choice, a body that came whole in a `bytes` read is a memoryview of it and one put together
    from several reads the bytearray it was gathered in: no copy of either)."""

    views = False

    def __init__(self, max_frame=DEFAULT_MAX_FRAME, expect_version=True):
        self.max_frame = max_frame
        self.state = _VERSION if expect_version else _LENGTH
        self.buf = bytearray()
        self.need = 4
        self.error = None

    def feed(self, data):
        """Consume `data`; return a list of complete bodies (bytes). Raises FrameError."""
        if self.state == _FAILED:
            raise FrameError("decoder failed earlier: %s" % self.error)
        out = []
        mv = memoryview(data)
        pos = 0
        n = len(mv)
        while pos < n:
            if self.state == _VERSION:
                v = mv[pos]
                pos += 1
                if v != VERSION:
                    self._fail("unsupported protocol version byte 0x%02x (expected 0x%02x)" % (v, VERSION))
                self.state = _LENGTH
                continue
            if self.state == _BODY and not self.buf and n - pos >= self.need:
                # the whole body is in this read: one copy, not two (large reads on a host), none
                # for a host that takes views of what it read (it is never written to)
                body = mv[pos : pos + self.need]
                out.append(body if self.views and type(data) is bytes else bytes(body))
                pos += self.need
                self.need = 4
                self.state = _LENGTH
                continue
            take = self.need - len(self.buf)
            if take > n - pos:
                take = n - pos
            self.buf.extend(mv[pos : pos + take])
            pos += take
            if len(self.buf) < self.need:
                break
            if self.state == _LENGTH:
                length = struct.unpack(">I", self.buf)[0]
                if length > self.max_frame:
                    self._fail("frame length %d exceeds the %d byte maximum" % (length, self.max_frame))
                self.buf = bytearray()
                if length == 0:
                    out.append(b"")
                    continue
                self.need = length
                self.state = _BODY
            else:
                out.append(self.buf if self.views else bytes(self.buf))
                self.buf = bytearray()
                self.need = 4
                self.state = _LENGTH
        return out

    def _fail(self, why):
        self.state = _FAILED
        self.error = why
        self.buf = bytearray()
        raise FrameError(why)

    def pending(self):
        """Bytes held for an incomplete frame (for bounds tests)."""
        return len(self.buf)

    def partial(self):
        """True while a frame has begun (a length byte or more is in) and is not complete."""
        return self.state == _BODY or (self.state == _LENGTH and len(self.buf) > 0)

    def close(self):
        """Drop what is held; any later feed raises FrameError."""
        self.state = _FAILED
        self.error = "closed"
        self.buf = bytearray()


class TCPFraming:
    """The framing a TCP connection uses (transport/connection.py): the version byte once
    (`hello`), then u32-BE length-prefixed CBOR bodies (`frame`, `feed`, `partial`, `close`)."""

    def __init__(self, max_frame=DEFAULT_MAX_FRAME):
        self.max_frame = max_frame
        self.decoder = TCPFrameDecoder(max_frame)

    def hello(self):
        return HELLO

    def frame(self, body):
        return frame_header(len(body), self.max_frame) + body

    def feed(self, data):
        return self.decoder.feed(data)

    def partial(self):
        return self.decoder.partial()

    def close(self):
        self.decoder.close()
