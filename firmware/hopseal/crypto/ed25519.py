"""Ed25519 (RFC 8032 §5.1): keys from a 32-byte seed, sign, verify; and SHA-512.

Rules this module upholds:
- `verify` returns True or False and never raises on a bad signature, key or length. It rejects
  S >= L, a public key that is not a canonical point encoding (y >= p, or x = 0 with the sign
  bit set, or no square root), and compares the encoding of [S]B - [k]A with R byte for byte, so
  a non-canonical R never verifies. This is the cofactorless equation, the same one OpenSSL and
  libsodium check, so both crypto backends accept and reject the same signatures.
- `sha512` is hashlib's where the runtime has it (CPython), else the pure-Python one below
  (MicroPython and CircuitPython ship SHA-256 only).

Speed: field elements are Python ints, reduced with the same fold as x25519.py (2^255 = 19
mod p), single-folded inside a formula and double-folded at its outputs so nothing grows.
Points are extended twisted-Edwards coordinates (X:Y:Z:T), with ref10's formulas.
- Fixed base (sign, public keys, X25519 public keys through `base_u`): a 4-tooth comb over a
  constant table of 15 affine points, 63 doublings and up to 64 additions.
- Verify: one joint loop, [k](-A) by width-5 wNAF over 8 cached odd multiples of A, [S]B by
  the same comb folded into the last 64 steps: about 253 doublings and 100 additions.
Not constant time (no Python big-int code is): verification handles only public data, but
signing time depends on the secret scalar and nonce. A board that must resist timing attacks on
its identity key needs a C implementation behind the same interface.
"""
import struct

from hopseal.compat import const
from hopseal.crypto.x25519 import P, inv, pow22501
from hopseal.errors import CryptoError

try:
    from hashlib import sha512 as _hashlib_sha512
except ImportError:
    _hashlib_sha512 = None

_M = const(2**255 - 1)
_D = const(37095705934669439343138083508754565189542113879843219016388785533085940283555)
_D2 = const(16295367250680780974490674513165176452449235426866156013048779062215315747161)
_SQRTM1 = const(19681161376707505956807079304988542015446066515923890162744021073123829784752)
L = const(2**252 + 27742317777372353535851937790883648493)


# --- SHA-512 (FIPS 180-4), pure Python -----------------------------------------------------

