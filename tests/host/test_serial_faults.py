"""Fault injection and properties for the serial-link framing (firmware/serial-link.md §3).

CPython only. A seeded harness sends thousands of frames with console text between them, damages
the byte stream (bit errors, dropped and inserted bytes, lost and extra delimiters), feeds it in
random chunks and checks the receiver's resync rules (firmware/serial-link.md §3):
  (a) no corrupted frame is delivered: every delivered frame equals one that was sent, in order,
      at most once;
  (b) every frame whose own bytes (leading 00 to trailing 00) arrived intact is delivered, so
      resync takes no more than the damaged frame itself;
  (c) console text whose bytes and both neighbouring delimiters arrived intact is delivered
      byte-exact and in order;
  (d) the decoder never holds more than max_body + 5 bytes.
Goodput is printed (run with -s) and recorded as test properties, next to the analytic bound
(1 - BER)^(8 L) for bit errors.
"""
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hopseal.wire.serial_frame import (
    DATA,
    DEFAULT_MAX_BODY,
    FRAME_TYPES,
    HELLO,
    PING,
    PONG,
    FrameDecoder,
    cobs_decode,
    cobs_encode,
    cobs_max,
    encode_frame,
)

CAP = DEFAULT_MAX_BODY + 5

_WORDS = [
    "I", "W", "E", "node:", "link", "up", "down", "rx", "tx", "heap", "free", "=", "12345",
    "Traceback", "(most recent call last):", "OSError:", "[Errno 110]", "ETIMEDOUT", ">>>",
    "caf\u00e9", "\u2192", "\u00b0C", "\u2603", "\U0001f600", "\t", "\x1b[0m", "\x03", "\x7f",
]


def _text(rng, serial):
    words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 12))]
    line = "log %06d %s" % (serial, " ".join(words))
    return (line + rng.choice(["\r\n", "\n", ""])).encode("utf-8")


def _frame(rng, serial):
    r = rng.random()
    if r < 0.05:
        ftype, n = HELLO, rng.randint(1, 24)
        body = b"\x01" + serial.to_bytes(4, "little") + rng.randbytes(max(0, n - 5))
    elif r < 0.15:
        ftype = rng.choice([PING, PONG])
        body = serial.to_bytes(4, "little") + rng.randbytes(rng.randint(0, 4))
    else:
        ftype = DATA
        b = rng.random()
        if b < 0.3:
            n = rng.randint(4, 16)
        elif b < 0.8:
            n = rng.randint(17, 256)
        else:
            n = rng.randint(257, DEFAULT_MAX_BODY)
        raw = bytearray(rng.randbytes(n))
        for i in range(0, n, 7):  # plenty of zeros, as in CBOR routing messages
            if rng.random() < 0.3:
                raw[i] = 0
        raw[0:4] = serial.to_bytes(4, "little")
        body = bytes(raw)
    return ftype, body


def build_stream(rng, n_frames, text_prob=0.5):
    """Returns (wire, frames, texts): frames as (start, end_inclusive, type, body), texts as (start, end)."""
    wire = bytearray()
    frames = []
    texts = []
    serial = 0
    for k in range(n_frames):
        if rng.random() < text_prob:
            t = _text(rng, serial)
            texts.append((len(wire), len(wire) + len(t)))
            wire += t
        ftype, body = _frame(rng, serial)
        serial += 1
        f = encode_frame(ftype, body)
        frames.append((len(wire), len(wire) + len(f) - 1, ftype, body))
        wire += f
    t = _text(rng, serial)
    texts.append((len(wire), len(wire) + len(t)))
    wire += t
    return bytes(wire), frames, texts


def _geometric_positions(rng, p, n):
    """Positions in range(n) each chosen independently with probability p."""
    out = []
    if p <= 0:
        return out
    lg = math.log(1.0 - p)
    i = -1
    while True:
        i += 1 + int(math.log(1.0 - rng.random()) / lg)
        if i >= n:
            return out
        out.append(i)


