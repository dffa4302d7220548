"""The viper kernels (hopseal/crypto/kernels.py) against the pure-Python reference.

Under MicroPython the kernels are native code (crypto/viper.py compiled them); under CPython the
same source runs over viper32's checking integers, so every intermediate is proved to fit 32
bits on the inputs given here, worst cases included (limbs at their bounds, all-ones words).
Either way the answers must equal the pure-Python path's, byte for byte.

    micropython tests/mp_run.py test_crypto_viper
"""
import os
import sys

from hopseal.crypto import fastgcm, gcm, viper

IS_MP = sys.implementation.name == "micropython"


def kernels(name):
    """The kernel namespace `name` ("GCM", "FE", "SHA512"): native under MicroPython, checked
    32-bit Python under CPython. None if this MicroPython port has no viper emitter."""
    if IS_MP:
        return getattr(viper, name)
    import viper32

    import hopseal.crypto

    with open(os.path.join(os.path.dirname(hopseal.crypto.__file__), "kernels.py")) as f:
        return viper32.load(f.read())  # every kernel; `name` picks none out: they share one module


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
    sizes = (0, 1, 15, 16, 17, 33, 513)
    keys = (b"\xff" * 32, _rnd(32))
    if IS_MP:
        sizes += (31, 32, 100, 511, 512, 600, 1024, 4096, 8193)
        keys += (bytes(32),)
    for key in keys:
        ref = gcm.AESGCM(key)
        fast = fastgcm.AESGCM(key, ns)
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
    tab = fastgcm.tables32((1 << 128) - 1)
    y = bytearray(b"\xff" * 16)
    ns["ghash"](tab, y, b"\xff" * 48, 48)
    assert len(y) == 16


# --- GF(2^255 - 19) and the curves -------------------------------------------------------------

from hopseal.crypto import ed25519, fast25519, x25519  # noqa: E402
from vectors import load, unhex  # noqa: E402

P = 2**255 - 19


class _Fast:
    """fast25519 on kernels("FE") for the duration (CPython: checked 32-bit integers)."""

    _NAMES = ("_FE", "_SHA", "_ws", "_tab", "_sha_st", "_sha_w", "_sha_k")

    def __enter__(self):
        self.saved = [getattr(fast25519, n) for n in self._NAMES]
        ns = kernels("FE")
        if ns is None:
            return None
        if not IS_MP:
            fast25519.use(ns, kernels("SHA512"))
        return ns

    def __exit__(self, *exc):
        for n, v in zip(self._NAMES, self.saved):
            setattr(fast25519, n, v)
        return False


def _limbs(ws, slot):
    return [ws[16 * slot + i] for i in range(16)]


def _put(ws, slot, v):
    for i in range(16):
        ws[16 * slot + i] = (v >> (16 * i)) & 0xFFFF


def _get(ws, slot):
    v = 0
    for i in range(16):
        assert ws[16 * slot + i] < 1 << 16, "limb %d of slot %d is %#x" % (i, slot, ws[16 * slot + i])
        v |= ws[16 * slot + i] << (16 * i)
    return v


# Worst cases for the multiplier and the carries: every limb 0xffff (2^256 - 1), p, p - 1, 2^255,
# 38 * 2^250 (the fold), 0, 1, and the top limb alone.
_EDGES = (2**256 - 1, P, P - 1, P + 1, 2**255, 2**255 - 1, 0, 1, 38, 0xFFFF << 240, 2**256 - 38, 2**256 - 39)


def test_field_ops_bounds_and_values():
    with _Fast() as ns:
        if ns is None:
            return
        ws = fast25519._ws
        run = ns["run"]
        prog = fast25519._prog
        vals = list(_EDGES)
        for _ in range(6 if not IS_MP else 200):
            vals.append(int.from_bytes(_rnd(32), "little"))
        pairs = [(a, b) for a in _EDGES for b in _EDGES] + [(vals[i], vals[-1 - i]) for i in range(len(vals))]
        a_s, b_s, d_s = 10, 11, 12
        for a, b in pairs:
            _put(ws, a_s, a)
            _put(ws, b_s, b)
            for op, want in ((1, a * b), (3, a + b), (4, a - b)):
                run(ws, prog((op, d_s, a_s, b_s)), b"", 0)
                assert _get(ws, d_s) % P == want % P, (op, hex(a), hex(b))
            run(ws, prog((2, d_s, a_s, 3)), b"", 0)  # a^8
            assert _get(ws, d_s) % P == pow(a, 8, P), hex(a)
            run(ws, prog((1, a_s, a_s, a_s)), b"", 0)  # in place: d = a = b
            assert _get(ws, a_s) % P == a * a % P
        buf = bytearray(64)
        v = 2**256 - 1 - 12345
        buf[32:] = v.to_bytes(32, "little")
        run(ws, prog((6, d_s, 0, 1), (5, a_s, d_s), (7, 0, a_s, 0)), buf, 0)
        assert bytes(buf[:32]) == v.to_bytes(32, "little")


