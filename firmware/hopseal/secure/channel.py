"""Secure-channel workers (ockam-wire §4.3.1, §4.3.6, §4.3.8): listener, initiator, both ends.

The handshake itself is handshake.py (sans-I/O); this module carries its messages.
Handshake transport (raw payloads since Ockam 0.128):
  1. the initiator sends msg1 (e_pub) to the listener route from its `decryptor_remote`;
  2. the listener starts a responder with a fresh `decryptor_remote`, which sends msg2 (with its
     IdentityAndCredentials) to msg1's return route;
  3. the initiator takes msg2's return route (ending in the responder's decryptor) as the remote
     route, sends msg3 there and is ready; the responder is ready once msg3 verifies.
Data: an application message sent to an end's `encryptor_address` is stepped, wrapped as
`Payload{onward: rest, return: app's return route, payload}`, padded (CBOR
SecureChannelPaddedMessage, empty padding), encrypted, and sent to the remote route with an
EMPTY return route. The receiving decryptor prepends its own end's `encryptor_address` to the inner
return route and routes the inner message; the message's `origin` is the channel, so workers can
be reachable only through a channel, optionally only from given identifiers.
Rules upheld here:
- a message that fails (bad handshake message, untrusted or unverifiable peer, bad tag, replay,
  nonce outside the window, undecodable plaintext) is dropped and counted in `node.counters`
  (`channel_*`); the channel keeps working for valid traffic;
- an untrusted peer never gets a channel: both workers are removed;
- `Close` ([2, []]) is sent when an end is closed locally, and on receipt both workers stop
  without replying;
- a listener holds at most `max_pending` handshakes, at most `per_origin` of them from one
  connection (or channel); past the first bound the oldest pending handshake gives way to the new
  one, past the second the new first message is dropped: a flood from one connection cannot fill
  the table, and one from many cannot keep an honest peer out. A handshake that does not complete
  within `timeout` seconds (10 by default, not Ockam's 120) is removed;
- a channel ends with the transport connection it runs over (its first hop), and a listener's
  channel that carried nothing for `idle_timeout` seconds is closed: keys, workers and relays
  registered through it go (`on_close` hooks).
"""
import asyncio

from ..compat import get_logger, ticks_add, ticks_diff, ticks_ms, wall_time
from ..errors import ChannelError, CryptoError, HopsealError, IdentityError, ReceiveTimeout, RoutingError
from ..wire.message import Address, route, step
from . import ephemeral
from .handshake import READY, SEND, Handshake
from .payload import CLOSE, CLOSE_PLAINTEXT, PADDING_TAIL, REFRESH, decode_plaintext, payload_head
from .trust import trust_everyone

log = get_logger("channel")

DEFAULT_LISTENER = "api"
DEFAULT_TIMEOUT = 120  # ockam DEFAULT_TIMEOUT: how long an initiator waits
HANDSHAKE_TIMEOUT = 10  # how long a listener keeps an unfinished handshake
IDLE_TIMEOUT = 3600  # a listener's channel with no traffic for this long is closed


