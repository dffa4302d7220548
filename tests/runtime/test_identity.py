"""Ockam identities, purpose-key attestations, the handshake identity payload, the cache, the vault.

Runs under pytest and MicroPython. The clock is always passed in; nothing reads the wall clock.
"""
import os

from hopseal.errors import HopsealError, IdentityError
from hopseal.secure.identity import (
    CLOCK_SKEW,
    IDENTITY_TTL,
    PURPOSE_KEY_TTL,
    Ed25519Signer,
    VerifiedCache,
    create_attestation,
    create_identity,
    encode_identity_payload,
    identifier_text,
    import_change_history,
    parse_attestation,
    parse_identifier,
    verify_attestation,
    verify_identity_payload,
)
from hopseal.secure.vault import FILE_NAME, decode_vault, load_vault, open_vault
from hopseal.wire import cbor
from hs_backends import IS_MICROPYTHON, Counting, backends, fast
from rt import raises
from vectors import load, unhex

V = load("ockam_identity_ed25519.json")
CH = unhex(V["change_history_hex"])
NOW = 1760000000  # 2025-10-09


def seed(n):
    return bytes([n]) * 32


def make(c, n=1, now=NOW):
    signer = Ed25519Signer(c, seed(n))
    ident = create_identity(c, signer, now)
    x_priv = bytes([n + 100]) * 32
    x_pub = c.x25519_public(x_priv)
    return ident, signer, x_pub


def make_att(c, ident, signer, key, created, expires, subject=None, latest=None, key_type=0):
    """An attestation encoded independently of identity.py (§4.3.4), with any field values."""
    data = cbor.encode([1, 2, cbor.encode([subject or ident.identifier, latest or ident.latest_change_hash,
                                           [key_type, [key]], created, expires])])
    return cbor.encode([data, [0, [signer.sign(c.sha256(data))]]])


def flip(b, i, bit=1):
    b = bytearray(b)
    b[i] ^= bit
    return bytes(b)


# -- change history ---------------------------------------------------------------------------

def test_ed25519_vector_imports_and_verifies():
    for c in backends():
        ident = import_change_history(c, CH)
        assert ident.identifier_text() == V["identifier"]
        assert identifier_text(ident.identifier) == V["identifier"]
        assert parse_identifier(V["identifier"]) == ident.identifier
        assert ident.public_key == unhex(V["primary_public_key_ed25519"])
        assert ident.key_kind == 0 and ident.change_count == 1
        assert ident.valid_from == V["attestations_valid_from"]
        assert ident.valid_until == V["attestations_valid_until"]
        assert ident.latest_change_hash == ident.identifier
        assert ident.change_history == CH


def test_vector_prefixes_and_trailing_garbage_rejected():
    c = fast()
    for n in range(len(CH)):
        raises(IdentityError, import_change_history, c, CH[:n])
    for junk in (b"\x00", b"\xff", b"\x80"):
        raises(IdentityError, import_change_history, c, CH + junk)


def test_vector_tampering_rejected():
    c = fast()
    # last byte of the signature; a byte of the public key; valid_until inside Change.data
    for pos in (len(CH) - 1, 20, 55):
        e = raises(IdentityError, import_change_history, c, flip(CH, pos))
        assert "signature" in str(e) or "CBOR" in str(e)


def test_create_export_import_round_trip():
    for c in backends():
        ident, signer, _ = make(c)
        again = import_change_history(c, ident.change_history)
        assert again.identifier == ident.identifier
        assert again.public_key == signer.public == c.ed25519_public(seed(1))
        assert again.valid_from == NOW and again.valid_until == NOW + IDENTITY_TTL
        assert IDENTITY_TTL == V["attestations_valid_until"] - V["attestations_valid_from"]
        # the identifier is SHA256 of the first Change.data
        data = cbor.decode(ident.change_history)[0][0]
        assert ident.identifier == c.sha256(data)
        assert data[:3] == b"\x83\x01\x01"
        assert ident.identifier_text()[0] == "I" and len(ident.identifier_text()) == 65


