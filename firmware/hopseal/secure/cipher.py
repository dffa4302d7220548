"""Secure-channel transport crypto (ockam-wire §4.3.6–4.3.7), sans-I/O.

Wire payload of every post-handshake message:
    nonce: u64 BE (8) ‖ AES-256-GCM(key, iv = 00000000 ‖ nonce, aad = "", plaintext) ‖ tag (16)
Rules upheld here:
- each direction counts from 0; the sender rekeys before any nonce n > 0 with n % 32 == 0;
  rekey(k) = first 32 bytes of AES-GCM-Encrypt(k, iv = 00000000 ‖ ff*8, aad = "", 32 zero bytes)
  (the Noise REKEY function); at the last nonce the encryptor refuses (nonce exhaustion);
- the receiver keeps the current and the previous key; a nonce in the current 32-window uses the
  current key, one in the next window one rekey of it, one in the previous window the previous
  key; anything else is rejected;
- replay: a 64-bit bitmap relative to the highest nonce seen; a jump ahead of more than 32, a nonce
  more than 32 behind, or one already seen is rejected (Ockam's NonceTracker);
- transactional: the key tracker and the bitmap change only after the AEAD check succeeds;
  errors are ChannelError (replay, window) or CryptoError (authentication), and leave no trace.
"""
import struct

from ..compat import const
from ..errors import ChannelError, CryptoError
from .noise import aead_iv

KEY_RENEWAL_INTERVAL = const(32)
_MAX_NONCE = 0xFFFFFFFFFFFFFFFF
_ZEROS32 = bytes(32)
OVERHEAD = const(24)  # 8-byte nonce + 16-byte tag


def rekey(crypto, key):
    return crypto.aead(key).encrypt(aead_iv(_MAX_NONCE), b"", _ZEROS32)[:32]


class Encryptor:
    def __init__(self, crypto, key, nonce=0):
        self.crypto = crypto
        self.key = key
        self.aead = crypto.aead(key)
        self.nonce = nonce
        # the key's window: rekeyed once when a nonce of the next window is first used, so a
        # send that failed after it (out of memory) and is tried again does not rekey twice
        self.interval = (nonce - 1) // KEY_RENEWAL_INTERVAL if nonce > 0 else 0

    def _next(self):
        n = self.nonce
        if n >= _MAX_NONCE:
            raise ChannelError("nonce exhausted: the channel must be closed")
        i = n // KEY_RENEWAL_INTERVAL
        if i != self.interval:
            self.key = rekey(self.crypto, self.key)
            self.aead = self.crypto.aead(self.key)
            self.interval = i
        return n

    def encrypt(self, plaintext):
        n = self._next()
        out = struct.pack(">Q", n) + self.aead.encrypt(aead_iv(n), b"", plaintext)
        self.nonce = n + 1
        return out

    def encrypt_parts(self, head, body, tail):
        """encrypt(head ‖ body ‖ tail), the same bytes. Where the AEAD works in place (the board's
        gcm.py, fastgcm.py) that is the one buffer allocated for the message: the plaintext is
        written into it and encrypted there, so a heap in small pieces still carries a few KB."""
        if not hasattr(self.aead, "seal_into"):
            return self.encrypt(bytes(head) + bytes(body) + bytes(tail))
        n = self._next()  # may rekey: self.aead after it
        a = len(head)
        b = a + len(body)
        m = b + len(tail)
        out = bytearray(8 + m + 16)
        struct.pack_into(">Q", out, 0, n)
        out[8:8 + a] = head
        out[8 + a:8 + b] = body
        out[8 + b:8 + m] = tail
        self.aead.seal_into(aead_iv(n), b"", out, 8, m)
        self.nonce = n + 1
        return out


class Decryptor:
    def __init__(self, crypto, key):
        self.crypto = crypto
        self.cur_key = key
        self.cur_aead = crypto.aead(key)
        self.cur_interval = 0
        self.prev_aead = None
        self.highest = 0
        self.bitmap = 0  # bit i set: nonce (highest - i) seen

    def _check_nonce(self, n):
        """Return the new (highest, bitmap) if `n` is fresh; raise ChannelError otherwise."""
        if n > self.highest:
            diff = n - self.highest
            if diff > KEY_RENEWAL_INTERVAL:
                raise ChannelError("nonce %d too far ahead of %d" % (n, self.highest))
            return n, ((self.bitmap << diff) | 1) & 0xFFFFFFFFFFFFFFFF
        diff = self.highest - n
        if diff > KEY_RENEWAL_INTERVAL:
            raise ChannelError("nonce %d too far behind %d" % (n, self.highest))
        if self.bitmap & (1 << diff):
            raise ChannelError("nonce %d replayed" % n)
        return self.highest, self.bitmap | (1 << diff)

    def decrypt(self, data):
        if len(data) < OVERHEAD:
            raise ChannelError("secure-channel message shorter than nonce and tag")
        n = struct.unpack(">Q", data[:8])[0]
        highest, bitmap = self._check_nonce(n)
        interval = n // KEY_RENEWAL_INTERVAL
        new_key = None
        if interval == self.cur_interval:
            aead = self.cur_aead
        elif interval == self.cur_interval + 1:
            new_key = rekey(self.crypto, self.cur_key)
            aead = self.crypto.aead(new_key)
        elif interval + 1 == self.cur_interval and self.prev_aead is not None:
            aead = self.prev_aead
        else:
            raise ChannelError("nonce %d outside the key window" % n)
        try:
            if type(data) is memoryview and hasattr(aead, "open_into"):
                # a view into the one buffer a board received this message in (wire/message.py's
                # decoders give one only over a bytearray): decrypted there, nothing allocated
                pt = aead.open_into(aead_iv(n), b"", data[8:])
            elif getattr(aead, "takes_views", False):
                # a host's AEAD (hopseal_host.crypto_host) reads a view of the bytes as they are:
                # no copy of a 48 KiB portal chunk before it is decrypted
                pt = aead.decrypt(aead_iv(n), b"", memoryview(data)[8:])
            else:
                pt = aead.decrypt(aead_iv(n), b"", data[8:])
        except CryptoError:
            raise CryptoError("secure-channel message failed authentication")
        # commit only now that the message authenticated
        if new_key is not None:
            self.prev_aead = self.cur_aead
            self.cur_key = new_key
            self.cur_aead = aead
            self.cur_interval = interval
        self.highest = highest
        self.bitmap = bitmap
        return n, pt
