"""The serial link (serial-link.md §7): hello exchange, liveness and restart detection on top of
the frames of serial_frame.py.

`SerialLink` is sans-I/O: bytes in (`feed`), the passing of time in (`tick`, and the `clock`
it is given, `ticks_ms` by default); DATA bodies, control frames to write (`take_output`) and
events (`take_events`) out. `hopseal.transport.serial.SerialConnection` drives it over a byte stream.

States DOWN, UP, BAD_VERSION and (a board after STOP) STOPPED; what each frame does in each
state is the table of serial-link.md §7.3. With a peer that offers it in its HELLO, DATA travels
on the reliable link (§8, wire/serial_arq.py, imported only then): RDATA fragments and ACKs.
A side that does not speak first (the host) sends nothing until a valid frame arrives, and falls
silent again each time the link goes down.

Rules upheld here (serial-link.md §7):
- Line noise never closes the link. Damaged frames are counted by the decoder and dropped; a DATA
  frame that passes its CRC but is not a routing message is dropped and counted too.
- Console text (everything outside frames) goes to the `on_text` callback, never to the router.
- The side that speaks first (the board) sends HELLO when it opens and again every interval until
  the peer answers. The other side (the host) sends no byte until a valid frame came from the
  peer: a board sitting at the REPL must not get COBS bytes as keystrokes (§4). It goes silent
  again whenever the link goes down.
- DATA is sent only while the link is up (the peer's HELLO was seen and its version is ours);
  otherwise it is dropped and counted, never buffered. DATA received while down is dropped and
  counted, and answered with a HELLO (the peer thinks the link is up: it lost us).
- A HELLO with another version is logged as an error; the peer's data is ignored until a good
  HELLO arrives.
- A HELLO without the REPLY flag while the link is up means the peer restarted (or lost us): the
  link is up again and `on_link_up` fires with restarted=True. Every HELLO without the flag is
  answered with one that has it; a REPLY HELLO is never answered, so HELLOs cannot ping-pong.
- Liveness: a PING every interval while up, answered by a PONG; any valid frame from the peer is
  a sign of life. `down_after` intervals without one is link down (`on_link_down`).
- STOP (host to board, §2.1) ends the board's link for good, in any state, even before any
  HELLO; the board then sends nothing more. A host ignores STOP.
- The reliable link's session (its sequence numbers, what waits for an ACK, what is being
  reassembled) starts afresh each time the link goes up, so a peer's restart resets it.
- Hooks never block the receive loop: a hook that returns a coroutine is run as a task.
"""
from struct import pack

from ..compat import const, get_logger, printable, ticks_diff, ticks_ms
from .serial_frame import (
    ACK,
    DATA,
    DEFAULT_MAX_BODY,
    EV_TEXT,
    HELLO,
    LINK_VERSION,
    PING,
    PONG,
    RDATA,
    STOP,
    TIME,
    FrameDecoder,
    FrameEncoder,
    encode_frame,
)

log = get_logger("serial")

# Link defaults, the one place they are set (board files, the gateway and both ends use them).
DEFAULT_INTERVAL = 2.0  # seconds between HELLOs while down and PINGs while up
DEFAULT_DOWN_AFTER = const(3)  # intervals without a frame from the peer before the link is down

FLAG_REPLY = const(0x01)  # HELLO flags bit 0: this HELLO answers the peer's HELLO
FLAG_ARQ = const(0x02)  # HELLO flags bit 1: link version 2, the reliable link (§8); max_message follows
DEFAULT_MAX_MESSAGE = const(65535)  # largest routing message a host reassembles (u16 in the HELLO)
MAX_NAME = const(32)  # bytes of the name carried in a HELLO

DOWN = const(0)  # no valid HELLO from the peer (yet, or since the link went down)
UP = const(1)
BAD_VERSION = const(2)  # the peer's last HELLO carried another link version
STOPPED = const(3)  # the host sent STOP: the link has ended (board side only)

EV_UP = "up"  # ("up", restarted)
EV_DOWN = "down"  # ("down", why)
EV_TIME = "time"  # ("time", unix_seconds): the peer's UTC clock (§7.7)
EV_STOP = "stop"  # ("stop", reason): the host ended the link (§2.1); the transport closes
DEFAULT_TIME_INTERVAL = 600.0  # seconds between TIME frames while up (the host side)

