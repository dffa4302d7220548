"""Secure-channel workers (ockam-wire §4.3.1, §4.3.6, §4.3.8): listener, initiator, both ends.

Handshake transport (raw payloads since Ockam 0.128):
  1. the initiator sends msg1 (e_pub) to the listener route from its `decryptor_remote`;
  2. the listener starts a responder with a fresh `decryptor_remote`, which sends msg2 (with its
     IdentityAndCredentials) to msg1's return route;
  3. the initiator takes msg2's return route (ending in the responder's decryptor) as the remote
     route, sends msg3 there and is ready; the responder is ready once msg3 verifies.
Data: an application message sent to an end's `encryptor` address is stepped, wrapped as
`Payload{onward: rest, return: app's return route, payload}`, padded (CBOR
SecureChannelPaddedMessage, empty padding), encrypted, and sent to the remote route with an
EMPTY return route. The receiving decryptor prepends its own `encryptor` address to the inner
return route and routes the inner message; the message's `origin` is the channel, so workers can
be reachable only through a channel, optionally only from given identifiers.
Rules upheld here:
- a message that fails (bad handshake message, untrusted or unverifiable peer, bad tag, replay,
  nonce outside the window, undecodable plaintext) is dropped and counted in `node.counters`
  (`channel_*`); the channel keeps working for valid traffic;
- an untrusted peer never gets a channel: both workers are removed;
- `Close` ([2, []]) is sent when an end is closed locally, and on receipt both workers stop
  without replying;
- a responder whose handshake does not complete within `timeout` seconds is removed; at most
  `max_pending` handshakes wait at a listener at once (flood bound).
"""
import asyncio

from ..wire import cbor
from .cipher import Decryptor, Encryptor
from ..compat import get_logger, hexstr, ticks_add, ticks_diff, ticks_ms, wall_time
from ..errors import ChannelError, CryptoError, HopsealError, IdentityError, ReceiveTimeout, RoutingError
from .noise import HandshakeState
from ..wire.message import Address, _encode_route, route, route_from_cbor, step

log = get_logger("channel")

_PAYLOAD = 0
_REFRESH = 1
_CLOSE = 2
CLOSE_PLAINTEXT = b"\x82\x82\x02\x80\x40"  # [[2, []], h''] (ockam-wire §8.3)

DEFAULT_LISTENER = "api"
DEFAULT_TIMEOUT = 120  # ockam DEFAULT_TIMEOUT


def encode_payload(onward, return_, payload):
    """CBOR SecureChannelPaddedMessage{ Payload{onward, return, payload}, padding: h'' }."""
    buf = bytearray(b"\x82\x82\x00\x81\x83")
    _encode_route(buf, onward)
    _encode_route(buf, return_)
    cbor._head(buf, 2, len(payload))
    buf.extend(payload)
    buf.append(0x40)
    return bytes(buf)


def decode_plaintext(pt):
    """Return (kind, onward, return, payload) from a padded secure-channel plaintext."""
    v = cbor.decode(pt)
    if not isinstance(v, list) or len(v) < 1 or not isinstance(v[0], list) or len(v[0]) < 2:
        raise HopsealError("not a SecureChannelPaddedMessage")
    kind, fields = v[0][0], v[0][1]
    if kind == _PAYLOAD:
        if not isinstance(fields, list) or len(fields) != 1 or not isinstance(fields[0], list) or len(fields[0]) < 3:
            raise HopsealError("malformed Payload message")
        inner = fields[0]
        if not isinstance(inner[2], bytes):
            raise HopsealError("Payload body is not bytes")
        return kind, route_from_cbor(inner[0]), route_from_cbor(inner[1]), inner[2]
    if kind in (_REFRESH, _CLOSE):
        return kind, None, None, None
    raise HopsealError("unknown secure-channel message type %r" % (kind,))


# -- trust policies ----------------------------------------------------------------------------
def trust_everyone(identifier):
    return True


class TrustIdentifiers:
    """Trust only these identifiers (bytes, or "I…" text)."""

    def __init__(self, identifiers):
        self.ids = set(_id_bytes(i) for i in identifiers)

    def __call__(self, identifier):
        return identifier in self.ids


def _id_bytes(i):
    if isinstance(i, str):
        from ..compat import unhex

        return unhex(i[1:] if i[:1] == "I" else i)
    return bytes(i)


def channel_only(identifiers=None):
    """An access rule: only messages that came out of a secure channel (from these peers)."""
    ids = None if identifiers is None else set(_id_bytes(i) for i in identifiers)

    def allowed(msg):
        ch = msg.origin
        if not isinstance(ch, SecureChannel) or not ch.ready:
            return False
        return ids is None or ch.peer_identifier in ids

    return allowed


