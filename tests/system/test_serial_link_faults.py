"""Link-level fault injection: two real SerialConnections with a damaging relay between them.

    board side  <-socketpair->  relay (LineFaults, both directions)  <-socketpair->  host side

The board side sends routing messages to the host's `sink` worker, with console text written
between the frames (as print() does on a shared USB-CDC port). The board-to-host direction is
damaged by a seeded `LineFaults` that records which original bytes it touched; the host-to-board
direction is damaged at the same rates. Checked afterwards (firmware/serial-link.md §3 and §7, at
link level):
  (a) no corrupted message is delivered: every payload the sink got was sent, in order, once;
  (b) every DATA frame whose own bytes (leading 00 to trailing 00) arrived intact is delivered:
      the link resynchronises within one frame, and line noise never takes it down or closes it;
  (c) console text whose bytes and neighbouring delimiters arrived intact reaches the host's
      `on_text` callback byte-exact and in order.
These three are the version-1 (datagram) link's guarantees, checked with both ends speaking
version 1 only. The reliable link (serial-link.md §8, both ends offering it) is checked under the
same faults to deliver every message, in both directions, intact, in order and once
(`test_reliable_link_delivers_everything`).
Goodput is recorded as test properties (and printed with -s). Timeouts are failure bounds only.
"""
import asyncio
import random
import socket

import pytest

from hopseal.node import Node
from hopseal.wire.message import decode_message
from hopseal.wire.serial_frame import DATA, FrameDecoder
from hopseal.transport.serial import SerialConnection
from hopseal_host.line_faults import LineFaults

SCENARIOS = {
    "ber_1e-4": {"ber": 1e-4},
    "ber_1e-3": {"ber": 1e-3},
    "dropped_bytes": {"drop": 5e-4},
    "inserted_garbage": {"insert": 5e-4},
    "mixed": {"ber": 5e-5, "drop": 1e-4, "insert": 1e-4},
}
N_MESSAGES = 1200


class RecordingWriter:
    """The board side's writer: keeps (offset, bytes, is_text) of every write, in order."""

    def __init__(self, writer):
        self.w = writer
        self.records = []
        self.offset = 0

    def write(self, data, is_text=False):
        data = bytes(data)
        self.records.append((self.offset, data, is_text))
        self.offset += len(data)
        self.w.write(data)

    async def drain(self):
        await self.w.drain()

    def close(self):
        self.w.close()

    async def wait_closed(self):
        await self.w.wait_closed()


class CountingReader:
    def __init__(self, reader):
        self.r = reader
        self.count = 0

    async def read(self, n):
        d = await self.r.read(n)
        self.count += len(d)
        return d


async def relay(reader, writer, faults, done):
    while True:
        data = await reader.read(4096)
        if not data:
            break
        out = faults.apply(data)
        done["out"] += len(out)
        writer.write(out)
        await writer.drain()


class Sink:
    def __init__(self):
        self.got = []

    def handle_message(self, node, msg):
        self.got.append(msg.payload)


async def _wait(cond, timeout, what):
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def _text_line(rng, k):
    words = ["I", "node:", "heap", "free", "=", str(rng.randint(0, 99999)), "caf\u00e9", "\u2192", "rx", "tx"]
    return ("log %05d %s\r\n" % (k, " ".join(rng.choice(words) for _ in range(rng.randint(1, 8))))).encode()


