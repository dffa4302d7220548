"""The serial transport: `SerialConnection`, a transport connection (sender worker + receive loop,
transport/connection.py) that drives the sans-I/O serial link of wire/serial_link.py over any
duck-typed byte stream (`read(n)`, `write(b)`, `drain()`, `close()`): UART, USB-CDC, a pty, a
pyserial port. Rules: see wire/serial_link.py and firmware/serial-link.md §7.
"""
import asyncio

from ..compat import current_task, get_logger, is_awaitable, ticks_ms
from ..errors import FrameError, HopsealError
from ..wire.serial_frame import DATA, DEFAULT_MAX_BODY, EV_TEXT, FrameEncoder
from ..wire.serial_link import (
    DEFAULT_DOWN_AFTER,
    DEFAULT_INTERVAL,
    DEFAULT_MAX_MESSAGE,
    EV_STOP,
    EV_TIME,
    EV_UP,
    STOPPED,
    UP,
    SerialLink,
)
from .connection import StreamConnection

log = get_logger("serial")

STOPPED_BY_HOST = "stopped by the host"  # close_reason after a STOP frame (serial-link.md §2.1)


class SerialConnection(StreamConnection):
    """A transport connection over a serial byte stream (UART, USB-CDC, pty, pyserial port).

    Hooks (lists of callables; a coroutine result runs as a task):
        on_link_up(conn, restarted)    the peer's HELLO was seen (again: restarted=True)
        on_link_down(conn, why)        silence, a bad version, a REPL prompt, or the stream closed
        on_close(conn)                 the stream is gone (from StreamConnection)
    `on_text(conn, data)` (one callable or None) receives console text; without it text is counted
    (`text_bytes`) and dropped. `on_time(conn, unix_seconds)` (one callable or None) receives the
    peer's TIME frames (§7.7); `wall_clock` (UTC seconds, the host's `time.time`) makes this side
    send them. A STOP frame from the host (§2.1) closes a board's connection with close_reason
    STOPPED_BY_HOST.

    `max_message` offers the reliable link (serial-link.md §8: acknowledged, retransmitted,
    fragmented DATA for messages up to that many bytes); None speaks version 1 only (datagrams).
    On the reliable link a send waits while the window is full (backpressure, no queue).
    """

    def __init__(self, node, reader, writer, peer="serial", name="", max_body=DEFAULT_MAX_BODY,
                 interval=DEFAULT_INTERVAL, down_after=DEFAULT_DOWN_AFTER, speak_first=True, read_size=256,
                 on_text=None, wall_clock=None, max_message=DEFAULT_MAX_MESSAGE, window=None):
        StreamConnection.__init__(self, node, reader, writer, None, peer, "serial", read_size)
        self.link = SerialLink(name, max_body, int(interval * 1000), down_after, speak_first, ticks_ms, wall_clock,
                               max_message=max_message, window=window)
        self.encoder = self.link.encoder = FrameEncoder(max_body)
        self._room = asyncio.Event()  # set when acknowledgements may have made room in the window
        self.on_link_up = []
        self.on_link_down = []
        self.on_text = on_text
        self.on_time = None
        self.timer = None

    @property
    def up(self):
        return self.link.state == UP

    def stats(self):
        d = self.link.stats()
        d["tx_frames"] = self.tx_frames
        d["rx_frames"] = self.rx_frames
        return d

    async def start(self):
        """Register the sender worker, say HELLO (if this side speaks first), start the loops."""
        self.node.start_worker(self.address, self)
        self.link.start()
        await self._flush()
        self.task = asyncio.create_task(self._run())
        self.timer = asyncio.create_task(self._timer())
        return self

    async def restart_hello(self):
        self.link.restart_hello()
        await self._flush()

    # -- sending -------------------------------------------------------------------------------
    async def _send(self, node, msg):
        link = self.link
        body = msg.encode() if link.state == UP else b""
        why = link.may_send(len(body))
        if why is not None:
            node.count("serial_tx_not_up" if link.state != UP else "serial_tx_oversize")
            log.every("serial_tx_dropped", 10, "%r: %s; dropped %r", self, why, msg)
            return
        if link.arq is not None:
            arq = link.arq
            while not arq.room():
                self._room.clear()
                await self._room.wait()
                if self.closed or link.arq is not arq:
                    node.count("serial_tx_not_up")  # the session ended while this message waited
                    return
            link.put(body)
            self.tx_frames += 1
            await self._flush()
            return
        async with self.lock:
            # the encoder's buffer is shared: encode and write under the lock
            try:
                wire = self.encoder.encode(DATA, body)
            except FrameError as e:  # pragma: no cover - the length was checked above
                log.warning("%r: %s", self, e)
                return
            if not await self._write_locked(wire):
                return
        self.tx_frames += 1

    async def _flush(self):
        """Dispatch the link's events, then write its pending control frames (or close, after a
        STOP)."""
        for ev in self.link.take_events():
            self._event(ev)
        link = self.link
        if link.state == STOPPED:
            if not self.closed:
                await self.close(STOPPED_BY_HOST)
            return
        if link.arq is None:
            self._room.set()  # a sender waiting on a session that ended goes on (and gives up)
        elif link.arq.room():
            self._room.set()
        if not link.out and (link.arq is None or not link.arq.pending()):
            return
        async with self.lock:
            while not self.closed:
                f = link.pull()  # may be a view of the encoder's buffer: written before the next pull
                if f is None or not await self._write_locked(f):
                    break

    def _event(self, ev):
        kind = ev[0]
        if kind == EV_TEXT:
            if self.on_text is not None:
                self._call(self.on_text, ev[1])
            return
        if kind == EV_TIME:
            if self.on_time is not None:
                self._call(self.on_time, ev[1])
            return
        if kind == EV_STOP:
            return  # the board says so in one line (apps/board.py); the link logs nothing more
        if kind == EV_UP:
            l = self.link
            log.info("%r: link up%s (peer %r, max frame %s)", self, " again: the peer restarted" if ev[1] else "",
                     l.peer_name, l.peer_max_body)
            for cb in self.on_link_up:
                self._call(cb, ev[1])
        else:
            if self.link.state != STOPPED:
                log.warning("%r: link down: %s", self, ev[1])
            for cb in self.on_link_down:
                self._call(cb, ev[1])

    def _call(self, cb, arg):
        try:
            r = cb(self, arg)
            if is_awaitable(r):
                asyncio.create_task(r)
        except HopsealError as e:
            log.warning("%r: hook failed: %s", self, e)

    def _may_log(self):
        return self.link.state != STOPPED and StreamConnection._may_log(self)

    # -- receiving -----------------------------------------------------------------------------
    async def _received(self, data):
        # message by message: a reliable-link message is a view of the link's reassembly buffer,
        # delivered before the bytes after it are fed (serial_link.feed_part)
        if not hasattr(data, "find"):
            data = bytes(data)
        i = 0
        while True:
            bodies = []
            i = self.link.feed_part(data, i, bodies)
            await self._flush()
            for body in bodies:
                try:
                    await self._deliver(body)
                except HopsealError as e:
                    # passed the CRC, so not line noise, but a serial link is not torn down for
                    # one bad message: count it and go on (§7.5)
                    self.link.bad_message()
                    self.node.count("serial_bad_messages")
                    log.every("serial_bad_messages", 10, "%r: dropped a bad message: %s", self, e)
            if (i >= len(data) and not self.link.more()) or self.closed:
                break

    async def _timer(self):
        base_s = self.link.interval_ms / 4000
        if base_s < 0.01:
            base_s = 0.01
        while not self.closed:
            step_s = base_s
            due = self.link.timer_ms()  # the reliable link's retransmission timer
            if due is not None and due / 1000 < step_s:
                step_s = due / 1000 + 0.002
            await asyncio.sleep(step_s)
            if self.closed:
                break
            self.link.tick()
            await self._flush()

    async def close(self, why="closed"):
        if self.closed:
            return
        if self.timer is not None and self.timer is not current_task():
            self.timer.cancel()
        self.link.close("connection closed: %s" % why)
        self._room.set()
        for ev in self.link.take_events():
            if ev[0] != EV_TEXT:
                self._event(ev)
        await StreamConnection.close(self, why)
