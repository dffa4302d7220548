"""AES-GCM (NIST SP 800-38D) with a 12-byte nonce and a 16-byte tag, over aes.py's ECB provider.

Rules this module upholds:
- `decrypt` checks the tag (constant-time comparison) before it computes any plaintext, and on
  failure raises CryptoError and releases nothing. Input shorter than the tag is a failure too.
- Nonces must be 12 bytes (the Noise nonce layout); other lengths raise CryptoError.
- An `AESGCM` is built once per key (callers cache it): the constructor does the per-key work.

How it is made fast without CTR or GCM in the firmware:
- Keystream: counter blocks go into one buffer (up to 8 blocks) that the ECB provider encrypts
  in one call; the XOR is one big-int XOR per 128-byte chunk via int.from_bytes. Chunking keeps
  the transient pieces that small, whatever the message size (a fragmented heap has them).
- GHASH: a block Y is multiplied by H with two 16-entry tables per key (about 2 KB): for each
  byte of Y, highest degree first, Z = (Z >> 8) ^ HI[b >> 4] ^ LO[b & 15]. Z is kept as an
  unreduced 255-bit product: bit (254 - d) holds the coefficient of x^d, so the >> 8 that
  multiplies by x^8 never drops a bit and the reduction modulo x^128 + x^7 + x^2 + x + 1 happens
  once per block instead of once per byte (three big-int operations per byte in all).
"""
import struct

from hopseal.compat import const
from hopseal.crypto import aes
from hopseal.errors import CryptoError

_M127 = const((1 << 127) - 1)
_MAX_BLOCKS = const(0xFFFFFFFE)  # the 32-bit counter must not wrap (SP 800-38D §5.2.1.1)
# keystream per ECB call: 128 bytes whatever the message size. Each chunk makes a few big ints of
# its size; at 512 bytes those wanted free pieces of that size five at a time, which a board's
# heap cut up by two channels and a portal often lacks (the 240K ESP32 on the python path)
_CHUNK_BLOCKS = const(8)


