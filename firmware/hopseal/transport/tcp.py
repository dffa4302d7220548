"""The TCP transport (ockam-wire §1.2, §3.4) on asyncio streams, in the MicroPython/CPython subset.

`TCPTransport(node)` registers itself as the resolver for `1#host:port` addresses, so a locally
sent message whose route starts with a TCP address connects on demand (reusing a live connection),
like Ockam's `resolve_transport_route`.
"""
import asyncio

from ..compat import get_logger
from ..errors import TransportError
from ..wire.message import TCP, Address
from ..wire.tcp_frame import DEFAULT_MAX_FRAME, TCPFraming
from .connection import StreamConnection

log = get_logger("tcp")


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
    def __init__(self, node, max_frame=DEFAULT_MAX_FRAME, connect_timeout=10):
        self.node = node
        self.max_frame = max_frame
        self.connect_timeout = connect_timeout
        self.outgoing = {}  # "host:port" -> StreamConnection
        self.connections = []
        self.on_connection = []  # callbacks(conn) for accepted connections
        node.resolvers[TCP] = self.resolve
        node.tcp = self
        node.on_stop(self)

    async def _attach(self, reader, writer, peer, incoming):
        _keepalive(writer)
        conn = StreamConnection(self.node, reader, writer, TCPFraming(self.max_frame), peer, "tcp")
        self.connections.append(conn)
        conn.on_close.append(self._forget)
        await conn.start()
        log.info("%s connection %s at %r", "accepted" if incoming else "opened", peer, conn.address)
        return conn

    def _forget(self, conn):
        if conn in self.connections:
            self.connections.remove(conn)
        for k in list(self.outgoing):
            if self.outgoing[k] is conn:
                del self.outgoing[k]

    async def connect(self, host, port):
        """Open a connection; returns the StreamConnection (use `.address` in routes)."""
        key = "%s:%d" % (host, port)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.connect_timeout)
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
            if not host or not port.isdigit():
                raise TransportError("bad TCP address %r" % key)
            conn = await self.connect(host, int(port))
        return conn.address

    async def listen(self, host, port):
        async def accepted(reader, writer):
            conn = await self._attach(reader, writer, _peer(writer, "peer"), True)
            for cb in self.on_connection:
                cb(conn)

        server = await asyncio.start_server(accepted, host, port)
        bound = port
        if hasattr(server, "sockets") and server.sockets:
            bound = server.sockets[0].getsockname()[1]
        listener = TCPListener(self, server, host, bound)
        self.node.on_stop(listener)
        log.info("listening on %s:%d", host, bound)
        return listener

    async def close(self):
        for c in list(self.connections):
            await c.close("node stopping")


def tcp_address(host, port):
    return Address(TCP, "%s:%d" % (host, port))
