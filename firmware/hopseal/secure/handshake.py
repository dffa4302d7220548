"""The secure-channel handshake of one side (ockam-wire §4.3.1), sans-I/O: bytes in, actions out.

It wraps the Noise XX state machine (noise.py) with what Ockam adds: each side's identity and
purpose-key attestation travel in the payloads of messages 2 and 3, are verified against the
peer's Noise static key, and the peer's identifier must pass the trust policy. When it is done it
is consumed into the channel's Encryptor/Decryptor pair (`into_cipher`), like a snow
HandshakeState into a TransportState. Routes, workers and timers belong to channel.py.

Transitions (state, event -> actions, next state):

    role       state      event             actions                                 next
    initiator  START      start()           SEND msg1 (e)                           WAIT_M2
    initiator  WAIT_M2    receive(msg2)     verify responder; SEND msg3; READY      DONE
    responder  START      receive(msg1)     SEND msg2 (e, ee, s, es + identity)     WAIT_M3
    responder  WAIT_M3    receive(msg3)     verify initiator; READY                 DONE
    any        WAIT_*     bad Noise message HandshakeError; state unchanged (steps are transactional)
    any        WAIT_*     peer unverifiable IdentityError                            FAILED
               or untrusted
    any        DONE       into_cipher()     (Encryptor, Decryptor); keys leave       CONSUMED
    any        other      any               HandshakeError

Actions are tuples: (SEND, bytes) and (READY, peer_identifier). FAILED and CONSUMED are final.
"""
from ..compat import const
from ..errors import HandshakeError, IdentityError
from .cipher import Decryptor, Encryptor
from .identity import identifier_text, verify_identity_payload
from .noise import HandshakeState

START = const(0)
WAIT_M2 = const(1)
WAIT_M3 = const(2)
DONE = const(3)
FAILED = const(4)
CONSUMED = const(5)
STATE_NAMES = ("start", "wait for message 2", "wait for message 3", "done", "failed", "consumed")

SEND = "send"
READY = "ready"


class Untrusted(IdentityError):
    """The peer's identity verified, but the trust policy refused it."""


class Handshake:
    """One side. `me` is the local identity (a Vault: `x25519_priv`, `x25519_pub`, `payload()`);
    `trust(identifier) -> bool`; `now()` gives wall-clock seconds for the attestation time rules;
    `cache` is an optional identity.VerifiedCache."""

    def __init__(self, crypto, me, initiator, trust, now, cache=None, protocol_name=None, e_priv=None, e_pub=None):
        kw = {}
        if protocol_name is not None:
            kw["protocol_name"] = protocol_name
        if e_priv is not None:
            kw["e_priv"] = e_priv
            if e_pub is not None:
                kw["e_pub"] = e_pub  # made beforehand with it (ephemeral.py): no scalar multiplication here
        if hasattr(me, "x25519_pub"):
            kw["s_pub"] = me.x25519_pub  # saves one scalar multiplication per handshake
        self.crypto = crypto
        self.me = me
        self.initiator = initiator
        self.trust = trust
        self.now = now
        self.cache = cache
        self.noise = HandshakeState(crypto, initiator, me.x25519_priv, **kw)
        self.state = START
        self.peer_identifier = None

    def start(self):
        """Initiator: the first actions, [(SEND, msg1)]."""
        if not self.initiator or self.state != START:
            raise HandshakeError("start() is the initiator's first step")
        msg1 = self.noise.write_message(b"")
        self.state = WAIT_M2
        return [(SEND, msg1)]

    def receive(self, data):
        """The peer's next handshake message in; the actions it leads to out."""
        st = self.state
        if self.initiator and st == WAIT_M2:
            self._verify(self.noise.read_message(data))
            msg3 = self.noise.write_message(self.me.payload())
            self.state = DONE
            return [(SEND, msg3), (READY, self.peer_identifier)]
        if not self.initiator and st == START:
            self.noise.read_message(data)
            msg2 = self.noise.write_message(self.me.payload())
            self.state = WAIT_M3
            return [(SEND, msg2)]
        if not self.initiator and st == WAIT_M3:
            self._verify(self.noise.read_message(data))
            self.state = DONE
            return [(READY, self.peer_identifier)]
        raise HandshakeError("no handshake message expected in state %r" % STATE_NAMES[st])

    def _verify(self, payload):
        try:
            ident = verify_identity_payload(self.crypto, payload, self.noise.remote_static, self.now(), self.cache)
            if not self.trust(ident):
                raise Untrusted("peer %s is not trusted" % identifier_text(ident))
        except IdentityError:
            self.state = FAILED
            self.noise = None
            raise
        self.peer_identifier = ident

    def into_cipher(self):
        """(Encryptor, Decryptor) with this side's keys; the handshake is spent afterwards."""
        if self.state != DONE:
            raise HandshakeError("handshake not complete")
        enc_key, dec_key = self.noise.split()
        self.noise = None
        self.state = CONSUMED
        return Encryptor(self.crypto, enc_key), Decryptor(self.crypto, dec_key)
