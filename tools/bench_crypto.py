"""Benchmark the crypto backends on the running interpreter; prints a table, asserts nothing.

    MICROPYPATH=firmware micropython tools/bench_crypto.py
    python3 tools/bench_crypto.py            (SoftCrypto, and HostCrypto when `cryptography`
                                              is installed)

Per operation: the best mean time over a few rounds, throughput for AEAD, and the heap it
allocates (MicroPython: gc.mem_alloc() growth over one call, no collection in between; CPython:
tracemalloc peak over one call). On MicroPython the live heap after imports and after the run
(modules plus the tables kept: comb constant, GCM key tables) is printed too.
"""
import gc
import sys

try:
    from time import ticks_diff, ticks_us

    def _now():
        return ticks_us()

    def _elapsed(t0):
        return ticks_diff(ticks_us(), t0)
except ImportError:  # CPython
    from time import perf_counter

    def _now():
        return perf_counter()

    def _elapsed(t0):
        return (perf_counter() - t0) * 1e6


def _dirname(p):
    i = p.rfind("/")
    return p[:i] if i > 0 else "."


_MP = hasattr(gc, "mem_alloc")
if not _MP:  # CPython: find the runtime (and the host package) next to this file
    _root = _dirname(_dirname(__file__.replace("\\", "/")))
    for _p in (_root + "/firmware", _root + "/host"):
        if _p not in sys.path:
            sys.path.insert(0, _p)

gc.collect()
_base = gc.mem_alloc() if _MP else 0

from hopseal.crypto import aes, ed25519, x25519  # noqa: E402
from hopseal.crypto.soft import SoftCrypto  # noqa: E402

gc.collect()
_after_import = gc.mem_alloc() if _MP else 0

try:
    import tracemalloc
except ImportError:
    tracemalloc = None


def _alloc(fn):
    """Heap allocated by one call of fn()."""
    if _MP:
        gc.collect()
        a = gc.mem_alloc()
        fn()
        return gc.mem_alloc() - a
    if tracemalloc is None:
        return -1
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _time(fn, budget_us=300000, rounds=3):
    fn()  # warm up (tables, caches)
    t0 = _now()
    fn()
    one = max(_elapsed(t0), 1)
    n = max(1, min(2000, int(budget_us / rounds / one)))
    best = None
    for _ in range(rounds):
        t0 = _now()
        for _ in range(n):
            fn()
        dt = _elapsed(t0) / n
        if best is None or dt < best:
            best = dt
    return best


def _row(name, us, alloc, nbytes=0):
    rate = ""
    if nbytes:
        rate = "%8.1f KB/s" % (nbytes / us * 1e6 / 1024)
    print("%-34s %11.1f us %s %9d B" % (name, us, rate or " " * 13, alloc))


def bench(c):
    print("backend %s" % c.name)
    print("%-34s %14s %13s %11s" % ("operation", "time/op", "throughput", "alloc/op"))
    priv = bytes(range(1, 33))
    peer = c.x25519_public(bytes(range(33, 65)))
    ops = [
        ("x25519 shared secret", lambda: c.x25519(priv, peer), 0),
        ("x25519 public key", lambda: c.x25519_public(priv), 0),
    ]
    if c.name == "soft":
        ops.append(("x25519 public key (ladder, u=9)", lambda: x25519.x25519_base(priv), 0))
    seed = bytes(range(7, 39))
    pub = c.ed25519_public(seed)
    msg = c.sha256(b"change data")  # Ockam signs a 32-byte hash
    sig = c.ed25519_sign(seed, msg)
    ops += [
        ("ed25519 public key, same seed", lambda: c.ed25519_public(seed), 0),
        ("ed25519 sign (32 B msg)", lambda: c.ed25519_sign(seed, msg), 0),
        ("ed25519 verify (32 B msg)", lambda: c.ed25519_verify(pub, msg, sig), 0),
    ]
    if c.name == "soft":
        fresh = [0]

        def sign_cold():  # a different seed each time: expands the key as well
            fresh[0] += 1
            return c.ed25519_sign(fresh[0].to_bytes(32, "little"), msg)

        ops.append(("ed25519 sign, new seed", sign_cold, 0))
    key = bytes(range(32))
    nonce = bytes(4) + (1).to_bytes(8, "big")
    aad = bytes(32)
    a = c.aead(key)
    for n in (64, 1024):
        pt = bytes(n)
        ct = a.encrypt(nonce, aad, pt)
        ops.append(("aes-256-gcm encrypt %d B" % n, lambda pt=pt: a.encrypt(nonce, aad, pt), n))
        ops.append(("aes-256-gcm decrypt %d B" % n, lambda ct=ct: a.decrypt(nonce, aad, ct), n))
    ops += [
        ("aes-256-gcm key setup (aead())", lambda: c.aead(key), 0),
        ("hkdf-sha256 (32 B ikm, 64 B out)", lambda: c.hkdf_sha256(aad, key, b"", 64), 0),
        ("hmac-sha256 (64 B)", lambda: c.hmac_sha256(key, bytes(64)), 0),
        ("sha256 (1 KiB)", lambda: c.sha256(bytes(1024)), 1024),
    ]
    if c.name == "soft":
        ops.append(("sha512, pure Python (96 B)", lambda: ed25519._sha512_py(bytes(96)), 0))
    t = {}
    for name, fn, nbytes in ops:
        us = _time(fn)
        t[name] = us
        _row(name, us, _alloc(fn), nbytes)
    # Noise XX, one side (ockam-wire §4.1): an ephemeral key, three DH, three MixKey HKDFs plus
    # Split, three AEAD key setups and about four small AEAD operations (the two verifies of
    # the peer's identity and key attestation come on top).
    side = (t["x25519 public key"] + 3 * t["x25519 shared secret"]
            + 4 * t["hkdf-sha256 (32 B ikm, 64 B out)"] + 3 * t["aes-256-gcm key setup (aead())"]
            + 4 * t["aes-256-gcm encrypt 64 B"])
    print("%-34s %11.1f us   (derived: sum of the rows above)" % ("XX handshake crypto, one side", side))
    print("%-34s %11.1f us   (derived: plus two ed25519 verifies)" % ("  ... with identity checks",
                                                                      side + 2 * t["ed25519 verify (32 B msg)"]))


def main():
    impl = sys.implementation
    print("interpreter: %s %s" % (impl.name, ".".join(str(v) for v in impl.version[:3])))
    print("AES provider for SoftCrypto: %s" % aes.provider())
    if _MP:
        print("heap in use: %d B before imports, %d B after importing the soft backend" % (_base, _after_import))
    print()
    bench(SoftCrypto())
    if _MP:
        gc.collect()
        print("heap in use after the run (modules + kept tables): %d B" % gc.mem_alloc())
    else:
        try:
            from hopseal_host.crypto_host import HostCrypto
        except ImportError:
            print("(HostCrypto skipped: `cryptography` is not installed)")
        else:
            print()
            bench(HostCrypto())


main()