async def run_scenario(name, faults_kw):
    rng = random.Random("link-faults-" + name)
    bsock, rsock1 = socket.socketpair()
    rsock2, hsock = socket.socketpair()
    br, bw = await asyncio.open_connection(sock=bsock)
    r1r, r1w = await asyncio.open_connection(sock=rsock1)
    r2r, r2w = await asyncio.open_connection(sock=rsock2)
    hr, hw = await asyncio.open_connection(sock=hsock)
    b2h = LineFaults(rng.random(), record=True, **faults_kw)
    h2b = LineFaults(rng.random(), **faults_kw)
    done = {"out": 0}
    back = {"out": 0}
    t1 = asyncio.create_task(relay(r1r, r2w, b2h, done))
    t2 = asyncio.create_task(relay(r2r, r1w, h2b, back))

    board, host = Node("board"), Node("host")
    sink = Sink()
    host.start_worker("sink", sink)
    rec = RecordingWriter(bw)
    hreader = CountingReader(hr)
    texts = []
    # long liveness window: only noise, never silence, is under test here
    b = SerialConnection(board, br, rec, "to-host", "board", interval=0.2, down_after=50, max_message=None)
    h = SerialConnection(host, hreader, hw, "to-board", "gw", interval=0.2, down_after=50, speak_first=False,
                         on_text=lambda c, t: texts.append(t), max_message=None)
    await h.start()
    await b.start()
    await _wait(lambda: b.up and h.up, 20, "link up")
    start_offset = rec.offset

    sent = []
    for k in range(N_MESSAGES):
        if rng.random() < 0.5:
            rec.write(_text_line(rng, k), is_text=True)
        n = rng.choice([rng.randint(8, 40), rng.randint(41, 300), rng.randint(301, 1500)])
        payload = k.to_bytes(4, "big") + rng.randbytes(n)
        sent.append(payload)
        await board.send(b.route_to("sink"), payload)
        if k % 50 == 0:
            await asyncio.sleep(0)  # let PINGs and PONGs interleave
    rec.write(b"final text line\r\n", is_text=True)
    await rec.drain()
    # everything the board wrote went through the relay and was read by the host
    await _wait(lambda: b2h.pos == rec.offset, 60, "relay to pass every byte")
    await _wait(lambda: hreader.count >= done["out"], 60, "host to read every byte")
    await asyncio.sleep(0.05)
    ok_link = (b.up, h.up, b.closed, h.closed, h.link.link_downs, b.link.link_downs)
    stats = h.stats()
    await b.close()
    await h.close()
    for t in (t1, t2):
        t.cancel()
    for w in (r1w, r2w):
        w.close()
    return rec, b2h, sink.got, b"".join(texts), sent, start_offset, ok_link, stats


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_link_survives_line_faults(name, record_property):
    rec, faults, got, text, sent, start, ok_link, stats = asyncio.run(run_scenario(name, SCENARIOS[name]))
    # the link never went down and was never closed by noise
    assert ok_link == (True, True, False, False, 0, 0), ok_link

    damaged = faults.damaged

    def intact(lo, hi):
        return not any(p in damaged for p in range(lo, hi + 1))

    # the board's DATA frames, from its own writes
    frames = []  # (start, end_inclusive, payload)
    texts = []  # (start, end_exclusive)
    for off, data, is_text in rec.records:
        if off < start:
            continue
        if is_text:
            texts.append((off, off + len(data)))
            continue
        for e in FrameDecoder().feed(data):
            if e[0] == "frame" and e[1] == DATA:
                frames.append((off, off + len(data) - 1, decode_message(e[2]).payload))
    assert [p for _, _, p in frames] == sent

    # (a) only sent payloads, in order, at most once
    index = {p: k for k, p in enumerate(sent)}
    ks = []
    for p in got:
        assert p in index, "corrupted message delivered (%d bytes)" % len(p)
        ks.append(index[p])
    assert ks == sorted(set(ks))
    # (b) every intact frame delivered: resynchronised within one frame every time
    intact_frames = [k for k, (s, e, _) in enumerate(frames) if intact(s, e)]
    missing = sorted(set(intact_frames) - set(ks))
    assert not missing, "intact frames not delivered: %r" % missing[:10]
    # (c) intact console text delivered byte-exact, in order
    pos = 0
    intact_texts = 0
    whole = rec.offset
    for s, e in texts:
        if intact(max(s - 1, 0), min(e, whole - 1)):
            j = text.find(b"".join(d for o, d, t in rec.records if o == s), pos)
            assert j >= 0, "intact console text lost at offset %d" % s
            pos = j + (e - s)
            intact_texts += 1
    assert intact_texts >= len(texts) // 4  # the rates leave most lines intact

    payload = sum(len(sent[k]) for k in ks)
    record_property("messages_delivered", len(ks))
    record_property("messages_intact", len(intact_frames))
    record_property("goodput_payload_per_wire_byte", round(payload / max(1, faults.pos - start), 4))
    print("\n%-17s sent %d delivered %d (intact %d)  text %d/%d intact  flips %d drops %d inserts %d  %s" % (
        name, len(sent), len(ks), len(intact_frames), intact_texts, len(texts), faults.flipped, faults.dropped,
        faults.inserted, {k: v for k, v in stats.items() if v and k not in ("state",)}))


