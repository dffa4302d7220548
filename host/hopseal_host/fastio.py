"""A host's TCP streams and framing with fewer copies of what they carry (CPython only).

A 48 KiB portal chunk relayed through a hub passes through three processes; in each, asyncio's
StreamReader copies every read into its buffer and out again, and a sent message is encoded into
one buffer, copied into bytes, and copied again behind its 4-byte length. These are copies of the
whole chunk, each as costly as a tenth of its encryption (tools/bench/bench_portal.py). Here:

- `ChunkReader`, the StreamReader of the streams `open_connection` and `start_server` make: it
  keeps the bytes objects the transport delivers as they are and hands them out from `read(n)`
  (a read of n bytes or more takes the object itself; a shorter one a copy of its first n bytes).
  It takes what the runtime asks of a stream reader (`read`, `at_eof`, `exception`) and keeps
  asyncio's flow control: at more than twice its limit (64 KiB) held, the transport stops reading
  until `read` has taken it below the limit. Installed into the runtime with `install()`
  (hopseal.compat.set_tcp_streams), which importing hopseal_host does; the runtime's TCP
  transport and its portals open their streams through it. Other readers (readline, readexactly)
  are not needed by the runtime and raise NotImplementedError.
- `HostTCPFraming`, the framing of a host's TCP connections (limits.transport_options): the same
  bytes as the runtime's TCPFraming, and `frame_message(msg)`, which encodes the message straight
  behind room for its length (one buffer, one copy of the payload) where the runtime's
  connection would write `frame(msg.encode())` (three); a frame that came whole in one read is
  handed to the decoder as a view of that read (bytes, never written), one gathered from several
  reads as the bytearray it was gathered in, instead of a copy (TCPFrameDecoder.views). The
  decoders take either (hopseal.wire.cbor copies what it keeps; fastwire copies the payload).
Boards keep asyncio's streams and the runtime's framing; this module never runs there.
"""
from __future__ import annotations

import asyncio
import collections

from hopseal import compat
from hopseal.wire import message
from hopseal.wire.tcp_frame import DEFAULT_MAX_FRAME, TCPFrameDecoder, TCPFraming, frame_header

_LIMIT = 64 * 1024  # asyncio's default stream limit (2**16)


class ChunkReader(asyncio.StreamReader):
    """A StreamReader whose `read(n)` hands out the transport's bytes objects without copying
    them through a buffer (see the module's docstring)."""

    def __init__(self, limit: int = _LIMIT, loop=None) -> None:
        super().__init__(limit=limit, loop=loop)
        self._chunks: collections.deque = collections.deque()
        self._held = 0

    def __repr__(self) -> str:
        return "<ChunkReader %d bytes held%s>" % (self._held, " eof" if self._eof else "")

    def feed_data(self, data) -> None:
        if not data:
            return
        if type(data) is not bytes:  # a transport's own buffer may be reused: keep a copy
            data = bytes(data)
        self._chunks.append(data)
        self._held += len(data)
        self._wakeup_waiter()
        if self._transport is not None and not self._paused and self._held > 2 * self._limit:
            try:
                self._transport.pause_reading()
            except NotImplementedError:
                self._transport = None
            else:
                self._paused = True

    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    async def read(self, n: int = -1) -> bytes:
        if self._exception is not None:
            raise self._exception
        if n == 0:
            return b""
        if not self._chunks and not self._eof:
            await self._wait_for_data("read")
        if not self._chunks:
            return b""
        first = self._chunks[0]
        if n < 0 or len(first) <= n:
            if n < 0:
                data = b"".join(self._chunks)
                self._chunks.clear()
            else:
                self._chunks.popleft()
                data = first if type(first) is bytes else bytes(first)
        else:
            view = memoryview(first)
            data = bytes(view[:n])
            self._chunks[0] = view[n:]  # the rest, without copying it
        self._held -= len(data)
        if self._paused and self._held <= self._limit:
            self._paused = False
            self._transport.resume_reading()
        return data

    def _unsupported(self, *a, **kw):
        raise NotImplementedError("ChunkReader carries the runtime's connections: read() only")

    readline = readuntil = readexactly = _unsupported  # type: ignore[assignment]


async def open_connection(host: str, port: int, limit: int = _LIMIT):
    """asyncio.open_connection with a ChunkReader."""
    loop = asyncio.get_running_loop()
    reader = ChunkReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def start_server(client_connected_cb, host: str, port: int, limit: int = _LIMIT, **kwds):
    """asyncio.start_server with a ChunkReader per connection."""
    loop = asyncio.get_running_loop()

    def factory():
        reader = ChunkReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    return await loop.create_server(factory, host, port, **kwds)


class _ViewDecoder(TCPFrameDecoder):
    views = True


class HostTCPFraming(TCPFraming):
    """The runtime's TCP framing plus `frame_message`, and frame bodies handed out without copying
    them out of what was read (see the module's docstring)."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)
        self.decoder = _ViewDecoder(max_frame)

    def frame_message(self, msg) -> bytearray:
        """frame(msg.encode()), the same bytes, built in one buffer."""
        buf = bytearray(4)
        message._encode_into(buf, msg)
        buf[0:4] = frame_header(len(buf) - 4, self.max_frame)
        return buf


def install() -> None:
    """The runtime's TCP streams become these (hopseal.compat.set_tcp_streams)."""
    compat.set_tcp_streams(open_connection, start_server)