_REPL_PROMPT = b"\n>>> "  # a MicroPython board that left the link for the REPL prints this


def hello_body(name=b"", reply=False, max_body=DEFAULT_MAX_BODY, max_message=None):
    """HELLO body (serial-link.md §7.1): version, flags, max body (u16 BE), [max message (u16 BE)
    with FLAG_ARQ when `max_message` is given: this side speaks the reliable link, §8], name."""
    if isinstance(name, str):
        name = name.encode()
    if max_body > 0xFFFF:
        max_body = 0xFFFF
    flags = FLAG_REPLY if reply else 0
    if max_message is None:
        return pack(">BBH", LINK_VERSION, flags, max_body) + name[:MAX_NAME]
    if max_message > 0xFFFF:
        max_message = 0xFFFF
    return pack(">BBHH", LINK_VERSION, flags | FLAG_ARQ, max_body, max_message) + name[:MAX_NAME]


def parse_hello(body):
    """(version, flags, max_body or None, name) of a HELLO body; tolerant of short bodies."""
    version = body[0]
    flags = body[1] if len(body) > 1 else 0
    max_body = (body[2] << 8) | body[3] if len(body) > 3 else None
    at = 6 if flags & FLAG_ARQ and len(body) >= 6 else 4
    return version, flags, max_body, printable(body[at : at + MAX_NAME])


def hello_max_message(body):
    """The max_message a HELLO announces with FLAG_ARQ (the reliable link), else None."""
    if len(body) >= 6 and body[1] & FLAG_ARQ:
        return (body[4] << 8) | body[5]
    return None


