"""Serial-link framing (firmware/serial-link.md): COBS vectors, CRC-32, frames and console text.

Runs under pytest and under `micropython tests/mp_run.py test_serial_frame`. Every stream is fed
whole, one byte at a time and in odd-sized chunks.
"""
from binascii import crc32

from hopseal.errors import DecodeError, FrameError
from hopseal.wire.serial_frame import (
    DATA,
    DEFAULT_MAX_BODY,
    FRAME_TYPES,
    HELLO,
    LINK_VERSION,
    PING,
    PONG,
    FrameDecoder,
    FrameEncoder,
    cobs_decode,
    cobs_encode,
    cobs_max,
    encode_frame,
    max_frame_size,
)
from vectors import load, unhex

STEPS = (0, 1, 2, 7, 254, 255)  # 0 = the whole stream in one feed()

ZERO_COUNTERS = {
    "frames": 0,
    "crc_errors": 0,
    "cobs_errors": 0,
    "oversize": 0,
    "unknown_type": 0,
    "bad_length": 0,
    "runts": 0,
    "text_bytes": 0,
}


def _counters(**kw):
    d = dict(ZERO_COUNTERS)
    d.update(kw)
    return d


def _run(stream, step=0, dec=None):
    """Feed stream; return (decoder, all text joined, [(type, body)], raw events)."""
    if dec is None:
        dec = FrameDecoder()
    events = []
    if step == 0:
        events = dec.feed(stream)
    else:
        for i in range(0, len(stream), step):
            events.extend(dec.feed(stream[i : i + step]))
    text = bytearray()
    frames = []
    for e in events:
        if e[0] == "text":
            assert len(e) == 2 and isinstance(e[1], bytes) and len(e[1]) > 0
            text.extend(e[1])
        else:
            assert e[0] == "frame" and len(e) == 3 and isinstance(e[2], bytes)
            frames.append((e[1], e[2]))
    return dec, bytes(text), frames, events


def _each_step(stream, check, dec_factory=None):
    for step in STEPS:
        dec = dec_factory() if dec_factory else None
        check(*_run(stream, step, dec)[:3])


def _body(n, seed=1):
    # deterministic bytes with zeros in them (an LCG: no random module needed on every port)
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


def _nonzero(n):
    return bytes((i % 255) + 1 for i in range(n))


# --- COBS ---------------------------------------------------------------------------------


def test_cobs_valid_vectors():
    v = load("cobs_vectors.json")
    assert len(v["valid"]) == 13
    for case in v["valid"]:
        dec = unhex(case["decoded"])
        enc = unhex(case["encoded_with_delimiter"])
        assert enc[-1] == 0
        assert cobs_encode(dec) + b"\x00" == enc, case["id"]
        assert cobs_decode(enc[:-1]) == dec, case["id"]
        assert cobs_decode(memoryview(enc)[:-1]) == dec, case["id"]
        assert len(enc) - 1 <= cobs_max(len(dec)), case["id"]


def test_cobs_invalid_vectors():
    v = load("cobs_vectors.json")
    assert len(v["invalid_frames"]) == 5
    for case in v["invalid_frames"]:
        raised = False
        try:
            cobs_decode(unhex(case["frame_without_delimiter"]))
        except DecodeError:
            raised = True
        assert raised, case["id"]


def test_cobs_vectors_through_the_frame_decoder():
    # The frame decoder decodes COBS piecewise as bytes arrive: the vectors' data bytes, wrapped
    # in DATA frames, must come back whatever the chunking.
    v = load("cobs_vectors.json")
    stream = bytearray()
    bodies = []
    for case in v["valid"]:
        body = unhex(case["decoded"])
        bodies.append((DATA, body))
        stream.extend(encode_frame(DATA, body))
    stream = bytes(stream)

    def check(dec, text, frames):
        assert frames == bodies
        assert text == b""
        assert dec.stats() == _counters(frames=len(bodies))

    _each_step(stream, check)


def test_cobs_sizes_at_block_boundaries():
    for n in (0, 1, 253, 254, 255, 256, 507, 508, 509, 1000):
        data = _nonzero(n)
        enc = cobs_encode(data)
        assert len(enc) == cobs_max(n), n  # zero-free data hits the bound exactly
        assert enc.find(b"\x00") < 0
        assert cobs_decode(enc) == data
        data = _body(n, seed=n)
        enc = cobs_encode(data)
        assert len(enc) <= cobs_max(n)
        assert enc.find(b"\x00") < 0
        assert cobs_decode(enc) == data


