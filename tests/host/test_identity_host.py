"""Identity features that need the host: P-256 (Orchestrator-style) identities, key rotation with
previous_signature, and property-based fuzzing of the identity payload decoder.
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hs_backends import Counting, fast

from hopseal.wire import cbor
from hopseal.secure import identity as idm
from hopseal.errors import CryptoError, HopsealError, IdentityError
from hopseal.secure.identity import (
    Ed25519Signer, P256Signer, VerifiedCache, create_attestation, create_identity,
    encode_identity_payload, import_change_history, parse_attestation, rotate_key,
    verify_attestation, verify_identity_payload)
from hopseal.secure.vault import decode_vault

NOW = 1760000000


@pytest.fixture(scope="module")
def c():
    return fast()


def p256_signer(c):
    handle, pub = c.p256_keypair()
    assert len(pub) == 65 and pub[0] == 4
    return P256Signer(c, handle, pub)


def x_key(c):
    return c.x25519_public(c.random(32))


def independent_p256_verify(pub, digest, sig):
    """ECDSA-P256-SHA256 over the 32-byte message SHA256(data), checked with `cryptography`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, digest, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


# -- P-256 ------------------------------------------------------------------------------------

def test_p256_identity_verifies_on_the_host(c):
    signer = p256_signer(c)
    ident = create_identity(c, signer, NOW)
    again = import_change_history(c, ident.change_history)
    assert again.identifier == ident.identifier
    assert again.key_kind == idm.P256 and again.public_key == signer.public
    data, sig = cbor.decode(ident.change_history)[0][:2]
    assert sig[0] == 1 and len(sig[1][0]) == 64
    assert independent_p256_verify(signer.public, c.sha256(data), sig[1][0])


def test_p256_attestation_and_payload_verify(c):
    signer = p256_signer(c)
    ident = create_identity(c, signer, NOW)
    key = x_key(c)
    att = create_attestation(c, ident, signer, key, NOW)
    a = verify_attestation(c, ident, att, NOW, key)
    assert a.sig_kind == idm.P256
    payload = encode_identity_payload(ident.change_history, att)
    assert verify_identity_payload(c, payload, key, NOW) == ident.identifier
    bad = bytearray(att)
    bad[-1] ^= 1
    with pytest.raises(IdentityError, match="invalid signature"):
        verify_attestation(c, ident, bytes(bad), NOW, key)


def test_p256_signature_kind_must_match_key_kind(c):
    signer = p256_signer(c)
    ident = create_identity(c, signer, NOW)
    change = cbor.decode(ident.change_history)[0]
    change[1][0] = 0  # claim Ed25519 for a P-256 key
    with pytest.raises(IdentityError, match="does not match the key type"):
        import_change_history(c, cbor.encode([change]))


class _P256Raises:
    """A board-like backend whose p256_verify raises (P-256 unsupported)."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def p256_verify(self, pub, msg, sig):
        raise CryptoError("P-256 not available on this board")


class _P256Missing:
    """A backend without p256_verify at all."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        if name.startswith("p256"):
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.mark.parametrize("board", [_P256Raises, _P256Missing])
def test_p256_unsupported_backend_gives_identity_error(c, board):
    ident = create_identity(c, p256_signer(c), NOW)
    with pytest.raises(IdentityError, match="P-256"):
        import_change_history(board(c), ident.change_history)
    # Ed25519 identities still verify there
    ed = create_identity(c, Ed25519Signer(c, c.random(32)), NOW)
    assert import_change_history(board(c), ed.change_history).identifier == ed.identifier


# -- rotation ---------------------------------------------------------------------------------

def test_two_change_history_verifies(c):
    old = Ed25519Signer(c, c.random(32))
    new = Ed25519Signer(c, c.random(32))
    ident = create_identity(c, old, NOW)
    old_att = create_attestation(c, ident, old, x_key(c), NOW)
    rotated = rotate_key(c, ident, old, new, NOW + 100)
    again = import_change_history(c, rotated.change_history)
    assert again.change_count == 2
    assert again.identifier == ident.identifier  # the identifier is the first change's hash
    assert again.public_key == new.public and again.latest_change_hash != ident.latest_change_hash
    assert again.valid_from == NOW + 100
    changes = cbor.decode(rotated.change_history)
    assert len(changes[0]) == 2 and len(changes[1]) == 3  # previous_signature only after the first
    # attestations follow the latest key and the latest change
    key = x_key(c)
    att = create_attestation(c, again, new, key, NOW + 200)
    assert verify_identity_payload(c, encode_identity_payload(rotated.change_history, att), key,
                                   NOW + 200) == ident.identifier
    with pytest.raises(IdentityError, match="latest change"):
        verify_attestation(c, again, old_att, NOW + 200)
    with pytest.raises(IdentityError, match="signer is not"):
        create_attestation(c, again, old, key, NOW + 200)
    with pytest.raises(IdentityError, match="old_signer"):
        rotate_key(c, again, old, new, NOW + 300)


