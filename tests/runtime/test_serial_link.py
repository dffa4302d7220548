"""The serial link (serial-link.md §7): hello exchange, liveness, restart detection, drops.

Runs under pytest and under `micropython tests/mp_run.py test_serial_link`. The state machine is
fed byte by byte and whole; two real SerialConnections talk over an in-memory byte stream that
can be cut, and a raw end lets a test write any bytes it likes.
"""
import asyncio

from hopseal.node import Node
from hopseal.services.basic import start_default_services
from hopseal.transport.serial import SerialConnection
from hopseal.wire import bare
from hopseal.wire.message import Address, encode_message, route
from hopseal.wire.serial_frame import DATA, FRAME_TYPES, HELLO, PING, PONG, STOP, TIME, FrameDecoder, encode_frame
from hopseal.wire.serial_link import (
    BAD_VERSION,
    DOWN,
    EV_DOWN,
    EV_STOP,
    STOPPED,
    UP,
    SerialLink,
    hello_body,
    parse_hello,
)
from rt import quiet, run

INTERVAL_MS = 100


class Clock:
    """A settable millisecond clock for the sans-I/O link (`at(link, t)` sets it)."""

    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


def at(link, t):
    link.clock.t = t
    return link


def frames_of(out):
    """[(type, body)] of a list of wire frames."""
    dec = FrameDecoder()
    got = []
    for f in out:
        for e in dec.feed(f):
            assert e[0] == "frame", e
            got.append((e[1], e[2]))
    return got


def feed_all(link, data, now, step=0):
    bodies = []
    if step == 0:
        return at(link, now).feed(data)
    for i in range(0, len(data), step):
        bodies.extend(at(link, now).feed(data[i : i + step]))
    return bodies


def pair(now=0):
    board = SerialLink("b1", 2048, INTERVAL_MS, 3, True, clock=Clock())
    host = SerialLink("gw", 2048, INTERVAL_MS, 3, False, clock=Clock())
    at(board, now).start()
    at(host, now).start()
    return board, host


def shuttle(a, b, now, step=0):
    """Deliver everything a and b want to write to each other until both are quiet."""
    for _ in range(10):
        if not a.out and not b.out:
            return
        ao, bo = a.out, b.out
        a.out, b.out = [], []
        for f in ao:
            feed_all(b, f, now, step)
        for f in bo:
            feed_all(a, f, now, step)
    raise AssertionError("HELLOs ping-pong")


def test_hello_body_layout():
    assert hello_body("b1", False, 512) == b"\x01\x00\x02\x00b1"
    assert hello_body(b"gw", True, 70000) == b"\x01\x01\xff\xffgw"
    assert parse_hello(b"\x01\x01\x08\x00board\x00\xf8") == (1, 1, 2048, "board\\x00\\xf8")
    assert parse_hello(b"\x01") == (1, 0, None, "")
    assert parse_hello(b"\x02\x00") == (2, 0, None, "")
    assert len(hello_body("x" * 40)) == 4 + 32


def test_board_speaks_first_host_waits():
    for step in (0, 1, 3):
        board, host = pair()
        assert frames_of(board.out) == [(HELLO, hello_body("b1"))]
        assert host.out == []
        # nothing the host's timers do makes it speak before it heard the board
        for t in range(0, 2000, 50):
            at(host, t).tick()
        assert host.out == [] and host.state == DOWN
        f = board.out.pop()
        feed_all(host, f, 10, step)
        assert host.state == UP and host.events == [("up", False)] and host.peer_name == "b1"
        assert frames_of(host.out) == [(HELLO, hello_body("gw", True))]
        feed_all(board, host.out.pop(), 10, step)
        assert board.state == UP and board.events == [("up", False)] and board.out == []
        assert board.peer_max_body == 2048 and board.peer_name == "gw"