class SecureChannel:
    """One end of a channel. Send plaintext messages to `encryptor_address`; the peer's
    ciphertext arrives at `decryptor_address`."""

    is_secure_channel = True  # what access rules (trust.channel_only) look for in msg.origin

    def __init__(self, node, me, initiator, trust, cache=None, listener=None, protocol_name=None, e_priv=None):
        self.node = node
        self.initiator = initiator
        self.listener = listener
        self.decryptor_address = Address.random()
        self.encryptor_address = Address.random()
        e_pub = None
        if e_priv is None:  # the key made while the node was idle (ephemeral.py), if there is one
            pair = ephemeral.for_node(node).take()
            if pair is not None:
                e_priv, e_pub = pair
        self.handshake = Handshake(node.crypto, me, initiator, trust or trust_everyone, wall_time, cache,
                                   protocol_name, e_priv, e_pub)
        self.remote_route = None
        self.ready = False
        self.closed = False
        self.peer_identifier = None
        self.encryptor = None
        self.decryptor = None
        self.done = asyncio.Event()
        self.error = None
        self.origin = None  # the connection (or channel) its handshake arrived through
        self.carrier = False  # True: it carries a relay's traffic (trust.channel_only refuses it)
        self.active = ticks_ms()
        self.opened = None  # ticks when the handshake completed (status: the channel's age)
        self.on_close = []  # callbacks(channel) when it ends, whichever way
        self._carrier = None  # the transport connection it runs over, once ready
        node.start_worker(self.decryptor_address, _DecryptorWorker(self))

    def __repr__(self):
        return "SecureChannel(%s, peer %s)" % ("initiator" if self.initiator else "responder", self.peer() or "?")

    def peer(self):
        """The peer's identifier as text, once verified."""
        if self.peer_identifier is None:
            return None
        from .identity import identifier_text

        return identifier_text(self.peer_identifier)

    # handshake ------------------------------------------------------------------------------
    async def start(self, listener_route):
        await self._act(self.handshake.start(), route(listener_route))

    async def on_handshake(self, msg):
        if self.remote_route is None:
            # msg2's return route ends in the responder's decryptor; msg1's in the initiator's
            remote = list(msg.return_)
        else:
            remote = self.remote_route
        actions = self.handshake.receive(msg.payload)
        self.remote_route = remote
        await self._act(actions, remote)

    async def _act(self, actions, to):
        for kind, arg in actions:
            if kind == SEND:
                await self.node.send(to, arg, [self.decryptor_address])
            elif kind == READY:
                self._ready(arg)

    def _ready(self, peer_identifier):
        self.peer_identifier = peer_identifier
        self.encryptor, self.decryptor = self.handshake.into_cipher()
        self.handshake = None
        self.node.start_worker(self.encryptor_address, _EncryptorWorker(self))
        self.ready = True
        self.opened = ticks_ms()
        # the channel ends with the connection it runs over (found by its first hop's worker)
        carrier = self.node.workers.get(self.remote_route[0].value) if self.remote_route else None
        if carrier is not None and hasattr(carrier, "on_close") and not getattr(carrier, "closed", False):
            carrier.on_close.append(self._carrier_closed)
            self._carrier = carrier
        if self.listener is not None:
            if self in self.listener.pending:
                self.listener.pending.remove(self)
            self.listener.channels.append(self)
        log.info("secure channel up with %s (%s)", self.peer(), "initiator" if self.initiator else "responder")
        self.done.set()

    # data -----------------------------------------------------------------------------------
    def _carrier_closed(self, conn):
        log.info("%r closed: its connection %r closed", self, conn)
        self.node.count("channel_carrier_closed")
        self.drop()

    async def on_ciphertext(self, msg):
        n, pt = self.decryptor.decrypt(msg.payload)
        self.active = ticks_ms()
        kind, inner = decode_plaintext(pt)
        if kind == CLOSE:
            log.info("%r closed by peer", self)
            self.drop()
            return
        if kind == REFRESH:
            self.node.count("channel_refresh_ignored")
            return
        if not self.initiator and n >= self.decryptor.highest:
            # a moving initiator (§4.3.6): the transport hops of its latest message lead back
            self.remote_route = list(msg.return_) + [self.remote_route[-1]]
        inner.return_.insert(0, self.encryptor_address)
        inner.origin = self
        self.node.count("channel_rx")
        await self.node.route(inner)

    async def send_encrypted(self, plaintext, return_route):
        if self.closed:
            raise RoutingError("secure channel is closed")
        self.active = ticks_ms()
        ct = self.encryptor.encrypt(plaintext)
        await self.node.send(self.remote_route, ct, return_route)

    async def send_payload(self, onward, return_, payload):
        """A routing message's fields as a Payload through the channel (one buffer: encrypt_parts)."""
        if self.closed:
            raise RoutingError("secure channel is closed")
        self.active = ticks_ms()
        ct = self.encryptor.encrypt_parts(payload_head(onward, return_, len(payload)), payload, PADDING_TAIL)
        await self.node.send(self.remote_route, ct, [])

    async def close(self):
        """Send Close to the peer and remove both workers."""
        if self.closed:
            return
        if self.ready:
            try:
                await self.send_encrypted(CLOSE_PLAINTEXT, [self.encryptor_address])
            except HopsealError as e:
                log.warning("sending Close: %s", e)
            except OSError as e:
                log.warning("sending Close: %s", e)
        self.drop()

    def drop(self):
        """Remove both workers and forget the keys, without telling the peer (see close())."""
        if self.closed:
            return
        self.closed = True
        self.ready = False
        self.handshake = None
        self.encryptor = self.decryptor = None
        self.node.stop_worker(self.encryptor_address)
        self.node.stop_worker(self.decryptor_address)
        if self.listener is not None:
            self.listener.forget(self)
        carrier = self._carrier
        self._carrier = None
        # a closed carrier is running its on_close callbacks, this one among them: removing it
        # from that list would make the loop skip the next one (another channel over it)
        if carrier is not None and not getattr(carrier, "closed", False) and self._carrier_closed in carrier.on_close:
            carrier.on_close.remove(self._carrier_closed)
        self.done.set()
        hooks = self.on_close
        self.on_close = []
        for cb in hooks:
            try:
                cb(self)
            except HopsealError as e:
                log.warning("%r close hook: %s", self, e)


