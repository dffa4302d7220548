"""The node: workers at local addresses, a router, mailboxes for application code.

A worker is any object with `handle_message(node, msg)`; it may be a plain method or a coroutine.
Rules upheld here (ockam-wire §3.2, §3.4):
- `onward[0]` names the next hop on this node; only LOCAL (type 0) addresses are delivered;
- a non-local first hop on a locally sent message is resolved by the registered transport for its
  type (TCP connects on demand and substitutes the connection's sender address);
- a non-local first hop on a message that came from the network is never resolved: it is dropped,
  counted (`non_local_from_network`) and refused with a RoutingError, whichever way it came: read
  from a transport connection, forwarded by a relay or a forwarder, or decrypted by a secure
  channel. Where a message came from is `msg.origin` (None for a message a local worker sent);
  this is the one place that decides it, so a peer can never make this node dial out;
- a message to an unknown local address is dropped, logged and counted; it never raises into the
  transport that delivered it;
- a worker may carry an access rule (`access(msg) -> bool`); refused messages are dropped and
  counted (flow-control analogue, ockam-wire §3.4).
"""
import asyncio

from .compat import get_logger, is_awaitable
from .errors import HopsealError, ReceiveTimeout, RoutingError
from .wire.message import LOCAL, Address, Message
from .wire.message import route as make_route

log = get_logger("node")


class Mailbox:
    """A worker that queues what it receives, for application code (`receive`, `send`)."""

    def __init__(self, node, address, limit=64):
        self.node = node
        self.address = address
        self.queue = []
        self.limit = limit
        self.event = asyncio.Event()

    def handle_message(self, node, msg):
        if len(self.queue) >= self.limit:
            node.count("mailbox_overflow")
            log.every("mailbox_overflow", 10, "mailbox %r full; dropped %r", self.address, msg)
            return
        if type(msg.payload) is memoryview:
            # a view into a receive buffer that the next message reuses (wire/serial_arq.py)
            msg.payload = bytes(msg.payload)
        self.queue.append(msg)
        self.event.set()

    async def receive(self, timeout=None):
        """The next message; raises ReceiveTimeout after `timeout` seconds."""
        while not self.queue:
            self.event.clear()
            if timeout is None:
                await self.event.wait()
            else:
                try:
                    await asyncio.wait_for(self.event.wait(), timeout)
                except asyncio.TimeoutError:
                    raise ReceiveTimeout("nothing arrived at %r within %ss" % (self.address, timeout))
        return self.queue.pop(0)

    async def send(self, onward, payload):
        await self.node.send(onward, payload, [self.address])

    def close(self):
        self.node.stop_worker(self.address)


class Node:
    """A hopseal node. Transports and services attach to it; see `hopseal.transport.tcp`, `hopseal.services.basic`."""

    def __init__(self, name="node", crypto=None, clock=None):
        self.name = name
        self.crypto = crypto
        self.clock = clock
        self.workers = {}
        self.access = {}
        self.resolvers = {}  # transport type -> async fn(address) -> local Address of a sender
        self.counters = {}
        self.closables = []
        self.wire_tap = None  # fn(connection, "rx"|"tx", bytes): see StreamConnection.tap

    # -- workers -------------------------------------------------------------------------------
    def start_worker(self, address, worker, access=None):
        a = Address.parse(address)
        if a.tt != LOCAL:
            raise RoutingError("workers live at local addresses, not %r" % (a,))
        if a.value in self.workers:
            raise RoutingError("address %r is already in use" % (a,))
        self.workers[a.value] = worker
        if access is not None:
            self.access[a.value] = access
        return a

    def stop_worker(self, address):
        a = Address.parse(address)
        self.access.pop(a.value, None)
        return self.workers.pop(a.value, None)

    def has_worker(self, address):
        return Address.parse(address).value in self.workers

    def set_access(self, address, access):
        self.access[Address.parse(address).value] = access

    def mailbox(self, address=None):
        """Register a mailbox at `address` (random when None) and return it."""
        a = Address.random() if address is None else Address.parse(address)
        mb = Mailbox(self, a)
        self.start_worker(a, mb)
        return mb

    def count(self, what, n=1):
        self.counters[what] = self.counters.get(what, 0) + n

    # -- routing -------------------------------------------------------------------------------
    async def send(self, onward, payload, return_route=None, tracing=None):
        """Send `payload` along `onward` (a route or anything `route()` accepts)."""
        msg = Message(make_route(onward), make_route(return_route or []), payload, tracing)
        await self.route(msg)

    async def route(self, msg):
        """Deliver `msg` to the worker named by onward[0]; a transport hop is resolved (connecting
        on demand) only for a message sent on this node (`msg.origin` is None)."""
        if not msg.onward:
            self.count("empty_onward")
            return
        first = msg.onward[0]
        if first.tt != LOCAL:
            if msg.origin is not None:
                self.count("non_local_from_network")
                raise RoutingError("transport address %r in an onward route from %r refused: this node does not "
                                   "dial out for the network" % (first, msg.origin))
            resolver = self.resolvers.get(first.tt)
            if resolver is None:
                raise RoutingError("no transport for address type %d" % first.tt)
            hop = await resolver(first)
            msg.onward = [hop] + msg.onward[1:]
            first = hop
        worker = self.workers.get(first.value)
        if worker is None:
            self.count("no_worker")
            log.every("no_worker", 10, "no worker at %r; dropped %r", first, msg)
            return
        access = self.access.get(first.value)
        if access is not None and not access(msg):
            self.count("access_denied")
            log.every("access_denied", 10, "access to %r denied; dropped %r", first, msg)
            return
        r = worker.handle_message(self, msg)
        if is_awaitable(r):
            await r

    async def send_and_receive(self, onward, payload, timeout=10):
        """Send from a fresh mailbox and wait for one reply; returns the reply Message."""
        mb = self.mailbox()
        try:
            await self.send(onward, payload, [mb.address])
            return await mb.receive(timeout)
        finally:
            mb.close()

    # -- lifecycle -----------------------------------------------------------------------------
    def on_stop(self, closable):
        self.closables.append(closable)

    async def stop(self):
        while self.closables:
            c = self.closables.pop()
            try:
                r = c.close()
                if is_awaitable(r):
                    await r
            except HopsealError as e:
                log.warning("while stopping: %s", e)
            except OSError as e:
                log.warning("while stopping: %s", e)


class Worker:
    """Convenience base class; subclasses implement `handle_message(node, msg)`."""

    def handle_message(self, node, msg):  # pragma: no cover - abstract
        raise NotImplementedError


class FunctionWorker(Worker):
    """Wrap a function `fn(node, msg)` (plain or async) as a worker."""

    def __init__(self, fn):
        self.fn = fn

    def handle_message(self, node, msg):
        return self.fn(node, msg)