# The 80 round constants as big-endian bytes: 640 bytes of flash or .mpy instead of 80 big-int
# objects on the heap; unpacked per call.
_K = (
    b"\x42\x8a\x2f\x98\xd7\x28\xae\x22\x71\x37\x44\x91\x23\xef\x65\xcd"
    b"\xb5\xc0\xfb\xcf\xec\x4d\x3b\x2f\xe9\xb5\xdb\xa5\x81\x89\xdb\xbc"
    b"\x39\x56\xc2\x5b\xf3\x48\xb5\x38\x59\xf1\x11\xf1\xb6\x05\xd0\x19"
    b"\x92\x3f\x82\xa4\xaf\x19\x4f\x9b\xab\x1c\x5e\xd5\xda\x6d\x81\x18"
    b"\xd8\x07\xaa\x98\xa3\x03\x02\x42\x12\x83\x5b\x01\x45\x70\x6f\xbe"
    b"\x24\x31\x85\xbe\x4e\xe4\xb2\x8c\x55\x0c\x7d\xc3\xd5\xff\xb4\xe2"
    b"\x72\xbe\x5d\x74\xf2\x7b\x89\x6f\x80\xde\xb1\xfe\x3b\x16\x96\xb1"
    b"\x9b\xdc\x06\xa7\x25\xc7\x12\x35\xc1\x9b\xf1\x74\xcf\x69\x26\x94"
    b"\xe4\x9b\x69\xc1\x9e\xf1\x4a\xd2\xef\xbe\x47\x86\x38\x4f\x25\xe3"
    b"\x0f\xc1\x9d\xc6\x8b\x8c\xd5\xb5\x24\x0c\xa1\xcc\x77\xac\x9c\x65"
    b"\x2d\xe9\x2c\x6f\x59\x2b\x02\x75\x4a\x74\x84\xaa\x6e\xa6\xe4\x83"
    b"\x5c\xb0\xa9\xdc\xbd\x41\xfb\xd4\x76\xf9\x88\xda\x83\x11\x53\xb5"
    b"\x98\x3e\x51\x52\xee\x66\xdf\xab\xa8\x31\xc6\x6d\x2d\xb4\x32\x10"
    b"\xb0\x03\x27\xc8\x98\xfb\x21\x3f\xbf\x59\x7f\xc7\xbe\xef\x0e\xe4"
    b"\xc6\xe0\x0b\xf3\x3d\xa8\x8f\xc2\xd5\xa7\x91\x47\x93\x0a\xa7\x25"
    b"\x06\xca\x63\x51\xe0\x03\x82\x6f\x14\x29\x29\x67\x0a\x0e\x6e\x70"
    b"\x27\xb7\x0a\x85\x46\xd2\x2f\xfc\x2e\x1b\x21\x38\x5c\x26\xc9\x26"
    b"\x4d\x2c\x6d\xfc\x5a\xc4\x2a\xed\x53\x38\x0d\x13\x9d\x95\xb3\xdf"
    b"\x65\x0a\x73\x54\x8b\xaf\x63\xde\x76\x6a\x0a\xbb\x3c\x77\xb2\xa8"
    b"\x81\xc2\xc9\x2e\x47\xed\xae\xe6\x92\x72\x2c\x85\x14\x82\x35\x3b"
    b"\xa2\xbf\xe8\xa1\x4c\xf1\x03\x64\xa8\x1a\x66\x4b\xbc\x42\x30\x01"
    b"\xc2\x4b\x8b\x70\xd0\xf8\x97\x91\xc7\x6c\x51\xa3\x06\x54\xbe\x30"
    b"\xd1\x92\xe8\x19\xd6\xef\x52\x18\xd6\x99\x06\x24\x55\x65\xa9\x10"
    b"\xf4\x0e\x35\x85\x57\x71\x20\x2a\x10\x6a\xa0\x70\x32\xbb\xd1\xb8"
    b"\x19\xa4\xc1\x16\xb8\xd2\xd0\xc8\x1e\x37\x6c\x08\x51\x41\xab\x53"
    b"\x27\x48\x77\x4c\xdf\x8e\xeb\x99\x34\xb0\xbc\xb5\xe1\x9b\x48\xa8"
    b"\x39\x1c\x0c\xb3\xc5\xc9\x5a\x63\x4e\xd8\xaa\x4a\xe3\x41\x8a\xcb"
    b"\x5b\x9c\xca\x4f\x77\x63\xe3\x73\x68\x2e\x6f\xf3\xd6\xb2\xb8\xa3"
    b"\x74\x8f\x82\xee\x5d\xef\xb2\xfc\x78\xa5\x63\x6f\x43\x17\x2f\x60"
    b"\x84\xc8\x78\x14\xa1\xf0\xab\x72\x8c\xc7\x02\x08\x1a\x64\x39\xec"
    b"\x90\xbe\xff\xfa\x23\x63\x1e\x28\xa4\x50\x6c\xeb\xde\x82\xbd\xe9"
    b"\xbe\xf9\xa3\xf7\xb2\xc6\x79\x15\xc6\x71\x78\xf2\xe3\x72\x53\x2b"
    b"\xca\x27\x3e\xce\xea\x26\x61\x9c\xd1\x86\xb8\xc7\x21\xc0\xc2\x07"
    b"\xea\xda\x7d\xd6\xcd\xe0\xeb\x1e\xf5\x7d\x4f\x7f\xee\x6e\xd1\x78"
    b"\x06\xf0\x67\xaa\x72\x17\x6f\xba\x0a\x63\x7d\xc5\xa2\xc8\x98\xa6"
    b"\x11\x3f\x98\x04\xbe\xf9\x0d\xae\x1b\x71\x0b\x35\x13\x1c\x47\x1b"
    b"\x28\xdb\x77\xf5\x23\x04\x7d\x84\x32\xca\xab\x7b\x40\xc7\x24\x93"
    b"\x3c\x9e\xbe\x0a\x15\xc9\xbe\xbc\x43\x1d\x67\xc4\x9c\x10\x0d\x4c"
    b"\x4c\xc5\xd4\xbe\xcb\x3e\x42\xb6\x59\x7f\x29\x9c\xfc\x65\x7e\x2a"
    b"\x5f\xcb\x6f\xab\x3a\xd6\xfa\xec\x6c\x44\x19\x8c\x4a\x47\x58\x17"
)
_M64 = const(0xFFFFFFFFFFFFFFFF)


