"""X25519 and Ed25519 on the viper field machine: SoftCrypto's fast path where the port has viper.

Same answers, same rules as x25519.py and ed25519.py (which stay the reference and the fallback):
RFC 7748 clamping, masking and low-order rejection; RFC 8032 signing and the cofactorless
verification with canonical A, R and S < L. Scalars (mod L) and hashing stay in Python; what the
field machine (kernels.run, kernels.ladder) runs are programs, byte strings of field operations on
the slots of one preallocated workspace, one call per ladder or per point operation, so a
Diffie-Hellman or a verification allocates a few hundred bytes instead of megabytes of big ints.

Not constant time, as the pure-Python code: the wNAF, the comb and the ladder's swap branch on
secret bits (see ed25519.py).
"""
import struct
from array import array

from hopseal.crypto import ed25519
from hopseal.crypto.viper import FE as _FE
from hopseal.crypto.viper import SHA512 as _SHA
from hopseal.crypto.x25519 import P, clamp
from hopseal.errors import CryptoError

AVAILABLE = _FE is not None and _SHA is not None

_MUL = 1
_SQN = 2
_ADD = 3
_SUB = 4
_COPY = 5
_LOAD = 6
_STORE = 7

# Slots (16 words each; 0 and 1 are the multiplier's scratch). kernels.ladder swaps 3/4
# with 5/6.
_X1, _X2, _Z2, _X3, _Z3, _A24 = 2, 3, 4, 5, 6, 7
_T = 8  # 8..15 temporaries
_I = 16  # 16..24 the inversion's
_PX, _PY, _PZ, _PT = 26, 27, 28, 29  # the Edwards accumulator
_C0 = 30  # 30..33 a cached point being added
_ONE, _ZERO, _D2, _DC = 34, 35, 36, 37
_SLOTS = 38

_ws = None  # the workspace: _SLOTS elements, allocated once by use()
_tab = None  # 8 odd multiples of A, then 2A, cached form (1,152 bytes)


def _prog(*ops):
    out = bytearray()
    for op in ops:
        out.extend(op if len(op) == 4 else op + (0,) * (4 - len(op)))
    out.append(0)
    return bytes(out)


def _pow22501(z):
    """Ops leaving z^(2^250-1) in _I+8 and z^11 in _I+2 (the chain of x25519.pow22501)."""
    z2, z9, z11, t, t5, t10, t20, t50, t250 = range(_I, _I + 9)
    return (
        (_SQN, z2, z, 1), (_SQN, t, z2, 2), (_MUL, z9, t, z), (_MUL, z11, z9, z2),
        (_SQN, t, z11, 1), (_MUL, t5, t, z9),
        (_SQN, t, t5, 5), (_MUL, t10, t, t5),
        (_SQN, t, t10, 10), (_MUL, t20, t, t10),
        (_SQN, t, t20, 20), (_MUL, t20, t, t20),  # t20 now holds 2^40 - 1
        (_SQN, t, t20, 10), (_MUL, t50, t, t10),
        (_SQN, t, t50, 50), (_MUL, t20, t, t50),  # 2^100 - 1
        (_SQN, t, t20, 100), (_MUL, t20, t, t20),  # 2^200 - 1
        (_SQN, t, t20, 50), (_MUL, t250, t, t50),
    )


def _inv(z, out):
    """Ops: out = z^(p-2)."""
    return _pow22501(z) + ((_SQN, _I + 3, _I + 8, 5), (_MUL, out, _I + 3, _I + 2))


# src of the constant loads: 1, 0, 2d, 121665, d
_CONSTS = (b"\x01" + bytes(31) + bytes(32)
           + (16295367250680780974490674513165176452449235426866156013048779062215315747161).to_bytes(32, "little")
           + (121665).to_bytes(32, "little")
           + (37095705934669439343138083508754565189542113879843219016388785533085940283555).to_bytes(32, "little"))
_INIT = _prog((_LOAD, _ONE, 0, 0), (_LOAD, _ZERO, 0, 1), (_LOAD, _D2, 0, 2), (_LOAD, _A24, 0, 3),
              (_LOAD, _DC, 0, 4))


_IV = (0x6A09E667, 0xF3BCC908, 0xBB67AE85, 0x84CAA73B, 0x3C6EF372, 0xFE94F82B, 0xA54FF53A, 0x5F1D36F1,
       0x510E527F, 0xADE682D1, 0x9B05688C, 0x2B3E6C1F, 0x1F83D9AB, 0xFB41BD6B, 0x5BE0CD19, 0x137E2179)
_sha_st = None  # SHA-512 state, schedule and round constants as 32-bit halves (1.3 KB)
_sha_w = None
_sha_k = None


