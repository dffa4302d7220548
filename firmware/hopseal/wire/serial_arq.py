"""The reliable serial link (serial-link.md §8): acknowledged, retransmitted, fragmented DATA."""
# (A comment, not the docstring: on a board running from source a docstring takes heap.)
#
# The reliable serial link (serial-link.md §8): sequenced DATA fragments, acknowledgements,
# retransmission within a bounded window, and fragmentation of routing messages. Sans-I/O: bodies
# and ticks_ms values in, frame bodies out; `SerialLink` runs one `Arq` per link session and only
# when both sides announced it in their HELLO (FLAG_ARQ), so a version-1 peer never sees RDATA/ACK
# and this module is not even imported on a board whose gateway is older.
#
#     RDATA body = offset u16 BE ‖ flags ‖ data      offset: stream position of data's first byte
#     ACK body   = next u16 BE ‖ flags ‖ SACK        next: the first stream byte not yet received;
#                                                    SACK: up to 4 (from u16, to u16) ranges held
#
# Rules upheld here:
# - The sender numbers the bytes of its message stream (mod 2^16 on the wire), cuts them into
#   fragments of at most `frag` bytes that never span two messages (flag END on a message's last
#   fragment), and keeps at most `window()` bytes unacknowledged. Because fragments are numbered by
#   byte, a retransmission may cut the same bytes differently: after a loss, `frag` halves (down to
#   MIN_FRAG) and what is resent is resent in smaller pieces, so a noisy line still gets data through;
#   without loss `frag` grows back (additive increase) up to the frame limit.
# - Selective repeat, cumulative ACK: the receiver delivers bytes in order (a fragment that overlaps
#   what it has gives its new tail) and keeps fragments that arrive after a gap, up to its window
#   (`rx_held`, bytes), until the gap is filled. Every feed with fragments in it is answered by one
#   ACK: the next byte expected, flag GAP while it holds bytes beyond a gap. The sender answers a GAP
#   by resending one fragment at the gap (at most once per RTO for the same gap), not the whole
#   window; duplicates are dropped (`rx_dup`).
# - Retransmission timeout: 2 x smoothed RTT + RTO_MIN_MS (Karn: no sample from resent bytes, none
#   taken during a recovery, whose ACKs wait for the holes),
#   doubled per timeout up to `rto_max_ms`; it resends one fragment at the oldest unacknowledged
#   byte. Until everything sent before the loss is acknowledged (recovery, as TCP NewReno), each
#   ACK that moves but stops short resends the fragment at the new oldest byte at once.
# - Bounded memory. Sender: the messages the bytes of the window belong to (references, no copies)
#   plus one more, `room()` says when; the transport waits for it (backpressure, never a queue).
#   Receiver: one reassembly buffer of max_message bytes, allocated at the first message that spans
#   two fragments, and at most `window` bytes of fragments held beyond a gap; a message longer than
#   max_message is received and dropped (`rx_too_big`), and the sender refuses one longer than the
#   peer's max_message before sending (`tx_too_big`). Once that buffer exists (the first message
#   of two fragments makes it; before, a one-fragment message is a bytearray of its own), every
#   message is assembled in it and delivered as a memoryview of it, valid until the next feed
#   (the caller delivers each message
#   before it feeds more; one still in `out` when another starts is copied first): the decoders
#   and the secure channels work in it (views, in-place decryption), so receiving a message of a
#   few KB allocates nothing that large, whatever pieces the heap is in. Whoever keeps a message
#   beyond its delivery copies it (node.Mailbox does).
# - Offsets are kept as small ints (renormalised below 2^16 + window), so a long-lived link never
#   grows them into big ints on a 32-bit board.

from struct import pack, pack_into

from ..compat import const, ticks_diff

FLAG_END = const(0x01)  # RDATA: the last fragment of a message
FLAG_GAP = const(0x01)  # ACK: the receiver holds bytes beyond `next` (a loss): resend at `next` now

