"""Crypto backends: the one interface every secure-channel and identity rule calls.

A backend is any object with these members (duck-typed, no base class). Two exist:
`hopseal.crypto.soft.SoftCrypto` (pure Python, runs on MicroPython, CircuitPython and CPython)
and `hopseal_host.crypto_host.HostCrypto` (CPython, `cryptography`). The protocol code takes a
backend as an argument and never imports either, so the runtime never imports `cryptography`.

    name                                  "soft" / "host"
    random(n) -> bytes                    n random bytes (os.urandom)
    sha256(data) -> bytes
    hmac_sha256(key, data) -> bytes
    hkdf_sha256(salt, ikm, info=b"", length=64) -> bytes          RFC 5869
    x25519_keypair() -> (priv32, pub32)
    x25519_public(priv32) -> pub32
    x25519(priv32, peer_pub32) -> shared32                        RFC 7748
    aead(key32) -> AEAD                                           AES-256-GCM
        .encrypt(nonce12, aad, plaintext) -> ciphertext || tag16
        .decrypt(nonce12, aad, ciphertext || tag16) -> plaintext
    ed25519_public(seed32) -> pub32                               RFC 8032
    ed25519_sign(seed32, msg) -> sig64
    ed25519_verify(pub32, msg, sig64) -> bool
    p256_verify(pub65, msg, sig64) -> bool    ECDSA-P256-SHA256 over msg; pub65 is SEC1
                                              uncompressed, sig64 is raw r || s
    p256_keypair() -> (private_handle, pub65) host only (tests make P-256 identities)
    p256_sign(private_handle, msg) -> sig64   host only, raw r || s

Rules every backend keeps, identically:
- Errors are `hopseal.errors.CryptoError` and deliberately opaque; no library exception leaks.
- `x25519` raises CryptoError when the shared secret is all zero (a low-order peer key).
- `aead(...).decrypt` raises CryptoError on a bad tag or an input shorter than 16 bytes, and
  then returns no plaintext at all. Nonces are exactly 12 bytes.
- `ed25519_verify` and `p256_verify` answer True or False; a malformed key or signature is
  False, never an exception. Ed25519 is the cofactorless check with S < L and canonical A and R.
- A backend without P-256 raises CryptoError("P-256 not supported") from the p256 calls.
- `aead(key)` does the per-key work (key schedule, GHASH tables) in its constructor; callers
  keep the object for as long as the key is in use.
"""