def inject(rng, wire, frames, ber=0.0, drop=0.0, insert=0.0, lost_delim=0.0, extra_delim=0.0):
    """Damage wire; return (damaged bytes, set of damaged original positions)."""
    n = len(wire)
    flips = {}
    for bit in _geometric_positions(rng, ber, 8 * n):
        flips[bit // 8] = flips.get(bit // 8, 0) ^ (1 << (bit % 8))
    drops = set(_geometric_positions(rng, drop, n))
    if lost_delim:
        delims = [s for s, e, _, _ in frames] + [e for s, e, _, _ in frames]
        drops.update(d for d in delims if rng.random() < lost_delim)
    inserts = {}  # gap before position i -> bytes
    for i in _geometric_positions(rng, insert, n + 1):
        inserts[i] = rng.randbytes(rng.randint(1, 4))
    for i in _geometric_positions(rng, extra_delim, n + 1):
        inserts[i] = inserts.get(i, b"") + b"\x00"
    damaged = set(flips) | drops
    for i in inserts:
        damaged.add(i - 1)
        damaged.add(i)
    out = bytearray()
    for i in range(n + 1):
        ins = inserts.get(i)
        if ins:
            out += ins
        if i == n:
            break
        if i in drops:
            continue
        out.append(wire[i] ^ flips.get(i, 0))
    return bytes(out), damaged


def _intact(damaged, lo, hi):
    return not any(p in damaged for p in range(lo, hi + 1))


def run_decoder(rng, stream, max_chunk=600):
    dec = FrameDecoder()
    events = []
    i = 0
    while i < len(stream):
        step = 1 if rng.random() < 0.05 else rng.randint(1, max_chunk)
        events.extend(dec.feed(stream[i : i + step]))
        assert dec.pending() <= CAP
        i += step
    return dec, events


SCENARIOS = {
    "clean": {},
    "ber_1e-4": {"ber": 1e-4},
    "ber_1e-3": {"ber": 1e-3},
    "dropped_bytes": {"drop": 5e-4},
    "inserted_garbage": {"insert": 5e-4},
    "lost_delimiters": {"lost_delim": 0.05},
    "extra_delimiters": {"extra_delim": 5e-4},
    "mixed": {"ber": 2e-5, "drop": 1e-4, "insert": 1e-4, "lost_delim": 0.01, "extra_delim": 1e-4},
}
N_FRAMES = 3000


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_injection(name, record_property):
    faults = SCENARIOS[name]
    rng = random.Random("hopseal-serial-%s" % name)
    wire, frames, texts = build_stream(rng, N_FRAMES)
    stream, damaged = inject(rng, wire, frames, **faults)
    dec, events = run_decoder(rng, stream)

    sent = {(t, b): k for k, (_, _, t, b) in enumerate(frames)}
    delivered = []
    text = bytearray()
    for e in events:
        if e[0] == "text":
            assert e[1] and b"\x00" not in e[1]
            text += e[1]
        else:
            assert e[0] == "frame"
            k = sent.get((e[1], e[2]))
            assert k is not None, "corrupted frame delivered: type %d, %d bytes" % (e[1], len(e[2]))
            delivered.append(k)
    # (a) in order, at most once
    assert delivered == sorted(set(delivered))
    # (b) every intact frame delivered
    intact = [k for k, (s, e, _, _) in enumerate(frames) if _intact(damaged, s, e)]
    missing = sorted(set(intact) - set(delivered))
    assert not missing, "intact frames not delivered: %r" % missing[:10]
    # (c) intact text delivered byte-exact, in order
    text = bytes(text)
    pos = 0
    intact_texts = 0
    for s, e in texts:
        if _intact(damaged, max(s - 1, 0), min(e, len(wire) - 1)):
            j = text.find(wire[s:e], pos)
            assert j >= 0, "intact text lost: %r" % wire[s:e]
            pos = j + (e - s)
            intact_texts += 1
    # counters agree with the events
    assert dec.frames == len(delivered)
    assert dec.text_bytes == len(text)
    if not faults:
        assert len(delivered) == N_FRAMES and text == b"".join(wire[s:e] for s, e in texts)
        assert dec.stats() == dict(dec.stats(), crc_errors=0, cobs_errors=0, runts=0, oversize=0)

    payload = sum(len(frames[k][3]) for k in delivered)
    expected = ""
    if "ber" in faults and len(faults) == 1:
        p = sum((1 - faults["ber"]) ** (8 * (e - s + 1)) for s, e, _, _ in frames) / len(frames)
        expected = "  analytic (1-BER)^(8L) %.3f" % p
        record_property("analytic_frame_rate", round(p, 4))
    rate = len(delivered) / len(frames)
    goodput = payload / len(stream)
    record_property("frames_delivered", len(delivered))
    record_property("frame_rate", round(rate, 4))
    record_property("goodput", round(goodput, 4))
    print(
        "\n%-17s sent %d delivered %d (%.3f; intact %d)%s  payload/wire %.3f  text %d/%d intact  %s"
        % (name, len(frames), len(delivered), rate, len(intact), expected, goodput, intact_texts,
           len(texts), dec.stats())
    )


# --- properties ---------------------------------------------------------------------------

_valid_frames = st.one_of(
    st.binary(min_size=1, max_size=64).map(lambda b: encode_frame(HELLO, b)),
    st.binary(max_size=600).map(lambda b: encode_frame(DATA, b)),
    st.binary(max_size=8).map(lambda b: encode_frame(PING, b)),
)
_pieces = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"\x00", b"\xf8", b"\x00\xf8", b"\x00\xf8\x00", b"\xff" * 255]),
    _valid_frames,
    _valid_frames.map(lambda f: f[: len(f) // 2]),
    _valid_frames.map(lambda f: f[1:]),
)


def _feed_split(dec, stream, cuts):
    events = []
    prev = 0
    for c in sorted(c % (len(stream) + 1) for c in cuts) + [len(stream)]:
        events.extend(dec.feed(stream[prev:c]))
        assert 0 <= dec.pending() <= dec.max_body + 5
        prev = c
    return events


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pieces, max_size=20), st.lists(st.integers(0, 1 << 16), max_size=12),
       st.sampled_from([8, 64, DEFAULT_MAX_BODY]))
