"""Benchmark the crypto backends on the running interpreter; asserts nothing.

    MICROPYPATH=firmware micropython tools/bench/bench_crypto.py
    python3 tools/bench/bench_crypto.py      (SoftCrypto, and HostCrypto when `cryptography`
                                              is installed)

Prints `RESULT <name> <value> <unit>` lines that tools/bench/bench.py collects. Per operation
(`soft.` or `host.` before its name): the best mean time over a few rounds, throughput for AEAD
and SHA-256, and the heap it allocates (MicroPython: gc.mem_alloc() growth over one call, no
collection in between; CPython: tracemalloc peak over one call). On MicroPython the live heap
before and after importing the soft backend and after the run (modules plus the tables kept:
comb constant, GCM key tables) too.
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
    _root = _dirname(_dirname(_dirname(__file__.replace("\\", "/"))))
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


def result(name, value, unit):
    print("RESULT %s %s %s" % (name, value, unit))


def bench(c):
    """One RESULT line per operation and figure: `<backend>.<op>_us` (best mean time per call),
    `..._alloc_B` (heap one call allocates), `..._KiB_per_s` (AEAD and hash throughput)."""
    priv = bytes(range(1, 33))
    peer = c.x25519_public(bytes(range(33, 65)))
    ops = [
        ("x25519_shared", lambda: c.x25519(priv, peer), 0),
        ("x25519_public", lambda: c.x25519_public(priv), 0),
    ]
    if c.name == "soft":
        ops.append(("x25519_public_ladder", lambda: x25519.x25519_base(priv), 0))
    seed = bytes(range(7, 39))
    pub = c.ed25519_public(seed)
    msg = c.sha256(b"change data")  # Ockam signs a 32-byte hash
    sig = c.ed25519_sign(seed, msg)
    ops += [
        ("ed25519_public_same_seed", lambda: c.ed25519_public(seed), 0),
        ("ed25519_sign_32B", lambda: c.ed25519_sign(seed, msg), 0),
        ("ed25519_verify_32B", lambda: c.ed25519_verify(pub, msg, sig), 0),
    ]
    if c.name == "soft":
        fresh = [0]

        def sign_cold():  # a different seed each time: expands the key as well
            fresh[0] += 1
            return c.ed25519_sign(fresh[0].to_bytes(32, "little"), msg)

        ops.append(("ed25519_sign_new_seed", sign_cold, 0))
    key = bytes(range(32))
    nonce = bytes(4) + (1).to_bytes(8, "big")
    aad = bytes(32)
    a = c.aead(key)
    for n in (64, 1024):
        pt = bytes(n)
        ct = a.encrypt(nonce, aad, pt)
        ops.append(("aes256gcm_encrypt_%dB" % n, lambda pt=pt: a.encrypt(nonce, aad, pt), n))
        ops.append(("aes256gcm_decrypt_%dB" % n, lambda ct=ct: a.decrypt(nonce, aad, ct), n))
    ops += [
        ("aes256gcm_key_setup", lambda: c.aead(key), 0),
        ("hkdf_sha256_32B_ikm_64B_out", lambda: c.hkdf_sha256(aad, key, b"", 64), 0),
        ("hmac_sha256_64B", lambda: c.hmac_sha256(key, bytes(64)), 0),
        ("sha256_1KiB", lambda: c.sha256(bytes(1024)), 1024),
    ]
    if c.name == "soft":
        ops.append(("sha512_pure_python_96B", lambda: ed25519._sha512_py(bytes(96)), 0))
    t = {}
    for name, fn, nbytes in ops:
        us = _time(fn)
        t[name] = us
        result("%s.%s_us" % (c.name, name), "%.1f" % us, "us")
        alloc = _alloc(fn)
        if alloc >= 0:
            result("%s.%s_alloc_B" % (c.name, name), alloc, "B")
        if nbytes:
            result("%s.%s_KiB_per_s" % (c.name, name), "%.1f" % (nbytes / us * 1e6 / 1024), "KiB/s")
    # Noise XX, one side (ockam-wire §4.1): an ephemeral key, three DH, three MixKey HKDFs plus
    # Split, three AEAD key setups and about four small AEAD operations (the two verifies of
    # the peer's identity and key attestation come on top). Derived: sums of the rows above.
    side = (t["x25519_public"] + 3 * t["x25519_shared"] + 4 * t["hkdf_sha256_32B_ikm_64B_out"]
            + 3 * t["aes256gcm_key_setup"] + 4 * t["aes256gcm_encrypt_64B"])
    result("%s.xx_handshake_one_side_derived_us" % c.name, "%.1f" % side, "us")
    result("%s.xx_handshake_one_side_with_identity_derived_us" % c.name,
           "%.1f" % (side + 2 * t["ed25519_verify_32B"]), "us")


def main():
    impl = sys.implementation
    print("interpreter: %s %s" % (impl.name, ".".join(str(v) for v in impl.version[:3])))
    print("AES provider for SoftCrypto: %s" % aes.provider())
    if _MP:
        result("heap_before_imports_B", _base, "B")
        result("heap_after_soft_import_B", _after_import, "B")
    bench(SoftCrypto())
    if _MP:
        gc.collect()
        result("heap_after_run_B", gc.mem_alloc(), "B")  # modules + kept tables
    else:
        try:
            from hopseal_host.crypto_host import HostCrypto
        except ImportError:
            print("(HostCrypto skipped: `cryptography` is not installed)")
        else:
            bench(HostCrypto())


main()