def test_board_repeats_hello_until_answered():
    board, host = pair()
    board.out = []  # the first HELLO was lost (nobody had the port open)
    at(board, INTERVAL_MS - 1).tick()
    assert board.out == []
    at(board, INTERVAL_MS).tick()
    assert frames_of(board.out) == [(HELLO, hello_body("b1"))]
    shuttle(board, host, INTERVAL_MS)
    assert board.up and host.up
    at(board, 2 * INTERVAL_MS).tick()
    assert frames_of(board.out) == [(PING, b"\x00\x00\x00\x01")]  # up: PINGs, no more HELLOs


def test_crossing_hellos_settle():
    a = SerialLink("a", 2048, INTERVAL_MS, 3, True, clock=Clock())
    b = SerialLink("b", 2048, INTERVAL_MS, 3, True, clock=Clock())
    at(a, 0).start()
    at(b, 0).start()
    shuttle(a, b, 0, 1)
    assert a.up and b.up
    # each side saw one "up" and no restart: the REPLY HELLOs were not taken for restarts
    assert a.events == [("up", False)] and b.events == [("up", False)]


def test_mid_link_hello_is_a_restart():
    board, host = pair()
    shuttle(board, host, 0)
    host.events, board.events = [], []
    board2 = SerialLink("b1", 2048, INTERVAL_MS, 3, True, clock=Clock())  # the board rebooted
    at(board2, 50).start()
    shuttle(board2, host, 50)
    assert host.events == [("up", True)] and host.restarts == 1 and host.up
    assert board2.up and board2.events == [("up", False)]
    # a REPLY HELLO mid-link is only a confirmation
    feed_all(host, encode_frame(HELLO, hello_body("b1", True)), 60)
    assert host.events == [("up", True)] and host.out == []


def test_pings_pongs_and_rtt():
    board, host = pair()
    shuttle(board, host, 0)
    at(board, INTERVAL_MS).tick()
    ping = board.out.pop()
    assert frames_of([ping]) == [(PING, b"\x00\x00\x00\x01")]
    feed_all(host, ping, INTERVAL_MS + 3)
    assert frames_of(host.out) == [(PONG, b"\x00\x00\x00\x01")]
    feed_all(board, host.out.pop(), INTERVAL_MS + 7)
    assert board.rtt_ms == 7 and board.pongs_rx == 1 and host.pings_rx == 1


def test_silence_is_link_down_then_hello_again():
    board, host = pair()
    shuttle(board, host, 0)
    board.events, host.events = [], []
    t = 0
    while board.up:
        t += 10
        at(board, t).tick()
        at(host, t).tick()
        board.out, host.out = [], []  # the wire is cut
    assert t == 3 * INTERVAL_MS
    assert board.events[0][0] == "down" and board.link_downs == 1
    assert host.state == DOWN and host.events[0][0] == "down"
    # the board repeats its HELLO; the host went silent again (it may face a REPL now)
    at(board, t + INTERVAL_MS).tick()
    at(host, t + INTERVAL_MS).tick()
    assert frames_of(board.out) == [(HELLO, hello_body("b1"))] and host.out == []
    shuttle(board, host, t + INTERVAL_MS)
    assert board.up and host.up
    assert board.events[-1] == ("up", False) and host.events[-1] == ("up", False)


def test_host_restart_seen_through_a_ping():
    board, host = pair()
    shuttle(board, host, 0)
    host2 = SerialLink("gw", 2048, INTERVAL_MS, 3, False, clock=Clock())  # the gateway restarted
    at(host2, 10).start()
    at(board, INTERVAL_MS).tick()
    feed_all(host2, board.out.pop(), INTERVAL_MS)  # a PING from a board it does not know
    got = frames_of(host2.out)
    assert got[0] == (HELLO, hello_body("gw")) and got[1] == (PONG, b"\x00\x00\x00\x01")
    board.events = []
    shuttle(board, host2, INTERVAL_MS)
    assert board.events == [("up", True)] and host2.up


def test_data_only_while_up():
    board, host = pair()
    msg = encode_frame(DATA, b"\x83\x80\x80\x40")
    assert feed_all(host, msg, 0) == [] and host.rx_not_up == 1
    # the DATA shows the board thinks the link is up: the host now speaks, with a HELLO
    assert frames_of(host.out) == [(HELLO, hello_body("gw"))]
    shuttle(board, host, 0)
    assert feed_all(host, msg, 1, 1) == [b"\x83\x80\x80\x40"]