def test_decoder_never_raises_and_emits_well_formed_events(pieces, cuts, max_body):
    stream = b"".join(pieces)
    dec = FrameDecoder(max_body=max_body)
    events = _feed_split(dec, stream, cuts)
    assert dec.pending() <= max_body + 5
    n_text = n_frames = 0
    for e in events:
        assert type(e) is tuple
        if e[0] == "text":
            assert len(e) == 2 and type(e[1]) is bytes and e[1] and b"\x00" not in e[1]
            n_text += len(e[1])
        else:
            assert e[0] == "frame" and len(e) == 3 and type(e[2]) is bytes
            lo, hi = FRAME_TYPES[e[1]]
            assert lo <= len(e[2]) <= (max_body if hi is None else min(hi, max_body))
            n_frames += 1
    assert dec.text_bytes == n_text and dec.frames == n_frames
    assert all(v >= 0 for v in dec.stats().values())


_text_bytes = st.binary(max_size=80).map(lambda b: b.replace(b"\x00", b"").replace(b"\xf8", b""))
_typed = st.sampled_from(sorted(FRAME_TYPES)).flatmap(
    lambda t: st.tuples(
        st.just(t),
        st.binary(
            min_size=FRAME_TYPES[t][0],
            max_size=FRAME_TYPES[t][1] if FRAME_TYPES[t][1] is not None else DEFAULT_MAX_BODY,
        ),
    )
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_text_bytes, _typed), min_size=1, max_size=8), _text_bytes,
       st.lists(st.integers(0, 1 << 16), max_size=10))
def test_encode_decode_round_trip_with_text(items, tail, cuts):
    stream = b"".join(t + encode_frame(ft, body) for t, (ft, body) in items) + tail
    dec = FrameDecoder()
    events = _feed_split(dec, stream, cuts)
    frames = [(e[1], e[2]) for e in events if e[0] == "frame"]
    text = b"".join(e[1] for e in events if e[0] == "text")
    assert frames == [fb for _, fb in items]
    assert text == b"".join(t for t, _ in items) + tail
    assert dec.stats() == dict(dec.stats(), frames=len(items), crc_errors=0, cobs_errors=0,
                               runts=0, oversize=0, unknown_type=0, bad_length=0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=1100), st.integers(1, 1100))
def test_any_type_in_an_extended_table_round_trips(ftype, body, max_body):
    types = {ftype: (0, None)}
    if len(body) > max_body:
        body = body[:max_body]
    f = encode_frame(ftype, body, max_body=max_body, types=types)
    assert FrameDecoder(max_body=max_body, types=types).feed(f) == [("frame", ftype, body)]
    plain = FrameDecoder(max_body=max_body, types={})
    assert plain.feed(f) == [] and plain.unknown_type == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_cobs_round_trip(data):
    enc = cobs_encode(data)
    assert b"\x00" not in enc and len(enc) <= cobs_max(len(data))
    assert cobs_decode(enc) == data


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 1 << 16), st.integers(1, 255))
def test_single_byte_corruption_never_delivers_a_wrong_frame(body, where, xor):
    f = bytearray(encode_frame(DATA, body))
    i = where % len(f)
    f[i] ^= xor
    nxt = encode_frame(PONG, b"next")
    events = FrameDecoder().feed(bytes(f) + nxt)
    frames = [(e[1], e[2]) for e in events if e[0] == "frame"]
    assert frames[-1] == (PONG, b"next")
    assert frames[:-1] in ([], [(DATA, body)])  # the damaged frame is dropped, or was unharmed
