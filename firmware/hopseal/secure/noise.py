"""Noise XX handshake (ockam-wire §4.1) as a sans-I/O state machine: bytes in, bytes out.

The pattern is a table; each step of a side is one row of it:

    msg  written by   tokens               then the payload
    0    initiator    e                    in clear (no key yet); Ockam sends it empty
    1    responder    e, ee, s, es         EncryptAndHash
    2    initiator    s, se                EncryptAndHash

Rules this module upholds:
- Message i is written by the initiator when i is even and by the responder when it is odd.
  Calling write_message when the peer's message is due (or read_message when ours is), or either
  after the handshake, raises HandshakeError.
- Every step is transactional (as in snow): it runs on a copy of the symmetric state and local
  copies of the keys, and commits only when the whole message has been processed. A message that
  fails (too short, over 65 535 bytes, AEAD failure, low-order key, wrong turn) raises
  HandshakeError and leaves the state exactly as it was, so the genuine message can still follow.
- Crypto is a backend object passed in (hopseal.crypto.soft.SoftCrypto on boards,
  hopseal_host.crypto_host.HostCrypto on the host). Decrypt failures are reported opaquely.
- Initialisation follows the Noise rule, which for Ockam's 32-byte names gives ck = name and
  h = SHA256(name) (empty prologue): a name of up to 32 bytes is zero-padded, a longer one hashed.
- split() applies Ockam's departure from Noise: (k1, k2) = HKDF(ck, ""), the initiator encrypts
  with k2 and decrypts with k1, the responder the opposite.
"""
import struct

from ..compat import const
from ..errors import CryptoError, HandshakeError

PROTOCOL_NAME = b"OCKAM_XX_25519_AES256_GCM_SHA256"  # ockam >= 0.106, the default
PROTOCOL_NAME_2021 = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0"  # 2021 .. 0.105, and the §8.1 vector
MAX_MESSAGE = const(65535)  # NOISE_MAX_MESSAGE_SIZE, enforced on all three messages

_DHLEN = const(32)
_TAGLEN = const(16)

# Pattern tokens
_E = const(0)
_S = const(1)
_EE = const(2)
_ES = const(3)
_SE = const(4)

# Noise XX:  -> e   <- e, ee, s, es   -> s, se
_XX = ((_E,), (_E, _EE, _S, _ES), (_S, _SE))
# Bytes each message carries besides its payload (the payload's tag included once a key is set).
_OVERHEAD = (32, 32 + 48 + 16, 48 + 16)
_STEPS = const(3)

# X25519 u-coordinates of small order (on the curve or its twist), reduced mod p: every clamped
# scalar maps them to the all-zero shared secret. Checked on receipt so a bad key is rejected by
# the read that carries it; the backends also refuse an all-zero DH output.
_P = (1 << 255) - 19
_LOW_ORDER = (
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    _P - 1,
)
_U_MASK = (1 << 255) - 1


def is_low_order(pub):
    """True if the X25519 public key `pub` has small order (an all-zero DH for any private key)."""
    u = (int.from_bytes(bytes(pub), "little") & _U_MASK) % _P
    return u in _LOW_ORDER


def aead_iv(n):
    """The 12-byte AES-GCM nonce for counter `n`: 4 zero bytes ‖ n as u64 big-endian (Noise
    AESGCM, ockam-wire §4.1). The handshake and the channel's transport messages both use it."""
    return b"\0\0\0\0" + struct.pack(">Q", n)


class SymmetricState:
    """Noise SymmetricState with CipherState folded in: ck, h, k, n."""

    def __init__(self, crypto, ck, h, k=None, n=0):
        self.crypto = crypto
        self.ck = ck
        self.h = h
        self.k = k
        self.n = n

    @staticmethod
    def initialize(crypto, protocol_name):
        """InitializeSymmetric(protocol_name)."""
        name = bytes(protocol_name)
        if len(name) <= 32:
            h = name + bytes(32 - len(name))
        else:
            h = crypto.sha256(name)
        return SymmetricState(crypto, h, h)

    def copy(self):
        return SymmetricState(self.crypto, self.ck, self.h, self.k, self.n)

    def has_key(self):
        return self.k is not None

    def mix_hash(self, data):
        self.h = self.crypto.sha256(self.h + bytes(data))

    def mix_key(self, ikm):
        out = self.crypto.hkdf_sha256(self.ck, ikm, b"", 64)
        self.ck = out[:32]
        self.k = out[32:64]
        self.n = 0

    def encrypt_and_hash(self, plaintext):
        if self.k is None:
            c = bytes(plaintext)
        else:
            c = self.crypto.aead(self.k).encrypt(aead_iv(self.n), self.h, bytes(plaintext))
            self.n += 1
        self.mix_hash(c)
        return c

    def decrypt_and_hash(self, ciphertext):
        c = bytes(ciphertext)
        if self.k is None:
            p = c
        else:
            try:
                p = self.crypto.aead(self.k).decrypt(aead_iv(self.n), self.h, c)
            except CryptoError:
                raise HandshakeError("handshake message failed authentication")
            self.n += 1
        self.mix_hash(c)
        return p

    def split(self):
        """Noise Split(): return (k1, k2) = HKDF(ck, "") (no role applied here)."""
        out = self.crypto.hkdf_sha256(self.ck, b"", b"", 64)
        return out[:32], out[32:64]


