"""Crypto cross-check cases and a Noise XX handshake, run on a crypto backend.

Helpers for tests/host/test_crypto_crosscheck.py and tests/runtime/test_crypto_soft.py (this file
has no test_ prefix, so the runners do not collect it). As a script, under MicroPython:

    micropython crosscheck_mp.py CASES.json   run every case on SoftCrypto; one line per
                                              disagreement, then `crosscheck: N cases, A agree`
    micropython crosscheck_mp.py --handshake  the Noise XX vector's crypto (both sides), then
                                              `handshake: ok live=B bytes max_live=B bytes`

A case is a dict with "op" and hex fields; an expected error is written as null ("out": null).
"""
from binascii import hexlify, unhexlify
import gc
import json
import sys

from hopseal.errors import CryptoError


def _h(b):
    return hexlify(b).decode()


def run_case(c, case):
    """Return (agrees, detail) for one case on backend `c`."""
    op = case["op"]
    u = unhexlify
    try:
        if op == "x25519":
            got = c.x25519(u(case["priv"]), u(case["pub"]))
        elif op == "x25519_public":
            got = c.x25519_public(u(case["priv"]))
        elif op == "ed25519_public":
            got = c.ed25519_public(u(case["seed"]))
        elif op == "ed25519_sign":
            got = c.ed25519_sign(u(case["seed"]), u(case["msg"]))
        elif op == "ed25519_verify":
            got = c.ed25519_verify(u(case["pub"]), u(case["msg"]), u(case["sig"]))
            return got == case["out"], str(got)
        elif op == "gcm_encrypt":
            got = c.aead(u(case["key"])).encrypt(u(case["nonce"]), u(case["aad"]), u(case["pt"]))
        elif op == "gcm_decrypt":
            got = c.aead(u(case["key"])).decrypt(u(case["nonce"]), u(case["aad"]), u(case["ct"]))
        elif op == "hkdf":
            got = c.hkdf_sha256(u(case["salt"]), u(case["ikm"]), u(case["info"]), case["len"])
        elif op == "hmac":
            got = c.hmac_sha256(u(case["key"]), u(case["msg"]))
        elif op == "sha256":
            got = c.sha256(u(case["msg"]))
        else:
            return False, "unknown op " + op
    except CryptoError:
        return case["out"] is None, "CryptoError"
    if case["out"] is None:
        return False, "no error, got " + _h(got)
    return got == u(case["out"]), _h(got)


def run_cases(c, cases):
    """(count, agree, [(index, op, detail) for each disagreement])."""
    bad = []
    agree = 0
    for i in range(len(cases)):
        ok, detail = run_case(c, cases[i])
        if ok:
            agree += 1
        else:
            bad.append((i, cases[i]["op"], detail))
    return len(cases), agree, bad


# --- Noise XX (ockam-wire §4.1), just the crypto, for the shared vector ---------------------


def _nonce(n):
    return b"\x00\x00\x00\x00" + n.to_bytes(8, "big")


class _Sym:
    def __init__(self, c, name):
        self.c = c
        self.ck = name
        self.h = c.sha256(name)
        self.k = None
        self.n = 0

    def mix_hash(self, data):
        self.h = self.c.sha256(self.h + data)

    def mix_key(self, dh):
        out = self.c.hkdf_sha256(self.ck, dh, b"", 64)
        self.ck = out[:32]
        self.k = self.c.aead(out[32:])
        self.n = 0

    def encrypt_and_hash(self, p):
        if self.k is None:
            ct = p
        else:
            ct = self.k.encrypt(_nonce(self.n), self.h, p)
            self.n += 1
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ct):
        if self.k is None:
            p = ct
        else:
            p = self.k.decrypt(_nonce(self.n), self.h, ct)
            self.n += 1
        self.mix_hash(ct)
        return p

    def split(self):
        out = self.c.hkdf_sha256(self.ck, b"", b"", 64)
        return out[:32], out[32:]