def use(fe, sha=None):
    """Run on the field machine `fe` and the SHA-512 kernel `sha` (viper.FE and viper.SHA512;
    the tests pass the same sources run over checked 32-bit integers): allocate the workspace
    and the SHA-512 buffers, load the constants."""
    global _FE, _SHA, _ws, _tab, _sha_st, _sha_w, _sha_k
    _FE = fe
    _ws = array("I", bytes(64 * _SLOTS))
    _tab = bytearray(32 * 4 * 9)
    fe["run"](_ws, _INIT, _CONSTS, 0)
    if sha is not None:
        _SHA = sha
    _sha_st = array("I", _IV)
    _sha_w = array("I", bytes(640))
    _sha_k = array("I", struct.unpack(">160I", ed25519._K))


def sha512(data):
    """SHA-512 digest by the viper kernel (the same bytes as ed25519.sha512)."""
    st = _sha_st
    for i in range(16):
        st[i] = _IV[i]
    compress = _SHA["compress"]
    n = len(data)
    full = n & ~127
    if full:
        compress(st, _sha_w, _sha_k, data, full)
    r = n - full
    tail = bytearray(256 if r >= 112 else 128)
    tail[:r] = memoryview(data)[full:]
    tail[r] = 0x80
    struct.pack_into(">Q", tail, len(tail) - 8, n << 3)
    compress(st, _sha_w, _sha_k, tail, len(tail))
    return struct.pack(">16I", *st)


def _expand(seed):
    if len(seed) != 32:
        raise CryptoError("Ed25519 seed must be 32 bytes")
    h = sha512(seed)
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] = (a[31] & 127) | 64
    return a, h[32:]

# --- X25519 ----------------------------------------------------------------------------------

_A, _B, _C, _D, _E, _F = range(_T, _T + 6)
_STEP = _prog(  # RFC 7748 §5, one ladder step
    (_ADD, _A, _X2, _Z2), (_SUB, _B, _X2, _Z2), (_ADD, _C, _X3, _Z3), (_SUB, _D, _X3, _Z3),
    (_MUL, _D, _D, _A), (_MUL, _C, _C, _B), (_SQN, _A, _A, 1), (_SQN, _B, _B, 1),
    (_ADD, _X3, _D, _C), (_SQN, _X3, _X3, 1), (_SUB, _Z3, _D, _C), (_SQN, _Z3, _Z3, 1),
    (_MUL, _Z3, _Z3, _X1), (_MUL, _X2, _A, _B), (_SUB, _E, _A, _B), (_MUL, _F, _E, _A24),
    (_ADD, _F, _F, _A), (_MUL, _Z2, _E, _F),
)
_LADDER_IN = _prog((_LOAD, _X1, 0, 0), (_COPY, _X3, _X1), (_COPY, _X2, _ONE), (_COPY, _Z2, _ZERO),
                   (_COPY, _Z3, _ONE))
_LADDER_OUT = _prog(*(_inv(_Z2, _A) + ((_MUL, _X2, _X2, _A), (_STORE, 0, _X2, 0))))


def _canonical(buf):
    """32 little-endian bytes of a loosely reduced element (below 2^256) -> its value mod p."""
    return int.from_bytes(buf, "little") % P


def x25519(k, u):
    """RFC 7748 X25519(k, u); CryptoError on an all-zero result (as x25519.x25519)."""
    if len(u) != 32:
        raise CryptoError("X25519 point must be 32 bytes")
    kb = clamp(k)
    buf = bytearray(u)
    buf[31] &= 127
    run = _FE["run"]
    run(_ws, _LADDER_IN, buf, 0)
    _FE["ladder"](_ws, kb, _STEP)
    run(_ws, _LADDER_OUT, buf, 0)
    r = _canonical(buf)
    if r == 0:
        raise CryptoError("X25519 low-order point")
    return r.to_bytes(32, "little")


# --- Ed25519 points ----------------------------------------------------------------------------

_t0, _t1, _t2, _t3, _t4, _t5, _t6, _t7 = range(_T, _T + 8)


def _dbl(with_t):
    """2P in extended coordinates (ref10 ge_p2_dbl, then to P3); T only when an add follows."""
    ops = [(_SQN, _t0, _PX, 1), (_SQN, _t1, _PY, 1), (_SQN, _t2, _PZ, 1), (_ADD, _t2, _t2, _t2),
           (_ADD, _t3, _PX, _PY), (_SQN, _t3, _t3, 1), (_ADD, _t4, _t1, _t0), (_SUB, _t5, _t1, _t0),
           (_SUB, _t6, _t3, _t4), (_SUB, _t7, _t2, _t5),
           (_MUL, _PX, _t6, _t7), (_MUL, _PY, _t4, _t5), (_MUL, _PZ, _t5, _t7)]
    if with_t:
        ops.append((_MUL, _PT, _t6, _t4))
    return _prog(*ops)


