"""X25519 (RFC 7748 §5) on Python big integers, for MicroPython, CircuitPython and CPython.

Rules this module upholds:
- Scalars are clamped and the u-coordinate's top bit is masked, exactly as RFC 7748 §5 says;
  a non-canonical u (>= p) is accepted and reduced, as the RFC requires.
- `x25519()` raises CryptoError when the shared secret is all zero (a low-order peer point).
- Outputs are canonical 32-byte little-endian strings.

Speed (this is the whole handshake budget on a board): MicroPython's `%` on a big int is a full
long division, several times dearer than the fold `(x & M) + (x >> 255) * 19`, which uses
2^255 = 19 (mod p). Inside the ladder intermediate values are only loosely reduced (a few bits
above 2^255, possibly negative); every step's outputs are brought back below 2^256 so nothing
grows, and only the final result is reduced exactly. Inversion is Fermat's, through the usual
addition chain with folds, which beats the interpreter's `pow(z, p - 2, p)` by 3-5x.

Not constant time (no Python big-int code is): the ladder's running time depends on the
scalar. Ephemeral keys are used once, but the static key's DH (es / se) runs here too.
"""
from hopseal.compat import const
from hopseal.errors import CryptoError

P = const(2**255 - 19)
_M = const(2**255 - 1)
_A24 = const(121665)


def _sqn(x, n):
    """x^(2^n), loosely reduced (each square folded twice, so it stays near 2^255)."""
    m = _M
    for _ in range(n):
        x = x * x
        x = (x & m) + (x >> 255) * 19
        x = (x & m) + (x >> 255) * 19
    return x


def _mul(a, b):
    x = a * b
    x = (x & _M) + (x >> 255) * 19
    return (x & _M) + (x >> 255) * 19


def pow22501(z):
    """(z^(2^250 - 1), z^11), loosely reduced: the common head of inversion and square root."""
    z2 = _mul(z, z)
    z9 = _mul(_sqn(z2, 2), z)
    z11 = _mul(z9, z2)
    t = _mul(_mul(z11, z11), z9)  # 2^5 - 1
    t10 = _mul(_sqn(t, 5), t)  # 2^10 - 1
    t20 = _mul(_sqn(t10, 10), t10)
    t = _mul(_sqn(t20, 20), t20)  # 2^40 - 1
    t50 = _mul(_sqn(t, 10), t10)
    t100 = _mul(_sqn(t50, 50), t50)
    t = _mul(_sqn(t100, 100), t100)  # 2^200 - 1
    return _mul(_sqn(t, 50), t50), z11


def inv(z):
    """z^(p-2) mod p, exactly reduced (0 maps to 0)."""
    t, z11 = pow22501(z)
    return _mul(_sqn(t, 5), z11) % P


def clamp(k):
    """RFC 7748 decodeScalar25519, kept as 32 little-endian bytes (the ladder reads its bits)."""
    if len(k) != 32:
        raise CryptoError("X25519 scalar must be 32 bytes")
    b = bytearray(k)
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return b


def ladder(kb, u):
    """x-coordinate of [k]u on Curve25519, exactly reduced; 0 for the point at infinity.

    `kb` is a clamped scalar as 32 little-endian bytes (bit 255 clear), `u` an int.
    Montgomery ladder, RFC 7748 §5; the conditional swap is a branch, taken when a bit differs
    from the previous one.
    """
    m = _M
    a24 = _A24
    x1 = u
    x2 = 1
    z2 = 0
    x3 = u
    z3 = 1
    swap = 0
    for pos in range(254, -1, -1):
        bit = (kb[pos >> 3] >> (pos & 7)) & 1
        if swap != bit:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
            swap = bit
        a = x2 + z2
        b = x2 - z2
        aa = a * a
        aa = (aa & m) + (aa >> 255) * 19
        bb = b * b
        bb = (bb & m) + (bb >> 255) * 19
        e = aa - bb
        da = (x3 - z3) * a
        da = (da & m) + (da >> 255) * 19
        cb = (x3 + z3) * b
        cb = (cb & m) + (cb >> 255) * 19
        # Outputs get a second fold so they stay below 2^256 (in absolute value; e may be
        # negative) and nothing grows from step to step.
        s = da + cb
        s = s * s
        s = (s & m) + (s >> 255) * 19
        x3 = (s & m) + (s >> 255) * 19
        s = da - cb
        s = s * s
        s = ((s & m) + (s >> 255) * 19) * x1
        s = (s & m) + (s >> 255) * 19
        z3 = (s & m) + (s >> 255) * 19
        s = aa * bb
        s = (s & m) + (s >> 255) * 19
        x2 = (s & m) + (s >> 255) * 19
        s = (aa + a24 * e) * e
        s = (s & m) + (s >> 255) * 19
        z2 = (s & m) + (s >> 255) * 19
    if swap:
        x2 = x3
        z2 = z3
    return x2 * inv(z2) % P


def x25519(k, u):
    """RFC 7748 X25519(k, u) on 32-byte strings. Raises CryptoError on an all-zero result."""
    if len(u) != 32:
        raise CryptoError("X25519 point must be 32 bytes")
    r = ladder(clamp(k), (int.from_bytes(u, "little") & _M) % P)
    if r == 0:
        raise CryptoError("X25519 low-order point")
    return r.to_bytes(32, "little")


def x25519_base(k):
    """X25519(k, 9): the public key for private key `k`."""
    return ladder(clamp(k), 9).to_bytes(32, "little")