def _compress(st, block):
    m = _M64
    # A 16-word rolling message schedule, and round constants read from the bytes as needed:
    # on a small heap, 80-entry lists of big ints cost more than the few extra operations.
    w = list(struct.unpack(">16Q", block))
    unpack_from = struct.unpack_from
    k = _K
    a, b, c, d, e, f, g, h = st
    for t in range(80):
        j = t & 15
        if t >= 16:
            x = w[(t - 15) & 15]
            y = w[(t - 2) & 15]
            # Rotations are written as shifts without masking; bits above 64 are garbage that
            # the final `& m` (and every later `& m`) discards, since carries only move upwards.
            w[j] = (w[j] + w[(t - 7) & 15]
                    + ((x >> 1) ^ (x >> 8) ^ (x >> 7) ^ (x << 63) ^ (x << 56))
                    + ((y >> 19) ^ (y >> 61) ^ (y >> 6) ^ (y << 45) ^ (y << 3))) & m
        t1 = (h + ((e >> 14) ^ (e >> 18) ^ (e >> 41) ^ (e << 50) ^ (e << 46) ^ (e << 23))
              + (g ^ (e & (f ^ g))) + unpack_from(">Q", k, t << 3)[0] + w[j])
        t2 = (((a >> 28) ^ (a >> 34) ^ (a >> 39) ^ (a << 36) ^ (a << 30) ^ (a << 25))
              + ((a & b) | (c & (a | b))))
        h = g
        g = f
        f = e
        e = (d + t1) & m
        d = c
        c = b
        b = a
        a = (t1 + t2) & m
    return ((st[0] + a) & m, (st[1] + b) & m, (st[2] + c) & m, (st[3] + d) & m,
            (st[4] + e) & m, (st[5] + f) & m, (st[6] + g) & m, (st[7] + h) & m)


def _sha512_py(data):
    st = (0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
          0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179)
    n = len(data)
    mv = memoryview(data)
    i = 0
    while n - i >= 128:
        st = _compress(st, mv[i:i + 128])
        i += 128
    r = n - i
    tail = bytearray(256 if r >= 112 else 128)
    tail[:r] = mv[i:]
    tail[r] = 0x80
    struct.pack_into(">Q", tail, len(tail) - 8, n << 3)  # lengths < 2^61 bytes
    st = _compress(st, tail[:128])
    if len(tail) == 256:
        st = _compress(st, tail[128:])
    return struct.pack(">8Q", *st)


def sha512(data):
    """SHA-512 digest (64 bytes) of a bytes-like object."""
    if _hashlib_sha512 is not None:
        return _hashlib_sha512(data).digest()
    return _sha512_py(data)


# --- points ----------------------------------------------------------------------------------