def _add(sub, affine, with_t):
    """P +/- the point in src at element soff: cached (Y+X, Y-X, 2Z, 2dT) or, `affine`, the
    comb's (y+x, y-x, 2dxy) with Z = 1 (ref10 ge_add / ge_sub / ge_madd)."""
    ypx, ymx = (1, 0) if sub else (0, 1)
    ops = [(_LOAD, _C0, 0, ypx), (_LOAD, _C0 + 1, 0, ymx), (_LOAD, _C0 + 2, 0, 2)]
    ops += [(_ADD, _t0, _PY, _PX), (_MUL, _t0, _t0, _C0), (_SUB, _t1, _PY, _PX), (_MUL, _t1, _t1, _C0 + 1)]
    if affine:
        ops += [(_MUL, _t2, _PT, _C0 + 2), (_ADD, _t3, _PZ, _PZ)]
    else:
        ops += [(_LOAD, _C0 + 3, 0, 3), (_MUL, _t2, _PT, _C0 + 3), (_MUL, _t3, _PZ, _C0 + 2)]
    x3, y3, z3, t3 = _t4, _t5, _t6, _t7
    ops += [(_SUB, x3, _t0, _t1), (_ADD, y3, _t0, _t1)]
    if sub:
        ops += [(_SUB, z3, _t3, _t2), (_ADD, t3, _t3, _t2)]
    else:
        ops += [(_ADD, z3, _t3, _t2), (_SUB, t3, _t3, _t2)]
    ops += [(_MUL, _PX, x3, t3), (_MUL, _PY, y3, z3), (_MUL, _PZ, z3, t3)]
    if with_t:
        ops.append((_MUL, _PT, x3, y3))
    return _prog(*ops)


_DBL = _dbl(False)
_DBL_T = _dbl(True)
_MADD = _add(False, True, False)
_CADD_NT = _add(False, False, False)
_CSUB_NT = _add(True, False, False)
_CADD_T = _add(False, False, True)
_CSUB_T = _add(True, False, True)
_IDENTITY = _prog((_COPY, _PX, _ZERO), (_COPY, _PY, _ONE), (_COPY, _PZ, _ONE), (_COPY, _PT, _ZERO))
# A point (x, y) from src elements 0, 1 into the accumulator.
_AFFINE_IN = _prog((_LOAD, _PX, 0, 0), (_LOAD, _PY, 0, 1), (_COPY, _PZ, _ONE), (_MUL, _PT, _PX, _PY))
# The accumulator in cached form to src elements 0..3.
_CACHE_OUT = _prog((_ADD, _t0, _PY, _PX), (_STORE, 0, _t0, 0), (_SUB, _t0, _PY, _PX), (_STORE, 0, _t0, 1),
                   (_ADD, _t0, _PZ, _PZ), (_STORE, 0, _t0, 2), (_MUL, _t0, _PT, _D2), (_STORE, 0, _t0, 3))
# (x, y) = (X/Z, Y/Z) to src elements 0, 1.
_AFFINE_OUT = _prog(*(_inv(_PZ, _t0) + ((_MUL, _t1, _PX, _t0), (_STORE, 0, _t1, 0), (_MUL, _t1, _PY, _t0),
                                         (_STORE, 0, _t1, 1))))
# Montgomery u = (Z + Y) / (Z - Y) to src element 0.
_U_OUT = _prog(*(((_ADD, _t1, _PZ, _PY), (_SUB, _t2, _PZ, _PY)) + _inv(_t2, _t0)
                 + ((_MUL, _t1, _t1, _t0), (_STORE, 0, _t1, 0))))


def _scalarmult(sb, pt, k):
    """[s]B - [k]A into the accumulator; `pt` is A = (x, y) or None for [s]B alone (as
    ed25519._scalarmult: one loop, the comb in the last 64 steps, wNAF-5 digits of k)."""
    run = _FE["run"]
    comb = ed25519._COMB
    tab = _tab
    top = 63
    if pt is not None:
        ax, ay = pt
        tab[0:32] = ax.to_bytes(32, "little")
        tab[32:64] = ay.to_bytes(32, "little")
        run(_ws, _AFFINE_IN, tab, 0)
        run(_ws, _DBL_T, tab, 0)
        run(_ws, _CACHE_OUT, tab, 32)  # 2A at entry 8
        run(_ws, _AFFINE_IN, tab, 0)
        run(_ws, _CACHE_OUT, tab, 0)
        for i in range(1, 8):
            run(_ws, _CADD_T, tab, 32)
            run(_ws, _CACHE_OUT, tab, 4 * i)
        naf = ed25519._wnaf5(k.to_bytes(32, "little"))
        top = 255
        while top >= 64 and naf[top] == 16:
            top -= 1
    run(_ws, _IDENTITY, tab, 0)
    d = 0
    for i in range(top, -1, -1):
        if pt is not None:
            d = naf[i] - 16
        idx = 0
        if i < 64:
            j = i >> 3
            s = i & 7
            idx = (((sb[j] >> s) & 1) | (((sb[j + 8] >> s) & 1) << 1)
                   | (((sb[j + 16] >> s) & 1) << 2) | (((sb[j + 24] >> s) & 1) << 3))
        if i != top:
            run(_ws, _DBL_T if (d or idx) else _DBL, tab, 0)
        if d:
            # -[k]A: a positive digit subtracts, a negative one adds.
            if d > 0:
                run(_ws, _CSUB_T if idx else _CSUB_NT, tab, 4 * (d >> 1))
            else:
                run(_ws, _CADD_T if idx else _CADD_NT, tab, 4 * ((-d) >> 1))
        if idx:
            run(_ws, _MADD, comb, 3 * idx - 3)