class _DecryptorWorker:
    """`decryptor_remote`: handshake messages, then ciphertext. Failures are dropped and counted."""

    def __init__(self, ch):
        self.ch = ch

    async def handle_message(self, node, msg):
        ch = self.ch
        try:
            if ch.ready:
                await ch.on_ciphertext(msg)
            elif not ch.closed:
                if type(msg.payload) is memoryview:  # a view into a board's receive buffer
                    msg.payload = bytes(msg.payload)
                await ch.on_handshake(msg)
        except IdentityError as e:
            # the peer completed the Noise step but its identity was refused: no channel
            node.count("handshake_refused")
            log.every("handshake_refused", 10, "handshake refused: %s", e)
            ch.error = e
            ch.drop()
        except ChannelError as e:
            node.count("channel_replay_or_window")
            log.every("channel_replay_or_window", 10, "%r dropped a message: %s", ch, e)
        except CryptoError as e:
            node.count("channel_auth_failed")
            log.every("channel_auth_failed", 10, "%r dropped a message: %s", ch, e)
        except HopsealError as e:
            # Noise steps are transactional: a bad handshake message leaves the state as it was,
            # so the genuine message can still arrive before the timeout.
            k = "channel_rejected" if ch.ready else "handshake_rejected"
            node.count(k)
            log.every(k, 10, "%r dropped a message: %s: %s", ch, type(e).__name__, e)
        except MemoryError:
            # Out of heap part-way through a step: the state may be half-advanced, so this
            # channel is abandoned (the peer will find it gone and open a new one).
            node.count("channel_memory_errors")
            log.error("%r ran out of memory; closing it", ch)
            ch.drop()


class _EncryptorWorker:
    """`encryptor`: plaintext from local apps goes out encrypted with an empty return route."""

    def __init__(self, ch):
        self.ch = ch

    async def handle_message(self, node, msg):
        step(msg, self.ch.encryptor_address)
        await self.ch.send_payload(msg.onward, msg.return_, msg.payload)