def test_malformed_histories_rejected_with_identity_error():
    c = fast()
    ident, signer, _ = make(c)
    change = cbor.decode(ident.change_history)[0]
    bad = [
        b"", b"\x80", b"\xa0", cbor.encode([1]), cbor.encode([[b"x"]]), cbor.encode([[b"", [0, [bytes(64)]]]]),
        cbor.encode([[change[0], [2, [bytes(64)]]]]),  # unknown signature type
        cbor.encode([[change[0], [0, [bytes(63)]]]]),
        cbor.encode([[change[0], change[1], change[1]]]),  # previous_signature on the first change
        cbor.encode([change, change]),  # second change does not link to the first
    ]
    cd = cbor.encode([None, [0, [signer.public]], False, NOW, NOW + 5])
    bad.append(cbor.encode([[cbor.encode([2, 1, cd]), change[1]]]))  # version 2
    bad.append(cbor.encode([[cbor.encode([1, 2, cd]), change[1]]]))  # data_type 2
    bad.append(cbor.encode([[cbor.encode([1, 1, cbor.encode([b"x" * 32, [0, [signer.public]], False, 1, 2])]),
                             change[1]]]))  # previous_change in the first change
    bad.append(cbor.encode([[cbor.encode([1, 1, cbor.encode([None, [0, [signer.public]], 0, 1, 2])]),
                             change[1]]]))  # revoke flag not a bool
    for b in bad:
        raises(IdentityError, import_change_history, c, b)


def test_p256_history_where_unsupported_is_an_identity_error():
    # A P-256 change with a dummy signature: a host backend rejects the signature, a board
    # backend (no P-256) says it cannot verify it. Both are IdentityError, never CryptoError.
    for c in backends():
        pub = b"\x04" + bytes(range(64))
        cd = cbor.encode([1, 1, cbor.encode([None, [1, [pub]], False, NOW, NOW + 10])])
        ch = cbor.encode([[cd, [1, [bytes(64)]]]])
        e = raises(IdentityError, import_change_history, c, ch)
        assert "P-256" in str(e) or "invalid signature" in str(e), str(e)


# -- attestations -----------------------------------------------------------------------------

def test_attestation_round_trip_and_defaults():
    for c in backends():
        ident, signer, x_pub = make(c)
        att = create_attestation(c, ident, signer, x_pub, NOW)
        a = verify_attestation(c, ident, att, NOW, x_pub)
        assert a.public_key == x_pub and a.subject == ident.identifier
        assert a.created_at == NOW and a.expires_at == NOW + PURPOSE_KEY_TTL
        # the independent encoder gives the same bytes (Ed25519 signatures are deterministic)
        assert att == make_att(c, ident, signer, x_pub, NOW, NOW + PURPOSE_KEY_TTL)


def test_attestation_expiry_capped_at_identity_validity():
    c = fast()
    ident, signer, x_pub = make(c)
    late = ident.valid_until - 100
    a = parse_attestation(create_attestation(c, ident, signer, x_pub, late))
    assert a.expires_at == ident.valid_until
    verify_attestation(c, ident, create_attestation(c, ident, signer, x_pub, late), late, x_pub)


def test_attestation_time_rules_at_their_edges():
    c = fast()
    ident, signer, key = make(c)
    vf, vu = ident.valid_from, ident.valid_until

    def check(created, expires, now):
        verify_attestation(c, ident, make_att(c, ident, signer, key, created, expires), now, key)

    def refused(created, expires, now, words):
        e = raises(IdentityError, check, created, expires, now)
        assert words in str(e), str(e)

    # created_at >= attestations_valid_from
    check(vf, vf + 1000, vf + 10)
    refused(vf - 1, vf + 1000, vf + 10, "before attestations_valid_from")
    # expires_at <= attestations_valid_until
    check(vf, vu, vf + 10)
    refused(vf, vu + 1, vf + 10, "after attestations_valid_until")
    # created_at <= now + 60 s
    now = vf + 5000
    check(now + CLOCK_SKEW, now + 9999, now)
    refused(now + CLOCK_SKEW + 1, now + 9999, now, "in the future")
    # expires_at >= now
    check(vf, now, now)
    refused(vf, now - 1, now, "expired")


