"""AES-ECB encryption, the block provider under gcm.py.

`new(key)` returns an object whose `encrypt(buf)` encrypts a whole number of 16-byte blocks
(bytes, bytearray or memoryview) in ECB mode and returns bytes. GCM needs only the forward
cipher, so no decryption is offered. The provider is picked by capability, never by name:
- `cryptolib.aes(key, 1)` (MicroPython; mode 1 is ECB): one C call for the whole buffer, which
  is the AES hardware on an ESP32.
- `aesio.AES(key, aesio.MODE_ECB)` (CircuitPython): one block per `encrypt_into`.
- otherwise pure-Python AES (FIPS 197), so the board backend runs on CPython for tests and on a
  port built without either module. Its 32-bit tables are `array('I')` (4 KB), built on first use.
Keys are 16, 24 or 32 bytes (cryptolib lacks AES-192, so 24-byte keys take the pure-Python
path there); anything else raises CryptoError.
"""
from hopseal.errors import CryptoError

try:
    import cryptolib as _cryptolib
except ImportError:
    try:
        import ucryptolib as _cryptolib  # MicroPython before 1.21
    except ImportError:
        _cryptolib = None
if _cryptolib is not None and not hasattr(_cryptolib, "aes"):
    _cryptolib = None

_aesio = None
if _cryptolib is None:
    try:
        import aesio as _aesio

        if not hasattr(_aesio, "MODE_ECB"):
            _aesio = None
    except ImportError:
        _aesio = None


def new(key):
    """An ECB encryptor for `key` (16, 24 or 32 bytes)."""
    key = bytes(key)
    if len(key) not in (16, 24, 32):
        raise CryptoError("AES key must be 16, 24 or 32 bytes")
    if _cryptolib is not None and len(key) != 24:  # cryptolib has no AES-192
        return _CryptolibECB(key)
    if _aesio is not None:
        return _AesioECB(key)
    return SoftAES(key)


def provider():
    """Which implementation `new` uses: "cryptolib", "aesio" or "python"."""
    if _cryptolib is not None:
        return "cryptolib"
    if _aesio is not None:
        return "aesio"
    return "python"


class _CryptolibECB:
    def __init__(self, key):
        # One object per key: cryptolib objects used for encryption stay valid for more calls.
        self._aes = _cryptolib.aes(key, 1)

    def encrypt(self, buf):
        return self._aes.encrypt(buf)


class _AesioECB:
    def __init__(self, key):
        self._aes = _aesio.AES(key, _aesio.MODE_ECB)

    def encrypt(self, buf):
        n = len(buf)
        out = bytearray(n)
        src = memoryview(buf)
        dst = memoryview(out)
        enc = self._aes.encrypt_into
        for i in range(0, n, 16):
            enc(src[i:i + 16], dst[i:i + 16])
        return bytes(out)


# --- pure-Python AES -------------------------------------------------------------------------

_tables = []  # [sbox (bytes), te0, te1, te2, te3 (array('I'))], built on first use


def _build_tables():
    if _tables:
        return _tables
    from array import array

    # S-box from the multiplicative inverse in GF(2^8) and the affine map (FIPS 197 §5.1.1).
    exp = bytearray(256)
    log = bytearray(256)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= (x << 1) ^ (0x1B if x & 0x80 else 0)  # multiply by 3
        x &= 0xFF
    sbox = bytearray(256)
    for i in range(256):
        v = exp[(255 - log[i]) % 255] if i else 0
        s = v
        for _ in range(4):
            v = ((v << 1) | (v >> 7)) & 0xFF
            s ^= v
        sbox[i] = s ^ 0x63
    te = [array("I", bytes(1024)) for _ in range(4)]
    for i in range(256):
        s = sbox[i]
        s2 = ((s << 1) ^ (0x1B if s & 0x80 else 0)) & 0xFF
        w = (s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s)
        for j in range(4):
            te[j][i] = w
            w = ((w >> 8) | (w << 24)) & 0xFFFFFFFF
    _tables.append(bytes(sbox))
    _tables.extend(te)
    return _tables


class SoftAES:
    """AES encryption in pure Python (FIPS 197), ECB over whole blocks."""

    def __init__(self, key):
        key = bytes(key)
        nk = len(key) // 4
        if len(key) not in (16, 24, 32):
            raise CryptoError("AES key must be 16, 24 or 32 bytes")
        t = _build_tables()
        sbox = t[0]
        self._nr = nk + 6
        w = [int.from_bytes(key[4 * i:4 * i + 4], "big") for i in range(nk)]
        rcon = 1
        for i in range(nk, 4 * (self._nr + 1)):
            x = w[i - 1]
            if i % nk == 0:
                x = ((x << 8) | (x >> 24)) & 0xFFFFFFFF
                x = ((sbox[x >> 24] << 24) | (sbox[(x >> 16) & 255] << 16)
                     | (sbox[(x >> 8) & 255] << 8) | sbox[x & 255]) ^ (rcon << 24)
                rcon = ((rcon << 1) ^ (0x1B if rcon & 0x80 else 0)) & 0xFF
            elif nk > 6 and i % nk == 4:
                x = ((sbox[x >> 24] << 24) | (sbox[(x >> 16) & 255] << 16)
                     | (sbox[(x >> 8) & 255] << 8) | sbox[x & 255])
            w.append(w[i - nk] ^ x)
        self._rk = w

    def encrypt(self, buf):
        n = len(buf)
        if n % 16:
            raise CryptoError("AES-ECB input must be whole blocks")
        sbox, te0, te1, te2, te3 = _tables
        rk = self._rk
        nr = self._nr
        out = bytearray(n)
        mv = memoryview(buf)
        for off in range(0, n, 16):
            v = int.from_bytes(mv[off:off + 16], "big")
            s0 = (v >> 96) ^ rk[0]
            s1 = ((v >> 64) & 0xFFFFFFFF) ^ rk[1]
            s2 = ((v >> 32) & 0xFFFFFFFF) ^ rk[2]
            s3 = (v & 0xFFFFFFFF) ^ rk[3]
            k = 4
            for _ in range(nr - 1):
                t0 = te0[s0 >> 24] ^ te1[(s1 >> 16) & 255] ^ te2[(s2 >> 8) & 255] ^ te3[s3 & 255] ^ rk[k]
                t1 = te0[s1 >> 24] ^ te1[(s2 >> 16) & 255] ^ te2[(s3 >> 8) & 255] ^ te3[s0 & 255] ^ rk[k + 1]
                t2 = te0[s2 >> 24] ^ te1[(s3 >> 16) & 255] ^ te2[(s0 >> 8) & 255] ^ te3[s1 & 255] ^ rk[k + 2]
                s3 = te0[s3 >> 24] ^ te1[(s0 >> 16) & 255] ^ te2[(s1 >> 8) & 255] ^ te3[s2 & 255] ^ rk[k + 3]
                s0 = t0
                s1 = t1
                s2 = t2
                k += 4
            # Final round: SubBytes, ShiftRows, AddRoundKey, one output word at a time.
            st = (s0, s1, s2, s3)
            v = 0
            for j in range(4):
                v = (v << 32) | (((sbox[st[j] >> 24] << 24) | (sbox[(st[(j + 1) & 3] >> 16) & 255] << 16)
                                  | (sbox[(st[(j + 2) & 3] >> 8) & 255] << 8) | sbox[st[(j + 3) & 3] & 255])
                                 ^ rk[k + j])
            out[off:off + 16] = v.to_bytes(16, "big")
        return bytes(out)
