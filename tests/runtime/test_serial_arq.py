"""The reliable serial link (serial-link.md §8): RDATA/ACK, retransmission, fragmentation.

Runs under pytest and under `micropython tests/mp_run.py test_serial_arq`. Two sans-I/O links with
settable clocks exchange frames over a simulated line that drops frames and flips bits (a seeded
generator, the same on both runtimes); every message must arrive intact, in order, once.
"""
from hopseal.wire.serial_arq import MIN_FRAG, Arq
from hopseal.wire.serial_frame import ACK, DATA, HELLO, RDATA, FrameDecoder, encode_frame
from hopseal.wire.serial_link import (
    FLAG_ARQ,
    UP,
    SerialLink,
    hello_body,
    hello_max_message,
    parse_hello,
)


class Clock:
    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


class Rand:
    """xorshift32: the same sequence under CPython and MicroPython."""

    def __init__(self, seed):
        self.s = seed or 1

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def below(self, n):
        return self.next() % n

    def chance(self, p):
        return self.next() < p * 0xFFFFFFFF


def make_pair(board_max_message=8192, host_max_message=16384, max_body=256, board_v1=False, window=None):
    clock = Clock()
    board = SerialLink("b1", max_body, 100, 1000, True, clock=clock,
                       max_message=None if board_v1 else board_max_message, window=window)
    host = SerialLink("gw", 2048, 100, 1000, False, clock=clock, max_message=host_max_message, window=window)
    board.start()
    host.start()
    return clock, board, host


def pump(a, limit=1000):
    out = []
    while len(out) < limit:
        f = a.pull()
        if f is None:
            break
        out.append(bytes(f))
    return out


class Line:
    """Frames from one end to the other: some dropped, some with a flipped bit."""

    def __init__(self, rnd, drop=0.0, flip=0.0):
        self.rnd = rnd
        self.drop = drop
        self.flip = flip
        self.sent = 0

    def carry(self, frames):
        out = []
        for f in frames:
            self.sent += len(f)
            if self.drop and self.rnd.chance(self.drop):
                continue
            if self.flip and self.rnd.chance(self.flip):
                b = bytearray(f)
                i = self.rnd.below(len(b))
                b[i] ^= 1 << self.rnd.below(8)
                f = bytes(b)
            out.append(f)
        return b"".join(out)


def settle(clock, board, host, steps=50):
    for _ in range(steps):
        clock.t += 10
        host.feed(b"".join(pump(board)))
        board.feed(b"".join(pump(host)))
        board.tick()
        host.tick()
        if board.state == UP and host.state == UP and not board.out and not host.out:
            return
    raise AssertionError("the link did not come up")


def message(seed, i, most):
    """Message i of a stream: its size and bytes follow from (seed, i), so nothing is kept."""
    n = 1 + Rand(seed * 100003 + i + 1).below(most)
    return bytes([(i + k) & 0xFF for k in range(n)])


def transfer(clock, board, host, rnd, count, most, drop=0.0, flip=0.0, step_ms=5, max_steps=200000):
    """Send `count` messages each way over a damaging line; every message must arrive intact, in
    order, once. Returns the peak number of messages both senders held, and the wire bytes."""
    to_host = Line(rnd, drop, flip)
    to_board = Line(rnd, drop, flip)
    seed = rnd.below(1000)
    ib = ih = 0
    nb = nh = 0  # messages received by the board, by the host
    peak_queue = 0
    for _ in range(max_steps):
        clock.t += step_ms
        while ib < count and board.room():
            m = message(seed, ib, most)
            assert board.may_send(len(m)) is None
            board.put(m)
            ib += 1
        while ih < count and host.room():
            m = message(seed + 1, ih, most)
            assert host.may_send(len(m)) is None
            host.put(m)
            ih += 1
        for m in host.feed(to_host.carry(pump(board))):
            assert nh < count and m == message(seed, nh, most), "board to host: message %d wrong" % nh
            nh += 1
        for m in board.feed(to_board.carry(pump(host))):
            assert nb < count and m == message(seed + 1, nb, most), "host to board: message %d wrong" % nb
            nb += 1
        board.tick()
        host.tick()
        q = len(board.arq.queue) + len(host.arq.queue)
        if q > peak_queue:
            peak_queue = q
        if nh == count and nb == count and not board.arq.busy() and not host.arq.busy():
            break
    assert nh == count and nb == count, "delivered %d and %d of %d" % (nh, nb, count)
    return peak_queue, to_host.sent + to_board.sent


