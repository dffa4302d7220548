"""Benchmark the crypto backends on the running interpreter; asserts nothing.

    MICROPYPATH=firmware micropython tools/bench/bench_crypto.py
    python3 tools/bench/bench_crypto.py      (SoftCrypto, and HostCrypto when `cryptography`
                                              is installed)

Prints `RESULT <name> <value> <unit>` lines that tools/bench/bench.py collects. Per operation
(the backend's path before its name: `python.` SoftCrypto's pure-Python code, `viper.` its viper
kernels where the port compiles them, `host.` HostCrypto): the best mean time over a few rounds,
throughput for AEAD and hashes, and the heap it allocates (MicroPython: gc.mem_alloc() growth
over one call, no collection in between; CPython: tracemalloc peak over one call). Then a real
Noise XX handshake with identity payloads, driven sans-I/O in this process, per side: CPU time
on first contact (two Ed25519 verifications of the peer) and with the peer cached
(VerifiedCache), the bytes it allocates and the peak heap above the start. `ratio.` lines are
python / viper, and `esp32_160MHz_estimate.` lines scale this host's MicroPython times by the
factor measured for bytecode (128-184x, shared/notes/embedded.md §2.5): an estimate, not a
measurement; native code may scale differently. On MicroPython the live heap before and after
importing the soft backend and after the run (modules plus the tables kept) too.
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

from hopseal.crypto import aes, ed25519, viper, x25519  # noqa: E402
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


def bench(c, tag):
    """One RESULT line per operation and figure: `<tag>.<op>_us` (best mean time per call),
    `..._alloc_B` (heap one call allocates), `..._KiB_per_s` (AEAD and hash throughput).
    Returns {op: us}."""
    priv = bytes(range(1, 33))
    peer = c.x25519_public(bytes(range(33, 65)))
    ops = [
        ("x25519_shared", lambda: c.x25519(priv, peer), 0),
        ("x25519_public", lambda: c.x25519_public(priv), 0),
    ]
    if tag == "python":
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
        fresh = [0x55]

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
    if tag == "python":
        ops.append(("sha512_1KiB", lambda: ed25519._sha512_py(bytes(1024)), 1024))
    elif tag == "viper":
        from hopseal.crypto import fast25519

        ops.append(("sha512_1KiB", lambda: fast25519.sha512(bytes(1024)), 1024))
    else:
        ops.append(("sha512_1KiB", lambda: ed25519.sha512(bytes(1024)), 1024))
    t = {}
    for name, fn, nbytes in ops:
        us = _time(fn)
        t[name] = us
        result("%s.%s_us" % (tag, name), "%.1f" % us, "us")
        alloc = _alloc(fn)
        if alloc >= 0:
            result("%s.%s_alloc_B" % (tag, name), alloc, "B")
        if nbytes:
            result("%s.%s_KiB_per_s" % (tag, name), "%.1f" % (nbytes / us * 1e6 / 1024), "KiB/s")
    # Noise XX, one side (ockam-wire §4.1): an ephemeral key, three DH, three MixKey HKDFs plus
    # Split, three AEAD key setups and about four small AEAD operations (the two verifies of
    # the peer's identity and key attestation come on top). Derived: sums of the rows above.
    side = (t["x25519_public"] + 3 * t["x25519_shared"] + 4 * t["hkdf_sha256_32B_ikm_64B_out"]
            + 3 * t["aes256gcm_key_setup"] + 4 * t["aes256gcm_encrypt_64B"])
    result("%s.xx_handshake_one_side_derived_us" % tag, "%.1f" % side, "us")
    result("%s.xx_handshake_one_side_with_identity_derived_us" % tag,
           "%.1f" % (side + 2 * t["ed25519_verify_32B"]), "us")
    t.update(handshakes(c, tag))
    return t


class _Metered:
    """A backend wrapper for allocation counting: every crypto call starts on a collected heap
    and its growth is added up, plus the growth between calls (the Noise and identity code).
    Collections only happen here, so nothing allocated is missed while each call's transient
    fits the heap (2 MB by default; a pure-Python X25519 allocates about half of that)."""

    def __init__(self, inner):
        self._inner = inner
        self.total = 0
        self.peak = 0
        self.base = 0
        self._last = None

    def start(self):
        gc.collect()
        self.base = self._last = gc.mem_alloc()
        self.total = 0
        self.peak = 0

    def _call(self, fn, args):
        now = gc.mem_alloc()
        self.total += now - self._last
        self.peak = max(self.peak, now - self.base)
        gc.collect()
        a = gc.mem_alloc()
        r = fn(*args)
        b = gc.mem_alloc()
        self.total += b - a
        self.peak = max(self.peak, b - self.base)
        self._last = b
        return r

    def stop(self):
        now = gc.mem_alloc()
        self.total += now - self._last
        self.peak = max(self.peak, now - self.base)

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr
        return lambda *args: self._call(attr, args)


def _handshake(c, a, b, cache_i, cache_r, meters=None):
    """One complete Noise XX handshake with identity payloads, sans-I/O in this process;
    returns (initiator_us, responder_us). With `meters` (two _Metered, initiator and responder
    backends), each side's allocation is counted instead (the timing is then meaningless)."""
    from hopseal.compat import wall_time
    from hopseal.secure.identity import verify_identity_payload
    from hopseal.secure.noise import HandshakeState

    ci, cr = (c, c) if meters is None else meters
    t = [0, 0]
    now = wall_time()
    m = meters[0] if meters else None
    if m:
        m.start()
    t0 = _now()
    hi = HandshakeState(ci, True, a.x25519_priv, s_pub=a.x25519_pub)
    m1 = hi.write_message(b"")
    t[0] += _elapsed(t0)
    if m:
        m.stop()
        m = meters[1]
        m.start()
    t0 = _now()
    hr = HandshakeState(cr, False, b.x25519_priv, s_pub=b.x25519_pub)
    hr.read_message(m1)
    m2 = hr.write_message(b.payload())
    t[1] += _elapsed(t0)
    if m:
        m.stop()
        tot, peak = m.total, m.peak
        m = meters[0]
        tot0, peak0 = m.total, m.peak
        m.start()
    t0 = _now()
    p2 = hi.read_message(m2)
    verify_identity_payload(ci, p2, hi.remote_static, now, cache_i)
    m3 = hi.write_message(a.payload())
    hi.split()
    t[0] += _elapsed(t0)
    if m:
        m.stop()
        m.total += tot0
        m.peak = max(m.peak, peak0)
        m = meters[1]
        m.start()
    t0 = _now()
    p3 = hr.read_message(m3)
    verify_identity_payload(cr, p3, hr.remote_static, now, cache_r)
    hr.split()
    t[1] += _elapsed(t0)
    if m:
        m.stop()
        m.total += tot
        m.peak = max(m.peak, peak)
    return t


