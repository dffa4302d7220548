"""Relays (ockam-wire §5.3): the hub's `forwarding_service` and the client that registers with it.

Service (runs on the hub, but lives in the runtime so the rule exists once):
- the request body is a BARE String: `"register"` asks for a random name (32 hex chars), anything
  else is a static name; the relay worker lives at `prefix + name` (`forward_to_` on Ockam nodes);
- the relay's forward route is the request's return route; it replies with BARE String
  `prefix + name` from its own address, then drops the last hop (the client's worker), keeping the
  route to the client's node;
- a message to the relay has the relay popped and the forward route prepended; return routes pass
  unchanged.
Ownership (hub policy, not wire format; docs/wire.md §6):
- a relay belongs to whoever registered it: the peer's identifier when the request came through a
  secure channel, else the transport connection it came over. A static name held by a live relay
  of another owner is refused; its owner registering it again (same identifier, or the same
  connection) replaces its relay, so a board that reconnects gets its name back at once. A refused
  request never touches the existing relay;
- `RelayPolicy`: in "channel" mode (the default) static names are registered only through a secure
  channel; "open" mode also takes them over plain transport, as Ockam nodes do; names can be
  pinned to identifiers. A refusal is answered with BARE String `error: <reason>` (an Ockam hub
  drops the request silently) and counted;
- a relay ends with what carried its registration (the connection, or the channel, which itself
  ends with its connection); a request with an empty return route is refused; at most
  `per_owner` relays per owner and `max_relays` in all. Lookups go through indexes, never a scan.
Client:
- sends the request from a fresh worker address, checks that the reply ends with the requested
  alias, and takes the relay address from the last hop of the reply's return route;
- `ping()` sends a message through its own relay back to itself: the only way to learn that the
  path (gateway, hub, relay) is still there, since relays have no heartbeat (§5.3).
"""
import asyncio

from ..compat import Backoff, get_logger, hexstr, printable, random_bytes
from ..errors import DecodeError, HopsealError, ReceiveTimeout, RoutingError
from ..wire import bare
from ..wire.message import Address, route
from .basic import Forwarder

log = get_logger("relay")

REGISTER = "register"
DEFAULT_PREFIX = "forward_to_"
ERROR_PREFIX = "error: "
OPEN = "open"
CHANNEL = "channel"


class RelayPolicy:
    """Who may register which static names. `pinned` maps a name to the identifier (32 bytes, or
    "I…" text) that alone may hold it, in any mode."""

    def __init__(self, mode=CHANNEL, pinned=None):
        if mode not in (OPEN, CHANNEL):
            raise ValueError("relay policy mode must be %r or %r" % (OPEN, CHANNEL))
        self.mode = mode
        self.pinned = {}
        for name, ident in (pinned or {}).items():
            if isinstance(ident, str):
                from ..secure.identity import parse_identifier

                ident = parse_identifier(ident)
            self.pinned[name] = bytes(ident)

    def refusal(self, name, identifier):
        """Why `identifier` (None: plain transport) may not register static `name`, or None."""
        want = self.pinned.get(name)
        if want is not None and identifier != want:
            return "relay name %s is reserved for another identity" % name
        if self.mode == CHANNEL and identifier is None:
            return "static relay names are registered only through a secure channel to the hub"
        return None


class Relay(Forwarder):
    """A registered relay: a Forwarder (the forwarding rule lives there) to the registering node.
    `owner` is the identifier (bytes) or the connection; `holder` what must stay open for it."""

    def __init__(self, name, address, to, owner, holder):
        Forwarder.__init__(self, address, to)
        self.name = name
        self.owner = owner
        self.holder = holder

    def alive(self):
        return self.holder is None or not getattr(self.holder, "closed", False)


def _owner_of(msg):
    """(owner, holder, identifier or None) of a request."""
    origin = msg.origin
    if origin is not None and getattr(origin, "is_secure_channel", False) and origin.peer_identifier:
        return bytes(origin.peer_identifier), origin, bytes(origin.peer_identifier)
    return origin, origin, None