def test_cobs_decode_accepts_noncanonical_trailing_block():
    # FF block then an empty final block: other encoders emit it, it decodes to the same bytes.
    data = _nonzero(254)
    assert cobs_decode(b"\xff" + data + b"\x01") == data


# --- CRC-32 -------------------------------------------------------------------------------


def test_crc32_check_value():
    models = load("crc_check_values.json")["models"]
    crc = [m for m in models if m["name"].startswith("CRC-32/ISO-HDLC")][0]
    assert crc32(b"123456789") == int(crc["check"], 16) == 0xCBF43926


def test_crc32_good_residue():
    # The decoder checks crc32(type ‖ body ‖ CRC-LE) against one constant: RFC 1662's good FCS
    # register value, complemented by binascii's final xor.
    good = load("crc_check_values.json")["rfc1662_good_fcs"]
    reg = [int(v, 16) for k, v in good.items() if k.startswith("FCS-32")][0]
    assert reg == 0xDEBB20E3
    for data in (b"", b"\x02", b"123456789", _body(300)):
        c = crc32(data)
        le = bytes((c & 0xFF, (c >> 8) & 0xFF, (c >> 16) & 0xFF, c >> 24))
        assert crc32(data + le) == reg ^ 0xFFFFFFFF


def test_frame_carries_crc32_le_of_type_and_body():
    body = b"hello"
    raw = cobs_decode(encode_frame(DATA, body)[2:-1])
    assert raw[:1] == b"\x02" and raw[1:-4] == body
    c = crc32(b"\x02" + body)
    assert raw[-4:] == bytes((c & 0xFF, (c >> 8) & 0xFF, (c >> 16) & 0xFF, c >> 24))


# --- encoder ------------------------------------------------------------------------------


def test_encode_golden_bytes():
    # The examples in firmware/serial-link.md §5.
    assert encode_frame(HELLO, bytes((LINK_VERSION,))) == unhex("00f80701012813c52f00")
    assert encode_frame(DATA, b"\x01\x00\x02") == unhex("00f803020106028c1c816400")
    assert encode_frame(PING, b"") == unhex("00f8060337be0b4b00")
    assert encode_frame(HELLO, b"\x01hs") == unhex("00f80901016873671312fc00")
    assert encode_frame(PING, b"\x00\x00\x00\x2a") == unhex("00f80203010106" + "2a1b44395a00")
    assert encode_frame(PONG, b"\x00\x00\x00\x2a") == unhex("00f80204010106" + "2a0b9819e800")


def test_spec_examples():
    # firmware/serial-link.md §5.3 to §5.6, byte for byte.
    hello = unhex("00f80701012813c52f00")
    data = unhex("00f803020106028c1c816400")
    dec = FrameDecoder()
    ev = dec.feed(b"boot\r\n" + hello + b"I up\r\n" + data + b">>> ")
    assert ev == [("text", b"boot\r\n"), ("frame", 1, b"\x01"), ("text", b"I up\r\n"),
                  ("frame", 2, b"\x01\x00\x02"), ("text", b">>> ")]
    assert dec.stats() == _counters(frames=2, text_bytes=16)
    dec = FrameDecoder()
    ev = dec.feed(b"a\n" + unhex("00f803020106028c1c916400") + b"b\n" + data)
    assert ev == [("text", b"a\n"), ("text", b"b\n"), ("frame", 2, b"\x01\x00\x02")]
    assert dec.stats() == _counters(frames=1, crc_errors=1, text_bytes=4)
    dec = FrameDecoder()
    assert dec.feed(data[:-1] + b"log\n" + hello) == [("frame", 1, b"\x01")]
    assert dec.stats() == _counters(frames=1, cobs_errors=1)
    dec = FrameDecoder()
    assert len(dec.feed(data[:-1] + hello)) == 2
    dec = FrameDecoder()
    ev = dec.feed(b"log\n" + data[1:] + hello)
    assert ev == [("text", b"log\n\xf8\x03\x02\x01\x06\x02\x8c\x1c\x81d"), ("frame", 1, b"\x01")]
    assert dec.stats() == _counters(frames=1, text_bytes=14)
    dec = FrameDecoder(max_body=32)
    big = encode_frame(DATA, bytes(range(1, 40)), max_body=64)
    assert len(big) - 3 == 45 and dec.max_encoded == 38
    assert dec.feed(b"\x00\xf8\x02\x03\x00" + big + hello) == [("frame", 1, b"\x01")]
    assert dec.stats() == _counters(frames=1, runts=1, oversize=1)