class SecureChannelListener:
    """Accept channels at `address` (default `api`) for identity `me` (see the module's rules)."""

    def __init__(self, node, me, address=DEFAULT_LISTENER, trust=None, cache=None, timeout=HANDSHAKE_TIMEOUT,
                 max_pending=16, protocol_name=None, per_origin=4, idle_timeout=IDLE_TIMEOUT):
        self.node = node
        self.me = me
        self.address = route(address)[0]
        self.trust = trust
        self.cache = cache
        self.timeout = timeout
        self.max_pending = max_pending
        self.per_origin = per_origin
        self.idle_timeout = idle_timeout
        self.protocol_name = protocol_name
        self.pending = []  # oldest first
        self.channels = []
        self._sweeper = None
        node.start_worker(self.address, self)
        ephemeral.for_node(node).refill_soon()  # the first handshake's key, made before it comes

    def forget(self, ch):
        if ch in self.pending:
            self.pending.remove(ch)
        if ch in self.channels:
            self.channels.remove(ch)

    async def handle_message(self, node, msg):
        origin = msg.origin
        # per origin: a transport connection. Everything a relay carries comes out of one carrier
        # channel, many senders at once: only the eviction below bounds those.
        if origin is not None and self.per_origin and not getattr(origin, "is_secure_channel", False):
            n = 0
            for c in self.pending:
                if c.origin is origin:
                    n += 1
            if n >= self.per_origin:
                node.count("handshake_flood_dropped")
                log.every("handshake_flood_dropped", 10, "listener %r: %d handshakes pending from %r; dropped msg1", self.address, n, origin)
                return
        if len(self.pending) >= self.max_pending:
            node.count("handshake_evicted")
            self.pending[0].drop()  # the oldest gives way: a flood cannot keep newcomers out
        ch = SecureChannel(node, self.me, False, self.trust, self.cache, self, self.protocol_name)
        ch.origin = origin
        ch.deadline = ticks_add(ticks_ms(), int(self.timeout * 1000))
        self.pending.append(ch)
        try:
            await ch.on_handshake(msg)
        except HopsealError as e:
            node.count("handshake_rejected")
            log.every("handshake_rejected", 10, "listener %r: bad msg1: %s", self.address, e)
            ch.drop()
            return
        self._sweep_soon()

    def _sweep_soon(self):
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self):
        """Expire handshakes that did not complete in time and channels idle too long. One task
        per listener, alive only while it has handshakes or channels, holding no reference to a
        channel between rounds (a finished channel's keys and tables are freed at once)."""
        try:
            while self.pending or self.channels:
                await asyncio.sleep(min(1, self.timeout))
                now = ticks_ms()
                for ch in [c for c in self.pending if ticks_diff(now, c.deadline) >= 0]:
                    self.node.count("handshake_timeout")
                    log.every("handshake_timeout", 10, "handshake %r timed out after %ss", ch, self.timeout)
                    ch.drop()
                idle_ms = int(self.idle_timeout * 1000)
                for ch in [c for c in self.channels if ticks_diff(now, c.active) >= idle_ms]:
                    self.node.count("channel_idle_closed")
                    log.info("%r closed: idle for %ss", ch, self.idle_timeout)
                    await ch.close()
        finally:
            self._sweeper = None


async def create_secure_channel(node, me, to, trust=None, cache=None, timeout=DEFAULT_TIMEOUT, protocol_name=None, e_priv=None):
    """Open a channel to the listener at route `to`; returns the ready SecureChannel.

    Send through it with `node.send([channel.encryptor_address, "echo"], payload, [reply_address])`.
    Raises ReceiveTimeout when it is not up within `timeout` s, HandshakeError/IdentityError when
    the peer is refused.
    """
    ch = SecureChannel(node, me, True, trust, cache, None, protocol_name, e_priv)
    try:
        await ch.start(route(to))
        await asyncio.wait_for(ch.done.wait(), timeout)
    except asyncio.TimeoutError:
        ch.drop()
        raise ReceiveTimeout("secure channel to %s not established within %ss" % (to, timeout))
    except BaseException:
        ch.drop()
        raise
    if not ch.ready:
        raise ch.error or HopsealError("secure channel refused")
    return ch
