"""The viper kernels (hopseal/crypto/viper_src.py) against the pure-Python reference.

Under MicroPython the kernels are native code (crypto/viper.py compiled them); under CPython the
same source runs over viper32's checking integers, so every intermediate is proved to fit 32
bits on the inputs given here, worst cases included (limbs at their bounds, all-ones words).
Either way the answers must equal the pure-Python path's, byte for byte.

    micropython tests/mp_run.py test_crypto_viper
"""
import os
import sys

from hopseal.crypto import gcm, viper

IS_MP = sys.implementation.name == "micropython"


def kernels(name):
    """The kernel namespace `name` ("GCM", "FE", "SHA512"): native under MicroPython, checked
    32-bit Python under CPython. None if this MicroPython port has no viper emitter."""
    if IS_MP:
        return getattr(viper, name)
    import viper32

    from hopseal.crypto import viper_src

    return viper32.load(getattr(viper_src, name))


class _Patch:
    """Point a module's kernel slot at `kernels(name)` for the duration (CPython: the checked
    ones; MicroPython: already the native ones)."""

    def __init__(self, module, attr, ns):
        self.module, self.attr, self.ns = module, attr, ns

    def __enter__(self):
        self.saved = getattr(self.module, self.attr)
        setattr(self.module, self.attr, self.ns)
        return self.ns

    def __exit__(self, *exc):
        setattr(self.module, self.attr, self.saved)
        return False


def _rnd(n):
    return os.urandom(n)


def test_viper_compiles_on_micropython():
    if not IS_MP:
        return
    # The unix port here has the native emitter: the fast path must really be on.
    assert viper.GCM is not None


# --- AES-GCM ---------------------------------------------------------------------------------


def test_gcm_kernels_match_reference():
    ns = kernels("GCM")
    if ns is None:
        return
    sizes = (0, 1, 15, 16, 17, 31, 32, 33, 100, 511, 512, 513, 600)
    if IS_MP:
        sizes += (1024, 4096, 8193)
    with _Patch(gcm, "_V", ns):
        for key in (bytes(32), b"\xff" * 32, _rnd(32)):
            ref = gcm.AESGCM(key, native=False)
            fast = gcm.AESGCM(key, native=True)
            assert fast.native and not ref.native
            for n in sizes:
                nonce = _rnd(12)
                for aad in (b"", _rnd(n % 40), b"\xff" * 17):
                    pt = _rnd(n) if n % 2 else b"\xff" * n
                    ct = ref.encrypt(nonce, aad, pt)
                    assert fast.encrypt(nonce, aad, pt) == ct, n
                    assert fast.decrypt(nonce, aad, ct) == pt
                    assert fast.decrypt(nonce, aad, memoryview(ct)) == pt
                    bad = bytearray(ct)
                    bad[n % len(bad)] ^= 1
                    try:
                        fast.decrypt(nonce, aad, bytes(bad))
                        raise AssertionError("tampered input decrypted")
                    except gcm.CryptoError:
                        pass


def test_gcm_table_worst_case_words():
    # H with every bit set gives table words with the top bit set: all must go through uint().
    ns = kernels("GCM")
    if ns is None:
        return
    tab = gcm._tables32((1 << 128) - 1)
    y = bytearray(b"\xff" * 16)
    ns["ghash"](tab, y, b"\xff" * 48, 48)
    assert len(y) == 16
