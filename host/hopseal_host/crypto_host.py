"""HostCrypto: the CPython crypto backend, on pyca/cryptography (OpenSSL).

Same interface and the same rules as the board backend (see `hopseal.crypto`); the tests hold
both to the same answers. Every exception from `cryptography` becomes an opaque
`hopseal.errors.CryptoError`:
- X25519 rejects a peer key that gives an all-zero shared secret, checked here explicitly as
  well, so the rejection does not depend on the OpenSSL version.
- AES-GCM nonces must be 12 bytes (OpenSSL would take other lengths; the board would not).
- Ed25519 and P-256 verification answer True/False; malformed keys and signatures are False.
P-256 (ECDSA-SHA256, raw r || s signatures, SEC1 uncompressed keys) exists only here.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any, Tuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hopseal.errors import CryptoError

_ZERO32 = bytes(32)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class HostAEAD:
    """AES-256-GCM under one key (cryptography's AESGCM, built once)."""

    takes_views = True  # decrypt reads any buffer as it is (cipher.Decryptor passes a view, no copy)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise CryptoError("AES-256-GCM key must be 32 bytes")
        self._aead = AESGCM(bytes(key))

    def encrypt(self, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        if len(nonce) != 12:
            raise CryptoError("AES-GCM nonce must be 12 bytes")
        try:
            # any buffer goes in as it is: a 48 KiB portal chunk is not copied first
            return self._aead.encrypt(bytes(nonce), plaintext, aad)
        except (ValueError, OverflowError, TypeError) as e:
            raise CryptoError("AES-GCM encryption failed") from e

    def seal_into(self, nonce: bytes, aad: bytes, buf: bytearray, off: int, n: int) -> None:
        """Encrypt buf[off:off+n] in place and write the 16-byte tag at buf[off+n:] (the board's
        gcm.py seal_into; cipher.Encryptor.encrypt_parts then builds a message in one buffer: no
        copy of a 48 KiB portal chunk for the ciphertext, none to put the nonce in front)."""
        if len(nonce) != 12:
            raise CryptoError("AES-GCM nonce must be 12 bytes")
        if off < 0 or n < 0 or off + n + 16 > len(buf):
            raise CryptoError("AES-GCM buffer too short for the tag")
        mv = memoryview(buf)
        try:
            self._aead.encrypt_into(bytes(nonce), mv[off:off + n], aad, mv[off:off + n + 16])
        except (ValueError, OverflowError, TypeError, BufferError) as e:
            raise CryptoError("AES-GCM encryption failed") from e
        finally:
            mv.release()

    def decrypt(self, nonce: bytes, aad: bytes, data: bytes) -> bytes:
        if len(nonce) != 12:
            raise CryptoError("AES-GCM nonce must be 12 bytes")
        if len(data) < 16:
            raise CryptoError("AES-GCM input shorter than the tag")
        try:
            return self._aead.decrypt(bytes(nonce), data, aad)
        except (InvalidTag, ValueError, OverflowError, TypeError):
            raise CryptoError("AES-GCM authentication failed") from None


class HostCrypto:
    """The `cryptography`-based backend. `rng(n)` defaults to os.urandom."""

    name = "host"

    def __init__(self, rng: Any = None) -> None:
        self._rng = rng if rng is not None else os.urandom

    def random(self, n: int) -> bytes:
        return self._rng(n)

    def sha256(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def hmac_sha256(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(bytes(key), bytes(data), hashlib.sha256).digest()

    def hkdf_sha256(self, salt: bytes, ikm: bytes, info: bytes = b"", length: int = 64) -> bytes:
        if length < 0 or length > 255 * 32:
            raise CryptoError("HKDF length out of range")
        if length == 0:
            return b""
        try:
            return HKDF(algorithm=hashes.SHA256(), length=length, salt=bytes(salt), info=bytes(info)).derive(bytes(ikm))
        except (ValueError, TypeError) as e:
            raise CryptoError("HKDF failed") from e

    # X25519

    def x25519_keypair(self) -> Tuple[bytes, bytes]:
        priv = self._rng(32)
        return priv, self.x25519_public(priv)

    def x25519_public(self, priv: bytes) -> bytes:
        try:
            key = x25519.X25519PrivateKey.from_private_bytes(bytes(priv))
        except ValueError as e:
            raise CryptoError("X25519 scalar must be 32 bytes") from e
        return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def x25519(self, priv: bytes, peer_pub: bytes) -> bytes:
        try:
            key = x25519.X25519PrivateKey.from_private_bytes(bytes(priv))
            peer = x25519.X25519PublicKey.from_public_bytes(bytes(peer_pub))
            shared = key.exchange(peer)
        except ValueError:
            # Wrong lengths, or OpenSSL's own all-zero check: opaque either way.
            raise CryptoError("X25519 failed") from None
        if shared == _ZERO32:
            raise CryptoError("X25519 low-order point")
        return shared

    # AEAD

    def aead(self, key: bytes) -> HostAEAD:
        return HostAEAD(key)

    # Ed25519

    def ed25519_public(self, seed: bytes) -> bytes:
        return self._ed_key(seed).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def ed25519_sign(self, seed: bytes, msg: bytes) -> bytes:
        return self._ed_key(seed).sign(bytes(msg))

    def ed25519_verify(self, pub: bytes, msg: bytes, sig: bytes) -> bool:
        if len(pub) != 32 or len(sig) != 64:
            return False
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(bytes(pub)).verify(bytes(sig), bytes(msg))
        except (InvalidSignature, ValueError):
            return False
        return True

    @staticmethod
    def _ed_key(seed: bytes) -> ed25519.Ed25519PrivateKey:
        try:
            return ed25519.Ed25519PrivateKey.from_private_bytes(bytes(seed))
        except ValueError as e:
            raise CryptoError("Ed25519 seed must be 32 bytes") from e

    # P-256

    def p256_verify(self, pub: bytes, msg: bytes, sig: bytes) -> bool:
        if len(pub) != 65 or pub[0] != 4 or len(sig) != 64:
            return False
        r = int.from_bytes(sig[:32], "big")
        s = int.from_bytes(sig[32:], "big")
        if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
            return False
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(pub))
            key.verify(encode_dss_signature(r, s), bytes(msg), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True

    def p256_keypair(self) -> Tuple[Any, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        pub = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return key, pub

    def p256_sign(self, private_handle: Any, msg: bytes) -> bytes:
        if not isinstance(private_handle, ec.EllipticCurvePrivateKey) or not isinstance(private_handle.curve, ec.SECP256R1):
            raise CryptoError("not a P-256 private key")
        der = private_handle.sign(bytes(msg), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
