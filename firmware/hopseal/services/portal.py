"""TCP portals (ockam-wire §6.2-6.3, docs/wire.md "Portals"): an inlet and an outlet carry TCP
connections through routes and secure channels, byte-compatible with Ockam 0.150's portals.

An optional module: import it only on a node that runs an inlet or an outlet.

One TCP connection through a portal (each end is a worker at a fresh random address, the only
address of it that appears in routes, Ockam's `sender_remote`):
  1. the inlet accepts a client, starts its end and sends Ping to the outlet listener's route
     (e.g. [channel encryptor, "outlet"]) with return route [end];
  2. the outlet listener takes only Ping; it starts an outlet end that connects to the target,
     then sends Pong to the Ping's return route, return route [end]; when it cannot connect it
     sends Disconnect instead (a Rust outlet sends nothing; a Rust inlet would wait for ever);
  3. the inlet takes the Pong's return route as its remote route and starts reading its client.
Data: each end sends what it reads as Payload chunks of at most `chunk` bytes (host default 48 KiB,
Ockam's MAX_PAYLOAD_SIZE), with the packet counter (u16 LE from 0, +1 per Payload, wrapping).
EOF (or a read error) sends Disconnect; Disconnect closes the socket.

Rules upheld here:
- a message must come through the carrier (channel or connection) that set the connection up
  (`portal_wrong_origin`): otherwise it is dropped and counted, and the connection goes on;
- from its own carrier, a violation closes the connection cleanly (Disconnect to the peer when its
  route is known, the socket closed, the worker removed) and is counted: hops after the end's
  address (`portal_extra_hops`), an undecodable message, a Payload before Pong, a Ping or Pong
  after setup (`portal_rejected`); a counter that is not
  the one expected (`portal_counter_gap`): any loss on the path ends the connection instead of
  corrupting the stream. A Payload without a counter is taken as Ockam sends it;
- the outlet listener takes only Ping (`portal_rejected` otherwise, e.g. a Disconnect for a
  connection it does not know); a message to an end that is gone is the node's `no_worker`;
- an inlet waits at most `pong_timeout` s for the Pong (`portal_pong_timeout`), then closes its
  client; an outlet that cannot reach its target answers Disconnect (`portal_connect_failed`; on
  MicroPython a refused connect shows only at the first read: Pong, then Disconnect);
- backpressure, no queues: a reader sends its next chunk only once the last one was handed to the
  next hop (the channel and transport writes are awaited), and an end writes a Payload to its
  socket and drains before the next message is taken; so memory per connection is one chunk;
- a TCP peer that takes nothing of a Payload for `write_timeout` s (`portal_slow_client`) has its
  connection closed (Disconnect to the other end): while an end waits, so does everything its
  carrier carries, and a peer that never reads must not hold that up until the transports give
  up on the carrier itself;
- at most `max_connections` connections per inlet or outlet (`portal_refused`);
- when the carrier closes (channel or connection), the connections it carried close.
"""
import asyncio

from ..compat import collect, const, current_task, get_logger, open_connection, release, start_server
from ..errors import DecodeError, HopsealError
from ..wire import bare
from ..wire.message import Address, route

log = get_logger("portal")

PING = const(0)
PONG = const(1)
DISCONNECT = const(2)
PAYLOAD = const(3)

MAX_PAYLOAD_SIZE = 48 * 1024  # ockam_transport_tcp's default portal_payload_length
PONG_TIMEOUT = 10
CONNECT_TIMEOUT = 10
# seconds an end waits for its TCP peer to take a Payload: the carrier (channel, connection) waits
# with it, so this stays well below the transports' frame_timeout (30 s), which would close the
# carrier and every portal connection on it
WRITE_TIMEOUT = 10
DEFAULT_MAX_CONNECTIONS = 256
_SEND_TRIES = const(8)  # a board's send that finds no free piece of heap is tried this often

_PING_BYTES = b"\x00"
_PONG_BYTES = b"\x01"
_DISCONNECT_BYTES = b"\x02"