def test_attestation_tampering_rejected():
    c = fast()
    ident, signer, key = make(c)
    other, other_signer, other_key = make(c, 2)
    att = create_attestation(c, ident, signer, key, NOW)
    verify_attestation(c, ident, att, NOW, key)
    # tampered signature
    e = raises(IdentityError, verify_attestation, c, ident, flip(att, len(att) - 1), NOW, key)
    assert "invalid signature" in str(e)
    # tampered data (a byte of the X25519 key inside the signed data): the signature no longer fits
    data = cbor.decode(att)[0]
    pos = data.find(key)
    bad = cbor.encode([flip(data, pos), cbor.decode(att)[1]])
    raises(IdentityError, verify_attestation, c, ident, bad, NOW, flip(key, 0))
    # wrong static key
    e = raises(IdentityError, verify_attestation, c, ident, att, NOW, other_key)
    assert "Noise static key" in str(e)
    # wrong subject: another identity's attestation, and a forged subject
    e = raises(IdentityError, verify_attestation, c, ident, create_attestation(c, other, other_signer, key, NOW),
               NOW, key)
    assert "subject" in str(e)
    forged = make_att(c, ident, other_signer, key, NOW, NOW + 10, subject=other.identifier)
    raises(IdentityError, verify_attestation, c, ident, forged, NOW, key)
    # signed by another key for this subject
    e = raises(IdentityError, verify_attestation, c, ident, make_att(c, ident, other_signer, key, NOW, NOW + 10),
               NOW, key)
    assert "invalid signature" in str(e)
    # wrong latest change hash, wrong purpose (credential signing key)
    raises(IdentityError, verify_attestation, c, ident,
           make_att(c, ident, signer, key, NOW, NOW + 10, latest=bytes(32)), NOW, key)
    e = raises(IdentityError, verify_attestation, c, ident,
               make_att(c, ident, signer, [0, [bytes(32)]], NOW, NOW + 10, key_type=1), NOW, key)
    assert "secure-channel" in str(e)
    # a signer that is not the identity's key cannot make one
    raises(IdentityError, create_attestation, c, ident, other_signer, key, NOW)


# -- payload and cache ------------------------------------------------------------------------

def payload_for(c, n=1, now=NOW):
    ident, signer, key = make(c, n)
    att = create_attestation(c, ident, signer, key, now)
    return encode_identity_payload(ident.change_history, att), ident, signer, key


def test_identity_payload_round_trip():
    for c in backends():
        payload, ident, _, key = payload_for(c)
        assert payload[0] == 0x83 and payload[-1] == 0x80
        assert verify_identity_payload(c, payload, key, NOW) == ident.identifier
        dec = cbor.decode(payload)
        assert cbor.encode(dec[0]) == ident.change_history and dec[2] == []


def test_identity_payload_credentials_accepted_and_ignored():
    c = fast()
    payload, ident, _, key = payload_for(c)
    items = cbor.decode(payload)
    with_cred = cbor.encode([items[0], items[1], [[[b"cred", [0, [bytes(64)]]], [b"att", [0, [bytes(64)]]]]]])
    assert verify_identity_payload(c, with_cred, key, NOW) == ident.identifier
    raises(IdentityError, verify_identity_payload, c, cbor.encode([items[0], items[1], 5]), key, NOW)


