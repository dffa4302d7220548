"""Noise XX state machine: Ockam's vector, transactional steps, turn order, bad keys, sizes.

Runs under pytest and MicroPython. On MicroPython (pure-Python crypto) the bit-flip tests use a
sample of bits; on CPython they flip every bit with every backend.
"""
from hopseal.errors import CryptoError, HandshakeError
from hopseal.secure import noise
from hopseal.secure.noise import MAX_MESSAGE, PROTOCOL_NAME, HandshakeState, SymmetricState
from hs_backends import IS_MICROPYTHON, backends, fast
from rt import raises
from vectors import load, unhex

V = load("ockam_noise_xx.json")
VEC = V["vector"]
NAME = VEC["protocol_name"].encode()  # 28 bytes: the Noise rule pads it to the 2021 Ockam name
MSGS = [unhex(m["ciphertext"]) for m in VEC["messages"]]
FINAL_H = unhex(V["derived"]["final_h"])
K1 = unhex(V["derived"]["k1_responder_to_initiator"])
K2 = unhex(V["derived"]["k2_initiator_to_responder"])

# small-order X25519 u-coordinates, as 32-byte little-endian encodings (with and without bit 255)
_P = (1 << 255) - 19
_SMALL = [0, 1, 325606250916557431795983626356110631294008115727848805560023387167927233504,
          39382357235489614581723060781553021112529911719440698176882885853963445705823,
          _P - 1, _P, _P + 1]
LOW_ORDER = [u.to_bytes(32, "little") for u in _SMALL] + \
            [(u | (1 << 255)).to_bytes(32, "little") for u in _SMALL]


def vector_pair(c):
    i = HandshakeState(c, True, unhex(VEC["init_static"]), protocol_name=NAME,
                       e_priv=unhex(VEC["init_ephemeral"]))
    r = HandshakeState(c, False, unhex(VEC["resp_static"]), protocol_name=NAME,
                       e_priv=unhex(VEC["resp_ephemeral"]))
    return i, r


def fresh_pair(c, name=PROTOCOL_NAME):
    return (HandshakeState(c, True, c.random(32), protocol_name=name),
            HandshakeState(c, False, c.random(32), protocol_name=name))


def snapshot(hs):
    ss = hs.symmetric_state
    return (ss.ck, ss.h, ss.k, ss.n, hs.remote_static, hs._re, hs._e_priv, hs._e_pub,
            hs.is_complete(), hs.writes_next())


def swapped(pair):
    return pair[1], pair[0]


def flip(msg, bit):
    b = bytearray(msg)
    b[bit >> 3] ^= 1 << (bit & 7)
    return bytes(b)


def bits_to_flip(msg):
    n = len(msg) * 8
    if not IS_MICROPYTHON:
        return range(n)
    # a sample: every byte once, cycling through the bit positions
    return [i * 8 + (i % 8) for i in range(len(msg))]


def test_initial_hashes_match_the_spec():
    c = fast()
    ss = SymmetricState.initialize(c, NAME)
    assert ss.ck == b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0" == noise.PROTOCOL_NAME_2021
    ss.mix_hash(b"")
    assert ss.h == unhex("5df72b67b965add1168f0a6c756df21c204f7e64fc682be6a3ab4b682c8db64b")
    ss = SymmetricState.initialize(c, PROTOCOL_NAME)
    assert ss.ck == PROTOCOL_NAME
    ss.mix_hash(b"")
    assert ss.h == unhex("c6096331ab8d033b2ab45efed418e9511b63d51e0b5a9a584086ea8b5905e752")
    # longer than 32 bytes: hashed (Noise rule)
    long_name = b"Noise_XX_25519_ChaChaPoly_BLAKE2s_long"
    assert SymmetricState.initialize(c, long_name).ck == c.sha256(long_name)


def test_vector_reproduces_every_message_and_split():
    for c in backends():
        i, r = vector_pair(c)
        assert i.writes_next() and not r.writes_next()
        m1 = i.write_message()
        assert m1 == MSGS[0]
        assert r.read_message(m1) == b""
        m2 = r.write_message()
        assert m2 == MSGS[1]
        assert i.read_message(m2) == b""
        assert not i.is_complete()
        m3 = i.write_message()
        assert m3 == MSGS[2]
        assert i.is_complete()
        assert r.read_message(m3) == b""
        assert r.is_complete()
        assert i.handshake_hash() == r.handshake_hash() == FINAL_H
        assert i.split() == (K2, K1)
        assert r.split() == (K1, K2)
        assert i.remote_static == c.x25519_public(unhex(VEC["resp_static"]))
        assert r.remote_static == c.x25519_public(unhex(VEC["init_static"]))