# end states
_WAIT_PONG = const(0)  # inlet: Ping sent
_CONNECTING = const(1)  # outlet: Ping taken, connecting to the target
_OPEN = const(2)
_CLOSED = const(3)


# -- codec (portal_message.rs) ------------------------------------------------------------------
def encode(kind):
    """Ping, Pong or Disconnect: one byte (Ockam's hand-written encoder, same as the BARE enum)."""
    if kind == PING:
        return _PING_BYTES
    if kind == PONG:
        return _PONG_BYTES
    if kind == DISCONNECT:
        return _DISCONNECT_BYTES
    raise ValueError("not a unit portal message: %r" % kind)


def encode_payload(data, counter=None):
    """`03 ‖ ULEB128(len) ‖ data [‖ 01 ‖ counter u16 LE]`. Ockam 0.150 sends no counter (its
    encoder has it commented out) and checks one when it is there."""
    n = len(data)
    head = bytearray(b"\x03")
    bare.write_uleb128(head, n)
    h = len(head)
    out = bytearray(h + n + (3 if counter is not None else 0))
    out[:h] = head
    out[h:h + n] = data
    if counter is not None:
        out[h + n] = 1
        out[h + n + 1] = counter & 0xFF
        out[h + n + 2] = (counter >> 8) & 0xFF
    return out


def decode(buf):
    """(kind, data, counter): data and counter are None but for Payload, counter None when absent.

    As Ockam decodes (`PortalMessage::internal_decode`): bytes after Ping, Pong or Disconnect are
    ignored; after a Payload's data, the counter is read only if at least 3 bytes follow, and only
    when the first of them is 1. DecodeError for an empty message, an unknown variant, or data
    shorter than its length."""
    if not buf:
        raise DecodeError("empty portal message")
    kind = buf[0]
    if kind < PAYLOAD:
        return kind, None, None
    if kind != PAYLOAD:
        raise DecodeError("unknown portal message variant %d" % kind)
    n, pos = bare.read_uleb128(buf, 1)
    end = pos + n
    if end > len(buf):
        raise DecodeError("portal payload shorter than its length")
    counter = None
    if len(buf) - end >= 3 and buf[end] == 1:
        counter = buf[end + 1] | (buf[end + 2] << 8)
    return PAYLOAD, memoryview(buf)[pos:end], counter