def test_encode_layout():
    for body in (b"", b"\x00", b"\x00" * 600, _nonzero(300), _body(DEFAULT_MAX_BODY)):
        f = encode_frame(DATA, body)
        assert f[:2] == b"\x00\xf8" and f[-1] == 0
        assert f[2:-1].find(b"\x00") < 0
        assert len(f) <= max_frame_size(len(body))
        raw = cobs_decode(f[2:-1])
        assert raw[0] == DATA and raw[1:-4] == body


def test_encode_zero_free_body_hits_size_bound():
    for n in (0, 16, 249, 250, 251, 1024, DEFAULT_MAX_BODY):
        assert len(encode_frame(DATA, _nonzero(n))) == max_frame_size(n), n


def test_frame_encoder_reuses_one_buffer():
    enc = FrameEncoder(max_body=512)
    for n in (0, 5, 250, 512):
        body = _body(n, seed=n + 1)
        mv = enc.encode(DATA, body)
        assert isinstance(mv, memoryview)
        assert bytes(mv) == encode_frame(DATA, body)
        assert bytes(enc.encode(PONG, memoryview(b"12345678"))) == encode_frame(PONG, b"12345678")


def test_encode_misuse_raises_frame_error():
    bad = [
        (DATA, b"x" * (DEFAULT_MAX_BODY + 1)),
        (PING, b"123456789"),
        (PONG, b"123456789"),
        (HELLO, b""),
        (0x7F, b"x"),
        (0x00, b""),
    ]
    for ftype, body in bad:
        raised = False
        try:
            encode_frame(ftype, body)
        except FrameError:
            raised = True
        assert raised, (ftype, len(body))
    raised = False
    try:
        FrameEncoder(max_body=64).encode(DATA, b"x" * 65)
    except FrameError:
        raised = True
    assert raised
    encode_frame(DATA, b"x" * DEFAULT_MAX_BODY)  # the maximum itself is fine


# --- decoder: frames and text -------------------------------------------------------------


def test_decode_whole_bytewise_chunked():
    sent = [(HELLO, b"\x01hopseal"), (DATA, _body(700)), (PING, b"12345678"), (PONG, b""), (DATA, b"")]
    stream = b"".join(encode_frame(t, b) for t, b in sent)

    def check(dec, text, frames):
        assert frames == sent
        assert text == b""
        assert dec.stats() == _counters(frames=5)
        assert dec.pending() == 0

    _each_step(stream, check)


def test_text_before_between_and_after_frames_is_byte_exact():
    t0 = b"MicroPython v1.29 on 2026-07-05; ESP32\r\n>>> "
    t1 = "I node: started \u2192 caf\xe9 \u2603\r\n".encode("utf-8")
    t2 = b"Traceback (most recent call last):\n  File \"main.py\", line 3\nOSError: 19\n"
    t3 = b"tail without newline \x01\x03\x7f\xc3\xa9"
    f1 = encode_frame(DATA, _body(40, seed=7))
    f2 = encode_frame(PING, b"\x00\x00")
    stream = t0 + f1 + t1 + f2 + t2 + f1 + f2 + t3

    def check(dec, text, frames):
        assert text == t0 + t1 + t2 + t3
        assert frames == [(DATA, _body(40, seed=7)), (PING, b"\x00\x00")] * 2
        assert dec.stats() == _counters(frames=4, text_bytes=len(t0 + t1 + t2 + t3))

    _each_step(stream, check)


def test_text_is_batched_one_event_per_run():
    text = b"x" * 1000 + b"\xf8 lone lead bytes are text \xf8"
    dec, joined, frames, events = _run(text + encode_frame(PONG, b"ok") + text)
    assert [e[0] for e in events] == ["text", "frame", "text"]
    assert joined == text + text


