"""The TCP transport (ockam-wire §1.2, §3.4) on asyncio streams, in the MicroPython/CPython subset.

`TCPTransport(node)` registers itself as the resolver for `1#host:port` addresses, so a locally
sent message whose route starts with a TCP address connects on demand (reusing a live connection),
like Ockam's `resolve_transport_route`.

Rules upheld here, so that connections an attacker opens cost little and end:
- at most `max_connections` connections at once (keep it below the process's file-descriptor
  limit: hopseal_host.limits on the host, a small number on a board); a connection accepted past
  it is closed at once, counted (`connections_refused`) and logged at most once per 10 s (with
  how many more since: Log.every); the open ones keep working;
- one sweeper task per transport (not a timer per connection) closes an accepted connection that
  sent no complete frame for `idle_timeout` seconds (`idle_closed`), and any connection with a
  frame begun and not finished, or a write the peer has not taken, for `frame_timeout` seconds
  (`frame_timeout`, `write_timeout`); None or 0 turns a check off. Dialled connections are not
  closed for idleness: their owner decides (a forwarder holds one for its whole life);
- connections are kept in dicts: opening, forgetting and looking one up are O(1), so thousands
  closing at once do not stall the event loop; after many have gone the sweeper runs a garbage
  collection (CPython's socket transports are freed only by the cycle collector), so memory goes
  back near where it was when an attack ends;
- a connection reads at most `read_size` bytes at a time (a board's small default; a host asks
  for more, hopseal_host.limits.HOST_READ_SIZE, so a 48 KiB portal frame is one read, not 24);
- per-connection log lines (opened, closed, protocol errors) go through one LineQuota.
On CPython the accept loop of asyncio.start_server backs off by itself when the process runs out
of file descriptors (it stops accepting for 1 s, but logs each failure with a traceback, up to 100
a second: TCPTransport.listen turns those into a count, `accept_errors`, and one line per 10 s).
"""
import asyncio

from ..compat import collect, const, get_logger, open_connection, release, start_server, ticks_diff, ticks_ms
from ..errors import TransportError
from ..wire.message import TCP, Address
from ..wire.tcp_frame import DEFAULT_MAX_FRAME, TCPFraming
from .connection import StreamConnection

log = get_logger("tcp")

DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_IDLE_TIMEOUT = 600  # a hub client that says nothing for 10 min goes (boards ping every 2 s)
DEFAULT_FRAME_TIMEOUT = 30  # a 256 KiB frame over a 115200 baud link takes 23 s
DEFAULT_READ_SIZE = const(2048)  # bytes per read on a board
_TELL_EVERY = const(10)  # seconds between two log lines about refused connections or accept errors
_COLLECT_AFTER = const(256)  # connections gone before the sweeper runs a garbage collection
_ACCEPT_ERROR = "socket.accept() out of system resource"  # asyncio's message (selector_events)


def _keepalive(writer):
    # OS TCP keepalive as Ockam sets it (300 s / 75 s / 2, ockam-wire §1.2), where the port has it.
    try:
        import socket

        s = writer.get_extra_info("socket")
        if s is None or not hasattr(socket, "SO_KEEPALIVE"):
            return
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, val in (("TCP_KEEPIDLE", 300), ("TCP_KEEPINTVL", 75), ("TCP_KEEPCNT", 2)):
            if hasattr(socket, name):
                s.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), val)
    except (OSError, AttributeError, ImportError, KeyError):
        pass  # MicroPython's get_extra_info knows only 'peername'


def _peer(writer, fallback):
    try:
        p = writer.get_extra_info("peername")
        if isinstance(p, tuple) and len(p) >= 2:
            return "%s:%d" % (p[0], p[1])
        if isinstance(p, (bytes, bytearray)) and len(p) >= 8 and p[0] == 2:
            # MicroPython gives a raw sockaddr_in: family, port (BE), IPv4
            return "%d.%d.%d.%d:%d" % (p[4], p[5], p[6], p[7], (p[2] << 8) | p[3])
        if p:
            return str(p)
    except (OSError, AttributeError, TypeError, KeyError):
        pass
    return fallback


def _ms(seconds):
    return int(seconds * 1000) if seconds else 0