def handshakes(c, tag):
    """Per side, first contact and cached peer: `<tag>.handshake_<side>_<first|cached>_us`, then
    (MicroPython) `..._alloc_B` and `..._peak_heap_B`. Returns {name: us}."""
    from hopseal.compat import wall_time
    from hopseal.secure.identity import VerifiedCache
    from hopseal.secure.vault import create_vault

    now = wall_time()
    a = create_vault(c, now)
    b = create_vault(c, now)
    out = {}
    for kind in ("first", "cached"):
        caches = (None, None)
        if kind == "cached":
            caches = (VerifiedCache(4), VerifiedCache(4))
            _handshake(c, a, b, caches[0], caches[1])
        runs = [_handshake(c, a, b, caches[0], caches[1]) for _ in range(5)]
        for i, side in enumerate(("initiator", "responder")):
            xs = sorted(r[i] for r in runs)
            name = "handshake_%s_%s" % (side, kind)
            out[name] = xs[len(xs) // 2]
            result("%s.%s_us" % (tag, name), "%.1f" % out[name], "us")
        if _MP:
            meters = (_Metered(c), _Metered(c))
            _handshake(c, a, b, caches[0], caches[1], meters)
            for i, side in enumerate(("initiator", "responder")):
                name = "handshake_%s_%s" % (side, kind)
                out[name + "_alloc"] = meters[i].total
                out[name + "_peak"] = meters[i].peak
                result("%s.%s_alloc_B" % (tag, name), meters[i].total, "B")
                result("%s.%s_peak_heap_B" % (tag, name), meters[i].peak, "B")
    return out


# (op, what, bytes per call for a MB/s figure, or 0)
_COMPARE = (
    ("x25519_shared", "X25519", 0),
    ("x25519_public", "X25519 public key (comb)", 0),
    ("ed25519_sign_32B", "Ed25519 sign", 0),
    ("ed25519_verify_32B", "Ed25519 verify", 0),
    ("sha512_1KiB", "SHA-512 per KiB", 0),
    ("aes256gcm_encrypt_1024B", "AES-256-GCM 1 KiB", 1024),
    ("aes256gcm_encrypt_64B", "AES-256-GCM 64 B", 64),
    ("handshake_initiator_first", "handshake initiator, first contact", 0),
    ("handshake_responder_first", "handshake responder, first contact", 0),
    ("handshake_initiator_cached", "handshake initiator, cached peer", 0),
    ("handshake_responder_cached", "handshake responder, cached peer", 0),
)
_ESP32_FACTOR = (128, 184)  # host MicroPython / ESP32 @160 MHz, bytecode (embedded.md §2.5)


def compare(py, vp):
    """The side-by-side lines: ratios python / viper, MB/s both ways, the ESP32 estimate."""
    for op, what, nbytes in _COMPARE:
        if op not in py or op not in vp:
            continue
        result("ratio.%s_python_over_viper" % op, "%.2f" % (py[op] / vp[op]), "x")
        if nbytes:
            for tag, t in (("python", py), ("viper", vp)):
                result("%s.%s_MB_per_s" % (tag, op), "%.2f" % (nbytes / t[op]), "MB/s")
        for key in ("_alloc", "_peak"):
            if op + key in py and op + key in vp:
                result("ratio.%s%s_python_over_viper" % (op, key), "%.1f" % (py[op + key] / max(vp[op + key], 1)), "x")
    lo, hi = _ESP32_FACTOR
    for tag, t in (("python", py), ("viper", vp)):
        for op, what, nbytes in _COMPARE:
            if op in t and op.startswith("handshake") or op in ("x25519_shared", "ed25519_verify_32B"):
                if op in t:
                    result("esp32_160MHz_estimate.%s.%s_ms" % (tag, op), "%.0f-%.0f" % (t[op] * lo / 1000, t[op] * hi / 1000), "ms")
        op = "aes256gcm_encrypt_1024B"
        if op in t:
            result("esp32_160MHz_estimate.%s.%s_KB_per_s" % (tag, op),
                   "%.0f-%.0f" % (1024e3 / (t[op] * hi), 1024e3 / (t[op] * lo)), "KB/s")


def main():
    impl = sys.implementation
    print("interpreter: %s %s" % (impl.name, ".".join(str(v) for v in impl.version[:3])))
    print("AES provider for SoftCrypto: %s" % aes.provider())
    if _MP:
        result("heap_before_imports_B", _base, "B")
        result("heap_after_soft_import_B", _after_import, "B")
    py = bench(SoftCrypto(native=False), "python")
    if viper.FE is not None:
        vp = bench(SoftCrypto(native=True), "viper")
        compare(py, vp)
    else:
        print("(no viper path on this interpreter: %s)" % ("CPython" if not _MP else "the port cannot compile viper"))
    if _MP:
        gc.collect()
        result("heap_after_run_B", gc.mem_alloc(), "B")  # modules + kept tables
    else:
        try:
            from hopseal_host.crypto_host import HostCrypto
        except ImportError:
            print("(HostCrypto skipped: `cryptography` is not installed)")
        else:
            bench(HostCrypto(), "host")


main()
