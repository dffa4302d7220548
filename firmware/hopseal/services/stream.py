"""Stream producer and consumer (ockam-wire §7): store-and-forward through a hub's `stream` service.

Optional (a board imports it only when its board file asks for streams). A secure channel runs
over a pair of streams exactly as in Ockam's Alice and Bob: each end has a producer for the stream
it writes and a consumer for the one it reads, the consumer named with the local producer's
address so replies go back through the other stream (see `StreamPair`).

Producer (a worker at `address`): a message routed to it loses that first hop and is queued as a
BARE TransportMessage v1 (onward rest, return route); one push is in flight at a time, in order.
It is removed from the queue only on `PushConfirm{Ok}`; on no confirm within `timeout`, a
`PushConfirm{Error}` or a lost connection it is pushed again (after `stream_create` again: a
restarted hub answers that and the route is fresh). So the push side is at-least-once, where
ockam's was at-most-once (§7); a record pushed twice is read twice, and the secure channel's
replay window drops the copy. An `error` reply to a push (too large) drops that record, counted.
The queue holds `max_queue` messages; a sender finding it full waits for room (backpressure: its
`node.send` returns later) up to `block` seconds, then the message is dropped and counted.
Consumer: `stream_create`, then `Index::Get` for (client_id, stream), then pulls of `limit`
records (at once again while full pulls come back, else every `interval` seconds). Each record's
TransportMessage is forwarded along its onward route with the local producer's address prepended
to its return route (an empty onward route goes to `receiver`); `msg.origin` is the consumer, so
the node treats it as coming from the network (it never dials out for it, and channel-only workers
refuse it: only a secure channel's decryptor, or a listener, takes it). After the records of a pull
are forwarded (whatever each one's fate) `Index::Save(last + 1)` is sent: a consumer that stops
before it replays those records (at-least-once). A record below the index it expects is skipped;
a jump ahead (records dropped by retention) is counted as `stream_gap`.
Counters (node.counters): stream_pushed, stream_push_retries, stream_queue_full,
stream_push_refused, stream_records, stream_undecodable, stream_undeliverable (a record for a
local address with no worker: typically a channel end that is gone, whose records nobody here can
decrypt), stream_forward_failed, stream_gap, stream_errors.
"""
import asyncio

from ..compat import Backoff, get_logger, printable
from ..errors import DecodeError, HopsealError, ReceiveTimeout
from ..wire import message_v1
from ..wire.bare import read_uleb128
from ..wire import stream as sp
from ..wire.message import Address, Message, route, step

log = get_logger("stream")

DEFAULT_SERVICE = "stream"
DEFAULT_INDEX = "stream_index"


def _hops(hub):
    """The route to the hub now: `hub` is a route or a function returning one (a board's link)."""
    return route(hub() if callable(hub) else hub)


class _Requester:
    """One request at a time from a private reply address; replies matched by protocol (and
    request id where the reply has one). An `error` reply answers whatever is pending."""

    def __init__(self, node, timeout):
        self.node = node
        self.timeout = timeout
        self.reply_address = Address.random()
        self.want = None
        self.rid = None
        self.got = None
        self.event = asyncio.Event()
        node.start_worker(self.reply_address, self)

    def handle_message(self, node, msg):
        try:
            protocol, body = sp.decode_payload(msg.payload)
        except DecodeError:
            node.count("stream_undecodable")
            return
        if self.want is None or (protocol != self.want and protocol != sp.ERROR):
            return  # late or unrelated: its request was given up
        if self.rid is not None and protocol != sp.ERROR:
            try:
                first = read_uleb128(body, 0)[0]  # both replies start with their request id
            except DecodeError:
                node.count("stream_undecodable")
                return
            if first != self.rid:
                return  # the reply to an earlier attempt
        self.got = (protocol, body, msg.return_)
        self.want = None
        self.event.set()

    async def ask(self, to, payload, want, rid=None):
        self.want = want
        self.rid = rid
        self.got = None
        self.event.clear()
        await self.node.send(to, payload, [self.reply_address])
        try:
            await asyncio.wait_for(self.event.wait(), self.timeout)
        except asyncio.TimeoutError:
            self.want = None
            raise ReceiveTimeout("no %s reply within %ss" % (want, self.timeout))
        return self.got

    def close(self):
        self.want = None
        self.node.stop_worker(self.reply_address)