def test_frames_sharing_a_delimiter_and_runs_of_delimiters():
    a = encode_frame(DATA, b"A")
    b = encode_frame(DATA, b"B")
    shared = a + b[1:]  # 00 F8 .. 00 F8 .. 00
    many = b"\x00\x00\x00" + a + b"\x00\x00" + b + b"\x00"

    def check(dec, text, frames):
        assert frames == [(DATA, b"A"), (DATA, b"B")]
        assert text == b""
        assert dec.stats() == _counters(frames=2)

    _each_step(shared, check)
    _each_step(many, check)


def test_sync_state_rules():
    # 00 then a non-lead byte: back to text with that byte; the 00 itself is framing.
    dec, text, frames, _ = _run(b"ab\x00cd\x00\x00ef\x00")
    assert text == b"abcdef" and frames == []
    assert dec.stats() == _counters(text_bytes=6)
    # F8 not preceded by 00 is text.
    dec, text, frames, _ = _run(b"\xf8\x02\x03\x00")
    assert text == b"\xf8\x02\x03" and frames == []


def test_trailing_garbage_after_a_frame():
    f = encode_frame(DATA, b"payload")
    for garbage, text_out in (
        (b"\x13\x37\xf8\xff", b"\x13\x37\xf8\xff"),  # not a frame start: text
        (b"\x00\xf8\x05\x11\x22", b""),  # an unfinished frame: held, nothing emitted
        (b"\x00\x00\x00", b""),
    ):

        def check(dec, text, frames):
            assert frames == [(DATA, b"payload")]
            assert text == text_out
            assert dec.frames == 1
            assert dec.crc_errors + dec.cobs_errors + dec.runts + dec.oversize == 0

        _each_step(f + garbage, check)


def test_feed_takes_memoryviews_of_a_reused_buffer():
    f = encode_frame(DATA, b"abc")
    buf = bytearray(64)
    buf[: len(f)] = f
    buf[len(f) : len(f) + 3] = b"\x00\xf8\x07"  # stale bytes past the slice must be ignored
    dec = FrameDecoder()
    assert dec.feed(memoryview(buf)[: len(f)]) == [("frame", DATA, b"abc")]
    assert dec.feed(memoryview(b"log")) == [("text", b"log")]
    assert dec.feed(b"") == []
    assert dec.stats() == _counters(frames=1, text_bytes=3)


# --- decoder: damage ----------------------------------------------------------------------


def test_bad_crc_is_counted_and_the_next_frame_delivered():
    good = encode_frame(DATA, b"second")
    bad = bytearray(encode_frame(DATA, b"first!"))
    bad[5] ^= 0x04  # a body byte, stays non-zero
    stream = b"pre\n" + bytes(bad) + b"mid\n" + good + b"post\n"

    def check(dec, text, frames):
        assert frames == [(DATA, b"second")]
        assert text == b"pre\nmid\npost\n"
        assert dec.stats() == _counters(frames=1, crc_errors=1, text_bytes=13)

    _each_step(stream, check)


def test_every_single_bit_flip_in_a_frame_is_rejected():
    body = b"\x00route\x00" + _body(20)
    f = encode_frame(DATA, body)
    nxt = encode_frame(PONG, b"ok")
    for pos in range(2, len(f) - 1):  # the COBS bytes
        for bit in range(8):
            dmg = bytearray(f)
            dmg[pos] ^= 1 << bit
            dec, text, frames, _ = _run(bytes(dmg) + nxt)
            assert frames == [(PONG, b"ok")], (pos, bit)
            errors = dec.crc_errors + dec.cobs_errors + dec.runts + dec.unknown_type + dec.bad_length
            assert errors >= 1, (pos, bit)


def test_truncated_frames():
    # One COBS block (no zeros): any cut is mid-block, a COBS error.
    f = encode_frame(DATA, b"abcdefgh")
    for cut in (8, 10, len(f) - 2):
        dec, text, frames, _ = _run(f[:cut] + encode_frame(DATA, b"next"))
        assert frames == [(DATA, b"next")]
        assert dec.stats() == _counters(frames=1, cobs_errors=1), cut
    # Cut on a block boundary: valid COBS, wrong CRC.
    f = encode_frame(DATA, b"abcdef\x00ghij")
    assert f[2] == 8  # first block: type + "abcdef", closed by the body's zero
    dec, text, frames, _ = _run(f[: 2 + 8] + encode_frame(DATA, b"next"))
    assert frames == [(DATA, b"next")]
    assert dec.stats() == _counters(frames=1, crc_errors=1)