def test_wrong_version_ignored_until_a_good_hello():
    lines = quiet()
    host = SerialLink("gw", 2048, INTERVAL_MS, 3, False, clock=Clock())
    at(host, 0).start()
    feed_all(host, encode_frame(HELLO, b"\x02\x00\x08\x00future"), 0)
    assert host.state == BAD_VERSION and host.bad_version == 1 and not host.events
    assert [m for (lvl, _, m) in lines if lvl >= 40 and "version 2" in m]
    assert feed_all(host, encode_frame(DATA, b"x"), 1) == [] and host.rx_not_up == 1
    feed_all(host, encode_frame(HELLO, hello_body("b1")), 2)
    assert host.up and feed_all(host, encode_frame(DATA, b"x"), 3) == [b"x"]
    # a bad HELLO mid-link takes the link down
    feed_all(host, encode_frame(HELLO, b"\x07"), 4)
    assert host.state == BAD_VERSION and host.events[-1][0] == "down"


def test_text_goes_to_events_and_a_repl_prompt_silences_the_host():
    board, host = pair()
    shuttle(board, host, 0)
    host.events = []
    feed_all(host, b"I node: up\r\n", 1)
    assert host.events == [("text", b"I node: up\r\n")] and host.up
    # a traceback and the REPL prompt, split across reads
    feed_all(host, b"Traceback (most recent call last):\r\nOSError: 5\r\n", 2)
    feed_all(host, b">", 3)
    feed_all(host, b">> ", 4)
    assert host.state == DOWN and host.events[-1][0] == "down"
    at(host, 5 * INTERVAL_MS).tick()
    assert host.out == []  # silent: no COBS bytes for the REPL


def test_noise_between_frames_is_harmless():
    board, host = pair()
    shuttle(board, host, 0)
    stream = (b"\x00\xf8garbage\x00" + encode_frame(DATA, b"one") + b"\x00\xf8\x05\x01\x02\x00"
              + encode_frame(DATA, b"two") + b"\xff" * 50)
    for step in (0, 1, 7):
        got = feed_all(host, stream, 1, step)
        assert got == [b"one", b"two"], (step, got)
    assert host.up and host.decoder.crc_errors + host.decoder.cobs_errors + host.decoder.runts >= 3


# -- SerialConnection over an in-memory stream --------------------------------------------------


class Wire:
    """One direction of an in-memory byte stream; `cut` drops bytes, `log` keeps what was written."""

    def __init__(self):
        self.buf = b""
        self.ev = asyncio.Event()
        self.closed = False
        self.cut = False
        self.log = bytearray()


class End:
    def __init__(self, rx, tx):
        self.rx = rx
        self.tx = tx

    async def read(self, n):
        while not self.rx.buf:
            if self.rx.closed:
                return b""
            self.rx.ev.clear()
            await self.rx.ev.wait()
        d = self.rx.buf[:n]
        self.rx.buf = self.rx.buf[n:]
        return d

    def write(self, data):
        self.tx.log.extend(data)
        if not self.tx.cut and not self.tx.closed:
            self.tx.buf += bytes(data)
            self.tx.ev.set()

    async def drain(self):
        await asyncio.sleep(0)

    def close(self):
        for w in (self.rx, self.tx):
            w.closed = True
            w.ev.set()


def stream_pair():
    a, b = Wire(), Wire()
    return End(a, b), End(b, a), a, b


async def wait_until(cond, timeout=5.0, what="condition"):
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def conn_pair(board_node, host_node, board_end, host_end, **kw):
    b = SerialConnection(board_node, board_end, board_end, "to-host", "b1", interval=INTERVAL_MS / 1000, **kw)
    h = SerialConnection(host_node, host_end, host_end, "to-board", "gw", interval=INTERVAL_MS / 1000,
                         speak_first=False, **kw)
    return b, h


def nodes():
    bn = Node("board")
    hn = Node("host")
    start_default_services(bn)
    start_default_services(hn)
    return bn, hn