def noise_xx(c, v, step=None):
    """Both sides of the XX handshake with the vector's fixed keys and empty payloads.

    Returns ([msg1, msg2, msg3], final h, k1, k2); `step()` is called between messages."""
    u = unhexlify
    name = v["protocol_name"].encode()
    name = name + bytes(32 - len(name))
    i_s = u(v["init_static"])
    i_e = u(v["init_ephemeral"])
    r_s = u(v["resp_static"])
    r_e = u(v["resp_ephemeral"])
    i_s_pub = c.x25519_public(i_s)
    r_s_pub = c.x25519_public(r_s)
    ini = _Sym(c, name)
    res = _Sym(c, name)
    # -> e
    i_e_pub = c.x25519_public(i_e)
    ini.mix_hash(i_e_pub)
    msg1 = i_e_pub + ini.encrypt_and_hash(b"")
    re_ = msg1[:32]
    res.mix_hash(re_)
    res.decrypt_and_hash(msg1[32:])
    if step:
        step()
    # <- e, ee, s, es
    r_e_pub = c.x25519_public(r_e)
    res.mix_hash(r_e_pub)
    res.mix_key(c.x25519(r_e, re_))
    m2 = r_e_pub + res.encrypt_and_hash(r_s_pub)
    res.mix_key(c.x25519(r_s, re_))
    msg2 = m2 + res.encrypt_and_hash(b"")
    ini.mix_hash(msg2[:32])
    ini.mix_key(c.x25519(i_e, msg2[:32]))
    rs = ini.decrypt_and_hash(msg2[32:80])
    ini.mix_key(c.x25519(i_e, rs))
    ini.decrypt_and_hash(msg2[80:])
    if step:
        step()
    # -> s, se
    m3 = ini.encrypt_and_hash(i_s_pub)
    ini.mix_key(c.x25519(i_s, msg2[:32]))
    msg3 = m3 + ini.encrypt_and_hash(b"")
    is_ = res.decrypt_and_hash(msg3[:48])
    res.mix_key(c.x25519(r_e, is_))
    res.decrypt_and_hash(msg3[48:])
    if step:
        step()
    if ini.h != res.h or ini.split() != res.split():
        raise CryptoError("the two sides disagree")
    k1, k2 = ini.split()
    return [msg1, msg2, msg3], ini.h, k1, k2


def _handshake_main():
    from hopseal.crypto.soft import SoftCrypto

    # The vector file is read and dropped first, so it does not count against the handshake.
    from vectors import load

    d = load("ockam_noise_xx.json")
    v = d["vector"]
    der = d["derived"]
    d = None
    gc.collect()
    peak = [0]

    def step():
        gc.collect()
        used = gc.mem_alloc()
        if used > peak[0]:
            peak[0] = used

    c = SoftCrypto()
    msgs, h, k1, k2 = noise_xx(c, v, step)
    ok = _h(h) == der["final_h"] and _h(k1) == der["k1_responder_to_initiator"]
    ok = ok and _h(k2) == der["k2_initiator_to_responder"]
    for i in range(3):
        ok = ok and _h(msgs[i]) == v["messages"][i]["ciphertext"]
    gc.collect()
    print("handshake: %s live=%d bytes max_live=%d bytes impl=%s" % ("ok" if ok else "MISMATCH", gc.mem_alloc(), peak[0],
                                                                   c.impl))


def _cases_main(path, impl):
    """Run the cases on SoftCrypto's `impl` path (python or viper)."""
    from hopseal.crypto.soft import SoftCrypto

    with open(path) as f:
        cases = json.load(f)
    n, agree, bad = run_cases(SoftCrypto(native=impl == "viper"), cases)
    for i, op, detail in bad:
        print("DISAGREE", i, op, detail)
    print("crosscheck[%s]: %d cases, %d agree" % (impl, n, agree))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--handshake":
        _handshake_main()
    elif len(sys.argv) > 1:
        _cases_main(sys.argv[1], sys.argv[2])
    else:
        print(__doc__)
