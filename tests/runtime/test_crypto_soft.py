"""Known-answer and rejection tests for the board crypto backend (SoftCrypto and its modules).

Runs under pytest on CPython and under `micropython tests/mp_run.py test_crypto_soft`.
Sources: RFC 7748 §5.2/§6.1 and RFC 5869 (shared vector files), RFC 8032 §7.1, the GCM spec's
test cases 13-16 (AES-256), FIPS 197 Appendix C, FIPS 180-4 / NIST SHA-512 examples, RFC 4231,
Ockam's identity and Noise XX vectors.
"""
from crosscheck_mp import noise_xx
from hopseal.compat import ticks_diff, ticks_ms
from hopseal.crypto import aes, ed25519, gcm, x25519
from hopseal.crypto.soft import SoftCrypto, hkdf_sha256, hmac_sha256
from hopseal.errors import CryptoError
from vectors import load, unhex

C = SoftCrypto()


def _raises(fn, *args):
    try:
        fn(*args)
    except CryptoError:
        return True
    return False


# --- X25519 ----------------------------------------------------------------------------------


def test_x25519_rfc7748_single():
    for case in load("rfc7748_x25519.json")["x25519_single"]:
        assert x25519.x25519(unhex(case["scalar"]), unhex(case["u"])) == unhex(case["output"])
        assert C.x25519(unhex(case["scalar"]), unhex(case["u"])) == unhex(case["output"])


def test_x25519_rfc7748_dh():
    v = load("rfc7748_x25519.json")["x25519_dh"]
    a, b = unhex(v["alice_private"]), unhex(v["bob_private"])
    assert C.x25519_public(a) == unhex(v["alice_public"])
    assert C.x25519_public(b) == unhex(v["bob_public"])
    assert x25519.x25519_base(a) == unhex(v["alice_public"])  # the ladder agrees with the comb
    assert C.x25519(a, unhex(v["bob_public"])) == unhex(v["shared"])
    assert C.x25519(b, unhex(v["alice_public"])) == unhex(v["shared"])


def test_x25519_rfc7748_iterated():
    v = load("rfc7748_x25519.json")["x25519_iterated"]
    want = {}
    for a in v["after"]:
        want[a["iterations"]] = unhex(a["k"])
    k = u = unhex(v["start_k"])
    t0 = ticks_ms()
    k, u = x25519.x25519(k, u), k
    assert k == want[1]
    # 1,000 iterations take seconds on the unix port or CPython; on a board (tens of ms per
    # scalar multiplication) only the first iteration runs. 1,000,000 is never affordable.
    if ticks_diff(ticks_ms(), t0) > 20:
        return
    for _ in range(999):
        k, u = x25519.x25519(k, u), k
    assert k == want[1000]


# Low-order u-coordinates, their non-canonical encodings (u + p) and the same with bit 255 set
# (RFC 7748 masks it off): every one gives an all-zero shared secret with any clamped scalar.
_LOW_ORDER = (
    "0000000000000000000000000000000000000000000000000000000000000000",  # 0 (order 2)
    "0100000000000000000000000000000000000000000000000000000000000000",  # 1 (order 4)
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",  # order 8
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",  # order 8
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p - 1 (order 4)
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p, i.e. 0
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p + 1, i.e. 1
    "0000000000000000000000000000000000000000000000000000000000000080",  # 0 | 2^255
    "0100000000000000000000000000000000000000000000000000000000000080",  # 1 | 2^255
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",  # order 8 | 2^255
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",  # order 8 | 2^255
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # (p - 1) | 2^255
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # p | 2^255
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # (p + 1) | 2^255
)


def test_x25519_low_order_points_rejected():
    priv = unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    for p in _LOW_ORDER:
        assert _raises(C.x25519, priv, unhex(p)), p
        assert _raises(x25519.x25519, bytes(range(32)), unhex(p)), p


def test_x25519_bad_lengths():
    assert _raises(C.x25519, bytes(31), bytes(32))
    assert _raises(C.x25519, bytes(32), bytes(33))
    assert _raises(C.x25519_public, bytes(16))


def test_x25519_keypair_agrees():
    a_priv, a_pub = C.x25519_keypair()
    b_priv, b_pub = C.x25519_keypair()
    assert len(a_pub) == 32 and a_pub == x25519.x25519_base(a_priv)
    assert C.x25519(a_priv, b_pub) == C.x25519(b_priv, a_pub)


# --- HMAC / HKDF -----------------------------------------------------------------------------


def test_hkdf_rfc5869():
    for t in load("rfc5869_hkdf_sha256.json")["tests"]:
        salt, ikm, info = unhex(t["salt"]), unhex(t["IKM"]), unhex(t["info"])
        assert hmac_sha256(salt, ikm) == unhex(t["PRK"])
        assert C.hkdf_sha256(salt, ikm, info, t["L"]) == unhex(t["OKM"])
        assert hkdf_sha256(salt, ikm, info, 5) == unhex(t["OKM"])[:5]


