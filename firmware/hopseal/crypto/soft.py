"""SoftCrypto: the board backend, pure Python in the MicroPython/CircuitPython/CPython subset.

It implements the interface documented in `hopseal.crypto` with x25519.py, ed25519.py and
gcm.py (over aes.py), plus SHA-256 from hashlib and HMAC-SHA256 / HKDF-SHA256 (RFC 2104,
RFC 5869) written here, because MicroPython has no hmac module.

- X25519 public keys come from the Ed25519 fixed-base comb (`ed25519.base_u`): the same bytes
  as the ladder on u = 9, about twice as fast; the shared secret uses the ladder.
- The expanded Ed25519 key of the last seed used is cached, so a node signing with its own key
  does one base-point multiplication per signature instead of two.
- P-256 is not offered: the p256 calls raise CryptoError("P-256 not supported").
- Where the port compiles viper code (crypto/viper.py), X25519, Ed25519, SHA-512 and AES-GCM's
  GHASH and CTR run as native kernels (fast25519.py, gcm.py); `SoftCrypto(native=False)` keeps
  the pure-Python code, which is also the fallback everywhere else. `impl` says which is in use.
"""
try:
    import hashlib
except ImportError:
    import uhashlib as hashlib  # MicroPython before 1.21

from hopseal.compat import random_bytes
from hopseal.crypto import ed25519, viper, x25519
from hopseal.crypto.gcm import AESGCM
from hopseal.errors import CryptoError

_IPAD = int.from_bytes(b"\x36" * 64, "big")  # the HMAC pads as ints: one XOR per key
_OPAD = int.from_bytes(b"\x5c" * 64, "big")

if hasattr(hashlib, "sha256"):
    _sha256 = hashlib.sha256
else:  # CircuitPython: hashlib.new(name, data) only

    def _sha256(data=b""):
        return hashlib.new("sha256", data)


def sha256(data):
    return _sha256(data).digest()


def _hmac_pads(key):
    if len(key) > 64:
        key = sha256(key)
    k = int.from_bytes(key, "big") << (8 * (64 - len(key)))
    return (k ^ _IPAD).to_bytes(64, "big"), (k ^ _OPAD).to_bytes(64, "big")


def _hmac(pads, data):
    h = _sha256(pads[0])
    h.update(data)
    inner = h.digest()
    h = _sha256(pads[1])
    h.update(inner)
    return h.digest()


def hmac_sha256(key, data):
    """HMAC-SHA256 (RFC 2104)."""
    return _hmac(_hmac_pads(key), data)


def hkdf_sha256(salt, ikm, info=b"", length=64):
    """HKDF-SHA256 extract-and-expand (RFC 5869). An empty salt is HashLen zero bytes."""
    if length < 0 or length > 255 * 32:
        raise CryptoError("HKDF length out of range")
    prk = _hmac_pads(hmac_sha256(salt, ikm))
    info = bytes(info)
    okm = bytearray()
    t = b""
    i = 1
    while len(okm) < length:
        t = _hmac(prk, t + info + bytes((i,)))
        okm += t
        i += 1
    return bytes(okm[:length])


_fast_failed = [False]  # fast25519 did not fit once: do not load it again for the next backend


def _fast():
    """fast25519 where the viper kernels loaded and its code and workspace fit, else None. Imported
    only then (and fastgcm.py likewise), so a board on the pure-Python path does not carry
    their code."""
    if viper.FE is None or viper.GCM is None or _fast_failed[0]:
        return None
    try:
        from hopseal.crypto import fast25519

        if fast25519.AVAILABLE:
            return fast25519
    except MemoryError:
        pass
    # its code or its workspace does not fit beside the node: the pure-Python path it is, and
    # the module goes (about 13 KB of .mpy code on the 64-bit unix port)
    import sys

    _fast_failed[0] = True
    sys.modules.pop("hopseal.crypto.fast25519", None)
    pkg = sys.modules.get("hopseal.crypto")
    if pkg is not None and hasattr(pkg, "fast25519"):
        delattr(pkg, "fast25519")
    return None


class SoftCrypto:
    """The pure-Python crypto backend. `rng(n)` defaults to os.urandom (inject one for vectors)."""

    name = "soft"

    def __init__(self, rng=None, native=None):
        self._rng = rng if rng is not None else random_bytes
        self._ed_seed = None
        self._ed_key = None
        fast = _fast()
        if native is None:
            native = fast is not None
        elif native and fast is None:
            raise CryptoError("no viper kernels on this port")
        self.native = native
        self.impl = "viper" if native else "python"
        self._ed = fast if native else ed25519

    def random(self, n):
        return self._rng(n)

    def sha256(self, data):
        return _sha256(data).digest()

    def hmac_sha256(self, key, data):
        return hmac_sha256(key, data)

    def hkdf_sha256(self, salt, ikm, info=b"", length=64):
        return hkdf_sha256(salt, ikm, info, length)

    # X25519

    def x25519_keypair(self):
        priv = self._rng(32)
        return priv, self.x25519_public(priv)

    def x25519_public(self, priv):
        return self._ed.base_u(x25519.clamp(priv))

    def x25519(self, priv, peer_pub):
        return self._ed.x25519(priv, peer_pub) if self.native else x25519.x25519(priv, peer_pub)

    # AEAD

    def aead(self, key):
        if len(key) != 32:
            raise CryptoError("AES-256-GCM key must be 32 bytes")
        if self.native:
            from hopseal.crypto import fastgcm

            return fastgcm.AESGCM(key)
        return AESGCM(key)

    # Ed25519

    def _ed_expanded(self, seed):
        if len(seed) != 32:
            raise CryptoError("Ed25519 seed must be 32 bytes")
        seed = bytes(seed)
        if seed != self._ed_seed:
            self._ed_key = self._ed.keypair(seed)
            self._ed_seed = seed
        return self._ed_key

    def ed25519_public(self, seed):
        return self._ed_expanded(seed)[2]

    def ed25519_sign(self, seed, msg):
        a, prefix, pub = self._ed_expanded(seed)
        return self._ed.sign_expanded(a, prefix, pub, bytes(msg))

    def ed25519_verify(self, pub, msg, sig):
        return self._ed.verify(pub, msg, sig)

    # P-256: not on the board

    def p256_verify(self, pub, msg, sig):
        raise CryptoError("P-256 not supported")

    def p256_keypair(self):
        raise CryptoError("P-256 not supported")

    def p256_sign(self, private_handle, msg):
        raise CryptoError("P-256 not supported")
