"""Relays (ockam-wire §5.3): the hub's `forwarding_service` and the client that registers with it.

Service (runs on the hub, but lives in the runtime so the rule exists once):
- the request body is a BARE String: `"register"` asks for a random name (32 hex chars), anything
  else is a static name; the relay worker lives at `prefix + name` (`forward_to_` on Ockam nodes);
- the relay's forward route is the request's return route; it replies with BARE String
  `prefix + name` from its own address, then drops the last hop (the client's worker), keeping the
  route to the client's node;
- a message to the relay has the relay popped and the forward route prepended; return routes pass
  unchanged;
- hub policy (not wire format): re-registering a static name replaces the old relay (a reconnecting
  board must get its reply; Ockam's Rust hub refuses instead [uncertain], the Elixir one updates);
  relays registered over a connection are removed when it closes; at most `per_connection` relays
  per connection (refused requests get no reply, like Ockam's silent drop, and are counted).
Client:
- sends the request from a fresh worker address, checks that the reply ends with the requested
  alias, and takes the relay address from the last hop of the reply's return route;
- `ping()` sends a message through its own relay back to itself: the only way to learn that the
  path (gateway, hub, relay) is still there, since relays have no heartbeat (§5.3).
"""
import asyncio

from ..compat import Backoff, get_logger, hexstr, random_bytes
from ..errors import DecodeError, HopsealError, RoutingError
from ..wire import bare
from ..wire.message import Address, route
from .basic import Forwarder

log = get_logger("relay")

REGISTER = "register"
DEFAULT_PREFIX = "forward_to_"


class Relay(Forwarder):
    """A registered relay: a Forwarder (the forwarding rule lives there) to the registering node,
    remembering the connection it was registered over."""

    def __init__(self, address, to, conn):
        Forwarder.__init__(self, address, to)
        self.conn = conn


class RelayService:
    def __init__(self, node, prefix=DEFAULT_PREFIX, per_connection=16, aliases=("forwarding_service", "static_forwarding_service")):
        self.node = node
        self.prefix = prefix
        self.per_connection = per_connection
        self.relays = {}  # name -> Relay
        for a in aliases:
            node.start_worker(a, self)

    def _by_conn(self, conn):
        return [r for r in self.relays.values() if r.conn is conn]

    async def handle_message(self, node, msg):
        name = bare.decode_string(msg.payload)
        if not name or len(name) > 128:
            raise DecodeError("bad relay name")
        if name == REGISTER:
            name = hexstr(random_bytes(16))
        conn = msg.origin
        old = self.relays.get(name)
        if old is not None:
            log.info("relay %s re-registered; replacing the old one", name)
            self._remove(old)
        if conn is not None and len(self._by_conn(conn)) >= self.per_connection:
            node.count("relay_refused")
            log.warning("relay %s refused: %r already has %d relays", name, conn, self.per_connection)
            return
        addr = Address.parse(self.prefix + name)
        forward_route = list(msg.return_)
        relay = Relay(addr, forward_route, conn)
        node.start_worker(addr, relay)
        self.relays[name] = relay
        if conn is not None and hasattr(conn, "on_close") and self._on_close not in conn.on_close:
            conn.on_close.append(self._on_close)
        log.info("relay %r created, forwarding to %s", addr, forward_route)
        await node.send(forward_route, bare.encode_string(self.prefix + name), [addr])
        relay.to = forward_route[:-1]

    def _remove(self, relay):
        self.node.stop_worker(relay.address)
        for k in list(self.relays):
            if self.relays[k] is relay:
                del self.relays[k]

    def _on_close(self, conn):
        for r in self._by_conn(conn):
            log.info("relay %r removed: its connection closed", r.address)
            self._remove(r)


class RelayClient:
    """Register a relay at a hub reachable along `hub_route`; keep it alive with `ping()`."""

    def __init__(self, node, hub_route, name=None, service="forwarding_service"):
        self.node = node
        self.hub_route = route(hub_route)
        self.name = name
        self.service = service if name is None else "static_forwarding_service"
        self.relay_address = None
        self.remote_route = None

    async def register(self, timeout=10):
        """Register (or re-register); returns the relay's address text, e.g. `forward_to_ab12…`."""
        alias = self.name if self.name is not None else REGISTER
        mb = self.node.mailbox()
        try:
            await self.node.send(self.hub_route + route(self.service), bare.encode_string(alias), [mb.address])
            reply = await mb.receive(timeout)
        finally:
            mb.close()
        text = bare.decode_string(reply.payload)
        if self.name is not None and not text.endswith(self.name):
            raise RoutingError("relay reply %r does not match the requested name %r" % (text, self.name))
        if not reply.return_:
            raise RoutingError("relay reply has no return route")
        self.relay_address = reply.return_[-1]
        self.remote_route = reply.return_
        log.info("relay registered at %r", self.relay_address)
        return self.relay_address.text()

    async def ping(self, timeout=5):
        """Send a message through our own relay back to us; True when it arrives."""
        if self.relay_address is None:
            return False
        mb = self.node.mailbox()
        try:
            await self.node.send(self.hub_route + [self.relay_address, mb.address], b"ping", [])
            await mb.receive(timeout)
            return True
        except HopsealError:  # no reply, or no way to the hub at all (TransportError)
            return False
        finally:
            mb.close()

    async def keep_alive(self, interval=10, timeout=5, failures=2, on_change=None):
        """Forever: ping every `interval` s; after `failures` misses, re-register (with backoff)."""
        missed = 0
        backoff = Backoff(1, 30)
        while True:
            await asyncio.sleep(interval)
            ok = await self.ping(timeout)
            if ok:
                missed = 0
                continue
            missed += 1
            if missed < failures:
                continue
            log.warning("relay %r unreachable; re-registering", self.relay_address)
            try:
                await self.register(timeout)
                missed = 0
                backoff.reset()
                if on_change is not None:
                    on_change(self)
            except HopsealError as e:
                log.warning("re-registration failed: %s", e)
                await backoff.wait()
