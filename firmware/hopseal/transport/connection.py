"""A transport connection over a byte stream: the sender worker plus the receive loop.

Ockam's model (ockam-wire §3.4): one connection is a sender worker at a random local address and a
receiver. The sender steps its own address off the onward route and writes the message; the
receiver decodes each frame, prepends the sender's address to the return route (so replies go back
over this connection) and routes it. TCP and the serial link differ only in their `framing`:

    framing.hello() -> bytes or None      sent once when the connection starts
    framing.frame(body) -> bytes          one message on the wire
    framing.frame_message(msg) -> bytes   (optional) frame(msg.encode()) in one go
    framing.feed(data) -> [body, ...]     raises FrameError when the stream is unusable
    framing.partial() -> bool             (optional) a frame has begun and is not complete
    framing.close()                       (optional) drop what is held

Rules upheld here:
- a frame or message that cannot be decoded, or a bad version byte, closes this connection only,
  with one clear log line; other connections are untouched;
- a message whose onward route starts with a transport address is refused by the node (it never
  dials out for the network, `Node.route`): dropped and counted, the connection stays;
- an error raised by a worker while handling a delivered message is logged and counted and does
  not close the connection (a forged message must not cut off honest traffic);
- messages with an empty onward route are ignored (Ockam heartbeat compatibility, §1.2);
- a MemoryError while reading, framing or decoding closes this connection (its buffers and socket
  go with it) and the node goes on; while a worker handles one message, it drops that message only;
- the connection keeps the times the transport's sweeper judges it by (tcp.expired): the last
  complete frame in (`rx_at`), the start of an unfinished one (`frame_at`), the start of a write
  the peer has not taken yet (`tx_at`); all ticks_ms;
- closing never waits on a peer that does not read: what it will not take within CLOSE_WAIT
  seconds (compat) is dropped, and the socket is released.
"""
import asyncio

from ..compat import collect, current_task, get_logger, is_awaitable, release, ticks_ms
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
        self.rx_at = ticks_ms()  # the last complete frame in (or the start)
        self.frame_at = None  # when the unfinished frame in began
        self.tx_at = None  # when the write the peer has not taken yet began
        self.lines = None  # what rations this connection's log lines (`take()`: tcp.LineQuota), or None
        # seconds a write may wait for the peer to take it, where the stream cannot be aborted from
        # outside (MicroPython's: a task stuck in its drain is never woken); the transport sets it
        self.write_timeout = None

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
        f = self.framing
        if hasattr(f, "frame_message"):  # a host's framing builds it in one buffer (hopseal_host.fastio)
            await self._write(f.frame_message(msg))
        else:
            await self._write(f.frame(msg.encode()))
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
        w = self.writer
        try:
            w.write(data)
            self.tx_at = ticks_ms()
            # MicroPython's stream keeps in `out_buf` what the socket did not take: nothing there,
            # nothing to wait for (and no task to make for wait_for)
            if self.write_timeout and not hasattr(w, "transport") and getattr(w, "out_buf", True):
                await asyncio.wait_for(w.drain(), self.write_timeout)
            else:
                await w.drain()  # CPython: the sweeper aborts a transport the peer does not read
            self.tx_at = None
            return True
        except asyncio.TimeoutError:
            self.tx_at = None
            if not self.closed:
                self.node.count("write_timeout")
                await self.close("the peer took nothing for %.1f s" % self.write_timeout)
            return False
        except OSError as e:
            self.tx_at = None
            await self.close("write failed: %s" % e)
            return False

    # -- receiving -----------------------------------------------------------------------------
    async def _run(self):
        why = "closed by peer"
        try:
            while not self.closed:
                data = await self.reader.read(self.read_size)
                if not data or self.closed:
                    break
                self.tap("rx", data)
                await self._received(data)
        except HopsealError as e:
            if self.closed:  # closed meanwhile (the framing with it): not the peer's fault
                return
            why = "protocol error: %s" % e
            if self._may_log():
                log.error("closing %r: %s", self, e)
            self.node.count("protocol_errors")
        except OSError as e:
            why = "I/O error: %s" % e
        except EOFError:
            pass
        except MemoryError:
            # the heap ran out reading, framing or decoding: this connection goes, buffers and
            # socket with it, and the node goes on
            self._drop_framing()
            collect()
            self.node.count("memory_errors")
            why = "out of memory"
            log.error("out of memory receiving on %r; closing it", self)
        await self.close(why)  # (a subclass's close may take `why` only)

    async def _received(self, data):
        """Bytes from the stream: frame bodies out of the framing, each delivered in order.
        A transport may override this (the serial link tolerates a bad message)."""
        f = self.framing
        bodies = f.feed(data)
        if bodies:
            self.rx_at = ticks_ms()
            self.frame_at = None
            for body in bodies:
                await self._deliver(body)
        # a frame begun here is timed from now: not the peer's fault if delivering took a while
        if hasattr(f, "partial") and f.partial():
            if self.frame_at is None:
                self.frame_at = ticks_ms()
        else:
            self.frame_at = None

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
            log.every("dropped", 10, "dropped a message from %r: %s", self, e)
        except MemoryError:
            # a small heap ran out while handling this one message: drop it, keep the link
            collect()
            self.node.count("memory_errors")
            log.error("out of memory handling a message from %r; dropped it", self)
        except Exception as e:  # a worker's bug: that message is lost, not the connection
            self.node.count("worker_errors")
            log.every("worker_errors", 10, "a worker failed on a message from %r: %s: %s", self,
                      type(e).__name__, e)

    def _may_log(self):
        return self.lines is None or self.lines.take()

    def _drop_framing(self):
        f = self.framing
        if f is not None and hasattr(f, "close"):
            f.close()

    async def close(self, why="closed", abort=False):
        """Close once: the sender worker goes, the receive loop stops, the `on_close` callbacks run
        (what lives on this connection, channels and relays, goes at once), then the socket is
        released (with `abort`, or after compat.CLOSE_WAIT seconds, without waiting for the peer to take
        what is left)."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = why
        self.node.stop_worker(self.address)
        self._drop_framing()
        task = self.task
        if task is not None and task is not current_task():
            task.cancel()
        if self._may_log():
            log.info("connection %r closed: %s", self, why)
        for cb in list(self.on_close):  # a copy: a callback may take itself off the list
            try:
                r = cb(self)
                if is_awaitable(r):
                    await r
            except HopsealError as e:
                log.warning("close callback: %s", e)
        await release(self.writer, abort)

    async def wait_closed(self):
        while not self.closed:
            await asyncio.sleep(0.05)