NOW_UTC = 1767225600  # 2026-01-01T00:00:00Z


def timed_pair(time_interval_ms=1000):
    board = SerialLink("b1", 2048, INTERVAL_MS, 3, True, clock=Clock())
    host = SerialLink("gw", 2048, INTERVAL_MS, 3, False, clock=Clock(), wall_clock=lambda: NOW_UTC,
                      time_interval_ms=time_interval_ms)
    at(board, 0).start()
    at(host, 0).start()
    return board, host


def test_time_frame_layout_and_decoding():
    # serial-link.md §7.7: the byte example there is this frame
    f = encode_frame(TIME, b"\x69\x55\xb9\x00")
    assert f == bytes([0, 0xF8, 0x05, 0x05, 0x69, 0x55, 0xB9, 0x05, 0x4E, 0x39, 0x9C, 0x17, 0])
    for step in (0, 1, 2, 5):
        dec = FrameDecoder()
        data = f + b"trailing \xff garbage"
        got = []
        for i in range(0, len(data), step or len(data)):
            got.extend(dec.feed(data[i : i + (step or len(data))]))
        assert got[0] == ("frame", TIME, b"\x69\x55\xb9\x00") and dec.stats()["frames"] == 1
    # a body of 3 bytes is out of bounds; a version-1 receiver without the TIME row counts it as
    # an unknown type and still delivers the next frame
    dec = FrameDecoder()
    short = encode_frame(TIME, b"\x01\x02\x03", types={TIME: (0, 8)})
    assert dec.feed(short + f) == [("frame", TIME, b"\x69\x55\xb9\x00")] and dec.stats()["bad_length"] == 1
    old = dict(FRAME_TYPES)
    del old[TIME]
    dec = FrameDecoder(2048, old)
    got = dec.feed(f + encode_frame(PING, b"\x00"))
    assert got == [("frame", PING, b"\x00")] and dec.stats()["unknown_type"] == 1


