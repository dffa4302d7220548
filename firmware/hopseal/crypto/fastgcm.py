"""AES-GCM with the viper kernels (crypto/viper.py GCM): SoftCrypto's fast path where the port has viper.

The same rules and answers as gcm.AESGCM (the pure-Python reference and fallback), whose nonce
check, tag comparison and chunking this class keeps; what changes is the work per byte:
- GHASH by Shoup's 4-bit method on 32-bit words: a 320-byte table per key (array('I'), built
  here with big ints, once), then no big ints and no allocation per block;
- the counter blocks and the keystream XOR are kernels too; AES itself stays the ECB provider
  (cryptolib: the AES hardware on an ESP32).
A separate module so a board on the pure-Python path does not load it.
"""
import struct
from array import array

from hopseal.crypto import gcm
from hopseal.crypto.viper import GCM as _V
from hopseal.errors import CryptoError

_CHUNK_BLOCKS = 32  # as gcm.py: 512 bytes of keystream per ECB call
_MAX_BLOCKS = 0xFFFFFFFE


def tables32(h):
    """The GHASH table for H (a GCM-ordered 128-bit int): n(x) * H for every nibble n as four
    32-bit words, most significant first, then 16 words of reduction constants for the 4 bits a
    step shifts out (x^124..x^127 times x^4, reduced, already << 16 into the top word)."""
    m = [0] * 16
    m[8] = h
    for n in (4, 2, 1):  # times x: one bit to the right, x^128 folding back as 0xE1 << 120
        v = m[n << 1]
        m[n] = (v >> 1) ^ (0xE1 << 120 if v & 1 else 0)
    tab = array("I", bytes(320))
    for n in range(16):
        v = 0
        for b in (8, 4, 2, 1):
            if n & b:
                v ^= m[b]
        for i in range(4):
            tab[4 * n + i] = (v >> (96 - 32 * i)) & 0xFFFFFFFF
    for r in range(16):
        v = 0
        for b in range(4):
            if r & (1 << b):
                v ^= 0xE100 >> (3 - b)
        tab[64 + r] = v << 16
    return tab


class AESGCM(gcm.AESGCM):
    """gcm.AESGCM's interface and answers, on the viper kernels. `kernels` is viper.GCM's
    namespace (the tests pass the same source run over checked 32-bit integers)."""

    def __init__(self, key, kernels=None):
        self._v = kernels if kernels is not None else _V
        if self._v is None:
            raise CryptoError("no viper kernels on this port")
        self._ecb = gcm.aes.new(key)
        self._tab = tables32(int.from_bytes(self._ecb.encrypt(bytes(16)), "big"))

    def _tag(self, j0, aad, ct):
        ghash = self._v["ghash"]
        tab = self._tab
        y = bytearray(16)
        ghash(tab, y, aad, len(aad))
        ghash(tab, y, ct, len(ct))
        ghash(tab, y, struct.pack(">QQ", len(aad) << 3, len(ct) << 3), 16)
        self._v["xor_into"](y, y, self._ecb.encrypt(j0), 16)
        return y

    def _ctr(self, j0, src, out):
        """out[:len(src)] = src XOR the keystream E(J0 + 1), E(J0 + 2), ... (inc32)."""
        n = len(src)
        blocks = (n + 15) >> 4
        if blocks > _MAX_BLOCKS:
            raise CryptoError("AES-GCM message too long")
        if blocks > _CHUNK_BLOCKS:
            blocks = _CHUNK_BLOCKS
        buf = bytearray(j0 * blocks)
        ecb = self._ecb.encrypt
        fill = self._v["ctr_blocks"]
        xor = self._v["xor_into"]
        src = memoryview(src)
        dst = memoryview(out)
        c = 2
        for off in range(0, n, 16 * _CHUNK_BLOCKS):
            m = n - off
            if m > 16 * _CHUNK_BLOCKS:
                m = 16 * _CHUNK_BLOCKS
            k = (m + 15) >> 4
            fill(buf, k, c)
            c += k
            ks = ecb(buf if k == blocks else memoryview(buf)[:16 * k])
            xor(dst[off:], src[off:], ks, m)

    def encrypt(self, nonce, aad, pt):
        """ciphertext || 16-byte tag."""
        j0 = self._j0(nonce)
        n = len(pt)
        out = bytearray(n + 16)
        self._ctr(j0, pt, out)
        out[n:] = self._tag(j0, aad, memoryview(out)[:n])
        return bytes(out)

    def decrypt(self, nonce, aad, data):
        """The plaintext, or CryptoError if the tag does not verify (nothing is decrypted then)."""
        n = len(data) - 16
        if n < 0:
            raise CryptoError("AES-GCM input shorter than the tag")
        j0 = self._j0(nonce)
        data = memoryview(data)
        if not gcm.equal(self._tag(j0, aad, data[:n]), data[n:]):
            raise CryptoError("AES-GCM authentication failed")
        out = bytearray(n)
        self._ctr(j0, data[:n], out)
        return bytes(out)

    def seal_into(self, nonce, aad, buf, off, n):
        """Encrypt buf[off:off+n] in place and write the 16-byte tag at buf[off+n:] (gcm.py)."""
        j0 = self._j0(nonce)
        ct = memoryview(buf)[off:off + n]
        self._ctr(j0, ct, ct)
        buf[off + n:off + n + 16] = self._tag(j0, aad, ct)

    def open_into(self, nonce, aad, data):
        """`data` (a writable memoryview: ciphertext ‖ tag) decrypted in place (gcm.py)."""
        n = len(data) - 16
        if n < 0:
            raise CryptoError("AES-GCM input shorter than the tag")
        j0 = self._j0(nonce)
        ct = data[:n]
        if not gcm.equal(self._tag(j0, aad, ct), data[n:]):
            raise CryptoError("AES-GCM authentication failed")
        self._ctr(j0, ct, ct)
        return ct