def test_identity_payload_prefixes_and_garbage_rejected():
    c = fast()
    payload, _, _, key = payload_for(c)
    for n in range(len(payload)):
        e = raises(HopsealError, verify_identity_payload, c, payload[:n], key, NOW)
        assert isinstance(e, IdentityError)
    for junk in (b"\x00", b"\xff", b"\x83\x80\x80\x40"):
        raises(IdentityError, verify_identity_payload, c, payload + junk, key, NOW)
    for bad in (b"\xa0", b"\x9f\xff", cbor.encode([1, 2, 3]), cbor.encode([b"x"])):
        raises(IdentityError, verify_identity_payload, c, bad, key, NOW)


def test_attestation_for_the_vector_identity_needs_its_key():
    # An attestation for the §8.2 identity must be signed by its key, which we do not have.
    c = fast()
    ident, signer, key = make(c)
    vec = import_change_history(c, CH)
    att = make_att(c, vec, signer, key, NOW, NOW + 10)
    e = raises(IdentityError, verify_identity_payload, c, encode_identity_payload(CH, att), key, NOW)
    assert "signature" in str(e)


def test_cache_hit_skips_signature_verification():
    c = Counting(fast())
    payload, ident, _, key = payload_for(c)
    cache = VerifiedCache(capacity=8)
    assert verify_identity_payload(c, payload, key, NOW, cache) == ident.identifier
    assert c.verifies == 2 and len(cache) == 1 and cache.misses == 1
    assert verify_identity_payload(c, payload, key, NOW + 100, cache) == ident.identifier
    assert c.verifies == 2 and cache.hits == 1
    # a hit still checks the static key and the time rules
    raises(IdentityError, verify_identity_payload, c, payload, flip(key, 0), NOW, cache)
    e = raises(IdentityError, verify_identity_payload, c, payload, key, NOW + PURPOSE_KEY_TTL + 1, cache)
    assert "expired" in str(e)
    raises(IdentityError, verify_identity_payload, c, payload, key, NOW - CLOCK_SKEW - 1, cache)
    assert c.verifies == 2


def test_cache_misses_on_byte_different_input():
    c = Counting(fast())
    cache = VerifiedCache()
    payload, ident, signer, key = payload_for(c)
    verify_identity_payload(c, payload, key, NOW, cache)
    n = c.verifies
    # same identity and key, a newer attestation: different bytes, verified afresh
    att2 = create_attestation(c, ident, signer, key, NOW + 1)
    p2 = encode_identity_payload(ident.change_history, att2)
    verify_identity_payload(c, p2, key, NOW + 1, cache)
    assert c.verifies == n + 2 and len(cache) == 2
    # a forged payload that differs in one byte of a signature is never served from the cache
    bad = flip(payload, len(ident.change_history))  # last byte of the change signature
    raises(IdentityError, verify_identity_payload, c, bad, key, NOW, cache)
    assert len(cache) == 2
    # credentials do not take part in the key
    items = cbor.decode(payload)
    n = c.verifies
    verify_identity_payload(c, cbor.encode([items[0], items[1], [b"x"]]), key, NOW, cache)
    assert c.verifies == n


def test_cache_is_lru_bounded():
    c = Counting(fast())
    cache = VerifiedCache(capacity=2)
    peers = [payload_for(c, n) for n in (1, 2, 3)]
    for p, ident, _, key in peers:
        verify_identity_payload(c, p, key, NOW, cache)
    assert len(cache) == 2
    n = c.verifies
    verify_identity_payload(c, peers[2][0], peers[2][3], NOW, cache)  # newest: hit
    verify_identity_payload(c, peers[1][0], peers[1][3], NOW, cache)  # hit, now most recent
    assert c.verifies == n
    verify_identity_payload(c, peers[0][0], peers[0][3], NOW, cache)  # evicted: verified again
    assert c.verifies == n + 2
    verify_identity_payload(c, peers[1][0], peers[1][3], NOW, cache)  # still there
    assert c.verifies == n + 2
    raises(ValueError, VerifiedCache, 0)