def test_hello_offers_the_reliable_link_and_a_v1_parser_still_reads_it():
    b = hello_body("b1", False, 1024, 8192)
    assert b == b"\x01\x02\x04\x00\x20\x00b1" and b[1] & FLAG_ARQ
    assert parse_hello(b) == (1, 2, 1024, "b1") and hello_max_message(b) == 8192
    assert hello_max_message(hello_body("b1", True, 1024)) is None
    # what a version-1 receiver makes of it: version 1 (so no BAD_VERSION), the size bytes in the name
    v1_name = b[4:]
    assert v1_name == b"\x20\x00b1"


def test_both_ends_offering_it_use_it_a_v1_peer_gets_datagrams():
    clock, board, host = make_pair()
    settle(clock, board, host)
    assert board.arq is not None and host.arq is not None
    assert board.arq.frag_max == 253 and host.arq.frag_max == 253  # the board's 256-byte frames less 3
    assert host.stats()["reliable"] and host.peer_max_message == 8192
    clock, board, host = make_pair(board_v1=True)
    settle(clock, board, host)
    assert board.arq is None and host.arq is None and board.stats()["reliable"] is False
    # DATA as before: a message that fits one frame goes as DATA, a larger one is refused
    assert host.may_send(300) is not None and host.tx_oversize == 1
    assert host.may_send(200) is None
    f = encode_frame(DATA, b"\x01\x02")
    assert board.feed(f) == [b"\x01\x02"]
    # RDATA reaching a v1-mode link (a peer that did not offer it) is counted and dropped
    assert board.feed(encode_frame(RDATA, b"\x00\x00\x01hi")) == [] and board.rx_not_arq == 1


def test_clean_line_fragments_and_reassembles_in_order():
    clock, board, host = make_pair()
    settle(clock, board, host)
    peak, wire = transfer(clock, board, host, Rand(7), 60, 3000)
    assert board.arq.retransmits == 0 and host.arq.retransmits == 0
    assert host.arq.rx_fragments > 60  # messages larger than a frame came in pieces
    assert peak <= 2 * 4  # bounded: what the window holds plus one message, per side


def test_lossy_line_delivers_everything_once_in_order():
    for seed in (1, 2, 3):
        clock, board, host = make_pair()
        settle(clock, board, host)
        rnd = Rand(seed)
        transfer(clock, board, host, rnd, 40, 1500, drop=0.15, flip=0.15)
        st = host.stats()
        assert st["retransmits"] > 0 and st["crc_errors"] > 0  # the line did damage, and it was repaired
        assert board.arq.frag >= MIN_FRAG


def test_frag_shrinks_under_losses_so_big_frames_never_block():
    # a line that damages every frame longer than 120 bytes: only small fragments pass
    clock, board, host = make_pair(max_body=2048)
    settle(clock, board, host)
    a = host.arq
    assert a.frag == 2045
    msg = bytes(range(256)) * 12
    host.put(msg)
    got = []
    for _ in range(5000):
        clock.t += 5
        frames = [f for f in pump(host) if len(f) <= 120]
        got.extend(board.feed(b"".join(frames)))
        host.feed(b"".join(pump(board)))
        host.tick()
        board.tick()
        if got:
            break
    assert got == [msg] and a.timeouts > 0 and a.frag < 2045


def test_too_big_is_refused_by_the_sender_and_dropped_by_the_receiver():
    clock, board, host = make_pair(board_max_message=1000)
    settle(clock, board, host)
    assert host.may_send(1001) is not None and host.arq.tx_too_big == 1
    assert host.may_send(1000) is None
    # a sender that ignores the limit: the board receives and drops it, the link goes on
    host.arq.peer_max_message = 5000
    host.put(b"y" * 3000)
    host.put(b"after")
    got = []
    for _ in range(200):
        clock.t += 5
        got.extend(board.feed(b"".join(pump(host))))
        host.feed(b"".join(pump(board)))
    assert got == [b"after"] and board.arq.rx_too_big == 1 and board.state == UP
    assert board.arq.rx_buf is not None and len(board.arq.rx_buf) == 1000  # never more than max_message


