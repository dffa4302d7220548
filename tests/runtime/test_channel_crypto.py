"""Secure-channel transport crypto (ockam-wire §4.3.6–4.3.7): nonces, rekey, replay window.

Every rejected message must leave the receiver unchanged, so the next genuine message still
decrypts (reliability goals tamper_transport, replay_window_table, nonce_exhaustion).
"""
from hopseal.errors import ChannelError, CryptoError
from hopseal.secure.cipher import KEY_RENEWAL_INTERVAL, Decryptor, Encryptor, rekey
from hs_backends import backends
from rt import raises

KEY = bytes(range(32))
IS_MP = __import__("sys").implementation.name == "micropython"


def pair(crypto):
    return Encryptor(crypto, KEY), Decryptor(crypto, KEY)


def state(d):
    return (d.cur_key, d.cur_interval, d.highest, d.bitmap, d.prev_aead is None)


def test_in_order_across_rekeys():
    for c in backends():
        e, d = pair(c)
        for i in range(3 * KEY_RENEWAL_INTERVAL + 5):
            n, pt = d.decrypt(e.encrypt(b"m%d" % i))
            assert n == i and pt == b"m%d" % i
        assert d.cur_interval == 3 and e.key != KEY


def test_rekey_is_noise_rekey():
    for c in backends():
        k1 = rekey(c, KEY)
        # REKEY(k) = first 32 bytes of ENCRYPT(k, maxnonce, "", zeros(32))
        iv = b"\x00" * 4 + b"\xff" * 8
        assert k1 == c.aead(KEY).encrypt(iv, b"", bytes(32))[:32]
        e = Encryptor(c, KEY, nonce=32)
        ct = e.encrypt(b"x")
        assert Decryptor(c, k1).cur_aead.decrypt(b"\x00" * 4 + ct[:8], b"", ct[8:]) == b"x"


def test_bit_flips_rejected_and_state_unchanged():
    for c in backends():
        e, d = pair(c)
        d.decrypt(e.encrypt(b"first"))
        good = e.encrypt(b"second message")
        before = state(d)
        bits = range(len(good) * 8) if not IS_MP else range(0, len(good) * 8, 7)
        for bit in bits:
            bad = bytearray(good)
            bad[bit // 8] ^= 1 << (bit % 8)
            try:
                d.decrypt(bytes(bad))
                raise AssertionError("flipped bit %d accepted" % bit)
            except (ChannelError, CryptoError):
                pass
            assert state(d) == before
        assert d.decrypt(good) == (1, b"second message")


def test_replays_and_short_messages():
    for c in backends():
        e, d = pair(c)
        m0 = e.encrypt(b"a")
        d.decrypt(m0)
        raises(ChannelError, d.decrypt, m0)
        raises(ChannelError, d.decrypt, m0[:23])
        # a replay after rekeys is still a replay
        msgs = [e.encrypt(b"%d" % i) for i in range(1, 40)]
        for m in msgs:
            d.decrypt(m)
        raises(ChannelError, d.decrypt, msgs[-1])
        raises(ChannelError, d.decrypt, msgs[30])


def test_reordering_inside_window_accepted_outside_rejected():
    for c in backends():
        e, d = pair(c)
        msgs = [e.encrypt(b"%d" % i) for i in range(100)]
        # deliver 0..20 reversed: all accepted exactly once
        for i in range(20, -1, -1):
            assert d.decrypt(msgs[i])[0] == i
        # jump ahead by 32 exactly: allowed (crosses into the next key window)
        assert d.decrypt(msgs[52])[0] == 52
        # 20 is now 32 behind: allowed once; 19 was seen; 10 is too old
        raises(ChannelError, d.decrypt, msgs[19])
        raises(ChannelError, d.decrypt, msgs[10])
        # more than 32 ahead of the highest (52): rejected, and the channel still works
        raises(ChannelError, d.decrypt, msgs[85])
        assert d.decrypt(msgs[53])[0] == 53
        # a message from the previous key window, inside the replay window
        assert d.decrypt(msgs[30])[0] == 30


def test_two_windows_ahead_rejected():
    for c in backends():
        e, d = pair(c)
        msgs = [e.encrypt(b"%d" % i) for i in range(70)]
        d.decrypt(msgs[0])
        d.decrypt(msgs[31])
        # 64 is two key windows beyond window 0: rejected even though only 33 past 31
        raises(ChannelError, d.decrypt, msgs[64])
        assert d.decrypt(msgs[32])[0] == 32
        assert d.decrypt(msgs[64])[0] == 64


def test_nonce_exhaustion():
    for c in backends():
        e = Encryptor(c, KEY, nonce=0xFFFFFFFFFFFFFFFE)
        e.encrypt(b"last")
        raises(ChannelError, e.encrypt, b"one too many")
