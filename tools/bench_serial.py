"""Serial-link framing benchmark: bytes of overhead per message and encode/decode throughput.

    python3 tools/bench_serial.py
    MICROPYPATH=firmware micropython tools/bench_serial.py

Prints numbers only (firmware/serial-link.md §1 for the wire format). Throughput depends on the
interpreter and the machine; on a board, run it with mpremote (`mpremote run tools/bench_serial.py`
after copying hopseal/ to the board).
"""
import gc
import sys

try:
    _here = __file__[: __file__.rfind("/")] if "/" in __file__ else "."
    sys.path.insert(0, _here + "/../firmware")
except NameError:  # frozen or pasted into a REPL
    pass

from hopseal.wire.serial_frame import DATA, FrameDecoder, FrameEncoder, encode_frame, max_frame_size

try:
    from time import ticks_diff, ticks_us  # MicroPython

    def _now():
        return ticks_us()

    def _secs(t0, t1):
        return ticks_diff(t1, t0) / 1e6

except ImportError:
    from time import perf_counter

    def _now():
        return perf_counter()

    def _secs(t0, t1):
        return t1 - t0


SIZES = (16, 64, 256, 1024, 2048)
CHUNK = 256  # bytes per feed(), like a UART read


def body(n, seed):
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


def overhead_table():
    print("framing overhead (wire bytes - body bytes, one frame: 00 F8 COBS(type|body|CRC32) 00)")
    print("%6s %10s %10s %10s %9s" % ("body", "min", "random", "worst", "worst %"))
    for n in SIZES:
        lens = [len(encode_frame(DATA, body(n, s))) - n for s in range(1, 9)]
        worst = max_frame_size(n) - n
        zero = len(encode_frame(DATA, bytes(n))) - n
        print("%6d %10d %10.2f %10d %8.2f%%" % (n, zero, sum(lens) / len(lens), worst, 100.0 * worst / n))


def _alloc_per(fn, reps):
    """Heap bytes allocated per call (MicroPython only; None elsewhere)."""
    if not hasattr(gc, "mem_alloc"):
        return None
    gc.collect()
    gc.disable()
    try:
        a = gc.mem_alloc()
        for _ in range(reps):
            fn()
        return (gc.mem_alloc() - a) // reps
    finally:
        gc.enable()


def throughput_table():
    impl = sys.implementation.name
    print()
    ver = ".".join(str(v) for v in sys.implementation.version[:3])
    print("throughput on %s %s (feed() in %d-byte chunks)" % (impl, ver, CHUNK))
    print("%6s %7s %12s %12s %12s %12s %10s %10s" % (
        "body", "frames", "enc fr/s", "enc KB/s", "dec fr/s", "dec KB/s", "enc B/fr", "dec B/fr"))
    enc = FrameEncoder()
    for n in SIZES:
        b = body(n, n)
        frames = max(20, min(4000, 400000 // (n + 16)))
        if impl != "cpython":
            frames = max(10, frames // 4)
        t0 = _now()
        for _ in range(frames):
            enc.encode(DATA, b)
        t1 = _now()
        te = _secs(t0, t1)
        one = encode_frame(DATA, b)
        chunks = [one[i : i + CHUNK] for i in range(0, len(one), CHUNK)]  # small: fits a board
        dec = FrameDecoder()
        got = 0
        t0 = _now()
        for _ in range(frames):
            for c in chunks:
                got += len(dec.feed(c))
        t1 = _now()
        td = _secs(t0, t1)
        if got != frames:
            print("decode mismatch", got, frames)
        dec2 = FrameDecoder()
        ea = _alloc_per(lambda: enc.encode(DATA, b), 10)
        da = _alloc_per(lambda: dec2.feed(one), 10)
        print("%6d %7d %12.0f %12.1f %12.0f %12.1f %10s %10s" % (
            n, frames, frames / te, frames * n / te / 1024, frames / td, frames * n / td / 1024,
            "-" if ea is None else ea, "-" if da is None else da))


overhead_table()
throughput_table()