def _encode():
    buf = bytearray(64)
    _FE["run"](_ws, _AFFINE_OUT, buf, 0)
    x = _canonical(buf[:32])
    y = _canonical(buf[32:])
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def base_u(kb):
    """X25519 public key of a clamped scalar, by the comb (as ed25519.base_u)."""
    _scalarmult(kb, None, 0)
    buf = bytearray(32)
    _FE["run"](_ws, _U_OUT, buf, 0)
    return _canonical(buf).to_bytes(32, "little")


def keypair(seed):
    """(clamped scalar bytes, prefix, public key), as ed25519.keypair."""
    a, prefix = _expand(seed)
    _scalarmult(a, None, 0)
    return bytes(a), prefix, _encode()


def sign_expanded(a, prefix, pub, msg):
    """RFC 8032 §5.1.6, as ed25519.sign_expanded."""
    L = ed25519.L
    r = int.from_bytes(sha512(prefix + msg), "little") % L
    _scalarmult(r.to_bytes(32, "little"), None, 0)
    R = _encode()
    k = int.from_bytes(sha512(R + pub + msg), "little") % L
    s = (r + k * int.from_bytes(a, "little")) % L
    return R + s.to_bytes(32, "little")


def _decode(s):
    """(x, y) of a 32-byte point encoding, or None if it is not canonical (as ed25519._decode)."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    buf = _tab
    buf[0:32] = y.to_bytes(32, "little")
    _FE["run"](_ws, _DECODE, buf, 0)
    x = _canonical(buf[32:64])
    vxx = _canonical(buf[64:96])
    u = _canonical(buf[96:128])
    if vxx != u:
        if vxx != (P - u) % P:
            return None
        x = x * _SQRTM1 % P
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = P - x
    return x, y


def verify(pub, msg, sig):
    """As ed25519.verify: True or False, never an exception."""
    if len(sig) != 64 or len(pub) != 32:
        return False
    pt = _decode(pub)
    if pt is None:
        return False
    sig = bytes(sig)
    sb = sig[32:]
    if int.from_bytes(sb, "little") >= ed25519.L:
        return False
    k = int.from_bytes(sha512(sig[:32] + bytes(pub) + bytes(msg)), "little") % ed25519.L
    _scalarmult(sb, pt, k)
    return _encode() == sig[:32]


# RFC 8032 §5.1.3 decoding, the field part: y from src element 0; out: x = u v^3 (u v^7)^((p-5)/8)
# to element 1, v x^2 to element 2 and u = y^2 - 1 to element 3 (the caller compares them).
_u, _v, _v3, _uv7 = _t0, _t1, _t2, _t3
_DECODE = _prog(*(((_LOAD, _t4, 0, 0), (_SQN, _t5, _t4, 1), (_SUB, _u, _t5, _ONE), (_MUL, _v, _t5, _DC),
                   (_ADD, _v, _v, _ONE), (_SQN, _v3, _v, 1), (_MUL, _v3, _v3, _v), (_SQN, _uv7, _v3, 1),
                   (_MUL, _uv7, _uv7, _v), (_MUL, _uv7, _uv7, _u))
                  + _pow22501(_uv7)
                  + ((_SQN, _t4, _I + 8, 2), (_MUL, _t4, _t4, _uv7), (_MUL, _t4, _t4, _v3), (_MUL, _t4, _t4, _u),
                     (_STORE, 0, _t4, 1), (_SQN, _t5, _t4, 1), (_MUL, _t5, _t5, _v), (_STORE, 0, _t5, 2),
                     (_STORE, 0, _u, 3))))
_SQRTM1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752

del _pow22501, _inv, _dbl, _add  # builders: only the programs stay

if AVAILABLE:
    try:
        use(_FE, _SHA)
    except MemoryError:  # the workspace does not fit: the pure-Python path it is
        AVAILABLE = False
        _ws = _tab = None