# -- the channel end ---------------------------------------------------------------------------
class SecureChannel:
    """One end of a channel. `address` is the encryptor: send plaintext messages there."""

    def __init__(self, node, me, initiator, trust, cache=None, listener=None, protocol_name=None, e_priv=None):
        self.node = node
        self.me = me
        self.initiator = initiator
        self.trust = trust or trust_everyone
        self.cache = cache
        self.listener = listener
        self.decryptor_address = Address.random()
        self.address = Address.random()  # encryptor
        kw = {}
        if protocol_name is not None:
            kw["protocol_name"] = protocol_name
        if e_priv is not None:
            kw["e_priv"] = e_priv
        if hasattr(me, "x25519_pub"):
            kw["s_pub"] = me.x25519_pub  # saves one scalar multiplication per handshake
        self.hs = HandshakeState(node.crypto, initiator, me.x25519_priv, **kw)
        self.remote_route = None
        self.ready = False
        self.closed = False
        self.peer_identifier = None
        self.encryptor = None
        self.decryptor = None
        self.done = asyncio.Event()
        self.error = None
        node.start_worker(self.decryptor_address, _DecryptorWorker(self))

    def __repr__(self):
        who = ("I" + hexstr(self.peer_identifier)) if self.peer_identifier else "?"
        return "SecureChannel(%s, peer %s)" % ("initiator" if self.initiator else "responder", who)

    def peer(self):
        return "I" + hexstr(self.peer_identifier) if self.peer_identifier else None

    # handshake ------------------------------------------------------------------------------
    async def start(self, listener_route):
        msg1 = self.hs.write_message(b"")
        await self.node.send(listener_route, msg1, [self.decryptor_address])

    def _verify_peer(self, payload):
        from .identity import verify_identity_payload

        rs = self.hs.remote_static
        ident = verify_identity_payload(self.node.crypto, payload, rs, wall_time(), self.cache)
        if not self.trust(ident):
            self.node.count("channel_untrusted")
            raise _Untrusted("peer I%s is not trusted" % hexstr(ident))
        return ident

    async def on_handshake(self, msg):
        hs = self.hs
        if self.initiator:
            # msg2 -> verify the responder -> msg3 -> ready
            payload = hs.read_message(msg.payload)
            self.peer_identifier = self._verify_peer(payload)
            self.remote_route = list(msg.return_)
            msg3 = hs.write_message(self.me.payload())
            await self.node.send(self.remote_route, msg3, [self.decryptor_address])
            self._finish()
        elif self.remote_route is None:
            # msg1 -> msg2
            hs.read_message(msg.payload)
            self.remote_route = list(msg.return_)
            msg2 = hs.write_message(self.me.payload())
            await self.node.send(self.remote_route, msg2, [self.decryptor_address])
        else:
            # msg3 -> verify the initiator -> ready
            payload = hs.read_message(msg.payload)
            self.peer_identifier = self._verify_peer(payload)
            self._finish()

    def _finish(self):
        enc_key, dec_key = self.hs.split()
        self.hs = None
        self.encryptor = Encryptor(self.node.crypto, enc_key)
        self.decryptor = Decryptor(self.node.crypto, dec_key)
        self.node.start_worker(self.address, _EncryptorWorker(self))
        self.ready = True
        if self.listener is not None:
            self.listener.pending.discard(self)
            self.listener.channels.append(self)
        log.info("secure channel up with I%s (%s)", hexstr(self.peer_identifier), "initiator" if self.initiator else "responder")
        self.done.set()

    # data -----------------------------------------------------------------------------------
    async def on_ciphertext(self, msg):
        n, pt = self.decryptor.decrypt(msg.payload)
        kind, onward, ret, payload = decode_plaintext(pt)
        if kind == _CLOSE:
            log.info("%r closed by peer", self)
            self._stop()
            return
        if kind == _REFRESH:
            self.node.count("channel_refresh_ignored")
            return
        if not self.initiator and n >= self.decryptor.highest:
            # a moving initiator (§4.3.6): the transport hops of its latest message lead back
            self.remote_route = list(msg.return_) + [self.remote_route[-1]]
        inner = _inner(onward, [self.address] + ret, payload, self)
        self.node.count("channel_rx")
        await self.node.route(inner)

    async def send_encrypted(self, plaintext, return_route):
        if self.closed:
            raise RoutingError("secure channel is closed")
        ct = self.encryptor.encrypt(plaintext)
        await self.node.send(self.remote_route, ct, return_route)

    async def close(self):
        """Send Close to the peer and remove both workers."""
        if self.closed:
            return
        if self.ready:
            try:
                await self.send_encrypted(CLOSE_PLAINTEXT, [self.address])
            except HopsealError as e:
                log.warning("sending Close: %s", e)
            except OSError as e:
                log.warning("sending Close: %s", e)
        self._stop()

    def _stop(self):
        self.closed = True
        self.ready = False
        self.node.stop_worker(self.address)
        self.node.stop_worker(self.decryptor_address)
        if self.listener is not None:
            self.listener.pending.discard(self)
            if self in self.listener.channels:
                self.listener.channels.remove(self)
        self.done.set()