def expired(conn, now, idle_ms, frame_ms):
    """Why connection `conn` should be closed at `now` (ticks_ms), as (counter, reason), or None:
    a frame begun `frame_ms` ago is not finished, a write has waited `frame_ms` for the peer to
    take it, or no complete frame came in for `idle_ms` (0 turns a check off)."""
    if frame_ms:
        if conn.frame_at is not None and ticks_diff(now, conn.frame_at) >= frame_ms:
            return "frame_timeout", "a frame begun %.1f s ago is not finished" % (frame_ms / 1000)
        if conn.tx_at is not None and ticks_diff(now, conn.tx_at) >= frame_ms:
            return "write_timeout", "the peer took nothing for %.1f s" % (frame_ms / 1000)
    if idle_ms and ticks_diff(now, conn.rx_at) >= idle_ms:
        return "idle_closed", "no complete frame for %.1f s" % (idle_ms / 1000)
    return None


class LineQuota:
    """At most `n` log lines per `every` seconds for one kind of event (connections opened and
    closed); the others are counted and told in one line when the period is over (on the next line
    asked for, or `flush()` from a sweeper). An attacker opening connections cannot flood the log."""

    def __init__(self, what, n=32, every=10):
        self.what = what
        self.n = n
        self.every_ms = int(every * 1000)
        self.start = None
        self.used = 0
        self.held = 0

    def take(self):
        """True if one more line may be logged now."""
        self.flush()
        if self.used < self.n:
            self.used += 1
            return True
        self.held += 1
        return False

    def flush(self, force=False):
        now = ticks_ms()
        if force or self.start is None or ticks_diff(now, self.start) >= self.every_ms:
            if self.held:
                log.info("%d more %s lines not shown (at most %d per %d s)", self.held, self.what, self.n,
                         self.every_ms // 1000)
            self.start = now
            self.used = 0
            self.held = 0


class TCPListener:
    def __init__(self, transport, server, host, port):
        self.transport = transport
        self.server = server
        self.host = host
        self.port = port

    async def close(self):
        self.server.close()
        try:
            await self.server.wait_closed()
        except OSError:
            pass


class TCPTransport:
    """TCP connections of one node: dialled (`connect`, or on demand for `1#host:port`) and
    accepted (`listen`). See the module's rules for the limits and timeouts; `framing` makes a
    connection's framing from `max_frame` (tests inject faulty ones)."""

    def __init__(self, node, max_frame=DEFAULT_MAX_FRAME, connect_timeout=10, max_connections=DEFAULT_MAX_CONNECTIONS,
                 idle_timeout=DEFAULT_IDLE_TIMEOUT, frame_timeout=DEFAULT_FRAME_TIMEOUT, framing=TCPFraming,
                 read_size=DEFAULT_READ_SIZE):
        self.node = node
        self.read_size = read_size
        self.max_frame = max_frame
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.framing = framing
        self.outgoing = {}  # "host:port" -> StreamConnection
        self.open = {}  # StreamConnection -> True if accepted, False if dialled
        self.on_connection = []  # callbacks(conn) for accepted connections
        self.lines = LineQuota("connection")
        self._sweeper = None
        self._gone = 0  # connections forgotten since the last collection
        node.resolvers[TCP] = self.resolve
        node.tcp = self
        node.on_stop(self)

    @property
    def connections(self):
        """The open connections, oldest first (a new list)."""
        return list(self.open)

    async def _attach(self, reader, writer, peer, incoming):
        _keepalive(writer)
        conn = StreamConnection(self.node, reader, writer, self.framing(self.max_frame), peer, "tcp",
                                self.read_size)
        conn.lines = self.lines
        conn.write_timeout = self.frame_timeout
        self.open[conn] = incoming
        conn.on_close.append(self._forget)
        if self._sweeper is None and (self.idle_timeout or self.frame_timeout):
            self._sweeper = asyncio.create_task(self._sweep())
        await conn.start()
        if self.lines.take():
            log.info("%s connection %s at %r", "accepted" if incoming else "opened", peer, conn.address)
        return conn

    def _forget(self, conn):
        if self.open.pop(conn, None) is not None:
            self._gone += 1
        if self.outgoing.get(conn.peer) is conn:  # a dialled connection's peer is its key
            del self.outgoing[conn.peer]

    async def _sweep(self):
        """Close the connections that are idle, half-sent or not reading (see the module's rules).
        One task per transport, alive while it has connections; a round is one pass over them."""
        try:
            while self.open:
                idle_ms = _ms(self.idle_timeout)
                frame_ms = _ms(self.frame_timeout)
                step = min(idle_ms or frame_ms, frame_ms or idle_ms) // 4  # ~1/4 timeout late at most
                await asyncio.sleep(max(50, min(step, 5000)) / 1000)
                now = ticks_ms()
                stale = []
                for conn, incoming in self.open.items():
                    r = expired(conn, now, idle_ms if incoming else 0, frame_ms)
                    if r is not None:
                        stale.append((conn, r))
                for conn, (what, why) in stale:
                    self.node.count(what)
                    # each in its own task: a close waits (boundedly) for the socket to go
                    asyncio.create_task(conn.close(why, True))
                if self._gone >= _COLLECT_AFTER:
                    self._gone = 0
                    collect()
                self.lines.flush()
        finally:
            self._sweeper = None

    async def _refuse(self, writer):
        self.node.count("connections_refused")
        log.every("connections_refused", _TELL_EVERY, "refused a connection: at the cap of %d open connections",
                  self.max_connections)
        await release(writer, True)

    async def connect(self, host, port):
        """Open a connection; returns the StreamConnection (use `.address` in routes)."""
        key = _key(host, port)
        try:
            reader, writer = await asyncio.wait_for(open_connection(host, port), self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise TransportError("cannot connect to %s: %s" % (key, e))
        conn = await self._attach(reader, writer, key, False)
        self.outgoing[key] = conn
        return conn

    async def resolve(self, address):
        """Map `1#host:port` to the sender address of a (possibly new) connection."""
        key = address.text()
        conn = self.outgoing.get(key)
        if conn is None or conn.closed:
            host, _, port = key.rpartition(":")
            if host[:1] == "[" and host[-1:] == "]":
                host = host[1:-1]  # an IPv6 address, [::1]:4000
            if not host or not port.isdigit():
                raise TransportError("bad TCP address %r" % key)
            conn = await self.connect(host, int(port))
        return conn.address

    async def listen(self, host, port):
        async def accepted(reader, writer):
            if self.max_connections is not None and len(self.open) >= self.max_connections:
                await self._refuse(writer)
                return
            conn = await self._attach(reader, writer, _peer(writer, "peer"), True)
            for cb in self.on_connection:
                cb(conn)

        server = await start_server(accepted, host, port)
        self._quiet_accept_errors(server)
        bound = port
        if hasattr(server, "sockets") and server.sockets:
            bound = server.sockets[0].getsockname()[1]
        listener = TCPListener(self, server, host, bound)
        self.node.on_stop(listener)
        log.info("listening on %s", _key(host, bound))
        return listener

    def _quiet_accept_errors(self, server):
        """CPython's accept loop, out of file descriptors, stops accepting for a second, but first
        logs every failed accept() (up to 100 a round, each with a traceback): count them and tell
        them once per 10 s instead; anything else goes to the handler that was there. (MicroPython's
        server has no loop to ask and reports no accept error.)"""
        if not hasattr(server, "get_loop") or not getattr(server, "sockets", None):
            return
        loop = server.get_loop()
        before = loop.get_exception_handler()
        fds = [s.fileno() for s in server.sockets]
        node = self.node

        def handler(loop, context):
            sock = context.get("socket")
            if context.get("message") == _ACCEPT_ERROR and sock is not None and sock.fileno() in fds:
                node.count("accept_errors")
                log.every("accept_errors", _TELL_EVERY, "accept() failed: %s; accepting again in 1 s",
                          context.get("exception"))
            elif before is not None:
                before(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

    async def close(self):
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self.open:  # at once: a peer that does not read holds up its own close only
            await asyncio.gather(*[c.close("node stopping") for c in list(self.open)])
        self.lines.flush(True)


def _key(host, port):
    """HOST:PORT, an IPv6 address in brackets (the text of its TCP address)."""
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def tcp_address(host, port):
    return Address(TCP, _key(host, port))