class AESGCM:
    """AES-GCM under one key: encrypt(nonce, aad, pt) -> ct || tag; decrypt(nonce, aad, ct || tag)."""

    def __init__(self, key):
        self._ecb = aes.new(key)
        h = int.from_bytes(self._ecb.encrypt(bytes(16)), "big") << 127
        hi = [0] * 16
        lo = [0] * 16
        # HI[n] = n(x) * H, LO[n] = n(x) * x^4 * H, unreduced, for the nibble n of a GCM byte
        # (whose most significant bit is the x^0 coefficient).
        for n in range(1, 16):
            a = 0
            b = 0
            for k in range(4):
                if n & (8 >> k):
                    a ^= h >> k
                    b ^= h >> (4 + k)
            hi[n] = a
            lo[n] = b
        self._hi = tuple(hi)
        self._lo = tuple(lo)

    def _ghash(self, aad, ct):
        hi = self._hi
        lo = self._lo
        m127 = _M127
        y = 0
        la = len(aad)
        lc = len(ct)
        for data, n in ((aad, la), (ct, lc)):
            for off in range(0, n, 16):
                chunk = data[off:off + 16]
                if len(chunk) == 16:
                    y ^= int.from_bytes(chunk, "big")
                else:
                    y ^= int.from_bytes(chunk, "big") << (8 * (16 - len(chunk)))
                y = _mul(y, hi, lo, m127)
        y ^= ((la << 67) | (lc << 3))
        return _mul(y, hi, lo, m127)

    def _j0(self, nonce):
        if len(nonce) != 12:
            raise CryptoError("AES-GCM nonce must be 12 bytes")
        return bytes(nonce) + b"\x00\x00\x00\x01"

    def _ctr(self, j0, src, out):
        """out[:len(src)] = src XOR the keystream E(J0 + 1), E(J0 + 2), ... (inc32)."""
        n = len(src)
        blocks = (n + 15) >> 4
        if blocks > _MAX_BLOCKS:
            raise CryptoError("AES-GCM message too long")
        if blocks > _CHUNK_BLOCKS:
            blocks = _CHUNK_BLOCKS
        buf = bytearray(j0 * blocks)  # counter blocks; only the last 4 bytes of each change
        ecb = self._ecb.encrypt
        fb = int.from_bytes
        c = 2
        for off in range(0, n, 16 * _CHUNK_BLOCKS):
            m = n - off
            if m > 16 * _CHUNK_BLOCKS:
                m = 16 * _CHUNK_BLOCKS
            k = (m + 15) >> 4
            for i in range(k):
                struct.pack_into(">I", buf, 16 * i + 12, c)
                c += 1
            ks = ecb(buf if k == blocks else memoryview(buf)[:16 * k])
            out[off:off + m] = (fb(src[off:off + m], "big") ^ (fb(ks, "big") >> (128 * k - 8 * m))).to_bytes(m, "big")

    def encrypt(self, nonce, aad, pt):
        """ciphertext || 16-byte tag."""
        j0 = self._j0(nonce)
        n = len(pt)
        out = bytearray(n + 16)
        self._ctr(j0, pt, out)
        tag = self._ghash(aad, memoryview(out)[:n]) ^ int.from_bytes(self._ecb.encrypt(j0), "big")
        out[n:] = tag.to_bytes(16, "big")
        return bytes(out)

    def decrypt(self, nonce, aad, data):
        """The plaintext, or CryptoError if the tag does not verify (nothing is decrypted then)."""
        n = len(data) - 16
        if n < 0:
            raise CryptoError("AES-GCM input shorter than the tag")
        j0 = self._j0(nonce)
        data = memoryview(data)
        tag = self._ghash(aad, data[:n]) ^ int.from_bytes(self._ecb.encrypt(j0), "big")
        if not equal(tag.to_bytes(16, "big"), data[n:]):
            raise CryptoError("AES-GCM authentication failed")
        out = bytearray(n)
        self._ctr(j0, data[:n], out)
        return bytes(out)

    # In place, for a board's message path: no buffer the size of the message is allocated, so a
    # heap in small pieces still carries messages of a few KB (the caller owns the one buffer).
    def seal_into(self, nonce, aad, buf, off, n):
        """Encrypt buf[off:off+n] in place and write the 16-byte tag at buf[off+n:]."""
        j0 = self._j0(nonce)
        ct = memoryview(buf)[off:off + n]
        self._ctr(j0, ct, ct)
        tag = self._ghash(aad, ct) ^ int.from_bytes(self._ecb.encrypt(j0), "big")
        buf[off + n:off + n + 16] = tag.to_bytes(16, "big")

    def open_into(self, nonce, aad, data):
        """`data` (a writable memoryview: ciphertext ‖ tag) decrypted in place: the plaintext as
        data[:-16], or CryptoError when the tag does not verify (then data is unchanged)."""
        n = len(data) - 16
        if n < 0:
            raise CryptoError("AES-GCM input shorter than the tag")
        j0 = self._j0(nonce)
        ct = data[:n]
        tag = self._ghash(aad, ct) ^ int.from_bytes(self._ecb.encrypt(j0), "big")
        if not equal(tag.to_bytes(16, "big"), data[n:]):
            raise CryptoError("AES-GCM authentication failed")
        self._ctr(j0, ct, ct)
        return ct


def _mul(y, hi, lo, m127):
    """y * H in GF(2^128), y and the result as GCM-ordered 128-bit ints."""
    z = 0
    for b in y.to_bytes(16, "little"):  # highest-degree byte first
        z = (z >> 8) ^ hi[b >> 4] ^ lo[b & 15]
    # z holds x^0..x^254 at bits 254..0. Terms x^d with d >= 128 (bits 0..126) fold back as
    # x^(d-128) (1 + x + x^2 + x^7); the x^7 term of the lowest six can land below bit 127
    # again, hence the second, smaller fold.
    low = z & m127
    f = (low << 128) ^ (low << 127) ^ (low << 126) ^ (low << 121)
    low = f & m127
    if low:
        f ^= (low << 128) ^ (low << 127) ^ (low << 126) ^ (low << 121)
    return (z ^ f) >> 127


def equal(a, b):
    """Constant-time equality of two byte strings (the length is not secret)."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0
