"""A transport connection over a byte stream: the sender worker plus the receive loop.

Ockam's model (ockam-wire §3.4): one connection is a sender worker at a random local address and a
receiver. The sender steps its own address off the onward route and writes the message; the
receiver decodes each frame, prepends the sender's address to the return route (so replies go back
over this connection) and routes it. TCP and the serial link differ only in their `framing`:

    framing.hello() -> bytes or None      sent once when the connection starts
    framing.frame(body) -> bytes          one message on the wire
    framing.feed(data) -> [body, ...]     raises FrameError when the stream is unusable

Rules upheld here:
- a frame or message that cannot be decoded, or a bad version byte, closes this connection only,
  with one clear log line; other connections are untouched;
- a message whose onward route starts with a transport address is refused by the node (it never
  dials out for the network, `Node.route`): dropped and counted, the connection stays;
- an error raised by a worker while handling a delivered message is logged and counted and does
  not close the connection (a forged message must not cut off honest traffic);
- messages with an empty onward route are ignored (Ockam heartbeat compatibility, §1.2).
"""
import asyncio

from ..compat import collect, current_task, get_logger, is_awaitable
from ..errors import HopsealError
from ..wire.message import Address, decode_message, route, step

log = get_logger("connection")


class StreamConnection:
    def __init__(self, node, reader, writer, framing, peer="?", kind="tcp", read_size=2048):
        self.node = node
        self.reader = reader
        self.writer = writer
        self.framing = framing
        self.peer = peer
        self.kind = kind
        self.read_size = read_size
        self.address = Address.random()
        self.lock = asyncio.Lock()
        self.task = None
        self.closed = False
        self.close_reason = None
        self.on_close = []
        self.rx_frames = 0
        self.tx_frames = 0

    def __repr__(self):
        return "%s(%s via %r)" % (self.kind, self.peer, self.address)

    async def start(self):
        """Register the sender worker, send the hello, start the receive loop."""
        self.node.start_worker(self.address, self)
        hello = self.framing.hello()
        if hello:
            await self._write(hello)
        self.task = asyncio.create_task(self._run())
        return self

    def route_to(self, *rest):
        """A route that goes out over this connection, then along `rest`."""
        return [self.address] + route(*rest)

    # -- sending -------------------------------------------------------------------------------
    async def handle_message(self, node, msg):
        step(msg, self.address)
        if self.closed:
            node.count("send_on_closed")
            log.warning("%r is closed; dropped %r", self, msg)
            return
        await self._send(node, msg)

    async def _send(self, node, msg):
        """Put one message on the wire. A transport may override this (the serial link checks
        that the link is up and the frame fits)."""
        await self._write(self.framing.frame(msg.encode()))
        self.tx_frames += 1

    def tap(self, direction, data):
        """Hand raw wire bytes to `node.wire_tap(conn, "rx"|"tx", data)` when one is set (tests,
        `--capture`): how the project shows that intermediaries carry only ciphertext."""
        t = self.node.wire_tap
        if t is not None:
            t(self, direction, bytes(data))

    async def _write(self, data):
        async with self.lock:
            return await self._write_locked(data)

    async def _write_locked(self, data):
        """Write and drain (the caller holds `self.lock`); False, and the connection closed, when
        the stream failed."""
        self.tap("tx", data)
        try:
            self.writer.write(data)
            await self.writer.drain()
            return True
        except OSError as e:
            await self.close("write failed: %s" % e)
            return False

    # -- receiving -----------------------------------------------------------------------------
    async def _run(self):
        why = "closed by peer"
        try:
            while not self.closed:
                data = await self.reader.read(self.read_size)
                if not data:
                    break
                self.tap("rx", data)
                await self._received(data)
        except HopsealError as e:
            why = "protocol error: %s" % e
            log.error("closing %r: %s", self, e)
            self.node.count("protocol_errors")
        except OSError as e:
            why = "I/O error: %s" % e
        except EOFError:
            pass
        await self.close(why)

    async def _received(self, data):
        """Bytes from the stream: frame bodies out of the framing, each delivered in order.
        A transport may override this (the serial link tolerates a bad message)."""
        for body in self.framing.feed(data):
            await self._deliver(body)

    async def _deliver(self, body):
        msg = decode_message(body)
        self.rx_frames += 1
        if not msg.onward:
            return  # heartbeat compatibility (ockam-wire §1.2)
        msg.return_.insert(0, self.address)
        msg.origin = self
        try:
            await self.node.route(msg)
        except HopsealError as e:
            self.node.count("dropped")
            log.warning("dropped message from %r: %s", self, e)
        except MemoryError:
            # a small heap ran out while handling this one message: drop it, keep the link
            collect()
            self.node.count("memory_errors")
            log.error("out of memory handling a message from %r; dropped it", self)

    async def close(self, why="closed"):
        if self.closed:
            return
        self.closed = True
        self.close_reason = why
        self.node.stop_worker(self.address)
        log.info("connection %r closed: %s", self, why)
        try:
            self.writer.close()
            if hasattr(self.writer, "wait_closed"):
                await self.writer.wait_closed()
        except OSError:
            pass
        for cb in self.on_close:
            try:
                r = cb(self)
                if is_awaitable(r):
                    await r
            except HopsealError as e:
                log.warning("close callback: %s", e)
        if self.task is not None and self.task is not current_task():
            self.task.cancel()

    async def wait_closed(self):
        while not self.closed:
            await asyncio.sleep(0.05)