def test_runts():
    # Fewer than 6 COBS bytes cannot hold type + CRC.
    stream = b"\x00\xf8\x00" + b"\x00\xf8\x01\x00" + b"\x00\xf8\x06\x01\x02\x03\x04\x00"
    stream += encode_frame(PING, b"")
    assert len(encode_frame(PING, b"")) == 9  # the smallest frame: 6 COBS bytes

    def check(dec, text, frames):
        assert frames == [(PING, b"")]
        assert text == b""
        assert dec.stats() == _counters(frames=1, runts=3)

    _each_step(stream, check)


def test_lost_trailing_delimiter_with_text_after():
    a = encode_frame(DATA, b"first")
    b = encode_frame(DATA, b"second")
    stream = a[:-1] + b"text swallowed by the broken frame\n" + b + b"after\n"

    def check(dec, text, frames):
        assert frames == [(DATA, b"second")]
        assert text == b"after\n"
        assert dec.stats() == _counters(frames=1, cobs_errors=1, text_bytes=6)

    _each_step(stream, check)


def test_lost_delimiter_between_adjacent_frames_is_harmless():
    a = encode_frame(DATA, b"first")
    b = encode_frame(DATA, b"second")

    def check(dec, text, frames):
        assert frames == [(DATA, b"first"), (DATA, b"second")]
        assert dec.stats() == _counters(frames=2)

    _each_step(a[:-1] + b, check)  # a's trailing 00 lost
    _each_step(a + b[1:], check)  # b's leading 00 lost


def test_lost_lead_pair_turns_a_frame_into_text_and_the_next_frame_survives():
    # "text 00 F8" with the 00 lost: the frame's bytes read as text (no counter can see it),
    # its trailing 00 re-arms SYNC and the next frame is decoded.
    a = encode_frame(DATA, b"lost")
    c = encode_frame(DATA, b"kept")
    dec, text, frames, _ = _run(b"log\n" + a[1:] + c)
    assert frames == [(DATA, b"kept")]
    assert text == b"log\n" + a[1:-1]


def test_unknown_type_is_counted_and_dropped():
    wide = dict(FRAME_TYPES)
    wide[0x7F] = (0, None)
    stream = encode_frame(0x7F, b"future", types=wide) + encode_frame(DATA, b"now")

    def check(dec, text, frames):
        assert frames == [(DATA, b"now")]
        assert dec.stats() == _counters(frames=1, unknown_type=1)

    _each_step(stream, check)
    # The type table is the extension point: a decoder that knows the type delivers it.
    dec, text, frames, _ = _run(stream, dec=FrameDecoder(types=wide))
    assert frames == [(0x7F, b"future"), (DATA, b"now")]


def test_body_length_outside_the_type_bounds():
    loose = dict(FRAME_TYPES)
    loose[PING] = (0, None)
    loose[HELLO] = (0, None)
    stream = encode_frame(PING, b"123456789", types=loose) + encode_frame(HELLO, b"", types=loose)
    stream += encode_frame(PING, b"12345678")

    def check(dec, text, frames):
        assert frames == [(PING, b"12345678")]
        assert dec.stats() == _counters(frames=1, bad_length=2)

    _each_step(stream, check)


def test_oversize_frame_is_discarded_and_the_next_delivered():
    small = lambda: FrameDecoder(max_body=64)  # noqa: E731
    big = encode_frame(DATA, _nonzero(65), max_body=65)
    exact = encode_frame(DATA, _nonzero(64))
    stream = b"t1\n" + big + b"t2\n" + exact + b"t3\n"

    def check(dec, text, frames):
        assert frames == [(DATA, _nonzero(64))]
        assert text == b"t1\nt2\nt3\n"
        assert dec.stats() == _counters(frames=1, oversize=1, text_bytes=9)

    _each_step(stream, check, small)