def test_x25519_rfc7748_on_the_field_machine():
    with _Fast() as ns:
        if ns is None:
            return
        v = load("rfc7748_x25519.json")
        cases = v["x25519_single"] if IS_MP else v["x25519_single"][:1]
        for case in cases:
            assert fast25519.x25519(unhex(case["scalar"]), unhex(case["u"])) == unhex(case["output"])
        if not IS_MP:
            return  # one ladder over checked integers is enough there (seconds each)
        d = v["x25519_dh"]
        a, b = unhex(d["alice_private"]), unhex(d["bob_private"])
        assert fast25519.base_u(x25519.clamp(a)) == unhex(d["alice_public"])
        assert fast25519.x25519(b, unhex(d["alice_public"])) == unhex(d["shared"])
        for p in ("0000000000000000000000000000000000000000000000000000000000000000",
                  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880"):
            try:
                fast25519.x25519(a, unhex(p))
                raise AssertionError("low-order point accepted")
            except x25519.CryptoError:
                pass
        it = v["x25519_iterated"]
        k = u = unhex(it["start_k"])
        for _ in range(1000):
            k, u = fast25519.x25519(k, u), k
        want = [a["k"] for a in it["after"] if a["iterations"] == 1000][0]
        assert k == unhex(want)


def test_ed25519_on_the_field_machine():
    from test_crypto_soft import _RFC8032

    with _Fast() as ns:
        if ns is None:
            return
        if not IS_MP:  # one verification over checked integers: every point program runs
            seed, pub, msg, sig = [unhex(x) for x in _RFC8032[1]]
            assert fast25519.verify(pub, msg, sig) is True
            return
        for seed, pub, msg, sig in _RFC8032:
            seed, pub, msg, sig = unhex(seed), unhex(pub), unhex(msg), unhex(sig)
            a, prefix, p2 = fast25519.keypair(seed)
            assert p2 == pub
            assert fast25519.sign_expanded(a, prefix, pub, msg) == sig
            assert fast25519.verify(pub, msg, sig) is True
            assert fast25519.verify(pub, msg + b"x", sig) is False


def test_decode_matches_reference():
    with _Fast() as ns:
        if ns is None:
            return
        p = P
        encs = [(y | (sign << 255)).to_bytes(32, "little")
                for y, sign in ((0, 0), (1, 0), (1, 1), (2, 0), (p - 1, 0), (p - 1, 1), (p, 0), (p + 1, 0), (2**255 - 1, 1))]
        encs.append(unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
        for _ in range(4 if not IS_MP else 200):
            encs.append(_rnd(32))
        for e in encs:
            assert fast25519._decode(e) == ed25519._decode(e), e


def test_curves_match_reference():
    if not IS_MP or fast25519._FE is None:
        return  # CPython: the checked runs above; the cross-checks against `cryptography` too
    from hopseal.crypto.soft import SoftCrypto

    ref, fast = SoftCrypto(native=False), SoftCrypto(native=True)
    assert fast.impl == "viper" and ref.impl == "python"
    for i in range(40):
        a, b, seed = _rnd(32), _rnd(32), _rnd(32)
        pub_b = ref.x25519_public(b)
        assert fast.x25519_public(b) == pub_b
        assert fast.x25519(a, pub_b) == ref.x25519(a, pub_b)
        pub = ref.ed25519_public(seed)
        assert fast.ed25519_public(seed) == pub
        msg = _rnd(i * 5)
        sig = fast.ed25519_sign(seed, msg)
        assert sig == ref.ed25519_sign(seed, msg)
        assert fast.ed25519_verify(pub, msg, sig) is True
        bad = bytearray(sig)
        bad[i % 64] ^= 1 << (i % 8)
        assert fast.ed25519_verify(pub, msg, bytes(bad)) is ref.ed25519_verify(pub, msg, bytes(bad))


def test_sha512_kernel():
    with _Fast() as ns:
        if ns is None:
            return
        sizes = (0, 3, 111, 112, 127, 128, 129, 239, 240, 256)
        if IS_MP:
            sizes += (1000, 4096)
        for n in sizes:
            for data in (b"\xff" * n, _rnd(n)):  # all-ones words: every carry column full
                assert fast25519.sha512(data) == ed25519._sha512_py(data), n
        assert fast25519.sha512(memoryview(b"abc")) == ed25519.sha512(b"abc")