def test_vector_message_sizes():
    assert [len(m) for m in MSGS] == [32, 96, 64]


def handshake(i, r, p1=b"", p2=b"", p3=b""):
    assert r.read_message(i.write_message(p1)) == p1
    assert i.read_message(r.write_message(p2)) == p2
    assert r.read_message(i.write_message(p3)) == p3


def test_production_name_handshake_with_payloads_and_transport_keys():
    for c in backends():
        i, r = fresh_pair(c)
        handshake(i, r, b"", b"responder identity" * 3, b"initiator identity")
        assert i.handshake_hash() == r.handshake_hash()
        ie, id_ = i.split()
        re_, rd = r.split()
        assert ie == rd and id_ == re_ and ie != id_
        nonce = bytes(12)
        ct = c.aead(ie).encrypt(nonce, b"", b"ping")
        assert c.aead(rd).decrypt(nonce, b"", ct) == b"ping"
        ct = c.aead(re_).encrypt(nonce, b"", b"pong")
        assert c.aead(id_).decrypt(nonce, b"", ct) == b"pong"


def test_protocol_names_do_not_interoperate():
    c = fast()
    i = HandshakeState(c, True, c.random(32), protocol_name=PROTOCOL_NAME)
    r = HandshakeState(c, False, c.random(32), protocol_name=noise.PROTOCOL_NAME_2021)
    r.read_message(i.write_message())
    raises(HandshakeError, i.read_message, r.write_message())


def test_prologue_is_bound():
    c = fast()
    i = HandshakeState(c, True, c.random(32), prologue=b"a")
    r = HandshakeState(c, False, c.random(32), prologue=b"b")
    r.read_message(i.write_message())
    raises(HandshakeError, i.read_message, r.write_message())


def check_rejects_all(hs, genuine, variants):
    before = snapshot(hs)
    for bad in variants:
        raises(HandshakeError, hs.read_message, bad)
        assert snapshot(hs) == before
    return hs.read_message(genuine)


def test_every_bit_flip_of_msg2_is_rejected_and_state_kept():
    for c in backends():
        i, r = vector_pair(c)
        r.read_message(i.write_message())
        m2 = r.write_message(b"payload two")
        flips = [flip(m2, b) for b in bits_to_flip(m2)]
        assert check_rejects_all(i, m2, flips) == b"payload two"
        r.read_message(i.write_message())
        assert i.split() == swapped(r.split())
        if IS_MICROPYTHON:
            break


def test_every_bit_flip_of_msg3_is_rejected_and_state_kept():
    for c in backends():
        i, r = vector_pair(c)
        r.read_message(i.write_message())
        i.read_message(r.write_message())
        m3 = i.write_message(b"payload three")
        flips = [flip(m3, b) for b in bits_to_flip(m3)]
        assert check_rejects_all(r, m3, flips) == b"payload three"
        assert r.handshake_hash() == i.handshake_hash()
        if IS_MICROPYTHON:
            break


def test_truncated_and_extended_messages_rejected():
    c = fast()
    i, r = vector_pair(c)
    m1 = i.write_message()
    before = snapshot(r)
    for n in range(32):
        raises(HandshakeError, r.read_message, m1[:n])
        assert snapshot(r) == before
    r.read_message(m1)
    m2 = r.write_message()
    variants = [m2[:n] for n in range(len(m2))] + [m2 + b"\0", m2 + m2[-16:]]
    check_rejects_all(i, m2, variants)
    m3 = i.write_message()
    variants = [m3[:n] for n in range(len(m3))] + [m3 + b"\0"]
    check_rejects_all(r, m3, variants)


def test_msg1_payload_travels_in_clear():
    # Noise allows a payload on msg1 (no key yet); Ockam sends it empty. Extra bytes are that
    # payload, mixed into h, so a tampered msg1 fails later at msg2.
    c = fast()
    i, r = vector_pair(c)
    m1 = i.write_message(b"hello")
    assert m1[32:] == b"hello"
    assert r.read_message(m1) == b"hello"
    i2, r2 = vector_pair(c)
    r2.read_message(i2.write_message() + b"x")
    raises(HandshakeError, i2.read_message, r2.write_message())