class RelayService:
    def __init__(self, node, prefix=DEFAULT_PREFIX, per_owner=16, max_relays=10000, policy=None,
                 aliases=("forwarding_service", "static_forwarding_service")):
        self.node = node
        self.prefix = prefix
        self.per_owner = per_owner
        self.max_relays = max_relays
        self.policy = policy or RelayPolicy()
        self.relays = {}  # name -> Relay
        self.by_owner = {}  # owner -> set of names
        self.by_holder = {}  # holder (connection or channel) -> set of names
        for a in aliases:
            node.start_worker(a, self)

    async def handle_message(self, node, msg):
        name = bare.decode_string(msg.payload)
        if not name or len(name) > 128:
            raise DecodeError("bad relay name")
        static = name != REGISTER
        if not static:
            name = hexstr(random_bytes(16))
        owner, holder, identifier = _owner_of(msg)
        why = self._refusal(name, static, owner, identifier, msg)
        if why is not None:
            node.count("relay_refused")
            log.warning("relay %s refused: %s", printable(name), why)
            if msg.return_:
                await node.send(msg.return_, bare.encode_string(ERROR_PREFIX + why), [msg.onward[0]])
            return
        old = self.relays.get(name)
        if old is not None:
            log.info("relay %s registered again by its owner; replacing it", printable(name))
            self._remove(old)
        addr = Address.parse(self.prefix + name)
        forward_route = list(msg.return_)
        relay = Relay(name, addr, forward_route, owner, holder)
        node.start_worker(addr, relay)
        self.relays[name] = relay
        self.by_owner.setdefault(owner, set()).add(name)
        if holder is not None and hasattr(holder, "on_close"):
            names = self.by_holder.get(holder)
            if names is None:
                names = self.by_holder[holder] = set()
                holder.on_close.append(self._holder_closed)
            names.add(name)
        log.info("relay %r created, forwarding to %s", addr, forward_route)
        await node.send(forward_route, bare.encode_string(self.prefix + name), [addr])
        relay.to = forward_route[:-1]

    def _refusal(self, name, static, owner, identifier, msg):
        # from the network, the carrier (connection or channel) put its own address first: with
        # no hop of the sender's after it, the relay's route would be empty, into this node itself
        if len(msg.return_) < (1 if msg.origin is None else 2):
            return "a relay needs a return route"
        if static:
            why = self.policy.refusal(name, identifier)
            if why is not None:
                return why
            old = self.relays.get(name)
            if old is not None and old.alive() and old.owner != owner:
                return "relay name %s is held by another owner" % name
        mine = self.by_owner.get(owner)
        if mine is not None and len(mine) >= self.per_owner and name not in mine:
            return "at most %d relays per owner" % self.per_owner
        if len(self.relays) >= self.max_relays and name not in self.relays:
            return "the hub holds its maximum of %d relays" % self.max_relays
        return None

    def _remove(self, relay):
        self.node.stop_worker(relay.address)
        if self.relays.get(relay.name) is relay:
            del self.relays[relay.name]
        for index, key in ((self.by_owner, relay.owner), (self.by_holder, relay.holder)):
            names = index.get(key)
            if names is not None:
                names.discard(relay.name)
                if not names:
                    del index[key]
                    if index is self.by_holder and key is not None and hasattr(key, "on_close"):
                        if self._holder_closed in key.on_close:
                            key.on_close.remove(self._holder_closed)

    def _holder_closed(self, holder):
        names = self.by_holder.pop(holder, ())
        for name in list(names):
            r = self.relays.get(name)
            if r is not None and r.holder is holder:
                log.info("relay %r removed: what carried its registration closed", r.address)
                self._remove(r)


class RelayClient:
    """Register a relay at a hub reachable along `hub_route`; keep it alive with `ping()`.

    `connect`, when given, is an async function that returns a fresh route to the hub (say, a new
    secure channel to its `api`, which the hub wants for static names): `keep_alive` calls it
    before registering again, since the old route may have died with the hub's connection.

    `plain_route`, when given, is the hub without a channel: a registration through the channel
    that gets no answer at all is sent again along it, and it is kept from then on (an Ockam node
    without a project lets nothing out of a channel reach its relay service and says nothing,
    docs/wire.md §6.1; a hopseal hub always answers, a refusal included)."""

    def __init__(self, node, hub_route, name=None, service="forwarding_service", connect=None, plain_route=None):
        self.node = node
        self.hub_route = route(hub_route)
        self.connect = connect
        self.plain_route = plain_route
        self.name = name
        self.service = service if name is None else "static_forwarding_service"
        self.relay_address = None
        self.remote_route = None

    async def register(self, timeout=10):
        """Register (or re-register); returns the relay's address text, e.g. `forward_to_ab12…`."""
        try:
            return await self._register(timeout)
        except ReceiveTimeout:
            if self.plain_route is None:
                raise
        log.warning("no answer through the secure channel to the hub; registering relay over plain transport")
        self.hub_route = route(self.plain_route)
        self.plain_route = self.connect = None  # plain from now on
        return await self._register(timeout)

    async def _register(self, timeout):
        alias = self.name if self.name is not None else REGISTER
        # A secure channel the relay is registered through carries anyone's messages to the relay
        # from now on: mark it, so what comes out of it reaches no channel-only service (trust.py)
        first = self.node.workers.get(self.hub_route[0].value) if self.hub_route else None
        ch = getattr(first, "ch", None)
        if ch is not None and getattr(ch, "is_secure_channel", False):
            ch.carrier = True
        mb = self.node.mailbox()
        try:
            await self.node.send(self.hub_route + route(self.service), bare.encode_string(alias), [mb.address])
            reply = await mb.receive(timeout)
        finally:
            mb.close()
        text = bare.decode_string(reply.payload)
        if text.startswith(ERROR_PREFIX):
            raise RoutingError("the hub refused relay %s: %s" % (self.name or REGISTER, printable(text[len(ERROR_PREFIX):])))
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
                if self.connect is not None:
                    self.hub_route = route(await self.connect())
                await self.register(timeout)
                missed = 0
                backoff.reset()
                if on_change is not None:
                    on_change(self)
            except HopsealError as e:
                log.warning("re-registration failed: %s", e)
                await backoff.wait()