class HandshakeState:
    """One side of a Noise XX handshake.

    `s_priv` is the 32-byte X25519 static private key; `s_pub` may be passed to skip recomputing
    it (it must match). `e_priv` injects the ephemeral key (test vectors, or one made beforehand
    by ephemeral.py, then with its `e_pub`); by default a fresh one is generated when the first
    message that needs it is written.
    """

    def __init__(self, crypto, initiator, s_priv, protocol_name=PROTOCOL_NAME, e_priv=None,
                 prologue=b"", s_pub=None, e_pub=None):
        if len(s_priv) != _DHLEN:
            raise HandshakeError("static private key must be 32 bytes")
        if e_priv is not None and len(e_priv) != _DHLEN:
            raise HandshakeError("ephemeral private key must be 32 bytes")
        self._crypto = crypto
        self.initiator = bool(initiator)
        self._s_priv = bytes(s_priv)
        self._s_pub = bytes(s_pub) if s_pub is not None else crypto.x25519_public(self._s_priv)
        self._e_priv = bytes(e_priv) if e_priv is not None else None
        self._e_pub = bytes(e_pub) if e_pub is not None and e_priv is not None else None
        self._re = None
        self._rs = None
        self._step = 0
        ss = SymmetricState.initialize(crypto, protocol_name)
        ss.mix_hash(prologue)
        self._ss = ss

    # -- queries ------------------------------------------------------------------------------

    @property
    def remote_static(self):
        """The peer's static X25519 public key, once received (None before)."""
        return self._rs

    @property
    def local_static(self):
        return self._s_pub

    @property
    def symmetric_state(self):
        """The live SymmetricState (read it; do not mutate it)."""
        return self._ss

    def is_complete(self):
        return self._step >= _STEPS

    def writes_next(self):
        """True when the next call must be write_message (False when a read is due or done)."""
        return self._step < _STEPS and (self._step % 2 == 0) == self.initiator

    def handshake_hash(self):
        """The final h (Noise GetHandshakeHash, Ockam's "auth hash"); only after completion."""
        if self._step < _STEPS:
            raise HandshakeError("handshake not complete")
        return self._ss.h

    def split(self):
        """Return (encrypt_key, decrypt_key) for this side, with Ockam's key order (§4.1)."""
        if self._step < _STEPS:
            raise HandshakeError("handshake not complete")
        k1, k2 = self._ss.split()
        if self.initiator:
            return k2, k1
        return k1, k2

    # -- steps --------------------------------------------------------------------------------

    def _check_turn(self, writing):
        step = self._step
        if step >= _STEPS:
            raise HandshakeError("handshake already complete")
        if ((step % 2 == 0) == self.initiator) != writing:
            if writing:
                raise HandshakeError("message %d must be read from the peer, not written" % (step + 1))
            raise HandshakeError("message %d must be written, not read" % (step + 1))
        return step

    def _dh(self, token, e_priv, re, rs):
        # ee = DH(e, re); es = DH(e, rs) for the initiator, DH(s, re) for the responder;
        # se the mirror image of es.
        if token == _EE:
            priv, pub = e_priv, re
        elif (token == _ES) == self.initiator:
            priv, pub = e_priv, rs
        else:
            priv, pub = self._s_priv, re
        if priv is None or pub is None:
            raise HandshakeError("handshake keys missing for this step")
        try:
            out = self._crypto.x25519(priv, pub)
        except CryptoError:
            raise HandshakeError("peer key has small order")
        if out == bytes(32):
            raise HandshakeError("peer key has small order")
        return out

    def write_message(self, payload=b""):
        """Produce the next handshake message carrying `payload`."""
        step = self._check_turn(True)
        if len(payload) > MAX_MESSAGE - _OVERHEAD[step]:
            raise HandshakeError("handshake message would exceed %d bytes" % MAX_MESSAGE)
        ss = self._ss.copy()
        e_priv = self._e_priv
        e_pub = self._e_pub
        out = bytearray()
        for token in _XX[step]:
            if token == _E:
                if e_priv is None:
                    e_priv, e_pub = self._crypto.x25519_keypair()
                elif e_pub is None:
                    e_pub = self._crypto.x25519_public(e_priv)
                out.extend(e_pub)
                ss.mix_hash(e_pub)
            elif token == _S:
                out.extend(ss.encrypt_and_hash(self._s_pub))
            else:
                ss.mix_key(self._dh(token, e_priv, self._re, self._rs))
        out.extend(ss.encrypt_and_hash(payload))
        # commit
        self._ss = ss
        self._e_priv = e_priv
        self._e_pub = e_pub
        self._advance(step)
        return bytes(out)

    def read_message(self, message):
        """Consume the peer's next handshake message; return its payload."""
        step = self._check_turn(False)
        n = len(message)
        if n > MAX_MESSAGE:
            raise HandshakeError("handshake message over %d bytes" % MAX_MESSAGE)
        if n < _OVERHEAD[step]:
            raise HandshakeError("handshake message %d too short (%d bytes)" % (step + 1, n))
        msg = memoryview(message)
        ss = self._ss.copy()
        re = self._re
        rs = self._rs
        pos = 0
        for token in _XX[step]:
            if token == _E:
                re = bytes(msg[pos:pos + _DHLEN])
                pos += _DHLEN
                if is_low_order(re):
                    raise HandshakeError("peer ephemeral key has small order")
                ss.mix_hash(re)
            elif token == _S:
                ln = _DHLEN + _TAGLEN if ss.has_key() else _DHLEN
                rs = ss.decrypt_and_hash(msg[pos:pos + ln])
                pos += ln
                if is_low_order(rs):
                    raise HandshakeError("peer static key has small order")
            else:
                ss.mix_key(self._dh(token, self._e_priv, re, rs))
        payload = ss.decrypt_and_hash(msg[pos:])
        # commit
        self._ss = ss
        self._re = re
        self._rs = rs
        self._advance(step)
        return payload

    def _advance(self, step):
        self._step = step + 1
        if self._step >= _STEPS:
            # the ephemeral key is no longer needed; drop it (forward secrecy hygiene)
            self._e_priv = None