def test_duplicates_overlaps_and_gaps():
    a = Arq(10, 100, 100, window=64)
    out = []
    a.on_rdata(b"\x00\x00\x00abcde", out)  # bytes 0-4, more to come
    a.on_rdata(b"\x00\x00\x00abcde", out)
    assert out == [] and a.rx_dup == 1
    # a resend cut differently: bytes 3-9, the last of the message; only 5-9 are new
    a.on_rdata(b"\x00\x03\x01defghij", out)
    assert out == [b"abcdefghij"]
    # beyond a gap: held, and the ACK says GAP until the gap is filled
    a.on_rdata(b"\x00\x0f\x01zz", out)  # bytes 15-16, the end of a message 10-16
    a.on_rdata(b"\x00\x11\x01!", out)  # byte 17, a message of its own
    assert out == [b"abcdefghij"] and a.rx_gap == 2 and a.rx_held == 3
    # next 10, GAP, and the SACK range held: 15 to 18
    assert a.take_ack() == b"\x00\x0a\x01\x00\x0f\x00\x12" and a.take_ack() is None
    a.on_rdata(b"\x00\x0a\x00klmno", out)  # the gap: both held fragments follow at once
    assert out == [b"abcdefghij", b"klmnozz", b"!"] and a.rx_held == 0
    assert a.take_ack() == b"\x00\x12\x00"
    # what is held is bounded by the window
    a.on_rdata(b"\x00\x20\x00" + b"x" * 60, out)
    a.on_rdata(b"\x00\x60\x00" + b"y" * 10, out)
    assert a.rx_held == 70
    a.on_rdata(b"\\x00\\x70\\x00" + b"z" * 60, out)
    assert a.rx_held == 70  # at most twice the window


def test_offsets_wrap_and_stay_small():
    clock, board, host = make_pair(host_max_message=8192)
    settle(clock, board, host)
    transfer(clock, board, host, Rand(11), 400, 600)  # about 120 KB each way: past 2^16 twice
    for a in (board.arq, host.arq):
        assert a.snd_una < 0x10000 + a.window_max and a.rx_next < 0x10000 + a.window_max


def test_a_restart_resets_the_session():
    clock, board, host = make_pair()
    settle(clock, board, host)
    transfer(clock, board, host, Rand(5), 10, 500)
    old = host.arq
    host.put(b"lost with the board")
    pump(host)  # written, never received: the board restarts
    board2 = SerialLink("b1", 256, 100, 1000, True, clock=clock, max_message=8192)
    board2.start()
    settle(clock, board2, host)
    assert host.arq is not old and host.arq.snd_una == 0 and host.restarts == 1 and host.arq_lost == 1
    transfer(clock, board2, host, Rand(6), 10, 500)


def test_a_restart_hello_resets_both_ends():
    # the gateway says HELLO again when its hub came back: the board takes it as a restart and
    # starts a new session; so must the gateway, or their offsets no longer match
    clock, board, host = make_pair()
    settle(clock, board, host)
    transfer(clock, board, host, Rand(8), 10, 700)
    host.restart_hello()
    assert host.arq.snd_una == 0 and host.arq.rx_next == 0
    settle(clock, board, host)
    assert board.restarts == 1 and board.arq.rx_next == 0
    transfer(clock, board, host, Rand(9), 10, 700)


def test_decoder_sees_rdata_and_ack_bounds():
    dec = FrameDecoder(256)
    assert dec.feed(encode_frame(RDATA, b"\x00\x00\x01")) == [("frame", RDATA, b"\x00\x00\x01")]
    assert dec.feed(encode_frame(ACK, b"\x00\x01\x00")) == [("frame", ACK, b"\x00\x01\x00")]
    assert dec.feed(encode_frame(ACK, b"\x00\x01", types={ACK: (0, 8)})) == [] and dec.stats()["bad_length"] == 1
    assert dec.feed(encode_frame(HELLO, b"\x01")) == [("frame", HELLO, b"\x01")]