def test_mixed_key_types_and_three_changes(c):
    a = Ed25519Signer(c, c.random(32))
    b = p256_signer(c)
    d = Ed25519Signer(c, c.random(32))
    ident = rotate_key(c, rotate_key(c, create_identity(c, a, NOW), a, b, NOW + 1), b, d, NOW + 2)
    counted = Counting(c)
    again = import_change_history(counted, ident.change_history)
    assert again.change_count == 3 and again.public_key == d.public
    assert counted.verifies == 5  # 3 signatures + 2 previous_signatures
    # the P-256 previous_signature on change 2 is independently valid
    ch = cbor.decode(ident.change_history)
    assert independent_p256_verify(b.public, c.sha256(ch[2][0]), ch[2][2][1][0])


def test_rotation_tampering_rejected(c):
    old = Ed25519Signer(c, c.random(32))
    new = Ed25519Signer(c, c.random(32))
    ident = create_identity(c, old, NOW)
    rotated = rotate_key(c, ident, old, new, NOW + 100)
    first, second = cbor.decode(rotated.change_history)

    def bad(changes, words):
        with pytest.raises(IdentityError, match=words):
            import_change_history(c, cbor.encode(changes))

    sig = bytearray(second[2][1][0])
    sig[0] ^= 1
    bad([first, [second[0], second[1], [0, [bytes(sig)]]]], "change 1 previous_signature: invalid")
    bad([first, second[:2]], "previous_signature missing")
    # previous_signature made by the new key instead of the old one
    bad([first, [second[0], second[1], second[1]]], "previous_signature: invalid")
    # changes out of order: the link breaks
    bad([second, first], "previous_change must be null")
    other = create_identity(c, Ed25519Signer(c, c.random(32)), NOW)
    bad([cbor.decode(other.change_history)[0], second], "previous_change does not match")
    # valid_from going back in time, even when correctly signed
    back = idm._change(c, ident.latest_change_hash, new, NOW - 1, NOW + 1000, old)
    bad([first, back], "goes back in time")
    # a P-256 previous_signature claimed for an Ed25519 previous key
    bad([first, [second[0], second[1], [1, [second[2][1][0]]]]], "does not match the key type")


# -- fuzzing ----------------------------------------------------------------------------------

def _valid_payload(c):
    signer = Ed25519Signer(c, bytes(range(32)))
    ident = create_identity(c, signer, NOW)
    key = c.x25519_public(bytes(range(1, 33)))
    return encode_identity_payload(ident.change_history,
                                   create_attestation(c, ident, signer, key, NOW)), key, ident


_FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_into_the_payload_decoder(data):
    c = fast()
    try:
        verify_identity_payload(c, data, bytes(32), NOW, VerifiedCache())
    except HopsealError:
        pass


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**64 + 1, max_value=2**64 - 1)
    | st.binary(max_size=70) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.integers(0, 9) | st.text(max_size=3),
                                                                 inner, max_size=3),
    max_leaves=30)


@_FUZZ
@given(cbor_values)
def test_random_cbor_structures_into_every_decoder(value):
    c = fast()
    data = cbor.encode(value)
    for fn in (lambda: verify_identity_payload(c, data, bytes(32), NOW),
               lambda: import_change_history(c, data),
               lambda: parse_attestation(data),
               lambda: decode_vault(c, data)):
        try:
            fn()
        except HopsealError:
            pass


@_FUZZ
@given(st.data())
def test_mutated_valid_payloads(data):
    c = fast()
    payload, key, ident = _valid_payload(c)
    b = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        pos = data.draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            b.insert(pos, data.draw(st.integers(0, 255)))
        elif op == "delete" and len(b) > 1:
            del b[pos]
        else:
            b[pos] = data.draw(st.sampled_from([0x00, 0x18, 0x1b, 0x5f, 0x7f, 0x9f, 0xbf, 0xf6, 0xff]))
    try:
        got = verify_identity_payload(c, bytes(b), key, NOW)
    except HopsealError:
        return
    # a mutation that still verifies can only be a re-encoding of the same signed bytes
    assert got == ident.identifier