def test_hkdf_lengths():
    assert C.hkdf_sha256(b"s", b"k", b"", 0) == b""
    assert len(C.hkdf_sha256(b"s", b"k")) == 64
    assert len(C.hkdf_sha256(b"s", b"k", b"i", 255 * 32)) == 255 * 32
    assert _raises(C.hkdf_sha256, b"s", b"k", b"", 255 * 32 + 1)


def test_hmac_sha256_rfc4231():
    # Test case 2 and test case 6 (a key longer than the block).
    assert C.hmac_sha256(b"Jefe", b"what do ya want for nothing?") == unhex(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert C.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First") == unhex(
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


def test_sha256():
    assert C.sha256(b"abc") == unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


# --- SHA-512 ---------------------------------------------------------------------------------

_SHA512 = (
    (b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
    (b"a" * 111, "fa9121c7b32b9e01733d034cfc78cbf67f926c7ed83e82200ef86818196921760b4beff48404df811b953828274461673c68d04e297b0eb7b2b4d60fc6b566a2"),
    (b"a" * 112, "c01d080efd492776a1c43bd23dd99d0a2e626d481e16782e75d54c2503b5dc32bd05f0f1ba33e568b88fd2d970929b719ecbb152f58f130a407c8830604b70ca"),
    (b"a" * 128, "b73d1929aa615934e61a871596b3f3b33359f42b8175602e89f7e06e5f658a243667807ed300314b95cacdd579f3e33abdfbe351909519a846d465c59582f321"),
    (b"a" * 239, "52c853cb8d907f3d4d6b889beb027985d7c273486d75f8baf26f80d24e90c74c6c3de3e22131582380a7d14d43f2941a31385439cd6ddc469f628015e50bf286"),
    (b"a" * 240, "4c296d90c61052a62ffb1dd196f1b7b09373b1f93e71836baebf89690546b7595684dbe9467a8e484fa0d1094272b4344a7c24f5fee8daedeb0bf549c985ab5f"),
)


def test_sha512_known_answers():
    for msg, digest in _SHA512:
        assert ed25519._sha512_py(msg) == unhex(digest), len(msg)  # the pure path, everywhere
        assert ed25519.sha512(msg) == unhex(digest)
        assert ed25519._sha512_py(bytearray(msg)) == unhex(digest)


# --- Ed25519 ---------------------------------------------------------------------------------

# RFC 8032 §7.1: TEST 1, 2, 3 and TEST SHA(abc). (seed, public, message, signature)
_RFC8032 = (
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
)


def test_ed25519_rfc8032():
    for seed, pub, msg, sig in _RFC8032:
        seed, pub, msg, sig = unhex(seed), unhex(pub), unhex(msg), unhex(sig)
        assert C.ed25519_public(seed) == pub
        assert C.ed25519_sign(seed, msg) == sig
        assert ed25519.sign(seed, msg) == sig
        assert C.ed25519_verify(pub, msg, sig) is True


def test_ed25519_ockam_identity_vector():
    # The first change of an Ockam identity: the primary key signs SHA256(Change.data), and
    # the identifier is that same hash (ockam-wire §4.3.3).
    v = load("ockam_identity_ed25519.json")
    raw = unhex(v["change_history_hex"])
    assert raw[:4] == b"\x81\x82\x58\x37"  # [ [ bytes(55) ...
    data = raw[4:59]
    assert raw[59:64] == b"\x82\x00\x81\x58\x40"  # [0, [bytes(64)]]
    sig = raw[64:128]
    digest = C.sha256(data)
    assert "I" + "".join("%02x" % b for b in digest) == v["identifier"]
    pub = unhex(v["primary_public_key_ed25519"])
    assert C.ed25519_verify(pub, digest, sig) is True
    assert C.ed25519_verify(pub, data, sig) is False


def test_ed25519_rejects_bad_signatures():
    seed, pub, msg, sig = [unhex(x) for x in _RFC8032[2]]
    assert C.ed25519_verify(pub, msg + b"\x00", sig) is False
    for i in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        assert C.ed25519_verify(pub, msg, bytes(bad)) is False, i
    # S + L verifies mathematically; RFC 8032 requires rejecting the non-canonical S.
    s = int.from_bytes(sig[32:], "little") + ed25519.L
    assert C.ed25519_verify(pub, msg, sig[:32] + s.to_bytes(32, "little")) is False
    # Wrong lengths are False, not exceptions.
    assert C.ed25519_verify(pub, msg, sig[:63]) is False
    assert C.ed25519_verify(pub, msg, sig + b"\x00") is False
    assert C.ed25519_verify(pub[:31], msg, sig) is False
    assert C.ed25519_verify(b"", msg, sig) is False


def test_ed25519_rejects_bad_public_keys():
    seed, pub, msg, sig = [unhex(x) for x in _RFC8032[0]]
    p = 2**255 - 19
    # y >= p (non-canonical encodings of y = 0 and y = 1), and x = 0 with the sign bit set.
    for y, sign in ((p, 0), (p + 1, 0), (2**255 - 1, 0), (1, 1), (p - 1, 1)):
        enc = (y | (sign << 255)).to_bytes(32, "little")
        assert C.ed25519_verify(enc, msg, sig) is False
    # y = 2 is not on the curve (no square root for x).
    assert ed25519._decode((2).to_bytes(32, "little")) is None
    assert C.ed25519_verify((2).to_bytes(32, "little"), msg, sig) is False
    # The other sign of a valid key is a different, valid point: the signature must fail.
    flipped = bytearray(pub)
    flipped[31] ^= 0x80
    assert ed25519._decode(bytes(flipped)) is not None
    assert C.ed25519_verify(bytes(flipped), msg, sig) is False


def test_ed25519_comb_table():
    # Rebuild the constant comb table from the base point with the generic point formulas.
    p = 2**255 - 19
    bx = 15112221349535400772501151409588531511454012693041857206046113283949847762202
    by = 46316835694926478169428394003475163141307993866256225615783033603165251855960
    d2 = 16295367250680780974490674513165176452449235426866156013048779062215315747161
    assert (by * by - bx * bx - 1 - (d2 * (p + 1) // 2) * bx * bx * by * by) % p == 0  # on the curve
    pts = [(bx, by, 1, bx * by % p)]
    for _ in range(3):
        X, Y, Z, T = pts[-1]
        for _ in range(64):
            X, Y, Z, T = ed25519._dbl(X, Y, Z)
        pts.append((X, Y, Z, T))
    for i in range(1, 16):
        acc = None
        for t in range(4):
            if (i >> t) & 1:
                if acc is None:
                    acc = pts[t]
                else:
                    X, Y, Z, T = acc
                    acc = ed25519._cadd(X, Y, Z, T, ed25519._cached(pts[t]), 0, 1)
        zi = x25519.inv(acc[2])
        x = acc[0] * zi % p
        y = acc[1] * zi % p
        want = b"".join(v.to_bytes(32, "little") for v in ((y + x) % p, (y - x) % p, d2 * x * y % p))
        assert ed25519._COMB[96 * (i - 1):96 * i] == want, i


def test_ed25519_sign_verify_roundtrip():
    for i in range(3):
        seed = bytes([i * 7 + j for j in range(32)])
        pub = C.ed25519_public(seed)
        msg = bytes(range(i * 40))
        sig = C.ed25519_sign(seed, msg)
        assert C.ed25519_verify(pub, msg, sig)
        assert ed25519.verify(pub, memoryview(msg), sig)
    assert _raises(C.ed25519_sign, bytes(31), b"")


# --- AES and AES-GCM -------------------------------------------------------------------------


def test_aes_fips197():
    pt = unhex("00112233445566778899aabbccddeeff")
    for key, ct in (("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
                    ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
                    ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "8ea2b7ca516745bfeafc49904b496089")):
        assert aes.SoftAES(unhex(key)).encrypt(pt + pt) == unhex(ct) * 2
        assert aes.new(unhex(key)).encrypt(pt + pt) == unhex(ct) * 2
    assert _raises(aes.new, bytes(20))


# GCM spec (McGrew & Viega) test cases 13-16: key, plaintext, IV, AAD, ciphertext, tag.
_K15 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
_P15 = ("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
_C15 = ("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad")
_GCM = (
    ("00" * 32, "", "00" * 12, "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
    ("00" * 32, "00" * 16, "00" * 12, "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
    (_K15, _P15, "cafebabefacedbaddecaf888", "", _C15, "b094dac5d93471bdec1a502270e3cc6c"),
    (_K15, _P15[:120], "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2", _C15[:120],
     "76fc6ece0f4e1768cddf8853bb2d551b"),
)


def test_gcm_known_answers():
    for key, pt, iv, aad, ct, tag in _GCM:
        a = C.aead(unhex(key))
        assert a.encrypt(unhex(iv), unhex(aad), unhex(pt)) == unhex(ct + tag)
        assert a.decrypt(unhex(iv), unhex(aad), unhex(ct + tag)) == unhex(pt)
        # The same object again (callers cache it), and memoryview inputs.
        assert a.decrypt(memoryview(unhex(iv)), memoryview(unhex(aad)), memoryview(unhex(ct + tag))) == unhex(pt)


def test_gcm_rejects_tampering():
    key, pt, iv, aad, ct, tag = [unhex(x) for x in _GCM[3]]
    a = C.aead(key)
    good = ct + tag
    for i in (0, len(ct) // 2, len(ct) - 1, len(ct), len(good) - 1):
        bad = bytearray(good)
        bad[i] ^= 0x80
        assert _raises(a.decrypt, iv, aad, bytes(bad)), i
    bad_aad = bytearray(aad)
    bad_aad[0] ^= 1
    assert _raises(a.decrypt, iv, bytes(bad_aad), good)
    assert _raises(a.decrypt, iv, aad + b"\x00", good)
    assert _raises(a.decrypt, iv, b"", good)
    bad_iv = bytearray(iv)
    bad_iv[11] ^= 1
    assert _raises(a.decrypt, bytes(bad_iv), aad, good)
    assert _raises(a.decrypt, iv, aad, good[:-1])  # truncated tag
    assert _raises(a.decrypt, iv, aad, good[1:])
    assert _raises(C.aead(bytes(32)).decrypt, iv, aad, good)  # wrong key


def test_gcm_rejects_short_input_and_bad_nonce():
    a = C.aead(bytes(32))
    for n in range(16):
        assert _raises(a.decrypt, bytes(12), b"", bytes(n))
    assert _raises(a.encrypt, bytes(8), b"", b"x")
    assert _raises(a.encrypt, bytes(16), b"", b"x")
    assert _raises(a.decrypt, bytes(13), b"", bytes(32))
    assert _raises(C.aead, bytes(16))


def test_gcm_roundtrip_lengths():
    a = C.aead(bytes(range(32)))
    nonce = b"\x00\x00\x00\x00" + (5).to_bytes(8, "big")
    for n in (0, 1, 15, 16, 17, 31, 32, 33, 64, 100):
        pt = bytes([(i * 13) & 255 for i in range(n)])
        for aad in (b"", b"a" * 15, b"h" * 32, b"z" * 33):
            ct = a.encrypt(nonce, aad, pt)
            assert len(ct) == n + 16
            assert a.decrypt(nonce, aad, ct) == pt


def test_gcm_long_messages():
    # Across the 512-byte keystream chunks; digests of cryptography's (OpenSSL's) output.
    want = {
        511: "7b8322d595715dad938f5e9ea479aba04c24d1dbb47fb2ae57f9c56848c774b9",
        512: "3663ca9cc04742498b6532d10be2f36aa90f45852e9a6048bc810a84f2c7e5d6",
        513: "bb07bfd33f3891c3101083436f076f825097dfcdf2cd1e8e461d92c2d0d9e62d",
        1500: "aa79db13e1db56ff24c3e8ea2c84461f23d9e65d1bc6843185f521eabfb6383d",
    }
    a = C.aead(bytes(range(32)))
    nonce = b"\x00\x00\x00\x00" + (9).to_bytes(8, "big")
    for n in (511, 512, 513, 1500):
        pt = bytes([(i * 7) & 255 for i in range(n)])
        ct = a.encrypt(nonce, b"x" * 20, pt)
        assert C.sha256(ct) == unhex(want[n]), n
        assert a.decrypt(nonce, b"x" * 20, ct) == pt
        bad = bytearray(ct)
        bad[n - 1] ^= 4
        assert _raises(a.decrypt, nonce, b"x" * 20, bytes(bad))


def test_gcm_rekey_nonce():
    # Noise REKEY (ockam-wire §4.3.7): nonce 2^64 - 1, 32 zero bytes; the key is 32 bytes out.
    k = C.aead(bytes(range(32))).encrypt(b"\x00\x00\x00\x00" + b"\xff" * 8, b"", bytes(32))[:32]
    assert len(k) == 32 and k != bytes(32)


def test_constant_time_equal():
    assert gcm.equal(b"abc", b"abc")
    assert not gcm.equal(b"abc", b"abd")
    assert not gcm.equal(b"abc", b"ab")


# --- composition -----------------------------------------------------------------------------


def test_noise_xx_vector():
    d = load("ockam_noise_xx.json")
    v = d["vector"]
    msgs, h, k1, k2 = noise_xx(C, v)
    for i in range(3):
        assert msgs[i] == unhex(v["messages"][i]["ciphertext"]), i
    assert h == unhex(d["derived"]["final_h"])
    assert k1 == unhex(d["derived"]["k1_responder_to_initiator"])
    assert k2 == unhex(d["derived"]["k2_initiator_to_responder"])


def test_p256_not_supported():
    assert _raises(C.p256_verify, b"\x04" + bytes(64), b"m", bytes(64))
    assert _raises(C.p256_keypair)