class _Client:
    def __init__(self, node, hub, stream, service, timeout):
        self.node = node
        self.hub = hub
        self.stream = stream
        self.service = service
        self.route = None  # the stream's worker at the hub, from the Init reply
        self.closed = False
        self.ready = asyncio.Event()
        self.req = _Requester(node, timeout)
        self.ids = 0
        self.task = None
        self.on_close = []

    def _next_id(self):
        self.ids += 1
        return self.ids

    def _route_gone(self):
        """True when the stream route's first hop is a local worker that is gone (the connection
        it went over closed): create again now rather than after a timeout."""
        first = self.route[0] if self.route else None
        return first is not None and first.tt == 0 and first.value not in self.node.workers

    async def _create(self):
        protocol, body, ret = await self.req.ask(_hops(self.hub) + [self.service], sp.create(self.stream), sp.CREATE)
        if protocol == sp.ERROR:
            raise HopsealError("stream %s: %s" % (self.stream, sp.decode_error(body)))
        name = sp.decode_init(body)
        if name != self.stream or not ret:
            raise HopsealError("stream %s: Init for %s" % (self.stream, printable(name, 40)))
        self.route = list(ret)

    def start(self):
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self):
        backoff = Backoff(0.25, 5)
        while not self.closed:
            try:
                if await self._step():
                    backoff.reset()
            except ReceiveTimeout as e:
                self.route = None
                log.every("stream_timeout", 10, "stream %s: %s; creating it again", self.stream, e)
                await backoff.wait()
            except (HopsealError, OSError) as e:
                self.route = None
                self.node.count("stream_errors")
                log.every("stream_errors", 10, "stream %s: %s", self.stream, e)
                await backoff.wait()

    async def close(self):
        if self.closed:
            return
        self.closed = True
        self.req.close()
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except BaseException:  # CancelledError (a BaseException on CPython, not on MicroPython)
                pass
        hooks, self.on_close = self.on_close, []
        for cb in hooks:
            cb(self)