async def run_reliable(name, faults_kw, n_messages):
    rng = random.Random("reliable-" + name)
    bsock, rsock1 = socket.socketpair()
    rsock2, hsock = socket.socketpair()
    br, bw = await asyncio.open_connection(sock=bsock)
    r1r, r1w = await asyncio.open_connection(sock=rsock1)
    r2r, r2w = await asyncio.open_connection(sock=rsock2)
    hr, hw = await asyncio.open_connection(sock=hsock)
    b2h = LineFaults(rng.random(), **faults_kw)
    h2b = LineFaults(rng.random(), **faults_kw)
    t1 = asyncio.create_task(relay(r1r, r2w, b2h, {"out": 0}))
    t2 = asyncio.create_task(relay(r2r, r1w, h2b, {"out": 0}))
    board, host = Node("board"), Node("host")
    to_host, to_board = Sink(), Sink()
    host.start_worker("sink", to_host)
    board.start_worker("sink", to_board)
    b = SerialConnection(board, br, bw, "to-host", "board", max_body=1024, interval=0.2, down_after=50,
                         max_message=8192)
    h = SerialConnection(host, hr, hw, "to-board", "gw", interval=0.2, down_after=50, speak_first=False)
    await h.start()
    await b.start()
    await _wait(lambda: b.up and h.up, 20, "link up")
    sent_b, sent_h = [], []
    for k in range(n_messages):
        for sent in (sent_b, sent_h):
            n = rng.choice([rng.randint(8, 40), rng.randint(41, 900), rng.randint(901, 8000)])
            sent.append(k.to_bytes(4, "big") + rng.randbytes(n))

    async def send_all(node, conn, sent):
        for p in sent:
            await node.send(conn.route_to("sink"), p)

    await asyncio.gather(send_all(board, b, sent_b), send_all(host, h, sent_h))
    await _wait(lambda: len(to_host.got) >= n_messages and len(to_board.got) >= n_messages, 120, "every message")
    await asyncio.sleep(0.1)
    ok_link = (b.up, h.up, b.closed, h.closed, h.link.link_downs, b.link.link_downs)
    stats = (b.stats(), h.stats())
    await b.close()
    await h.close()
    for t in (t1, t2):
        t.cancel()
    for w in (r1w, r2w):
        w.close()
    return sent_b, sent_h, to_host.got, to_board.got, ok_link, stats, b2h


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_reliable_link_delivers_everything(name, record_property):
    sent_b, sent_h, got_h, got_b, ok_link, (bst, hst), faults = asyncio.run(run_reliable(name, SCENARIOS[name], 150))
    assert ok_link == (True, True, False, False, 0, 0), ok_link
    assert got_h == sent_b and got_b == sent_h  # every message, intact, in order, once; both ways
    assert bst["reliable"] and hst["reliable"]
    assert bst["retransmits"] + hst["retransmits"] > 0  # the line did damage and it was repaired
    payload = sum(len(p) for p in sent_b)
    record_property("goodput_payload_per_wire_byte", round(payload / max(1, faults.pos), 4))
    print("\n%-17s %d+%d messages intact; board: timeouts %d srtt %s rto %s retransmits %d frag %d rx_dup %d rx_gap %d; host: retransmits %d "
          "frag %d; flips %d drops %d inserts %d; payload/wire %.3f" % (
              name, len(sent_b), len(sent_h), bst["timeouts"], bst["srtt"], bst["rto"], bst["retransmits"], bst["frag"], bst["rx_dup"], bst["rx_gap"],
              hst["retransmits"], hst["frag"], faults.flipped, faults.dropped, faults.inserted,
              payload / max(1, faults.pos)))


def test_line_faults_bookkeeping():
    data = bytes(range(256)) * 40
    # bit errors only: same length, and exactly the recorded bytes differ
    f = LineFaults(3, ber=0.002, record=True)
    out = b"".join(f.apply(data[i : i + 97]) for i in range(0, len(data), 97))
    assert len(out) == len(data) and f.flipped
    assert {i for i in range(len(data)) if out[i] != data[i]} <= f.damaged
    # drops and insertions change the length by what was counted; chunking does not matter
    f = LineFaults(5, ber=0.01, drop=0.01, insert=0.01, record=True)
    out = b"".join(f.apply(data[i : i + 97]) for i in range(0, len(data), 97))
    g = LineFaults(5, ber=0.01, drop=0.01, insert=0.01, record=True)
    assert g.apply(data) == out and g.damaged == f.damaged and f.pos == len(data)
    assert f.dropped and f.inserted and len(out) - len(data) >= f.inserted - f.dropped
    clean = LineFaults(3)
    assert clean.apply(data) == data and not clean.damaged