def test_failed_verification_is_not_cached():
    c = Counting(fast())
    cache = VerifiedCache()
    payload, ident, signer, key = payload_for(c)
    other, other_signer, _ = make(c, 2)
    forged = encode_identity_payload(ident.change_history,
                                     make_att(c, ident, other_signer, key, NOW, NOW + 10))
    raises(IdentityError, verify_identity_payload, c, forged, key, NOW, cache)
    raises(IdentityError, verify_identity_payload, c, forged, key, NOW, cache)
    assert len(cache) == 0 and c.verifies == 4


# -- vault ------------------------------------------------------------------------------------

def tmpdir():
    base = "/tmp/hopseal-vault-" + "".join("%02x" % b for b in os.urandom(6))
    return base


def rmtree(d):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        os.remove(d + "/" + n)
    os.rmdir(d)


def test_vault_create_load_round_trip():
    c = fast()
    d = tmpdir()
    try:
        v = open_vault(c, d, NOW)
        assert FILE_NAME in os.listdir(d) and len(os.listdir(d)) == 1
        v2 = open_vault(c, d, NOW + 10)
        assert v2.identifier == v.identifier
        assert v2.ed25519_seed == v.ed25519_seed and v2.x25519_priv == v.x25519_priv
        assert v2.x25519_pub == c.x25519_public(v2.x25519_priv)
        assert v2.attestation == v.attestation
        assert v2.payload() == v.payload()
        # what a peer sees verifies, for the key the vault will use in the handshake
        assert verify_identity_payload(c, v2.payload(), v2.x25519_pub, NOW) == v.identifier
        assert import_change_history(c, v2.identity.change_history).public_key == \
            c.ed25519_public(v2.ed25519_seed)
    finally:
        rmtree(d)


def test_vault_recovers_a_renamed_temp_file_and_drops_a_partial_one():
    c = fast()
    d = tmpdir()
    try:
        v = open_vault(c, d, NOW)
        path = d + "/" + FILE_NAME
        # crash after the old file was removed but before the rename: only the .tmp remains
        os.rename(path, path + ".tmp")
        v2 = load_vault(c, path)
        assert v2.identifier == v.identifier and os.listdir(d) == [FILE_NAME]
        # crash while writing the .tmp: the intact file wins and the partial one goes
        with open(path + ".tmp", "wb") as f:
            f.write(b"\xa6\x66")
        assert load_vault(c, path).identifier == v.identifier
        assert os.listdir(d) == [FILE_NAME]
        v2.save(path)
        assert os.listdir(d) == [FILE_NAME]
    finally:
        rmtree(d)


def test_vault_damage_is_reported_not_replaced():
    c = fast()
    d = tmpdir()
    try:
        open_vault(c, d, NOW)
        path = d + "/" + FILE_NAME
        with open(path, "rb") as f:
            good = f.read()
        for bad in (good[:-1], b"", cbor.encode({"format": 9}), cbor.encode({"format": 1})):
            with open(path, "wb") as f:
                f.write(bad)
            raises(IdentityError, open_vault, c, d, NOW)
            raises(IdentityError, decode_vault, c, bad)
        with open(path, "rb") as f:
            assert f.read() == cbor.encode({"format": 1})
    finally:
        rmtree(d)


def test_vault_refuses_an_unset_clock_and_renews_an_old_attestation():
    c = fast()
    d = tmpdir()
    try:
        raises(IdentityError, open_vault, c, d, 946684800 + 5)  # a board RTC at 2000-01-01
        v = open_vault(c, d, NOW)
        old = v.attestation_expires_at
        later = old - 86400  # a day before the attestation expires
        v2 = open_vault(c, d, later)
        assert v2.attestation_expires_at > old
        assert verify_identity_payload(c, v2.payload(), v2.x25519_pub, later) == v.identifier
        assert open_vault(c, d, later).attestation == v2.attestation  # saved
    finally:
        rmtree(d)
