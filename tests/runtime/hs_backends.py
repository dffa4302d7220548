"""Crypto backends for the handshake and identity runtime tests (pytest and MicroPython).

backends() gives every backend that can run here: HostCrypto (`cryptography`) on CPython first,
then SoftCrypto (pure Python, the board backend) on every runtime.
"""
import sys

IS_MICROPYTHON = sys.implementation.name in ("micropython", "circuitpython")


def _soft():
    try:
        from hopseal.crypto.soft import SoftCrypto
    except ImportError:
        return None
    return SoftCrypto()


def _host():
    try:
        from hopseal_host.crypto_host import HostCrypto
    except ImportError:
        return None
    return HostCrypto()


_cache = []


def backends():
    if _cache:
        return _cache
    out = []
    if not IS_MICROPYTHON:
        host = _host()
        if host is not None:
            out.append(host)
    soft = _soft()
    if soft is not None:
        out.append(soft)
    if not out:
        raise RuntimeError("no crypto backend available")
    _cache.extend(out)
    return out


def fast():
    """The fastest backend available (for tests where the backend does not matter)."""
    return backends()[0]


class Counting:
    """Wraps a backend and counts signature verifications and DH operations."""

    def __init__(self, inner):
        self._inner = inner
        self.verifies = 0
        self.dh = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def ed25519_verify(self, pub, msg, sig):
        self.verifies += 1
        return self._inner.ed25519_verify(pub, msg, sig)

    def p256_verify(self, pub, msg, sig):
        self.verifies += 1
        return self._inner.p256_verify(pub, msg, sig)

    def x25519(self, priv, pub):
        self.dh += 1
        return self._inner.x25519(priv, pub)