# -- one connection's end -----------------------------------------------------------------------
class PortalEnd:
    """One TCP connection's end of a portal: a worker at a random address plus its socket."""

    def __init__(self, node, owner, kind, reader=None, writer=None):
        self.node = node
        self.owner = owner  # the Inlet or Outlet; forget(end) when it closes
        self.kind = kind  # "inlet" or "outlet"
        self.reader = reader
        self.writer = writer
        self.chunk = owner.chunk
        self.send_counter = owner.counter
        self.address = Address.random()
        self.state = _WAIT_PONG if kind == "inlet" else _CONNECTING
        self.remote = None  # the route to the peer's end
        self.origin = None  # the carrier that set the connection up (None: this node)
        self.pinned = False  # origin is set: messages from any other carrier are dropped
        self.tx_counter = 0
        self.rx_last = 0xFFFF  # none yet: 0 expected next (check_packet_counter)
        self.ready = asyncio.Event()
        self.task = None
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.why = None
        node.start_worker(self.address, self)

    def __repr__(self):
        return "portal %s end %s" % (self.kind, self.address.text()[:8])

    # -- messages from the peer ------------------------------------------------------------------
    async def handle_message(self, node, msg):
        if self.state == _CLOSED:
            return
        if self.pinned and msg.origin is not self.origin:
            node.count("portal_wrong_origin")
            log.every("portal_wrong_origin", 10, "%r: dropped a message from another carrier", self)
            return
        if len(msg.onward) != 1:
            # Ockam refuses it too (UnknownRoute); from the connection's own carrier it is a
            # violation: counted, and the connection closed cleanly
            node.count("portal_extra_hops")
            log.every("portal_extra_hops", 10, "%r: a message with hops after it; closing it", self)
            return await self.close(True, "a message with hops after the portal address")
        try:
            kind, data, counter = decode(msg.payload)
        except DecodeError as e:
            return await self._violation("undecodable message: %s" % e)
        if self.state == _OPEN:
            if kind == PAYLOAD:
                return await self._write(data, counter)
            if kind == DISCONNECT:
                return await self.close(False, "closed by the other end")
            return await self._violation("Ping or Pong after setup")
        if kind == DISCONNECT:
            if self.state == _WAIT_PONG:
                node.count("portal_outlet_refused")
            return await self.close(False, "the outlet could not reach its target" if self.state == _WAIT_PONG
                                    else "closed by the other end")
        if self.state == _WAIT_PONG and kind == PONG:
            self.origin = msg.origin
            self.pinned = True
            self._watch_carrier()
            self.remote = list(msg.return_)
            self.state = _OPEN
            self.ready.set()
            return
        await self._violation("%s before setup" % ("Payload" if kind == PAYLOAD else "Ping or Pong"))

    async def _violation(self, why):
        self.node.count("portal_rejected")
        log.every("portal_rejected", 10, "%r: %s; closing it", self, why)
        await self.close(True, why)

    async def _write(self, data, counter):
        if counter is not None:
            expected = (self.rx_last + 1) & 0xFFFF
            if counter != expected:
                self.node.count("portal_counter_gap")
                log.every("portal_counter_gap", 10, "%r: packet %d while expecting %d; closing it", self,
                          counter, expected)
                return await self.close(True, "packet counter gap")
            self.rx_last = counter
        w = self.writer
        t = self.owner.write_timeout
        try:
            w.write(data)
            if not t or not _must_wait(w):
                await w.drain()
            else:
                await asyncio.wait_for(w.drain(), t)
        except asyncio.TimeoutError:
            self.node.count("portal_slow_client")
            log.every("portal_slow_client", 10, "%r: its TCP peer took nothing for %s s; closing it", self, t)
            return await self.close(True, "its TCP peer took nothing for %s s" % t)
        except OSError as e:
            return await self.close(True, "write failed: %s" % e)
        self.rx_bytes += len(data)

    # -- the socket's side -----------------------------------------------------------------------
    async def pump(self):
        """Read the socket and send Payload chunks until EOF, then Disconnect (awaits each send:
        the path's pace is the read pace)."""
        why = "closed by its TCP peer"
        node = self.node
        try:
            while self.state == _OPEN:
                data = await self.reader.read(self.chunk)
                if not data or self.state != _OPEN:
                    break
                c = None
                if self.send_counter:
                    c = self.tx_counter
                    self.tx_counter = (c + 1) & 0xFFFF
                await self._send_chunk(data, c)
                self.tx_bytes += len(data)
        except OSError as e:
            why = "read failed: %s" % e
        except HopsealError as e:  # the path is gone (channel closed, connection lost)
            why = "sending failed: %s" % e
            return await self.close(False, why)
        except MemoryError:  # a small heap: this connection goes (Disconnect), not the node
            node.count("memory_errors")
            why = "out of memory"
        await self.close(True, why)

    async def _send_chunk(self, data, c):
        """One Payload. On a small heap a send can find no free piece for a moment (the reliable
        link holding frames in flight and beyond gaps on a damaged line): it is tried again, up to
        _SEND_TRIES times, after a collection and a pause in which acknowledgements free what the
        link holds (counted: portal_send_retries). The channels and the link allocate before they
        commit (a channel's nonce may be skipped, which its receiver allows), so a send that
        failed left nothing to repeat; a later failure ends the connection (MemoryError)."""
        payload = encode_payload(data, c)
        tries = 0
        while True:
            try:
                return await self.node.send(self.remote, payload, [self.address])
            except MemoryError:
                tries += 1
                if tries >= _SEND_TRIES or self.state != _OPEN:
                    raise
                self.node.count("portal_send_retries")
                collect()
                await asyncio.sleep(0.05 * tries)

    async def close(self, notify=False, why="closed"):
        """Close once: the worker goes, Disconnect to the peer with `notify` (when its route is
        known), the socket is released."""
        if self.state == _CLOSED:
            return
        self.state = _CLOSED
        self.why = why
        self.ready.set()
        self.node.stop_worker(self.address)
        self._unwatch_carrier()
        if notify and self.remote is not None:
            try:
                await self.node.send(self.remote, _DISCONNECT_BYTES, [self.address])
            except (HopsealError, OSError) as e:
                log.info("%r: Disconnect not sent: %s", self, e)
        t = self.task
        if t is not None and t is not current_task():
            t.cancel()
        if self.writer is not None:
            await release(self.writer)
        self.owner.forget(self)
        log.info("%r closed: %s", self, why)

    def _watch_carrier(self):
        o = self.origin
        if o is not None and hasattr(o, "on_close"):
            o.on_close.append(self._carrier_closed)

    def _unwatch_carrier(self):
        o = self.origin
        if o is not None and hasattr(o, "on_close") and self._carrier_closed in o.on_close:
            try:
                o.on_close.remove(self._carrier_closed)
            except ValueError:
                pass

    def _carrier_closed(self, carrier):
        # called by a channel (not awaited) or a connection: the close itself runs as a task
        if self.state != _CLOSED:
            self.origin = None  # it is closing: nothing to unhook, nothing to send through it
            self.remote = None
            asyncio.create_task(self.close(False, "its carrier closed"))