class SerialLink:
    """The link state machine, sans-I/O. Times are `ticks_ms()` values passed in by the caller.

    feed(data, now) -> [DATA body, ...]; tick(now) for the timers. Control frames to write pile up
    in `out` (bytes), events in `events`: ("up", restarted), ("down", why), ("text", bytes).
    """

    def __init__(self, name=b"", max_body=DEFAULT_MAX_BODY, interval_ms=int(DEFAULT_INTERVAL * 1000),
                 down_after=DEFAULT_DOWN_AFTER, speak_first=True, clock=ticks_ms, wall_clock=None,
                 time_interval_ms=int(DEFAULT_TIME_INTERVAL * 1000), max_message=None, window=None):
        # max_message: None speaks version 1 only (DATA, datagrams); a number offers the reliable
        # link (§8), used when the peer offers it too, with messages up to that size reassembled
        self.max_message = max_message
        self.window = window
        self.rx_buf = None  # the reassembly buffer: made by the first session that needs it, then kept
        self.arq = None  # the reliable link's session (wire/serial_arq.py) while up with a v2 peer
        self.peer_max_message = None
        self.arq_lost = 0  # messages queued in a session that ended before they were acknowledged
        self.encoder = None  # FrameEncoder for pull(), made at the first use
        self.clock = clock
        self.wall_clock = wall_clock  # UTC seconds, on the side that sends TIME (the host)
        self.time_interval_ms = time_interval_ms
        self.last_time = None  # ticks of the last TIME sent
        self.name = name.encode() if isinstance(name, str) else name
        self.max_body = max_body
        self.interval_ms = interval_ms
        self.down_after = down_after
        self.speak_first = speak_first
        self.decoder = FrameDecoder(max_body)
        self.decoder.views = True  # feed() takes each frame before the decoder reuses its buffer
        self.state = DOWN
        self.may_speak = speak_first
        self.out = []
        self.events = []
        self.heard = None  # ticks of the last valid frame from the peer
        self.last_hello = None  # ticks of the last HELLO we sent without the REPLY flag
        self.last_ping = None
        self.ping_seq = 0  # sequence number of the last PING sent
        self.ping_open = False  # its PONG has not come back yet
        self.rtt_ms = None
        self.peer_name = None
        self.peer_version = None
        self.peer_max_body = None
        self._tail = b""  # last bytes of console text (REPL prompt detection across feeds)
        # counters (exact; `stats()` merges the decoder's)
        self.link_ups = 0
        self.link_downs = 0
        self.restarts = 0
        self.bad_version = 0
        self.rx_not_up = 0
        self.tx_not_up = 0
        self.tx_oversize = 0
        self.bad_messages = 0
        self.hellos_rx = 0
        self.pings_rx = 0
        self.pongs_rx = 0
        self.times_rx = 0
        self.stops_rx = 0
        self.rx_not_arq = 0

    @property
    def up(self):
        return self.state == UP

    def tx_limit(self):
        """Largest DATA body we may send: ours, or the peer's if it announced a smaller one."""
        m = self.max_body
        if self.peer_max_body is not None and self.peer_max_body < m:
            m = self.peer_max_body
        return m

    def may_send(self, body_len):
        """None if a DATA body of `body_len` bytes may go out now; else why not (counted)."""
        if self.state != UP:
            self.tx_not_up += 1
            return "link is down"
        if self.arq is not None:
            return self.arq.too_big(body_len)
        if body_len > self.tx_limit():
            self.tx_oversize += 1
            return "message of %d bytes exceeds the %d byte frame limit" % (body_len, self.tx_limit())
        return None

    # -- the reliable link (§8) ------------------------------------------------------------------
    def room(self):
        """True when a message may be put now (always, on a version-1 link: DATA is not queued)."""
        return self.arq is None or self.arq.room()

    def put(self, body):
        """Queue one routing message on the reliable link (after may_send() and room() said yes);
        pull() cuts it into RDATA frames."""
        self.arq.put(body)

    def pull(self):
        """The next frame to write (control frames first, then RDATA while the window allows), or
        None. A memoryview into this link's encoder may be returned: write it before the next call."""
        if self.out:
            return self.out.pop(0)
        a = self.arq
        if a is None:
            return None
        nf = a.next_fragment(self.clock())
        if nf is None:
            return None
        if self.encoder is None:
            self.encoder = FrameEncoder(self.max_body)
        return self.encoder.encode(RDATA, nf[1], nf[0])

    def timer_ms(self):
        """Milliseconds until the reliable link's retransmission timer is due, or None."""
        a = self.arq
        return None if a is None else a.timer_ms(self.clock())

    def bad_message(self):
        """A DATA body passed its CRC but was not a routing message (§7.5): counted, link kept."""
        self.bad_messages += 1

    def close(self, why):
        """The stream under the link is gone: down now (with its event), nothing more to send."""
        if self.state == UP:
            self._go_down(why)
        self.out = []

    def take_output(self):
        """The control frames to write, oldest first; the queue is emptied."""
        out = self.out
        self.out = []
        return out

    def take_events(self):
        """The events since the last call: ("up", restarted), ("down", why), ("text", bytes)."""
        ev = self.events
        self.events = []
        return ev

    def stats(self):
        d = self.decoder.stats()
        for k in ("link_ups", "link_downs", "restarts", "bad_version", "rx_not_up", "tx_not_up",
                  "tx_oversize", "bad_messages", "hellos_rx", "pings_rx", "pongs_rx", "times_rx", "stops_rx", "rx_not_arq", "arq_lost"):
            d[k] = getattr(self, k)
        d["reliable"] = self.arq is not None
        if self.arq is not None:
            self.arq.stats(d)
        d["state"] = ("down", "up", "bad_version", "stopped")[self.state]
        return d

    # -- output --------------------------------------------------------------------------------
    def _hello(self, now, reply):
        self.out.append(encode_frame(HELLO, hello_body(self.name, reply, self.max_body, self.max_message),
                                     self.max_body))
        if not reply:
            self.last_hello = now
        if self.wall_clock is not None:
            self._time(now)

    def _time(self, now):
        self.out.append(encode_frame(TIME, pack(">I", int(self.wall_clock()) & 0xFFFFFFFF)))
        self.last_time = now

    def _hello_soon(self, now):
        # The peer sends us PING or DATA, so it thinks the link is up: it lost us. Tell it, at
        # most twice per interval.
        if self.last_hello is None or ticks_diff(now, self.last_hello) >= self.interval_ms // 2:
            self._hello(now, False)

    def start(self):
        """The end opened: the side that speaks first says HELLO."""
        if self.may_speak:
            self._hello(self.clock(), False)

    def restart_hello(self):
        """Send a HELLO without the REPLY flag now: the peer treats it as our restart (the gateway
        uses it when the path behind it was re-established, so boards re-register)."""
        if self.may_speak:
            self._hello(self.clock(), False)
            if self.state == UP and self.arq is not None:
                self._new_arq()  # the peer takes this HELLO as our restart and starts afresh: so do we

    def _new_arq(self):
        self._end_arq()
        if self.max_message is not None and self.peer_max_message is not None:
            from .serial_arq import RX_BUF_FIRST, Arq  # only with a peer that speaks the reliable link

            if self.rx_buf is None:
                # every message is received in it (serial_arq.py): made at the first link up,
                # before the channels cut up the heap, and kept; when there is no room for it
                # now, the first message that needs it tries again
                try:
                    self.rx_buf = bytearray(min(RX_BUF_FIRST, self.max_message))
                except MemoryError:
                    pass

            kw = {"rto_max_ms": self.interval_ms}
            if self.window:
                kw["window"] = self.window
            self.arq = Arq(self.tx_limit() - 3, self.max_message, self.peer_max_message, rx_buf=self.rx_buf, **kw)

    def _go_up(self, restarted):
        self._new_arq()
        self.state = UP
        self.link_ups += 1
        if restarted:
            self.restarts += 1
        self.events.append((EV_UP, restarted))

    def _end_arq(self):
        a = self.arq
        if a is not None:
            self.rx_buf = a.rx_buf
            self.arq_lost += len(a.queue)
            self.arq = None

    def _go_down(self, why):
        self._end_arq()
        was_up = self.state == UP
        self.state = DOWN
        self.may_speak = self.speak_first
        self.ping_open = False
        if was_up:
            self.link_downs += 1
            self.events.append((EV_DOWN, why))

    # -- input ---------------------------------------------------------------------------------
    def feed(self, data):
        """Consume bytes from the wire; return the DATA bodies to deliver (only while up)."""
        if not hasattr(data, "find"):
            data = bytes(data)
        bodies = []
        i = 0
        while i < len(data):
            i = self.feed_part(data, i, bodies, False)
        return bodies

    def feed_part(self, data, start, bodies, stop=True):
        """Consume data[start:] (bytes or a bytearray) up to its end or, with `stop`, up to the
        end of the first frame that completes a message; append the messages to `bodies` and
        return where it stopped. A reliable-link message is a view of the reassembly buffer
        (serial_arq.py): deliver it before feeding more (transport/serial.py does), and the
        next one needs no copy of it."""
        n = len(data)
        if self.state == STOPPED:
            return n
        now = self.clock()
        # The decoder gives each frame's body as a view of its buffer, valid until it is fed
        # again: so it is fed up to one frame end (a 00) at a time and each frame handled at once
        # (what is kept is copied: DATA bodies, HELLO and STOP text; RDATA goes into the
        # reassembly buffer). No allocation the size of a frame per frame.
        k = len(bodies)
        i = start
        a = self.arq
        if a is not None and a.ready():
            a.more(bodies, stop)  # held fragments a lent message stopped
            if stop and len(bodies) > k:
                i = n + 1  # nothing consumed: skip the loop, answer below
        while i < n and self.state != STOPPED:
            j = data.find(b"\x00", i)
            j = n if j < 0 else j + 1
            self._frames(self.decoder.feed(data, i, j), now, bodies, stop)
            i = j
            if stop and len(bodies) > k:
                break
        a = self.arq
        if a is not None and i >= n:
            # one ACK for all the input (not one per message: each costs the peer a frame)
            ack = a.take_ack()
            if ack is not None:
                self.out.append(encode_frame(ACK, ack))
        if self.state == STOPPED:
            return n
        return start if i > n else i

    def more(self):
        """True when the reliable link holds fragments it can deliver now without more input
        (feed_part takes them first)."""
        return self.state == UP and self.arq is not None and self.arq.ready()

    def _frames(self, events, now, bodies, lend=False):
        for ev in events:
            if self.state == STOPPED:
                break  # nothing after a STOP counts: the board is leaving the link
            if ev[0] == EV_TEXT:
                self._text(ev[1])
                continue
            ftype = ev[1]
            body = ev[2]
            if ftype == STOP:
                self._on_stop(bytes(body))
                continue
            self.heard = now
            if not self.may_speak:
                self.may_speak = True
                if ftype != HELLO:
                    self._hello(now, False)
            if ftype == HELLO:
                self._on_hello(bytes(body), now)
            elif ftype == PING:
                self.pings_rx += 1
                self.out.append(encode_frame(PONG, body))
                if self.state == DOWN:
                    self._hello_soon(now)
            elif ftype == PONG:
                self.pongs_rx += 1
                if self.ping_open and len(body) == 4:
                    if (body[0] << 24) | (body[1] << 16) | (body[2] << 8) | body[3] == self.ping_seq:
                        self.ping_open = False
                        self.rtt_ms = ticks_diff(now, self.last_ping)
                        if self.arq is not None:
                            self.arq.rtt_hint(self.rtt_ms)
            elif ftype == TIME:
                self.times_rx += 1
                self.events.append((EV_TIME, (body[0] << 24) | (body[1] << 16) | (body[2] << 8) | body[3]))
            elif ftype == DATA or ftype == RDATA or ftype == ACK:
                if self.state != UP:
                    self.rx_not_up += 1
                    if self.state == DOWN:
                        self._hello_soon(now)
                elif ftype == DATA:
                    bodies.append(bytes(body))
                elif self.arq is None:
                    self.rx_not_arq += 1  # the peer did not offer the reliable link in its HELLO
                elif ftype == RDATA:
                    self.arq.on_rdata(body, bodies, lend)
                else:
                    self.arq.on_ack(body, now)

    def _on_stop(self, body):
        self.stops_rx += 1
        if not self.speak_first:
            return  # a host is not stopped by a board (nor by its own frame echoed back)
        self._go_down("stopped by the host")
        self.state = STOPPED
        self.may_speak = False
        self.out = []
        self.events.append((EV_STOP, printable(body)))

    def _on_hello(self, body, now):
        self.hellos_rx += 1
        version, flags, max_body, name = parse_hello(body)
        if version != LINK_VERSION:
            self.bad_version += 1
            if self.state != BAD_VERSION or self.peer_version != version:
                log.error("peer speaks serial link version %d, we speak %d: ignoring its data until a good HELLO",
                          version, LINK_VERSION)
            was_up = self.state == UP
            self._end_arq()
            self.state = BAD_VERSION
            self.peer_version = version
            if was_up:
                self.link_downs += 1
                self.events.append((EV_DOWN, "peer link version %d" % version))
            return
        self.peer_version = version
        self.peer_name = name
        self.peer_max_body = max_body
        self.peer_max_message = hello_max_message(body)
        reply = flags & FLAG_REPLY
        if self.state == UP:
            if not reply:
                self._go_up(True)  # mid-link HELLO: the peer restarted or lost us
                self._hello(now, True)
            return
        self._go_up(False)
        if not reply:
            self._hello(now, True)

    def _text(self, text):
        self.events.append((EV_TEXT, text))
        if self.speak_first:
            return
        # host side: a board that crashed to the REPL must not get our frames as keystrokes
        seen = self._tail + text
        self._tail = seen[-len(_REPL_PROMPT) :]
        if seen.find(_REPL_PROMPT) >= 0 and self.state == UP:
            self._go_down("the board printed a REPL prompt")

    # -- timers --------------------------------------------------------------------------------
    def tick(self):
        """Run the timers: PING while up, link down after silence, HELLO again while down."""
        now = self.clock()
        if self.state == STOPPED:
            return
        if self.arq is not None:
            self.arq.tick(now)
        if self.state == UP:
            if self.heard is None or ticks_diff(now, self.heard) >= self.down_after * self.interval_ms:
                self._go_down("no frame from the peer for %d ms" % (self.down_after * self.interval_ms))
            elif self.last_ping is None or ticks_diff(now, self.last_ping) >= self.interval_ms:
                self.ping_seq = (self.ping_seq + 1) & 0xFFFFFFFF
                self.ping_open = True
                self.last_ping = now
                self.out.append(encode_frame(PING, pack(">I", self.ping_seq)))
                return
            if self.wall_clock is not None and (self.last_time is None or ticks_diff(now, self.last_time) >= self.time_interval_ms):
                self._time(now)
        if self.state != UP and self.may_speak:
            if self.last_hello is None or ticks_diff(now, self.last_hello) >= self.interval_ms:
                self._hello(now, False)