def _encode(X, Y, Z):
    zi = inv(Z)
    x = X * zi % P
    y = Y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(s):
    """RFC 8032 §5.1.3: (x, y) of a 32-byte encoding, or None if it is not a canonical point."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= _M
    if y >= P:
        return None
    yy = _fmul(y, y)
    u = yy - 1
    v = _fmul(_D, yy) + 1
    v3 = _fmul(_fmul(v, v), v)
    uv7 = _fmul(_fmul(u, _fmul(v3, v3)), v)
    t, _ = pow22501(uv7)  # x = u v^3 (u v^7)^((p-5)/8), and (p-5)/8 = 4 (2^250 - 1) + 1
    t = _fmul(t, t)
    x = _fmul(_fmul(_fmul(u, v3), _fmul(t, t)), uv7) % P
    vxx = _fmul(_fmul(v, x), x) % P
    u %= P
    if vxx != u:
        if vxx != P - u:
            return None
        x = x * _SQRTM1 % P
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = P - x
    return x, y


def _fmul(a, b):
    x = a * b
    x = (x & _M) + (x >> 255) * 19
    return (x & _M) + (x >> 255) * 19


# The comb table: entry i (1..15) is the sum over the set bits t of i of [2^(64t)]B, in affine
# Niels form (y+x, y-x, 2dxy) mod p, each as 32 little-endian bytes, entries back to back.
# A constant (1,440 bytes, in flash when frozen) rather than 45 big ints on the heap; the test
# suite rebuilds it from B (test_ed25519_comb_table).
_COMB = (
    b"\x85\x3b\x8c\xf5\xc6\x93\xbc\x2f\x19\x0e\x8c\xfb\xc6\x2d\x93\xcf\xc2\x42\x3d\x64\x98\x48\x0b\x27"
    b"\x65\xba\xd4\x33\x3a\x9d\xcf\x07\x3e\x91\x40\xd7\x05\x39\x10\x9d\xb3\xbe\x40\xd1\x05\x9f\x39\xfd"
    b"\x09\x8a\x8f\x68\x34\x84\xc1\xa5\x67\x12\xf8\x98\x92\x2f\xfd\x44\x68\xaa\x7a\x87\x05\x12\xc9\xab"
    b"\x9e\xc4\xaa\xcc\x23\xe8\xd9\x26\x8c\x59\x43\xdd\xcb\x7d\x1b\x5a\xa8\x65\x0c\x9f\x68\x7b\x11\x6f"
    b"\x15\xf5\xd1\x77\xe7\x65\x2a\xcd\xf1\x60\xaa\x8f\x87\x91\x89\x54\xe5\x06\xbc\xda\xbc\x3b\xb7\xb1"
    b"\xfb\xc9\x7c\xa9\xcb\x78\x48\x65\xfe\xb0\xf6\x8d\xc7\x8e\x13\x51\x1b\xf5\x75\xe5\x89\xda\x97\x53"
    b"\xb9\xf1\x7a\x71\x1d\x7a\x20\x09\x50\xd6\x20\x2b\xba\xfd\x02\x21\xa1\xe6\x5c\x05\x05\xe4\x9e\x96"
    b"\x29\xad\x51\x12\x68\xa7\xbc\x36\x15\xa4\x7d\xaa\x17\xf5\x1a\x3a\xba\xb2\xec\x29\xdb\x25\xd7\x0a"
    b"\xe8\x59\x1e\x60\x85\xc5\x55\x00\x60\x0e\x48\x66\x2b\x34\x93\x87\x4c\xe4\x45\xfe\xd0\xaa\x14\x3e"
    b"\x2b\xcf\x13\x48\xe6\xd8\xea\x26\xa4\x62\x84\x9c\xb6\xb8\x75\xcb\xd7\x1c\xd3\x67\xc5\x6f\xd8\x2d"
    b"\xf6\x42\x13\x88\xec\x72\x19\xcd\x2f\x2f\xc1\x0f\x97\xb5\x75\x09\x43\xa7\x5b\xda\x03\x23\xcf\x63"
    b"\x6e\xba\xf1\x52\x81\x9d\xbf\x04\xda\x67\x73\xaa\xd0\x90\x37\x33\xea\xc5\xf6\x9d\x47\x70\x46\x53"
    b"\xa2\x8e\xad\xac\xbf\x04\x3b\x58\x84\xe8\x8b\x14\xe8\x43\xb7\x29\xdb\xc5\x10\x08\x3b\x58\x1e\x2b"
    b"\xaa\xbb\xb3\x8e\xe5\x49\x54\x2b\x47\xbe\x3d\xeb\x62\x75\x3a\x5f\xb8\xa0\xbd\x8e\x54\x38\xea\xf7"
    b"\x99\x72\x74\x45\x31\xe5\xc3\x00\x51\xd5\x27\x16\xe7\xe9\x04\x13\xfe\x9c\xdc\x6a\xd2\x14\x98\x78"
    b"\x0b\xdd\x48\x8b\x3f\xab\x1b\x3c\x0a\xc6\x79\xf9\xff\xe1\x0f\xda\x93\xd6\x2d\x7c\x2d\xde\x68\x44"
    b"\x48\x67\xbc\xe3\x8d\x27\x18\x21\xf7\x0e\xb2\xd0\x60\xfd\x1f\xe7\x98\xb1\x7b\xc6\x51\xbe\x51\xf5"
    b"\x4d\x3d\x54\xd0\x64\x36\xa1\x26\xee\x39\xa3\x13\x3b\x2d\x52\x29\x29\x95\xd8\x6c\x50\x25\x52\x85"
    b"\xf1\xf0\xf4\xac\xd4\x3a\xea\xdf\x2e\x74\x42\x79\xba\x6b\xd7\x49\x1d\xe6\x56\x8d\x33\x42\xfa\x14"
    b"\x9a\x29\x51\xc3\x46\x39\x1d\x19\x85\xb1\xad\xa7\x6d\x57\x7d\x24\xc2\xed\xfc\xa8\xe3\xaf\x1f\x4e"
    b"\x4c\x04\x6a\x23\x3d\x05\xe7\x15\xe3\x87\x8d\x3b\xb1\xbc\xdd\x3c\x28\xa8\x21\xd3\xd2\x60\x99\x51"
    b"\xa4\xbb\xc5\x0f\x0f\x9a\x55\x4e\x1c\x70\x12\x9c\x76\xe8\x00\xfe\x5f\x3b\x9c\x03\x0a\xdc\xdc\x95"
    b"\x1b\xeb\x02\x0c\x4b\x45\x69\xc1\x0c\x53\x87\x5f\xd3\x21\x70\x72\x1e\x24\xdf\x27\x07\x04\x71\xa5"
    b"\x36\x0d\x90\xb2\xaa\xef\x45\xdf\xde\x9a\xa6\x60\x5c\xdb\x6e\xfe\x1d\xc0\xbb\x07\x30\xb7\xfc\x64"
    b"\xca\x90\xd3\x6f\xcc\x58\xef\x38\xfc\x98\x1a\x17\x75\x65\x78\xef\x5f\xd6\x42\xc4\x8f\xb7\x50\x88"
    b"\xef\x86\xd0\x6f\x6d\xc6\x34\x6f\x04\xdc\x98\x38\xb4\xcb\xf3\x93\x27\xb7\x07\x43\xb2\xff\x91\x07"
    b"\x1d\x98\x34\xce\x96\x80\xbd\xd7\x6d\x9f\x84\x8b\x8e\x8b\x59\x0b\x89\xf6\xc2\x0c\x8a\xc1\xcf\x11"
    b"\x2a\xce\x29\xb5\x07\x46\x11\x81\x40\x59\x0b\xc0\x46\xc0\x9b\x0a\xc8\x66\xac\xb1\xb0\x28\x21\x41"
    b"\xc0\x1a\x0c\xc8\x9d\xcc\x6d\xa6\x36\xa4\x38\x1b\xf4\x5c\xa0\x97\xc6\xd7\xdb\x95\xbe\xf3\xeb\xa7"
    b"\xab\x7d\x7e\x8d\xf6\xb8\xa0\x7d\xa6\x75\x56\x38\x14\x20\x78\xef\xe8\xa9\xfd\xaa\x30\x9f\x64\xa2"
    b"\xcb\xa8\xdf\x5c\x50\xeb\xd1\x4c\xb3\xc0\x4d\x1d\xba\x5a\x11\x46\x76\xda\xb5\xc3\x53\x19\x0f\xd4"
    b"\x9b\x9e\x11\x21\x73\x6f\xac\x1d\x60\x59\xb2\xfe\x21\x60\xcc\x03\x4b\x4b\x67\x83\x7e\x88\x5f\x5a"
    b"\xf4\xc1\xa2\x0c\x18\x60\x8d\x0a\x40\xdf\x68\xcc\xdb\xb0\x5e\x81\x99\x4e\x2f\xb8\x47\x7a\xe6\xd7"
    b"\xc0\x15\x7f\x60\x90\x28\xa0\x45\x84\xf1\x41\xfd\xd1\x66\xf3\xfe\x1e\xe1\xcf\x01\x11\x4a\x69\x8b"
    b"\x4d\xa7\x50\x01\x5e\xe1\x39\x4b\xba\x51\xd3\x6a\x3d\xf0\x13\x40\xcc\x65\xe0\x6e\xdc\x82\x02\xbd"
    b"\x46\xe6\x4a\x22\xfd\x94\xb9\x36\x74\xe8\xbc\xfe\xd8\x9a\x4e\x53\x4f\x6e\xf0\xd9\xc1\x55\x22\x48"
    b"\x00\xf8\xce\x71\xcf\xea\x03\x3c\xbb\xfe\x8a\xca\x44\x75\x36\x90\x77\xc4\x29\x6a\x28\xea\x3f\x38"
    b"\x62\x54\x65\xbc\xb0\x93\x85\x4e\x8c\x63\xe5\xa3\x4a\x11\xde\x12\x0d\xf2\xc4\x29\xa9\x4a\x2a\xba"
    b"\xa3\x13\x8b\x7b\x9d\xd2\xb0\x56\x44\x79\x9b\x7b\x49\x1a\xb9\x6b\x06\xd2\xe7\xc5\x46\xe6\x49\x2a"
    b"\x45\xc4\x63\x92\xcd\xf9\x3e\xb1\x9e\x52\xab\xed\xe8\x6c\xab\x50\x9b\xe3\xeb\xb0\x79\x7d\xcf\x20"
    b"\x48\x5c\xe7\x8a\x4e\x8f\xd2\xcb\x60\x0b\x00\x44\x91\x02\xde\x3c\x70\x21\xbc\x98\xc8\xb9\x3b\x37"
    b"\x86\x08\x57\x9f\x53\x88\x11\x7c\xca\x7d\xfe\xf0\x9d\x93\xb4\x7d\xce\x51\xa9\xcb\x0f\xb9\x0e\xf5"
    b"\x1d\x1d\x7e\x35\x1c\xe6\x8b\x09\x9d\x46\x99\x88\x37\x62\x35\x02\x03\x4c\x5a\xe1\xfa\xef\xf6\x20"
    b"\x05\x8e\x77\x3c\x94\x0a\x47\x2f\x67\xde\x99\xfc\x03\x0a\xf5\x79\x83\x14\x06\xd1\x88\x01\xd2\x38"
    b"\xdf\x15\x63\x0e\xad\x11\xe8\x23\x90\xb2\xae\xe2\x05\x0d\x65\x0b\x6c\x58\x5d\xa7\x59\x0f\xba\xb7"
    b"\xee\x4d\x1f\x5e\xd4\xed\x3e\x04\x17\x32\x07\xc7\xf2\x47\xc1\xf6\x0c\xd2\xaf\xf3\x19\xb9\x51\xc6"
    b"\x02\xf8\x41\x70\xfd\xdb\x8f\x25\x3e\x07\x45\x4f\xa9\x4f\x3c\x17\xc4\xf9\x8d\x92\x60\xea\x71\x3d"
    b"\x2d\x56\x73\x33\x06\x78\x7e\x5b\xb2\x52\x95\xa2\x4c\x51\xb0\xd9\x72\xc4\x3c\x99\x24\x70\x2a\x1e"
    b"\x1f\x81\x5c\xd4\xbc\x0f\x1a\x60\x03\x08\xec\x92\x7d\xbc\xb7\x24\x7f\x40\xd2\x17\x2b\xe6\xca\xa0"
    b"\x26\x5b\x22\x06\xee\x43\xcb\x5f\xa4\xfb\x09\x35\xb9\x09\x05\x31\x75\x1b\x63\x05\x76\xb3\x8d\x0d"
    b"\x87\x1c\x40\x52\xba\xcc\xde\x97\x73\xe7\xb2\x11\xf4\x49\x46\x04\x5f\x21\x98\x95\xad\x24\x0d\x0c"
    b"\x8c\x62\x36\xcc\x26\x90\x7f\x1b\xea\xdc\x16\x70\x55\x2f\x8e\x33\x8f\xe5\xc0\x5c\xfa\x1b\x8a\x0c"
    b"\x4c\x10\x1d\x68\xb5\x03\xe7\x8d\x45\xcb\x63\x12\x59\x7a\x2f\x3d\x63\x6c\xe5\x1c\x17\x0c\x71\xae"
    b"\xca\xe6\xc3\xfc\x7e\x7c\x85\x6b\xc0\x01\x28\x8b\xb4\x56\xd2\x79\xc4\x0f\x40\x3c\xac\xbe\x9f\x7e"
    b"\x41\xba\x33\x47\x1d\xab\x51\xa7\xca\x8a\x41\xdd\xf5\x2b\xde\x09\x7f\x68\xf0\xef\xf3\x0f\xf1\x3b"
    b"\xa2\x7b\xe3\xf1\x34\xea\xba\x5e\x4d\x03\x66\x1d\x26\x61\x9e\xe4\xca\x42\xb2\xc3\x2a\x6e\x46\x5b"
    b"\x42\xb8\xfb\x47\x67\xeb\x7e\x13\x8b\x1a\x81\x60\x75\x5c\xdf\x79\x9a\xc8\xf8\x71\x6f\xa7\x2b\x5a"
    b"\xc2\xff\xc8\x3b\x56\x2a\x95\x09\x3c\xf8\x7e\xdc\x4b\xcb\xa8\xa2\x26\xc2\x93\x5f\xfa\xc6\xb5\x96"
    b"\xa5\xe3\x64\x06\x1b\xeb\xeb\xd4\x2f\xcf\xc6\xe5\xdc\x4a\x9b\x40\xc4\x50\x43\x83\xb9\x3d\xd5\x44"
    b"\xb4\x05\xf5\xa5\x05\x93\x29\x89\x2f\xff\x49\x59\xa2\xfa\x22\xfb\x64\x7d\x65\x04\xa7\x68\xb9\x69"
)


def _fold2(x):
    x = (x & _M) + (x >> 255) * 19
    return (x & _M) + (x >> 255) * 19


def _dbl(X, Y, Z):
    """2(X:Y:Z) in extended coordinates (ref10 ge_p2_dbl, then to P3)."""
    xx = _fmul(X, X)
    yy = _fmul(Y, Y)
    b = _fmul(Z, Z)
    b = b + b
    a = _fmul(X + Y, X + Y)
    y3 = yy + xx
    z3 = yy - xx
    x3 = a - y3
    t3 = b - z3
    return _fold2(x3 * t3), _fold2(y3 * z3), _fold2(z3 * t3), _fold2(x3 * y3)


def _cached(q):
    """(Y+X, Y-X, 2Z, 2dT) of an extended point (loosely reduced), for `_cadd`."""
    X, Y, Z, T = q
    return Y + X, Y - X, Z + Z, _fmul(_D2, T)


def _cadd(X, Y, Z, T, e, sub, want_t):
    """(extended point) +/- (cached point e), ref10 ge_add / ge_sub."""
    if sub:
        ymx, ypx, z2, c = e
        c = -c
    else:
        ypx, ymx, z2, c = e
    a = _fmul(Y + X, ypx)
    b = _fmul(Y - X, ymx)
    c = _fmul(T, c)
    d = _fmul(Z, z2)
    x3 = a - b
    y3 = a + b
    z3 = d + c
    t3 = d - c
    return _fold2(x3 * t3), _fold2(y3 * z3), _fold2(z3 * t3), (_fold2(x3 * y3) if want_t else 0)


def _wnaf5(kb):
    """Width-5 NAF digits (odd, in -15..15, at least 4 zeros between) of a 32-byte little-endian
    scalar below 2^255, least significant first; 256 entries, stored as digit + 16 in a
    bytearray (256 bytes of heap instead of a 256-slot list)."""
    kb = bytes(kb) + b"\x00\x00"
    naf = bytearray(b"\x10" * 256)
    carry = 0
    pos = 0
    while pos < 256:
        i = pos >> 3
        if ((kb[i] >> (pos & 7)) & 1) == carry:
            pos += 1
            continue
        w = (((kb[i] | (kb[i + 1] << 8)) >> (pos & 7)) & 31) + carry
        if w & 16:
            naf[pos] = w - 16
            carry = 1
        else:
            naf[pos] = w + 16
            carry = 0
        pos += 5
    return naf


def _scalarmult(sb, pt, k):
    """[s]B - [k]A, as (X, Y, Z) in extended coordinates (T dropped).

    `sb` is s as 32 little-endian bytes (any value below 2^256) and goes through the comb;
    `pt` is A = (x, y) affine and `k` an int below 2^255, or pt is None for [s]B alone.
    One loop: a doubling per bit (T only computed when an addition follows), the wNAF digit
    of k, and in the last 64 steps the comb entry of s."""
    comb = _COMB
    fb = int.from_bytes
    m = _M
    top = 63
    if pt is not None:
        ax, ay = pt
        # Odd multiples A, 3A, ..., 15A in cached form.
        X, Y, Z, T = ax, ay, 1, ax * ay % P
        tab = [_cached((X, Y, Z, T))]
        c2 = _cached(_dbl(ax, ay, 1))
        for _ in range(7):
            X, Y, Z, T = _cadd(X, Y, Z, T, c2, 0, 1)
            tab.append(_cached((X, Y, Z, T)))
        naf = _wnaf5(k.to_bytes(32, "little"))
        top = 255
        while top >= 64 and naf[top] == 16:
            top -= 1
    X = 0
    Y = 1
    Z = 1
    T = 0
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
            # Doubling, ref10 ge_p2_dbl. Squares are folded once (< 2^262), outputs twice.
            xx = X * X
            xx = (xx & m) + (xx >> 255) * 19
            yy = Y * Y
            yy = (yy & m) + (yy >> 255) * 19
            b = Z * Z
            b = (b & m) + (b >> 255) * 19
            b = b + b
            a = X + Y
            a = a * a
            a = (a & m) + (a >> 255) * 19
            y3 = yy + xx
            z3 = yy - xx
            x3 = a - y3
            t3 = b - z3
            X = x3 * t3
            X = (X & m) + (X >> 255) * 19
            X = (X & m) + (X >> 255) * 19
            Y = y3 * z3
            Y = (Y & m) + (Y >> 255) * 19
            Y = (Y & m) + (Y >> 255) * 19
            Z = z3 * t3
            Z = (Z & m) + (Z >> 255) * 19
            Z = (Z & m) + (Z >> 255) * 19
            if d or idx:
                T = x3 * y3
                T = (T & m) + (T >> 255) * 19
                T = (T & m) + (T >> 255) * 19
        if d:
            # -[k]A: a positive digit subtracts (ref10 ge_sub), a negative one adds (ge_add).
            if d > 0:
                ymx, ypx, z2, c = tab[d >> 1]
                c = -T * c
            else:
                ypx, ymx, z2, c = tab[(-d) >> 1]
                c = T * c
            a = (Y + X) * ypx
            a = (a & m) + (a >> 255) * 19
            b = (Y - X) * ymx
            b = (b & m) + (b >> 255) * 19
            c = (c & m) + (c >> 255) * 19
            z2 = Z * z2
            z2 = (z2 & m) + (z2 >> 255) * 19
            x3 = a - b
            y3 = a + b
            z3 = z2 + c
            t3 = z2 - c
            X = x3 * t3
            X = (X & m) + (X >> 255) * 19
            X = (X & m) + (X >> 255) * 19
            Y = y3 * z3
            Y = (Y & m) + (Y >> 255) * 19
            Y = (Y & m) + (Y >> 255) * 19
            Z = z3 * t3
            Z = (Z & m) + (Z >> 255) * 19
            Z = (Z & m) + (Z >> 255) * 19
            if idx:
                T = x3 * y3
                T = (T & m) + (T >> 255) * 19
                T = (T & m) + (T >> 255) * 19
        if idx:
            # + comb entry (affine Niels), ref10 ge_madd.
            j = 96 * idx - 96
            a = (Y + X) * fb(comb[j:j + 32], "little")
            a = (a & m) + (a >> 255) * 19
            b = (Y - X) * fb(comb[j + 32:j + 64], "little")
            b = (b & m) + (b >> 255) * 19
            c = T * fb(comb[j + 64:j + 96], "little")
            c = (c & m) + (c >> 255) * 19
            z2 = Z + Z
            x3 = a - b
            y3 = a + b
            z3 = z2 + c
            t3 = z2 - c
            X = x3 * t3
            X = (X & m) + (X >> 255) * 19
            X = (X & m) + (X >> 255) * 19
            Y = y3 * z3
            Y = (Y & m) + (Y >> 255) * 19
            Y = (Y & m) + (Y >> 255) * 19
            Z = z3 * t3
            Z = (Z & m) + (Z >> 255) * 19
            Z = (Z & m) + (Z >> 255) * 19
    return X, Y, Z


def base_mul(kb):
    """[k]B for a 32-byte little-endian scalar (any value below 2^256), as extended (X, Y, Z)."""
    return _scalarmult(kb, None, 0)


def base_u(kb):
    """X25519 public key (Montgomery u = (Z+Y)/(Z-Y)) of [k]B for a clamped 32-byte scalar:
    the same bytes as x25519.x25519_base(k), by the fixed-base comb."""
    X, Y, Z = base_mul(kb)
    return ((Z + Y) * inv(Z - Y) % P).to_bytes(32, "little")


# --- the API -------------------------------------------------------------------------------


def _expand(seed):
    if len(seed) != 32:
        raise CryptoError("Ed25519 seed must be 32 bytes")
    h = sha512(seed)
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] = (a[31] & 127) | 64
    return a, h[32:]


def keypair(seed):
    """(clamped scalar bytes, prefix, public key) for a 32-byte seed (RFC 8032 §5.1.5)."""
    a, prefix = _expand(seed)
    X, Y, Z = base_mul(a)
    return bytes(a), prefix, _encode(X, Y, Z)


def public_key(seed):
    """The 32-byte public key of a 32-byte seed."""
    return keypair(seed)[2]


def sign_expanded(a, prefix, pub, msg):
    """RFC 8032 §5.1.6 signature with an expanded key from `keypair`."""
    r = int.from_bytes(sha512(prefix + msg), "little") % L
    X, Y, Z = base_mul(r.to_bytes(32, "little"))
    R = _encode(X, Y, Z)
    k = int.from_bytes(sha512(R + pub + msg), "little") % L
    s = (r + k * int.from_bytes(a, "little")) % L
    return R + s.to_bytes(32, "little")


def sign(seed, msg):
    """64-byte Ed25519 signature of `msg` under a 32-byte seed."""
    a, prefix, pub = keypair(seed)
    return sign_expanded(a, prefix, pub, bytes(msg))


def verify(pub, msg, sig):
    """True if `sig` is a valid Ed25519 signature of `msg` under the 32-byte key `pub`.

    Any wrong length, S >= L, or undecodable key is simply False."""
    if len(sig) != 64 or len(pub) != 32:
        return False
    pt = _decode(pub)
    if pt is None:
        return False
    sig = bytes(sig)
    sb = sig[32:]
    if int.from_bytes(sb, "little") >= L:
        return False
    k = int.from_bytes(sha512(sig[:32] + bytes(pub) + bytes(msg)), "little") % L
    X, Y, Z = _scalarmult(sb, pt, k)
    return _encode(X, Y, Z) == sig[:32]
