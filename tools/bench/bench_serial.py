"""Serial-link framing benchmark: bytes of overhead per message and encode/decode throughput.

    python3 tools/bench/bench_serial.py
    MICROPYPATH=firmware micropython tools/bench/bench_serial.py

Prints `RESULT <name> <value> <unit>` lines that tools/bench/bench.py collects, per body size N:
  frame_overhead_min_<N>B        wire bytes minus body bytes for an all-zero body (one frame:
                                 00 F8 COBS(type|body|CRC32) 00; firmware/serial-link.md §1)
  frame_overhead_random_<N>B     the same, averaged over random bodies
  frame_overhead_worst_<N>B      the bound (max_frame_size)
  encode_<N>B_frames_per_s, encode_<N>B_KiB_per_s, decode_<N>B_frames_per_s,
  decode_<N>B_KiB_per_s          frames and KiB of body per second (decode: feed() in 256-byte
                                 chunks, like a UART read)
  encode_alloc_<N>B, decode_alloc_<N>B   heap bytes allocated per frame (MicroPython only)
Throughput depends on the interpreter and the machine; on a board, run it with mpremote
(`mpremote run tools/bench/bench_serial.py` after copying hopseal/ to the board).
"""
import gc
import sys

try:
    _here = __file__[: __file__.rfind("/")] if "/" in __file__ else "."
    sys.path.insert(0, _here + "/../../firmware")
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


def result(name, value, unit):
    print("RESULT %s %s %s" % (name, value, unit))


def overheads():
    for n in SIZES:
        lens = [len(encode_frame(DATA, body(n, s))) - n for s in range(1, 9)]
        result("frame_overhead_min_%dB" % n, len(encode_frame(DATA, bytes(n))) - n, "B")
        result("frame_overhead_random_%dB" % n, "%.2f" % (sum(lens) / len(lens)), "B")
        result("frame_overhead_worst_%dB" % n, max_frame_size(n) - n, "B")


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


def throughput():
    impl = sys.implementation.name
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
        result("encode_%dB_frames_per_s" % n, "%.0f" % (frames / te), "frame/s")
        result("encode_%dB_KiB_per_s" % n, "%.1f" % (frames * n / te / 1024), "KiB/s")
        result("decode_%dB_frames_per_s" % n, "%.0f" % (frames / td), "frame/s")
        result("decode_%dB_KiB_per_s" % n, "%.1f" % (frames * n / td / 1024), "KiB/s")
        dec2 = FrameDecoder()
        ea = _alloc_per(lambda: enc.encode(DATA, b), 10)
        da = _alloc_per(lambda: dec2.feed(one), 10)
        if ea is not None:
            result("encode_alloc_%dB" % n, ea, "B/frame")
            result("decode_alloc_%dB" % n, da, "B/frame")


overheads()
throughput()
