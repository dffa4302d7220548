"""Secure-channel costs on this interpreter: handshake CPU time per side and channel throughput.

The handshake is driven sans-I/O (no sockets), so the figures are the CPU each side spends:
Noise XX, the identity payloads (encode; decode and verify the peer's change history and
purpose-key attestation) and the split. "cached" means the peer's exact change history and
attestation were verified before (the bounded VerifiedCache), so no Ed25519 verification runs.
Board crypto (SoftCrypto) on MicroPython; the host backend (cryptography) on CPython.

    PYTHONPATH=firmware:host python3 tools/bench/bench_channel.py
    MICROPYPATH=firmware micropython tools/bench/bench_channel.py

Prints `RESULT <name> <value> <unit>` lines that tools/bench/bench.py collects.
"""
import gc
import sys
import time

from hopseal.secure.payload import decode_plaintext, encode_payload
from hopseal.secure.cipher import Decryptor, Encryptor
from hopseal.compat import wall_time
from hopseal.secure.identity import VerifiedCache, verify_identity_payload
from hopseal.secure.noise import HandshakeState
from hopseal.wire.message import route
from hopseal.secure.vault import create_vault

try:
    now_us = time.ticks_us
    diff = time.ticks_diff
except AttributeError:

    def now_us():
        return int(time.process_time() * 1e6)

    def diff(a, b):
        return a - b


def backend():
    try:
        from hopseal_host.crypto_host import HostCrypto

        return HostCrypto()
    except ImportError:
        from hopseal.crypto.soft import SoftCrypto

        return SoftCrypto()


def handshake(c, a, b, cache_i, cache_r):
    """One complete handshake; returns (initiator_us, responder_us)."""
    t = [0, 0]
    now = wall_time()
    t0 = now_us()
    hi = HandshakeState(c, True, a.x25519_priv, s_pub=a.x25519_pub)
    m1 = hi.write_message(b"")
    t[0] += diff(now_us(), t0)
    t0 = now_us()
    hr = HandshakeState(c, False, b.x25519_priv, s_pub=b.x25519_pub)
    hr.read_message(m1)
    m2 = hr.write_message(b.payload())
    t[1] += diff(now_us(), t0)
    t0 = now_us()
    p2 = hi.read_message(m2)
    verify_identity_payload(c, p2, hi.remote_static, now, cache_i)
    m3 = hi.write_message(a.payload())
    hi.split()
    t[0] += diff(now_us(), t0)
    t0 = now_us()
    p3 = hr.read_message(m3)
    verify_identity_payload(c, p3, hr.remote_static, now, cache_r)
    hr.split()
    t[1] += diff(now_us(), t0)
    return t


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    c = backend()
    now = wall_time()
    a = create_vault(c, now)
    b = create_vault(c, now)
    runs = 7
    first = [handshake(c, a, b, None, None) for _ in range(runs)]
    ci, cr = VerifiedCache(4), VerifiedCache(4)
    handshake(c, a, b, ci, cr)
    cached = [handshake(c, a, b, ci, cr) for _ in range(runs)]
    print("RESULT handshake_initiator_first_ms %.2f ms" % (median([x[0] for x in first]) / 1000))
    print("RESULT handshake_responder_first_ms %.2f ms" % (median([x[1] for x in first]) / 1000))
    print("RESULT handshake_initiator_cached_ms %.2f ms" % (median([x[0] for x in cached]) / 1000))
    print("RESULT handshake_responder_cached_ms %.2f ms" % (median([x[1] for x in cached]) / 1000))
    key = bytes(range(32))
    onward, ret = route("echo"), route("0123456789abcdef0123456789abcdef")
    for size in (64, 1024):
        enc, dec = Encryptor(c, key), Decryptor(c, key)
        payload = b"x" * size
        n = 300 if size == 64 else 100
        gc.collect()
        t0 = now_us()
        for _ in range(n):
            pt = decode_plaintext(dec.decrypt(enc.encrypt(encode_payload(onward, ret, payload)))[1])
        us = diff(now_us(), t0)
        assert pt[1].payload == payload
        print("RESULT channel_%dB_msgs_per_s %.0f msg/s" % (size, n * 1e6 / us))
        print("RESULT channel_%dB_kbytes_per_s %.1f kB/s" % (size, n * size * 1e3 / us))
    if hasattr(gc, "mem_alloc"):
        gc.collect()
        print("RESULT heap_after_bench_bytes %d B" % gc.mem_alloc())


main()
sys.exit(0)