def test_oversize_by_decoded_length_with_a_noncanonical_encoding():
    # Each 01 code decodes to one 0x00, so max_encoded bytes of 01 decode to max_encoded - 1
    # bytes, more than max_body + 5 once max_body + 5 > 254: the decoded bound must catch it.
    dec = FrameDecoder()
    cap = DEFAULT_MAX_BODY + 5
    assert dec.max_encoded == cobs_max(cap) and dec.max_encoded - 1 > cap
    dec.feed(b"\x00\xf8" + b"\x01" * dec.max_encoded + b"\x00")
    assert dec.stats() == _counters(oversize=1)
    assert dec.pending() == 0
    dec.feed(b"\x00\xf8" + b"\x01" * cap + b"\x00")  # fits: valid COBS, then a CRC error
    assert dec.stats() == _counters(oversize=1, crc_errors=1)


def test_endless_stream_without_delimiter_stays_bounded():
    dec = FrameDecoder(max_body=256)
    cap = 256 + 5
    chunk = _nonzero(97)
    assert dec.feed(b"\x00\xf8") == []
    for _ in range(2000):  # ~190 KB
        assert dec.feed(chunk) == []
        assert dec.pending() <= cap
        assert len(dec._cobs.buf) == cap  # allocated once, never grown
    assert dec.stats() == _counters(oversize=1)
    ok = encode_frame(DATA, b"resync", max_body=256)
    assert dec.feed(ok) == [("frame", DATA, b"resync")]
    assert dec.stats() == _counters(frames=1, oversize=1)


def test_endless_text_is_never_buffered():
    dec = FrameDecoder()
    line = b"I sensor: 21.5C\r\n" * 10
    for _ in range(500):
        ev = dec.feed(line)
        assert ev == [("text", line)]
        assert dec.pending() == 0
    assert dec.text_bytes == 500 * len(line)


def test_exact_counters_over_a_mixed_stream():
    loose = dict(FRAME_TYPES)
    loose[0x42] = (0, None)
    loose[PONG] = (0, None)
    badcrc = bytearray(encode_frame(DATA, b"crc"))
    badcrc[4] ^= 0xFF
    parts = [
        b"boot\n",
        encode_frame(HELLO, b"\x01"),
        bytes(badcrc),
        encode_frame(DATA, b"abcdefgh")[:-3] + b"\x00",  # truncated mid-block
        b"\x00\xf8\x02\x00",  # runt
        encode_frame(0x42, b"?", types=loose),  # unknown type
        encode_frame(PONG, b"123456789", types=loose),  # bad length
        encode_frame(DATA, _nonzero(40), max_body=40),  # oversize for max_body=32
        b"log\n",
        encode_frame(DATA, b"fine"),
    ]
    stream = b"".join(parts)

    def check(dec, text, frames):
        assert frames == [(HELLO, b"\x01"), (DATA, b"fine")]
        assert text == b"boot\nlog\n"
        assert dec.stats() == {
            "frames": 2,
            "crc_errors": 1,
            "cobs_errors": 1,
            "oversize": 1,
            "unknown_type": 1,
            "bad_length": 1,
            "runts": 1,
            "text_bytes": 9,
        }

    _each_step(stream, check, lambda: FrameDecoder(max_body=32))


def test_decoder_never_raises_on_pseudorandom_bytes():
    # Hypothesis covers this on CPython (tests/host/test_serial_faults.py); this is the port check.
    dec = FrameDecoder(max_body=64)
    junk = _body(1500, seed=99)
    stream = junk + b"\x00\xf8" + junk[:300] + b"\x00" + encode_frame(DATA, b"end")
    for step in (0, 1, 13):
        dec = FrameDecoder(max_body=64)
        _, _, frames, events = _run(stream, step, dec)
        assert frames[-1] == (DATA, b"end")
        assert dec.pending() == 0


def test_heap_use_per_frame_is_bounded():
    # MicroPython only (gc.mem_alloc): the encoder must not copy the body, the decoder copies it
    # once (the event's bytes) and nothing else in proportion to its size.
    import gc

    if not hasattr(gc, "mem_alloc"):
        return
    body = _body(DEFAULT_MAX_BODY, seed=5)
    enc = FrameEncoder()
    dec = FrameDecoder()
    wire = encode_frame(DATA, body)
    enc.encode(DATA, body)
    dec.feed(wire)
    gc.collect()
    gc.disable()
    try:
        a = gc.mem_alloc()
        enc.encode(DATA, body)
        b = gc.mem_alloc()
        dec.feed(wire)
        c = gc.mem_alloc()
    finally:
        gc.enable()
    assert b - a < len(body) // 2, b - a
    assert c - b < len(body) + 1024, c - b