class _Untrusted(IdentityError):
    pass


def _inner(onward, return_, payload, channel):
    from ..wire.message import Message

    m = Message(onward, return_, payload)
    m.origin = channel
    return m


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
                await ch.on_handshake(msg)
        except IdentityError as e:
            # the peer completed the Noise step but its identity was refused: no channel
            node.count("handshake_refused")
            log.warning("handshake refused: %s", e)
            ch.error = e
            ch._stop()
        except ChannelError as e:
            node.count("channel_replay_or_window")
            log.warning("%r dropped a message: %s", ch, e)
        except CryptoError as e:
            node.count("channel_auth_failed")
            log.warning("%r dropped a message: %s", ch, e)
        except HopsealError as e:
            # Noise steps are transactional: a bad handshake message leaves the state as it was,
            # so the genuine message can still arrive before the timeout.
            node.count("channel_rejected" if ch.ready else "handshake_rejected")
            log.warning("%r dropped a message: %s: %s", ch, type(e).__name__, e)
        except MemoryError:
            # Out of heap part-way through a step: the state may be half-advanced, so this
            # channel is abandoned (the peer will find it gone and open a new one).
            node.count("channel_memory_errors")
            log.error("%r ran out of memory; closing it", ch)
            ch._stop()


class _EncryptorWorker:
    """`encryptor`: plaintext from local apps goes out encrypted with an empty return route."""

    def __init__(self, ch):
        self.ch = ch

    async def handle_message(self, node, msg):
        step(msg, self.ch.address)
        await self.ch.send_encrypted(encode_payload(msg.onward, msg.return_, msg.payload), [])


class SecureChannelListener:
    """Accept channels at `address` (default `api`) for identity `me`."""

    def __init__(self, node, me, address=DEFAULT_LISTENER, trust=None, cache=None, timeout=DEFAULT_TIMEOUT, max_pending=16, protocol_name=None):
        self.node = node
        self.me = me
        self.address = route(address)[0]
        self.trust = trust
        self.cache = cache
        self.timeout = timeout
        self.max_pending = max_pending
        self.protocol_name = protocol_name
        self.pending = set()
        self.channels = []
        self._sweeper = None
        node.start_worker(self.address, self)

    async def handle_message(self, node, msg):
        if len(self.pending) >= self.max_pending:
            node.count("handshake_flood_dropped")
            log.warning("listener %r: %d handshakes pending; dropped msg1", self.address, len(self.pending))
            return
        ch = SecureChannel(node, self.me, False, self.trust, self.cache, self, self.protocol_name)
        ch.deadline = ticks_add(ticks_ms(), int(self.timeout * 1000))
        self.pending.add(ch)
        try:
            await ch.on_handshake(msg)
        except HopsealError as e:
            node.count("handshake_rejected")
            log.warning("listener %r: bad msg1: %s", self.address, e)
            ch._stop()
            return
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self):
        """Expire handshakes that did not complete in time. One task per listener, alive only
        while handshakes are pending, holding no reference to a channel between rounds (a
        finished channel's keys and tables are freed at once, not after the timeout)."""
        try:
            while self.pending:
                await asyncio.sleep(min(1, self.timeout))
                now = ticks_ms()
                for ch in [c for c in self.pending if ticks_diff(now, c.deadline) >= 0]:
                    self.node.count("handshake_timeout")
                    log.warning("handshake %r timed out after %ss", ch, self.timeout)
                    ch._stop()
        finally:
            self._sweeper = None


async def create_secure_channel(node, me, to, trust=None, cache=None, timeout=DEFAULT_TIMEOUT, protocol_name=None, e_priv=None):
    """Open a channel to the listener at route `to`; returns the ready SecureChannel.

    Send through it with `node.send([channel.address, "echo"], payload, [reply_address])`.
    Raises ReceiveTimeout when it is not up within `timeout` s, HandshakeError/IdentityError when
    the peer is refused.
    """
    ch = SecureChannel(node, me, True, trust, cache, None, protocol_name, e_priv)
    try:
        await ch.start(route(to))
        await asyncio.wait_for(ch.done.wait(), timeout)
    except asyncio.TimeoutError:
        ch._stop()
        raise ReceiveTimeout("secure channel to %s not established within %ss" % (to, timeout))
    except BaseException:
        ch._stop()
        raise
    if not ch.ready:
        raise ch.error or HopsealError("secure channel refused")
    return ch
