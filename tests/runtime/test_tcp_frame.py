"""TCP framing (ockam-wire §1.2): version byte, u32-BE lengths, limits before allocation."""
from hopseal.errors import FrameError
from hopseal.wire.tcp_frame import TCPFrameDecoder, encode_frame, frame_header
from rt import raises
from vectors import load, unhex

FRAME = unhex(load("encodings.json")["tcp_frame_current"]["hex"])
BODY = FRAME[4:]


def test_whole_stream():
    d = TCPFrameDecoder()
    assert d.feed(b"\x01" + FRAME + FRAME) == [BODY, BODY]
    assert d.pending() == 0


def test_one_byte_at_a_time():
    d = TCPFrameDecoder()
    got = []
    for b in b"\x01" + FRAME + encode_frame(b"") + FRAME:
        got.extend(d.feed(bytes([b])))
    assert got == [BODY, b"", BODY]


def test_trailing_partial_frame_is_held_not_delivered():
    d = TCPFrameDecoder()
    assert d.feed(b"\x01" + FRAME + FRAME[:7]) == [BODY]
    assert d.pending() == 3
    assert d.feed(FRAME[7:]) == [BODY]


def test_wrong_version_byte():
    for v in (0, 2, 0xFF):
        d = TCPFrameDecoder()
        e = raises(FrameError, d.feed, bytes([v]) + FRAME)
        assert "version" in str(e)
        raises(FrameError, d.feed, FRAME)  # stays failed


def test_old_u16_peer_fails_version_check():
    # a 2021 peer starts with the high byte of a u16 length (ockam-wire §1.2.5)
    d = TCPFrameDecoder()
    raises(FrameError, d.feed, b"\x00\x1e\x01\x01")


def test_oversized_lengths_rejected_before_buffering():
    for n in (65537, 1 << 31, (1 << 32) - 1):
        d = TCPFrameDecoder(max_frame=65536)
        hdr = b"\x01" + n.to_bytes(4, "big")
        e = raises(FrameError, d.feed, hdr + b"x" * 100)
        assert "exceeds" in str(e)
        assert d.pending() == 0
    d = TCPFrameDecoder(max_frame=65536)
    assert d.feed(b"\x01" + (65536).to_bytes(4, "big")) == []
    assert d.feed(b"\x00" * 65536) == [b"\x00" * 65536]


def test_zero_length_frame():
    d = TCPFrameDecoder()
    assert d.feed(b"\x01\x00\x00\x00\x00") == [b""]


def test_send_side_limit():
    raises(FrameError, frame_header, 17, 16)
    assert frame_header(16, 16) == b"\x00\x00\x00\x10"


def test_decoder_memory_is_bounded_by_max_frame():
    d = TCPFrameDecoder(max_frame=1024)
    d.feed(b"\x01" + (1024).to_bytes(4, "big"))
    for _ in range(10):
        d.feed(b"a" * 100)
    assert d.pending() <= 1024


def test_split_reads_give_the_same_frames():
    # a read that holds a whole body takes it in one copy (large reads on a host), one that
    # does not goes through the buffer: every way of cutting the stream in two or three reads
    # gives the same frames
    bodies = [b"", b"a" * 300, b"b", b"c" * 70]
    stream = b"\x01" + b"".join(encode_frame(b) for b in bodies)
    n = len(stream)
    for i in range(0, n + 1, 11):
        for j in range(i, n + 1, 17):
            d = TCPFrameDecoder()
            got = d.feed(stream[:i]) + d.feed(stream[i:j]) + d.feed(stream[j:])
            assert got == bodies, (i, j)
            assert d.pending() == 0 and not d.partial()