MIN_FRAG = const(24)
MAX_SACK = const(4)  # ranges in an ACK (serial-link.md §8)  # bytes of data per fragment after losses, at least
RTO_MIN_MS = const(30)
RTO_INITIAL_MS = const(400)
RX_BUF_FIRST = const(2048)  # the reassembly buffer's first size (it grows up to max_message)
DEFAULT_WINDOW = const(4096)  # bytes in flight at most; bytes a receiver holds beyond a gap at most
_WRAP = const(0x10000)
_HALF = const(0x8000)


def _unlend(out):
    """The reassembly buffer is about to take another message: a view of it still in `out`
    (not yet delivered) becomes a copy of its own."""
    for i in range(len(out)):
        if type(out[i]) is memoryview:
            out[i] = bytearray(out[i])


def _lent(out):
    for m in out:
        if type(m) is memoryview:
            return True
    return False


def _unwrap(o16, ref):
    """The stream offset nearest to `ref` whose low 16 bits are o16."""
    d = (o16 - ref) & 0xFFFF
    if d >= _HALF:
        d -= _WRAP
    return ref + d


class Arq:
    """One session of the reliable link between two ends (reset when the link goes up again)."""

    def __init__(self, frag_max, max_message, peer_max_message, window=DEFAULT_WINDOW, rto_max_ms=2000, rx_buf=None):
        self.frag_max = frag_max  # data bytes per fragment: the frame limit less the RDATA header
        self.frag = frag_max
        self.max_message = max_message
        self.peer_max_message = peer_max_message
        self.window_max = window
        self.rto_max_ms = rto_max_ms
        # sender
        self.queue = []  # [start offset, body] of each message not yet fully acknowledged, in order
        self.snd_una = 0  # first byte not acknowledged
        self.snd_nxt = 0  # next byte to send (moved back by a retransmission)
        self.snd_max = 0  # one past the last byte ever sent
        self.snd_end = 0  # one past the last byte queued
        self.rto = RTO_INITIAL_MS
        self.srtt = None
        self.rto_from = None  # ticks when the oldest outstanding byte's timer started
        self.sample = None  # (offset acknowledging it, ticks sent) of one freshly sent fragment
        self.holes = []  # [from, to] ranges to resend before anything new (lost, by SACK or timer)
        self.marked = 0  # holes below this offset were already resent in this round ...
        self.round_t = 0  # ... which began then (a round lasts one RTO)
        self.recover = -1  # in recovery from a loss until this offset is acknowledged (-1: not)
        self._hdr = bytearray(3)
        # receiver
        self.rx_next = 0
        self.rx_buf = rx_buf  # reassembly (up to max_message bytes): the link's, kept across sessions, or made on first use
        self.rx_len = 0
        self.rx_drop = 0  # the message in progress is dropped: 1 too long, 2 no memory for it
        self.held = []  # [offset, bytes, flags] beyond a gap, by offset
        self.rx_held = 0  # bytes in `held`
        self.ack_due = False
        # counters
        self.tx_fragments = 0
        self.retransmits = 0  # fragments resent after a GAP, and go-backs after a timeout
        self.timeouts = 0
        self.tx_bytes_resent = 0
        self.rx_fragments = 0
        self.rx_dup = 0
        self.rx_gap = 0
        self.rx_too_big = 0
        self.rx_no_memory = 0  # messages lost: no room to reassemble them
        self.rx_hold_no_memory = 0  # fragments beyond a gap not held for lack of room (resent)
        self.tx_too_big = 0
        self.messages_rx = 0
        self.messages_tx = 0

    def stats(self, d):
        for k in ("tx_fragments", "retransmits", "timeouts", "tx_bytes_resent", "rx_fragments", "rx_dup", "rx_gap",
                  "rx_too_big", "rx_no_memory", "rx_hold_no_memory", "tx_too_big", "messages_rx", "messages_tx", "frag", "rto"):
            d[k] = getattr(self, k)
        d["srtt"] = -1 if self.srtt is None else self.srtt

    # -- sending ---------------------------------------------------------------------------------
    def window(self):
        return self.window_max

    def too_big(self, n):
        """Why a message of n bytes cannot be sent at all (counted), or None."""
        if n > self.peer_max_message:
            self.tx_too_big += 1
            return "message of %d bytes exceeds the peer's %d byte message limit" % (n, self.peer_max_message)
        return None

    def room(self):
        """True when one more message may be queued (what is queued fits the window)."""
        return self.snd_end - self.snd_una < self.window_max

    def busy(self):
        """Bytes sent and not acknowledged, or queued and not sent."""
        return self.snd_end != self.snd_una

    def put(self, body):
        self.queue.append((self.snd_end, body))
        self.snd_end += len(body)
        self.messages_tx += 1

    def pending(self):
        """True when next_fragment() has something to send now."""
        return bool(self.holes) or (self.snd_nxt < self.snd_end and self.snd_nxt - self.snd_una < self.window_max)

    def next_fragment(self, now):
        """(header bytearray, data memoryview) of the next RDATA to send, or None (nothing to send,
        or the window is full): first the holes to resend, then new bytes. The header is reused:
        write the frame before the next call."""
        holes = self.holes
        nxt = -1
        while holes:
            h = holes[0]
            if h[0] < self.snd_una:
                h[0] = self.snd_una
            if h[0] < h[1]:
                nxt = h[0]
                stop = h[1]
                break
            holes.pop(0)
        if nxt < 0:
            nxt = self.snd_nxt
            if nxt >= self.snd_end or nxt - self.snd_una >= self.window_max:
                return None
            stop = self.snd_end
        for start, body in self.queue:
            end = start + len(body)
            if nxt < end:
                break
        n = (end if end < stop else stop) - nxt
        if n > self.frag:
            n = self.frag
        flags = FLAG_END if nxt + n == end else 0
        pack_into(">HB", self._hdr, 0, nxt & 0xFFFF, flags)
        if nxt < self.snd_max:
            self.tx_bytes_resent += n
            holes[0][0] = nxt + n
            s = self.sample
            if s is not None and nxt < s[0] <= nxt + n:
                self.sample = None  # Karn: no RTT sample from bytes sent twice
        else:
            if self.sample is None and self.recover < 0:
                self.sample = (nxt + n, now)
            self.snd_nxt = nxt + n
            self.snd_max = self.snd_nxt
        if self.rto_from is None:
            self.rto_from = now
        self.tx_fragments += 1
        return self._hdr, memoryview(body)[nxt - start : nxt - start + n]

    def _shrink(self):
        f = self.frag // 2
        self.frag = f if f > MIN_FRAG else MIN_FRAG

    def _hole(self, a, b):
        if b > self.snd_max:
            b = self.snd_max
        if b > a:
            self.holes.append([a, b])
            self.retransmits += 1

    def on_ack(self, body, now):
        una = self.snd_una
        ack = _unwrap((body[0] << 8) | body[1], una)
        if ack < una or ack > self.snd_max:
            return  # stale (another session's, or older than one already taken)
        if ack > una:
            done = ack - una
            self.snd_una = una = ack
            q = self.queue
            while q and q[0][0] + len(q[0][1]) <= ack:
                q.pop(0)
            if self.sample is not None and ack >= self.sample[0]:
                self._rtt(now)
            elif self.srtt is not None:
                self._set_rto()  # progress ends the timeout's backoff
            self.rto_from = now if ack < self.snd_max else None
            f = self.frag + (done >> 3) + 1  # additive increase: about frag/2 per 1/(8 BER) bytes
            self.frag = f if f < self.frag_max else self.frag_max
            if self.recover >= 0 and ack >= self.recover:
                self.recover = -1
            elif self.recover >= 0 and len(body) == 3:
                self._hole(ack, ack + self.frag)  # a partial ACK in recovery, nothing held: the next loss
            if ack >= _WRAP + self.window_max:
                self._renormalise()
                una = self.snd_una
        if len(body) < 7:
            return
        # SACK: the ranges the receiver holds beyond `ack`; the holes between them were lost
        if self.recover < 0:
            self.recover = self.snd_max
            self.sample = None  # its ACK may wait for the holes: no RTT sample in recovery
        again = ticks_diff(now, self.round_t) >= self.rto  # resend old holes once per RTO
        if again:
            self.round_t = now
            self.holes = []
        pos = una
        new = False
        i = 3
        while i + 4 <= len(body):
            a = _unwrap((body[i] << 8) | body[i + 1], una)
            b = _unwrap((body[i + 2] << 8) | body[i + 3], una)
            i += 4
            if self.sample is not None and a < self.sample[0] <= b:
                self._rtt(now)  # the sampled fragment arrived, beyond a gap
            if a > pos and a <= self.snd_max:
                if again or pos >= self.marked:
                    self._hole(pos, a)
                    new = new or pos >= self.marked
            if b > pos:
                pos = b
        if pos > self.marked:
            self.marked = pos
        if new:
            self._shrink()  # a new loss

    def rtt_hint(self, ms):
        """A round trip measured by the link's PING/PONG: the RTO's basis until a data sample."""
        if self.srtt is None:
            self.srtt = ms
            self._set_rto()

    def _rtt(self, now):
        r = ticks_diff(now, self.sample[1])
        self.srtt = r if self.srtt is None else (7 * self.srtt + r) // 8
        self.sample = None
        self._set_rto()

    def _set_rto(self):
        rto = 2 * self.srtt + RTO_MIN_MS
        self.rto = rto if rto < self.rto_max_ms else self.rto_max_ms

    def _renormalise(self):
        self.snd_una -= _WRAP
        self.snd_nxt -= _WRAP
        self.snd_max -= _WRAP
        self.snd_end -= _WRAP
        self.queue = [(s - _WRAP, b) for s, b in self.queue]
        if self.sample is not None:
            self.sample = (self.sample[0] - _WRAP, self.sample[1])
        for h in self.holes:
            h[0] -= _WRAP
            h[1] -= _WRAP
        self.marked -= _WRAP
        if self.recover >= 0:
            self.recover -= _WRAP

    def tick(self, now):
        """Retransmission timer: True when a resend was scheduled (there is something to send)."""
        if self.rto_from is None or self.snd_una >= self.snd_max:
            return False
        if ticks_diff(now, self.rto_from) < self.rto:
            return False
        self.timeouts += 1
        r = self.rto * 2
        self.rto = r if r < self.rto_max_ms else self.rto_max_ms
        self._shrink()  # the resend may be lost for its size: smaller each time
        self.recover = self.snd_max
        self.sample = None
        self.rto_from = now
        self.round_t = ticks_diff(now, self.rto)  # the next SACK resends every hole again
        self.marked = self.snd_una
        self.holes = []
        self._hole(self.snd_una, self.snd_una + self.frag)
        return True

    def timer_ms(self, now):
        """Milliseconds until the retransmission timer is due (None: nothing outstanding)."""
        if self.rto_from is None or self.snd_una >= self.snd_max:
            return None
        left = self.rto - ticks_diff(now, self.rto_from)
        return left if left > 0 else 0

    # -- receiving -------------------------------------------------------------------------------
    def on_rdata(self, body, out, lend=False):
        """One RDATA body; the messages it completes are appended to `out`. With `lend`, it stops
        after the first message (a view of the reassembly buffer) while held fragments would
        start another: deliver it, then call more()."""
        self.rx_fragments += 1
        self.ack_due = True
        nxt = self.rx_next
        off = _unwrap((body[0] << 8) | body[1], nxt)
        n = len(body) - 3
        if off > nxt:
            self._hold(off, body, n)
            return
        if off + n <= nxt:
            self.rx_dup += 1
            return
        self._take(memoryview(body)[3 + nxt - off :], body[2], out)
        self.more(out, lend)

    def ready(self):
        """True when held fragments follow in order now (more() takes them)."""
        return bool(self.held) and self.held[0][0] <= self.rx_next

    def more(self, out, lend=True):
        """Take the held fragments that now follow in order; with `lend`, stop before one that
        starts a message while a view of the reassembly buffer is still in `out` (so it needs no
        copy: a fragmented heap may have no room for one)."""
        held = self.held
        while held and held[0][0] <= self.rx_next:
            if lend and self.rx_len == 0 and _lent(out):
                return
            h = held.pop(0)
            self.rx_held -= len(h[1])
            skip = self.rx_next - h[0]
            if skip < len(h[1]):
                self._take(memoryview(h[1])[skip:], h[2], out)
        if self.rx_next >= _WRAP + self.window_max:
            self.rx_next -= _WRAP
            for h in held:
                h[0] -= _WRAP

    def _hold(self, off, body, n):
        self.rx_gap += 1
        held = self.held
        i = 0
        while i < len(held) and held[i][0] < off:
            i += 1
        if i < len(held) and held[i][0] == off and len(held[i][1]) >= n:
            self.rx_dup += 1
            return
        if self.rx_held + n > 2 * self.window_max or off + n - self.rx_next > 2 * self.window_max:
            return  # beyond what this side keeps: the sender resends it
        if i < len(held) and held[i][0] == off:
            self.rx_held -= len(held[i][1])
            held.pop(i)
        try:
            held.insert(i, [off, bytes(memoryview(body)[3:]), body[2]])
        except MemoryError:  # no room for it now: the sender resends it
            self.rx_hold_no_memory += 1
            return
        self.rx_held += n

    def _take(self, data, flags, out):
        n = len(data)
        self.rx_next += n
        end = flags & FLAG_END
        msg = None
        if self.rx_drop:
            pass
        elif end and self.rx_len == 0 and self.rx_buf is None:
            msg = bytearray(data)  # one fragment, and no reassembly buffer made yet: a copy of its own
        elif self.rx_len + n > self.max_message:
            self.rx_drop = 1  # too big
        else:
            try:  # a fragmented heap: this message is lost (counted), not the link
                if self.rx_len == 0:
                    _unlend(out)
                need = self.rx_len + n
                if self.rx_buf is None or need > len(self.rx_buf):
                    self._grow(need, out)
                self.rx_buf[self.rx_len : need] = data
                self.rx_len += n
                if end:
                    msg = memoryview(self.rx_buf)[: self.rx_len]
            except MemoryError:
                self.rx_no_memory += 1
                self.rx_drop = 2  # no memory
        if end:
            if self.rx_drop == 1:
                self.rx_too_big += 1
            self.rx_len = 0
            self.rx_drop = 0
        if msg is not None:
            self.messages_rx += 1
            out.append(msg)

    def _grow(self, need, out):
        """A reassembly buffer of at least `need` bytes (at most max_message): RX_BUF_FIRST
        bytes at first (a board's portal chunk of 1 KiB fits), then doubled as messages need, so
        a heap in small pieces is asked for a large piece only when a message that large comes."""
        _unlend(out)
        size = len(self.rx_buf) if self.rx_buf is not None else RX_BUF_FIRST
        while size < need:
            size *= 2
        if size > self.max_message:
            size = self.max_message
        buf = bytearray(size)
        if self.rx_len:
            buf[: self.rx_len] = memoryview(self.rx_buf)[: self.rx_len]
        self.rx_buf = buf

    def take_ack(self):
        """The ACK body owed for what was received since the last call, or None."""
        if not self.ack_due:
            return None
        self.ack_due = False
        held = self.held
        if not held:
            return pack(">HB", self.rx_next & 0xFFFF, 0)
        # SACK: up to MAX_SACK ranges held beyond the gap, merged
        out = bytearray(3 + 4 * MAX_SACK)
        pack_into(">HB", out, 0, self.rx_next & 0xFFFF, FLAG_GAP)
        k = 0
        a = held[0][0]
        b = a + len(held[0][1])
        for h in held:
            if h[0] > b:
                pack_into(">HH", out, 3 + 4 * k, a & 0xFFFF, b & 0xFFFF)
                k += 1
                if k == MAX_SACK:
                    return bytes(out)
                a = h[0]
            e = h[0] + len(h[1])
            if e > b:
                b = e
        pack_into(">HH", out, 3 + 4 * k, a & 0xFFFF, b & 0xFFFF)
        return bytes(out[: 7 + 4 * k])
