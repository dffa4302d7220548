"""Our Noise XX state machine against PyPI `noiseprotocol` (an independent Noise implementation).

noiseprotocol speaks `Noise_XX_25519_AESGCM_SHA256`; the Noise rule pads that 28-byte name to 32
bytes, which is exactly the 2021 Ockam name, so our state machine runs with that name. After the
handshake noiseprotocol's two CipherStates are swapped: Noise has the initiator send with k1,
Ockam has it send with k2 (ockam-wire §4.1). Transport messages use explicit 12-byte nonces
0000_0000 ‖ u64 BE, which is also how noiseprotocol formats AESGCM nonces.
"""
import struct

import pytest

from hs_backends import backends
from vectors import load, unhex

from hopseal.errors import HandshakeError
from hopseal.secure.noise import PROTOCOL_NAME_2021, HandshakeState

noise_connection = pytest.importorskip("noise.connection")
NoiseConnection = noise_connection.NoiseConnection
Keypair = noise_connection.Keypair

NAME = b"Noise_XX_25519_AESGCM_SHA256"
V = load("ockam_noise_xx.json")["vector"]


def nonce(n):
    return b"\0\0\0\0" + struct.pack(">Q", n)


def peer(initiator, static, ephemeral=None):
    p = NoiseConnection.from_name(NAME)
    if initiator:
        p.set_as_initiator()
    else:
        p.set_as_responder()
    p.set_keypair_from_private_bytes(Keypair.STATIC, static)
    if ephemeral is not None:
        p.set_keypair_from_private_bytes(Keypair.EPHEMERAL, ephemeral)
    p.start_handshake()
    return p


def swap_to_ockam_split(p):
    proto = p.noise_protocol
    proto.cipher_state_encrypt, proto.cipher_state_decrypt = \
        proto.cipher_state_decrypt, proto.cipher_state_encrypt


@pytest.fixture(params=range(len(backends())), ids=lambda i: type(backends()[i]).__name__)
def crypto(request):
    return backends()[request.param]


def exchange(c, ours, theirs):
    """Transport messages both ways with explicit nonces; `theirs` already swapped."""
    enc, dec = ours.split()
    for n in range(5):
        msg = b"ours %d" % n
        ct = c.aead(enc).encrypt(nonce(n), b"", msg)
        assert theirs.decrypt(ct) == msg
        msg = b"theirs %d" % n
        assert c.aead(dec).decrypt(nonce(n), b"", theirs.encrypt(msg)) == msg
    # an explicit, out-of-order nonce (how Ockam's decryptor uses them)
    theirs.noise_protocol.cipher_state_decrypt.set_nonce(1000)
    assert theirs.decrypt(c.aead(enc).encrypt(nonce(1000), b"", b"late")) == b"late"


@pytest.mark.filterwarnings("ignore:One of ephemeral keypairs")
def test_noiseprotocol_reproduces_the_ockam_vector():
    i = peer(True, unhex(V["init_static"]), unhex(V["init_ephemeral"]))
    r = peer(False, unhex(V["resp_static"]), unhex(V["resp_ephemeral"]))
    msgs = [unhex(m["ciphertext"]) for m in V["messages"]]
    assert bytes(i.write_message()) == msgs[0]
    r.read_message(msgs[0])
    assert bytes(r.write_message()) == msgs[1]
    i.read_message(msgs[1])
    assert bytes(i.write_message()) == msgs[2]
    r.read_message(msgs[2])
    assert i.get_handshake_hash() == unhex(load("ockam_noise_xx.json")["derived"]["final_h"])


def test_we_initiate_noiseprotocol_responds(crypto):
    c = crypto
    ours = HandshakeState(c, True, c.random(32), protocol_name=NAME)
    r_static = c.random(32)
    theirs = peer(False, r_static)
    theirs.read_message(ours.write_message())
    assert ours.read_message(bytes(theirs.write_message(b"from responder"))) == b"from responder"
    assert ours.remote_static == c.x25519_public(r_static)
    theirs.read_message(ours.write_message(b"from initiator"))
    assert ours.is_complete() and theirs.handshake_finished
    assert ours.handshake_hash() == theirs.get_handshake_hash()
    swap_to_ockam_split(theirs)
    exchange(c, ours, theirs)


def test_noiseprotocol_initiates_we_respond(crypto):
    c = crypto
    i_static = c.random(32)
    theirs = peer(True, i_static)
    ours = HandshakeState(c, False, c.random(32), protocol_name=NAME)
    assert ours.read_message(bytes(theirs.write_message())) == b""
    theirs.read_message(ours.write_message(b"responder payload"))
    assert ours.read_message(bytes(theirs.write_message(b"initiator payload"))) == b"initiator payload"
    assert ours.remote_static == c.x25519_public(i_static)
    assert ours.is_complete() and theirs.handshake_finished
    assert ours.handshake_hash() == theirs.get_handshake_hash()
    swap_to_ockam_split(theirs)
    exchange(c, ours, theirs)


def test_name_padding_is_the_2021_ockam_name(crypto):
    c = crypto
    s = c.random(32)
    e = c.random(32)
    a = HandshakeState(c, True, s, protocol_name=NAME, e_priv=e)
    b = HandshakeState(c, True, s, protocol_name=PROTOCOL_NAME_2021, e_priv=e)
    assert a.write_message() == b.write_message()
    assert a.symmetric_state.h == b.symmetric_state.h


def test_without_the_swap_transport_fails(crypto):
    c = crypto
    ours = HandshakeState(c, True, c.random(32), protocol_name=NAME)
    theirs = peer(False, c.random(32))
    theirs.read_message(ours.write_message())
    ours.read_message(bytes(theirs.write_message()))
    theirs.read_message(ours.write_message())
    enc, _ = ours.split()
    with pytest.raises(Exception):
        theirs.decrypt(c.aead(enc).encrypt(nonce(0), b"", b"x"))


def test_tampered_noiseprotocol_message_rejected_then_genuine_accepted(crypto):
    c = crypto
    ours = HandshakeState(c, True, c.random(32), protocol_name=NAME)
    theirs = peer(False, c.random(32))
    theirs.read_message(ours.write_message())
    m2 = bytes(theirs.write_message(b"p"))
    bad = bytearray(m2)
    bad[40] ^= 0x80
    with pytest.raises(HandshakeError):
        ours.read_message(bytes(bad))
    assert ours.read_message(m2) == b"p"


# -- arbitrary peers --------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _state(hs):
    ss = hs.symmetric_state
    return (ss.ck, ss.h, ss.k, ss.n, hs.remote_static, hs.writes_next(), hs.is_complete())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_into_read_message(data, at_msg2):
    """Any bytes from a peer: accepted as msg1 (clear payload) or rejected with HandshakeError,
    with the state untouched on rejection (the reader fuzz target of snow/noise-c)."""
    c = backends()[0]
    if at_msg2:
        hs = HandshakeState(c, True, bytes(range(32)), e_priv=bytes(range(1, 33)))
        hs.write_message()
    else:
        hs = HandshakeState(c, False, bytes(range(32)))
    before = _state(hs)
    try:
        hs.read_message(data)
    except HandshakeError:
        assert _state(hs) == before
        return
    assert not at_msg2 and len(data) >= 32 and hs.writes_next()