class StreamProducer(_Client):
    """Messages routed to `address` (random by default) are pushed to `stream` at the hub."""

    def __init__(self, node, hub, stream, address=None, service=DEFAULT_SERVICE, timeout=5, max_queue=32, block=10):
        _Client.__init__(self, node, hub, stream, service, timeout)
        self.address = Address.random() if address is None else route(address)[0]
        self.max_queue = max_queue
        self.block = block
        self.space = asyncio.Event()
        self.queue = []
        self.wake = asyncio.Event()
        self.pushed = 0
        node.start_worker(self.address, self)

    async def handle_message(self, node, msg):
        step(msg, self.address)
        if len(self.queue) >= self.max_queue:
            # backpressure: the sender waits (up to `block` s) for a confirm to make room
            t = 0
            while len(self.queue) >= self.max_queue and t < self.block and not self.closed:
                self.space.clear()
                try:
                    await asyncio.wait_for(self.space.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass
                t += 0.5
            if len(self.queue) >= self.max_queue or self.closed:
                node.count("stream_queue_full")
                log.every("stream_queue_full", 10, "stream %s: %d messages queued; dropped one", self.stream, len(self.queue))
                return
        self.queue.append(message_v1.encode(Message(msg.onward, msg.return_, msg.payload)))
        self.wake.set()

    async def _step(self):
        if self.route is None or self._route_gone():
            await self._create()
            self.ready.set()
        if not self.queue:
            self.wake.clear()
            await self.wake.wait()
            return False
        rid = self._next_id()
        protocol, body, _ = await self.req.ask(self.route, sp.push(rid, self.queue[0]), sp.PUSH, rid)
        if protocol == sp.ERROR:
            self.queue.pop(0)
            self.space.set()
            self.node.count("stream_push_refused")
            log.warning("stream %s: push refused: %s; record dropped", self.stream, sp.decode_error(body))
            return True
        _, ok, index = sp.decode_push_confirm(body)
        if not ok:
            self.node.count("stream_push_retries")
            raise HopsealError("push %d not stored (hub store error); retrying" % rid)
        self.queue.pop(0)
        self.space.set()
        self.pushed += 1
        self.node.count("stream_pushed")
        return True

    async def _run(self):
        try:
            await _Client._run(self)
        finally:
            self.node.stop_worker(self.address)

    async def flush(self, timeout=30):
        """Wait until every queued message is confirmed (ReceiveTimeout otherwise)."""
        t = 0
        while self.queue:
            if t >= timeout:
                raise ReceiveTimeout("stream %s: %d messages not confirmed within %ss" % (self.stream, len(self.queue), timeout))
            await asyncio.sleep(0.02)
            t += 0.02


class StreamConsumer(_Client):
    """Pull `stream` as `client_id` and forward each record (see the module text)."""

    def __init__(self, node, hub, stream, client_id, producer=None, receiver=None, service=DEFAULT_SERVICE,
                 index_service=DEFAULT_INDEX, interval=0.25, limit=8, timeout=5):
        _Client.__init__(self, node, hub, stream, service, timeout)
        self.client_id = client_id
        self.producer = None if producer is None else route(producer)[0]
        self.receiver = None if receiver is None else route(receiver)[0]
        self.index_service = index_service
        self.interval = interval
        self.limit = limit
        self.index = None
        self.records = 0

    async def _step(self):
        node = self.node
        if self.route is None or self._route_gone():
            await self._create()
            protocol, body, _ = await self.req.ask(_hops(self.hub) + [self.index_service],
                                                   sp.index_get(self.client_id, self.stream), sp.INDEX)
            if protocol == sp.ERROR:
                raise HopsealError("index of %s: %s" % (self.stream, sp.decode_error(body)))
            self.index = sp.decode_index_reply(body)[2] or 0
            self.ready.set()
        rid = self._next_id()
        protocol, body, _ = await self.req.ask(self.route, sp.pull(rid, self.index, self.limit), sp.PULL, rid)
        if protocol == sp.ERROR:
            raise HopsealError("pull: %s" % sp.decode_error(body))
        _, records = sp.decode_pull_response(body)
        start = self.index
        for index, data in records:
            if index < self.index:
                continue
            if index > self.index:
                node.count("stream_gap", index - self.index)
                log.warning("stream %s: records %d..%d are gone (retention); continuing at %d",
                            self.stream, self.index, index - 1, index)
            self.index = index + 1
            await self._deliver(data)
        if self.index != start:
            await node.send(_hops(self.hub) + [self.index_service],
                            sp.index_save(self.client_id, self.stream, self.index), [self.req.reply_address])
        if len(records) < self.limit:
            await asyncio.sleep(self.interval)
        return True

    async def _deliver(self, data):
        node = self.node
        self.records += 1
        node.count("stream_records")
        try:
            m = message_v1.decode(data)
        except DecodeError as e:
            node.count("stream_undecodable")
            log.every("stream_undecodable", 10, "stream %s: record is not a TransportMessage: %s", self.stream, e)
            return
        if self.producer is not None:
            m.return_.insert(0, self.producer)
        if not m.onward:
            if self.receiver is None:
                node.count("stream_forward_failed")
                return
            m.onward = [self.receiver]
        m.origin = self  # from the network: see the module text
        first = m.onward[0]
        if first.tt == 0 and first.value not in node.workers:
            # most often the decryptor of a channel end this node no longer has (it restarted
            # without its state): what was encrypted for it cannot be decrypted by anyone here
            node.count("stream_undeliverable")
            log.every("stream_undeliverable", 10, "stream %s: record %d for %r: no such worker here (a channel end "
                      "that is gone cannot decrypt it)", self.stream, self.index - 1, first)
            return
        try:
            await node.route(m)
        except HopsealError as e:
            node.count("stream_forward_failed")
            log.every("stream_forward_failed", 10, "stream %s: forwarding a record failed: %s", self.stream, e)


class StreamPair:
    """Both directions of a conversation over a hub: a producer writing `sender_stream` and a
    consumer reading `receiver_stream` whose records' replies go back through that producer
    (Ockam's `Stream::connect(route, sender, receiver)`). Send to `[pair.address, ...]`."""

    def __init__(self, node, hub, sender_stream, receiver_stream, client_id, service=DEFAULT_SERVICE,
                 index_service=DEFAULT_INDEX, interval=0.25, limit=8, timeout=5, max_queue=32, receiver=None,
                 producer_address=None):
        self.producer = StreamProducer(node, hub, sender_stream, producer_address, service, timeout, max_queue)
        self.consumer = StreamConsumer(node, hub, receiver_stream, client_id, self.producer.address, receiver,
                                       service, index_service, interval, limit, timeout)
        self.address = self.producer.address

    def start(self):
        self.producer.start()
        self.consumer.start()
        return self

    async def wait_ready(self, timeout=30):
        await asyncio.wait_for(self.producer.ready.wait(), timeout)
        await asyncio.wait_for(self.consumer.ready.wait(), timeout)

    async def close(self):
        await self.consumer.close()
        await self.producer.close()