def test_wrong_order_calls_rejected():
    c = fast()
    i, r = fresh_pair(c)
    raises(HandshakeError, i.read_message, bytes(32))
    raises(HandshakeError, r.write_message)
    raises(HandshakeError, i.split)
    raises(HandshakeError, i.handshake_hash)
    m1 = i.write_message()
    raises(HandshakeError, i.write_message)  # msg2 is the peer's
    r.read_message(m1)
    raises(HandshakeError, r.read_message, m1)  # msg2 is ours to write
    m2 = r.write_message()
    raises(HandshakeError, r.write_message)
    raises(HandshakeError, i.write_message)  # msg2 not read yet
    i.read_message(m2)
    raises(HandshakeError, i.read_message, m2)
    m3 = i.write_message()
    raises(HandshakeError, i.write_message)
    raises(HandshakeError, i.read_message, m3)
    raises(HandshakeError, r.split)
    r.read_message(m3)
    raises(HandshakeError, r.read_message, m3)
    raises(HandshakeError, r.write_message)
    assert i.split() == swapped(r.split())


def test_low_order_ephemeral_keys_rejected():
    c = fast()
    i, r = vector_pair(c)
    m1 = i.write_message()
    before = snapshot(r)
    for e in LOW_ORDER:
        raises(HandshakeError, r.read_message, e)
        assert snapshot(r) == before
    r.read_message(m1)
    m2 = r.write_message()
    check_rejects_all(i, m2, [e + m2[32:] for e in LOW_ORDER])


def test_low_order_rejected_by_the_dh_too():
    # Without the early check the DH itself must refuse (backends raise CryptoError on an all-zero
    # output), and the step must still be rolled back.
    saved = noise.is_low_order
    noise.is_low_order = lambda pub: False
    try:
        for c in backends():
            i, r = vector_pair(c)
            m1 = i.write_message()
            r.read_message(LOW_ORDER[0])
            before = snapshot(r)
            raises(HandshakeError, r.write_message)
            assert snapshot(r) == before
            r2 = vector_pair(c)[1]
            r2.read_message(m1)
            m2 = r2.write_message()
            check_rejects_all(i, m2, [LOW_ORDER[3] + m2[32:]])
            for e in LOW_ORDER:
                raises(CryptoError, c.x25519, c.random(32), e)
    finally:
        noise.is_low_order = saved


def test_low_order_static_key_rejected():
    c = fast()
    i = HandshakeState(c, True, c.random(32))
    evil = HandshakeState(c, False, c.random(32), s_pub=bytes(32))
    evil.read_message(i.write_message())
    m2 = evil.write_message()
    before = snapshot(i)
    e = raises(HandshakeError, i.read_message, m2)
    assert "small order" in str(e)
    assert snapshot(i) == before


def test_oversized_messages_rejected():
    c = fast()
    i, r = fresh_pair(c)
    raises(HandshakeError, i.write_message, bytes(MAX_MESSAGE - 32 + 1))
    m1 = i.write_message()
    before = snapshot(r)
    raises(HandshakeError, r.read_message, m1 + bytes(MAX_MESSAGE - 32 + 1))
    assert snapshot(r) == before
    r.read_message(m1)
    before = snapshot(r)
    raises(HandshakeError, r.write_message, bytes(MAX_MESSAGE - 96 + 1))
    assert snapshot(r) == before
    m2 = r.write_message(b"ok")
    raises(HandshakeError, i.read_message, bytes(MAX_MESSAGE + 1))
    i.read_message(m2)
    raises(HandshakeError, i.write_message, bytes(MAX_MESSAGE - 64 + 1))
    r.read_message(i.write_message())


def test_largest_message_accepted():
    if IS_MICROPYTHON:
        return  # 64 KiB of pure-Python AES-GCM: a benchmark, not a test
    c = fast()
    i, r = fresh_pair(c)
    big = b"\xa5" * (MAX_MESSAGE - 32)
    m1 = i.write_message(big)
    assert len(m1) == MAX_MESSAGE
    assert r.read_message(m1) == big
    big = b"\x5a" * (MAX_MESSAGE - 96)
    m2 = r.write_message(big)
    assert len(m2) == MAX_MESSAGE
    assert i.read_message(m2) == big


def test_bad_key_lengths_rejected():
    c = fast()
    raises(HandshakeError, HandshakeState, c, True, bytes(31))
    raises(HandshakeError, HandshakeState, c, True, c.random(32), PROTOCOL_NAME, bytes(33))