def _must_wait(w):
    """Whether draining writer `w` may block: CPython's transport holds more than its high-water
    mark; MicroPython's stream kept bytes the socket did not take (`out_buf`)."""
    tr = getattr(w, "transport", None)
    if tr is not None and hasattr(tr, "get_write_buffer_size"):
        return tr.get_write_buffer_size() > tr.get_write_buffer_limits()[1]
    return bool(getattr(w, "out_buf", True))


class _Portal:
    def __init__(self, node, chunk, counter, max_connections, write_timeout=WRITE_TIMEOUT):
        self.node = node
        self.write_timeout = write_timeout
        self.chunk = chunk
        self.counter = counter
        self.max_connections = max_connections
        self.ends = {}  # address value -> PortalEnd

    def forget(self, end):
        self.ends.pop(end.address.value, None)

    def _full(self):
        if self.max_connections and len(self.ends) >= self.max_connections:
            self.node.count("portal_refused")
            log.every("portal_refused", 10, "%s: %d connections open; refused one", self.name(), len(self.ends))
            return True
        return False

    async def close_all(self):
        for end in list(self.ends.values()):
            await end.close(True, "portal stopped")


class Outlet(_Portal):
    """The outlet listener at `address` (`ockam tcp-outlet create --to HOST:PORT --at ADDR`): a
    Ping starts an end connected to host:port. Register it with `start()`; `access` (e.g.
    trust.channel_only) decides who may open connections.

    `connect`, when given, replaces the TCP connect: an async function returning a (reader,
    writer) pair, e.g. an in-process service (apps/board_http.py's status page), so the target
    listens on no network interface; `host` then only names it in logs. The wire is the same."""

    def __init__(self, node, host, port, address="outlet", chunk=MAX_PAYLOAD_SIZE, counter=True,
                 connect_timeout=CONNECT_TIMEOUT, max_connections=DEFAULT_MAX_CONNECTIONS, write_timeout=WRITE_TIMEOUT,
                 connect=None):
        super().__init__(node, chunk, counter, max_connections, write_timeout)
        self.host = host
        self.port = port
        self.address = route(address)[0]
        self.connect_timeout = connect_timeout
        self.connect = connect

    def name(self):
        if self.connect is not None:
            return "outlet %s to %s" % (self.address.text(), self.host)
        return "outlet %s to %s:%d" % (self.address.text(), self.host, self.port)

    def start(self, access=None):
        self.node.start_worker(self.address, self, access)
        self.node.on_stop(self)
        return self

    async def close(self):
        self.node.stop_worker(self.address)
        await self.close_all()

    async def handle_message(self, node, msg):
        if len(msg.onward) != 1:
            node.count("portal_extra_hops")
            log.every("portal_extra_hops", 10, "%s: dropped a message with hops after it", self.name())
            return
        try:
            kind, _, _ = decode(msg.payload)
        except DecodeError:
            kind = None
        if kind != PING:
            node.count("portal_rejected")
            log.every("portal_rejected", 10, "%s: dropped a message that is not a Ping", self.name())
            return
        if not msg.return_:
            node.count("portal_rejected")
            return
        if self._full():
            try:
                await node.send(list(msg.return_), _DISCONNECT_BYTES, [])
            except (HopsealError, OSError):
                pass
            return
        end = PortalEnd(node, self, "outlet")
        end.origin = msg.origin
        end.pinned = True
        end.remote = list(msg.return_)
        end._watch_carrier()
        self.ends[end.address.value] = end
        # connecting must not hold up the carrier's receive loop
        end.task = asyncio.create_task(self._run(end))

    async def _run(self, end):
        try:
            c = self.connect() if self.connect is not None else open_connection(self.host, self.port)
            r, w = await asyncio.wait_for(c, self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as e:
            self.node.count("portal_connect_failed")
            log.every("portal_connect_failed", 10, "%s: cannot connect: %s", self.name(), e)
            await end.close(True, "cannot connect to the target")
            return
        if end.state == _CLOSED:  # the inlet gave up meanwhile
            await release(w)
            return
        end.reader, end.writer = r, w
        end.state = _OPEN
        try:
            await self.node.send(end.remote, _PONG_BYTES, [end.address])
        except (HopsealError, OSError) as e:
            await end.close(False, "Pong not sent: %s" % e)
            return
        await end.pump()


class Inlet(_Portal):
    """An inlet (`ockam tcp-inlet create --from HOST:PORT --to ROUTE`): each client accepted on
    host:port becomes a portal connection to the outlet listener at `to`: a route, or an async
    function returning one (called per connection, so a channel that closed can be opened again)."""

    def __init__(self, node, to, chunk=MAX_PAYLOAD_SIZE, counter=True, pong_timeout=PONG_TIMEOUT,
                 max_connections=DEFAULT_MAX_CONNECTIONS, write_timeout=WRITE_TIMEOUT):
        super().__init__(node, chunk, counter, max_connections, write_timeout)
        self.to = to
        self.pong_timeout = pong_timeout
        self.server = None
        self.host = None
        self.port = None

    def name(self):
        return "inlet %s:%s" % (self.host, self.port)

    async def listen(self, host, port):
        """Start accepting clients; `self.port` is the bound port (the given one on MicroPython)."""
        self.server = await start_server(self._accepted, host, port)
        self.host = host
        self.port = port
        if hasattr(self.server, "sockets") and self.server.sockets:
            self.port = self.server.sockets[0].getsockname()[1]
        self.node.on_stop(self)
        return self

    async def close(self):
        s = self.server
        self.server = None
        if s is not None:
            s.close()
            await s.wait_closed()
        await self.close_all()

    async def _accepted(self, reader, writer):
        if self._full():
            await release(writer, True)
            return
        try:
            to = self.to
            if not isinstance(to, (list, tuple)):
                to = await to()
            to = route(to)
        except (HopsealError, OSError) as e:
            self.node.count("portal_route_failed")
            log.every("portal_route_failed", 10, "%s: no route to the outlet: %s", self.name(), e)
            await release(writer, True)
            return
        end = PortalEnd(self.node, self, "inlet", reader, writer)
        self.ends[end.address.value] = end
        end.task = current_task()
        try:
            await self.node.send(to, _PING_BYTES, [end.address])
            try:
                await asyncio.wait_for(end.ready.wait(), self.pong_timeout)
            except asyncio.TimeoutError:
                self.node.count("portal_pong_timeout")
                log.every("portal_pong_timeout", 10, "%s: no Pong within %ss; closing the client", self.name(),
                          self.pong_timeout)
                await end.close(False, "no Pong")
                return
            if end.state == _OPEN:
                await end.pump()
        except (HopsealError, OSError) as e:
            await end.close(False, "Ping not sent: %s" % e)
        except asyncio.CancelledError:  # closed from the carrier's side (Disconnect, a violation)
            pass
        finally:
            end.task = None
            if end.state != _CLOSED:
                await end.close(True, "inlet task ended")