def test_host_sends_time_after_its_hellos_and_every_interval():
    for step in (0, 1):
        board, host = timed_pair()
        feed_all(host, board.out.pop(), 10, step)
        got = frames_of(host.out)
        assert got == [(HELLO, hello_body("gw", True)), (TIME, b"\x69\x55\xb9\x00")]
        board.events = []
        for f in host.out:
            feed_all(board, f, 10, step)
        host.out = []
        assert board.events == [("up", False), ("time", NOW_UTC)] and board.times_rx == 1
        assert board.state == UP and board.out == []  # TIME is not answered, nor a state change
        # while up: PINGs every interval, TIME every time_interval
        times = 0
        for t in range(10, 2100, INTERVAL_MS // 4):
            at(host, t).tick()
            at(board, t).tick()  # the board's PINGs keep the host's view of it alive
            times += sum(1 for ft, _ in frames_of(host.out) if ft == TIME)
            shuttle(board, host, t)
        assert times == 2 and host.up and board.up
        # the board never sends TIME, and a TIME reaching the host is only an event
        assert all(ft != TIME for ft, _ in frames_of(board.take_output()))
        host.events = []
        feed_all(host, encode_frame(TIME, b"\x00\x00\x00\x01"), 2200)
        assert host.events == [("time", 1)] and host.state == UP


def test_time_reaches_a_board_that_is_down_and_a_restarted_board():
    board, host = timed_pair(10 ** 6)
    shuttle(board, host, 0)
    assert board.up and host.up
    # the board restarts: its HELLO is answered with HELLO/R and a fresh TIME
    board2 = SerialLink("b1", 2048, INTERVAL_MS, 3, True, clock=Clock())
    at(board2, 50).start()
    feed_all(host, board2.out.pop(), 50)
    assert [ft for ft, _ in frames_of(host.out)] == [HELLO, TIME]
    for f in host.take_output():
        feed_all(board2, f, 50)
    assert ("time", NOW_UTC) in board2.take_events()
    # a TIME on its own is taken in any state (here: a board that is down)
    board3 = SerialLink("b1", 2048, INTERVAL_MS, 3, True, clock=Clock())
    feed_all(board3, encode_frame(TIME, b"\x69\x55\xb9\x00\x00\x00"), 0)  # reserved bytes ignored
    assert board3.take_events() == [("time", NOW_UTC)] and board3.state == DOWN


def test_clock_follows_set_wall_time():
    from hopseal.apps.board_clock import set_wall_time
    from hopseal.compat import CLOCK_VALID_FROM, clock_set, wall_time

    real = wall_time()
    try:
        set_wall_time(946684800)  # 2000-01-01: a board without an RTC battery
        assert not clock_set() and 946684800 <= wall_time() < 946684800 + 5
        set_wall_time(NOW_UTC)
        assert clock_set() and NOW_UTC <= wall_time() < NOW_UTC + 5
        assert CLOCK_VALID_FROM == 1735689600
    finally:
        set_wall_time(real)
    assert clock_set() and real <= wall_time() < real + 5


def test_connection_hands_time_to_its_on_time_hook():
    quiet()

    async def main():
        bn, hn = nodes()
        be, he, to_host, to_board = stream_pair()
        b = SerialConnection(bn, be, be, "to-host", "b1", interval=INTERVAL_MS / 1000)
        h = SerialConnection(hn, he, he, "to-board", "gw", interval=INTERVAL_MS / 1000, speak_first=False,
                             wall_clock=lambda: NOW_UTC)
        seen = []
        b.on_time = lambda c, t: seen.append(t)
        await h.start()
        await b.start()
        await wait_until(lambda: b.up and h.up and seen, what="link up with the host's time")
        assert seen == [NOW_UTC] and b.stats()["times_rx"] == 1
        await b.close()
        await h.close()

    run(main())


def test_connections_come_up_and_route_both_ways():
    quiet()

    async def main():
        bn, hn = nodes()
        be, he, to_host, to_board = stream_pair()
        b, h = conn_pair(bn, hn, be, he)
        ups = []
        b.on_link_up.append(lambda c, restarted: ups.append(("board", restarted)))
        h.on_link_up.append(lambda c, restarted: ups.append(("host", restarted)))
        texts = []
        h.on_text = lambda c, t: texts.append(t)
        await h.start()
        await asyncio.sleep(0.05)
        assert not to_board.log  # the host waits for the board
        await b.start()
        await wait_until(lambda: b.up and h.up, what="link up")
        r = await bn.send_and_receive(b.route_to("echo"), b"from board", 5)
        assert r.payload == b"from board" and r.return_[-1] == Address.parse("echo")
        r = await hn.send_and_receive(h.route_to("uppercase"), bare.encode_string("shout"), 5)
        assert bare.decode_string(r.payload) == "SHOUT"
        # console text from the board's side of the wire reaches the host's callback
        be.write(b"I board: hello console\r\n")
        await wait_until(lambda: b"".join(texts).endswith(b"hello console\r\n"), what="text")
        assert sorted(ups) == [("board", False), ("host", False)]
        assert b.stats()["crc_errors"] == 0 and h.stats()["tx_not_up"] == 0
        await b.close()
        await h.close()

    run(main())


def test_data_is_dropped_not_buffered_while_down():
    quiet()

    async def main():
        bn, hn = nodes()
        be, he, to_host, to_board = stream_pair()
        b, h = conn_pair(bn, hn, be, he)
        await h.start()
        await hn.send(h.route_to("echo"), b"too early")
        assert hn.counters["serial_tx_not_up"] == 1 and not to_board.log
        await b.start()
        await wait_until(lambda: b.up and h.up, what="link up")
        await asyncio.sleep(0.05)
        assert bn.counters.get("echo") is None  # the early message was not kept for later
        await b.close()
        await h.close()

    run(main())


def test_silence_down_recovery_and_restart():
    quiet()

    async def main():
        bn, hn = nodes()
        be, he, to_host, to_board = stream_pair()
        b, h = conn_pair(bn, hn, be, he)
        events = []
        for c, who in ((b, "board"), (h, "host")):
            c.on_link_up.append(lambda c, r, who=who: events.append((who, "up", r)))
            c.on_link_down.append(lambda c, why, who=who: events.append((who, "down")))
        await h.start()
        await b.start()
        await wait_until(lambda: b.up and h.up, what="link up")
        to_host.cut = to_board.cut = True
        await wait_until(lambda: ("board", "down") in events and ("host", "down") in events, what="link down")
        assert not b.up and not h.up
        await hn.send(h.route_to("echo"), b"while down")
        assert hn.counters["serial_tx_not_up"] == 1
        to_host.cut = to_board.cut = False
        await wait_until(lambda: b.up and h.up, what="link up again")
        r = await bn.send_and_receive(b.route_to("echo"), b"back", 5)
        assert r.payload == b"back"
        # the board restarts: a new connection on the same wire; the host sees a restart
        await b.close()
        to_host.closed = to_board.closed = False
        bn2 = Node("board2")
        start_default_services(bn2)
        b2 = SerialConnection(bn2, be, be, "to-host", "b1", interval=INTERVAL_MS / 1000)
        del events[:]
        await b2.start()
        await wait_until(lambda: ("host", "up", True) in events, what="restart seen")
        await wait_until(lambda: b2.up, what="new board up")
        r = await bn2.send_and_receive(b2.route_to("echo"), b"after restart", 5)
        assert r.payload == b"after restart"
        assert h.link.restarts == 1
        await b2.close()
        await h.close()

    run(main())


def test_bad_messages_noise_and_oversize_keep_the_link():
    lines = quiet()

    async def main():
        bn, hn = nodes()
        be, he, to_host, to_board = stream_pair()
        b = SerialConnection(bn, be, be, "to-host", "b1", max_body=256, interval=INTERVAL_MS / 1000,
                             max_message=1024)
        h = SerialConnection(hn, he, he, "to-board", "gw", interval=INTERVAL_MS / 1000, speak_first=False)
        await h.start()
        await b.start()
        await wait_until(lambda: b.up and h.up, what="link up")
        assert h.link.tx_limit() == 256  # the board announced its smaller frame budget
        assert h.link.peer_max_message == 1024 and h.stats()["reliable"] and b.stats()["reliable"]
        # noise, a frame that passes its CRC but is not a routing message, a non-local hop
        be.write(b"\x00\xf8\x01\x02\x03\x00")
        be.write(encode_frame(DATA, b"\x83\x81"))
        be.write(encode_frame(DATA, encode_message(route("9#mars", "echo"), route("x"), b"hi")))
        await wait_until(lambda: h.link.bad_messages == 1 and hn.counters.get("non_local_from_network") == 1,
                         what="bad message and the transport hop counted")
        assert not h.closed and h.up
        assert len([m for (lvl, _, m) in lines if lvl >= 30 and "bad message" in m]) == 1
        # larger than a frame: fragmented and reassembled both ways (serial-link.md §8)
        r = await hn.send_and_receive(h.route_to("echo"), b"x" * 700, 5)
        assert r.payload == b"x" * 700 and b.stats()["rx_fragments"] >= 3 and h.stats()["rx_fragments"] >= 3
        # too big for the board's max_message: dropped by the host, counted, link stays
        await hn.send(h.route_to("echo"), b"x" * 1100)
        assert hn.counters["serial_tx_oversize"] == 1 and h.stats()["tx_too_big"] == 1
        r = await hn.send_and_receive(h.route_to("echo"), b"still up", 5)
        assert r.payload == b"still up"
        await b.close()
        await h.close()

    run(main())


def test_closing_the_stream_is_link_down_and_close():
    quiet()

    async def main():
        bn, hn = nodes()
        be, he, to_host, to_board = stream_pair()
        b, h = conn_pair(bn, hn, be, he)
        downs = []
        closes = []
        h.on_link_down.append(lambda c, why: downs.append(why))
        h.on_close.append(closes.append)
        await h.start()
        await b.start()
        await wait_until(lambda: b.up and h.up, what="link up")
        be.close()  # unplugged
        await wait_until(lambda: h.closed, what="host side closed")
        assert closes == [h] and downs and "closed" in downs[0]
        assert not hn.has_worker(h.address)
        await b.close()

    run(main())


STOP_FRAME = encode_frame(STOP, b"link stopped by the host #442")  # what hopseal_host.serial_port sends


def test_stop_frame_layout():
    # serial-link.md §2.1: the byte example there is this frame
    assert STOP_FRAME == bytes.fromhex(
        "00f823066c696e6b2073746f707065642062792074686520686f737420233434322d81b11500")
    assert encode_frame(STOP, b"") == bytes.fromhex("00f80606b84a613b00")
    dec = FrameDecoder()
    assert dec.feed(encode_frame(STOP, b"x" * 65, types={STOP: (0, 65)})) == [] and dec.stats()["bad_length"] == 1
    old = dict(FRAME_TYPES)
    del old[STOP]  # a receiver from before STOP counts it and goes on
    dec = FrameDecoder(types=old)
    assert dec.feed(STOP_FRAME) == [] and dec.stats()["unknown_type"] == 1


def test_stop_ends_the_board_link_in_every_state():
    # UP: link down with its event, then the stop event; nothing is ever sent again
    board, host = pair()
    shuttle(board, host, 0)
    assert board.state == UP
    for step in (0, 1):
        b, h = pair()
        shuttle(b, h, 0)
        b.take_events()
        assert feed_all(b, STOP_FRAME + encode_frame(DATA, b"\x01\x00\x02"), 10, step) == []
        assert b.state == STOPPED and b.stats()["state"] == "stopped" and b.stats()["stops_rx"] == 1
        assert b.take_events() == [(EV_DOWN, "stopped by the host"), (EV_STOP, "link stopped by the host #442")]
        assert b.out == []
        for t in (100, 1000, 10000):
            at(b, t).tick()
        assert b.out == [] and b.state == STOPPED
        # a HELLO after the STOP does not bring it back
        assert feed_all(b, encode_frame(HELLO, hello_body("gw")), 20000) == [] and b.out == [] and b.state == STOPPED
    # DOWN, before any HELLO came (the host sends it without having heard the board), and BAD_VERSION
    b = SerialLink("b1", 2048, INTERVAL_MS, 3, True, clock=Clock())
    at(b, 0).start()
    b.out = []
    feed_all(b, b"boot text\r\n" + encode_frame(STOP, b""), 5)
    assert b.state == STOPPED and b.take_events()[-1] == (EV_STOP, "") and b.out == []
    b = SerialLink("b1", 2048, INTERVAL_MS, 3, True, clock=Clock())
    feed_all(b, encode_frame(HELLO, b"\x07") + STOP_FRAME, 5)
    assert b.state == STOPPED


def test_a_host_ignores_stop_and_stays_silent():
    board, host = pair()
    feed_all(host, STOP_FRAME, 0)
    assert host.state == DOWN and host.out == [] and host.stats()["stops_rx"] == 1  # still silent (§7.2)
    shuttle(board, host, 0)
    assert host.state == UP
    feed_all(host, STOP_FRAME, 10)
    assert host.state == UP and host.take_events()[-1][0] != EV_STOP


def test_stop_closes_the_board_connection():
    from hopseal.transport.serial import STOPPED_BY_HOST

    quiet()

    async def main():
        bn, hn = nodes()
        be, he, to_host, to_board = stream_pair()
        b, h = conn_pair(bn, hn, be, he)
        downs = []
        b.on_link_down.append(lambda c, why: downs.append(why))
        await h.start()
        await b.start()
        await wait_until(lambda: b.up and h.up, what="link up")
        he.write(STOP_FRAME)
        await wait_until(lambda: b.closed, what="board side closed")
        assert b.close_reason == STOPPED_BY_HOST and downs == ["stopped by the host"]
        assert not bn.has_worker(b.address) and b.stats()["stops_rx"] == 1
        n = len(to_host.log)
        await asyncio.sleep(INTERVAL_MS * 3 / 1000)
        assert len(to_host.log) == n  # the board sends nothing more
        await h.close()

    run(main())
