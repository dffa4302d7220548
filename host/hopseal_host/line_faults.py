"""Damage on a serial line, for tests and the virtual board's `--ber/--drop/--insert`.

`LineFaults` damages a byte stream as it passes (bit errors, dropped bytes, inserted garbage),
reproducibly from a seed; `PtyBridge` copies bytes between two pty masters in a thread and
applies a `LineFaults` per direction. The faults are placed independently of the data, so a test
can record exactly which original bytes were damaged and check what must still arrive.
"""
from __future__ import annotations

import math
import os
import random
import select
import threading
import time


class LineFaults:
    """Damage a byte stream as it passes: bit errors, dropped bytes, inserted garbage.

    Each fault is placed independently (bit errors per bit with probability `ber`, drops and
    insertions per byte), from a seeded RNG, across calls to `apply()`. With `record`, the
    original offsets that were damaged are kept in `damaged` (a flipped or dropped byte; both
    neighbours of an insertion), so a test can tell which frames and text arrived intact.
    """

    def __init__(self, seed=None, ber: float = 0.0, drop: float = 0.0, insert: float = 0.0, record: bool = False):
        self.rng = random.Random(seed)
        self.ber, self.drop, self.insert = ber, drop, insert
        self.pos = 0  # original bytes consumed so far
        self.record = record
        self.damaged: set[int] = set()
        self.flipped = self.dropped = self.inserted = 0
        self._next_bit = self._gap(ber)
        self._next_drop = self._gap(drop)
        self._next_insert = self._gap(insert)

    def _gap(self, p: float) -> float:
        if p <= 0:
            return math.inf
        return int(math.log(1.0 - self.rng.random()) / math.log(1.0 - p))

    @property
    def active(self) -> bool:
        return self.ber > 0 or self.drop > 0 or self.insert > 0

    def apply(self, data: bytes) -> bytes:
        if not self.active:
            self.pos += len(data)
            return data
        base = self.pos
        end = base + len(data)
        out = bytearray()
        i = base
        while i < end:
            nxt = min(self._next_bit // 8, self._next_drop, self._next_insert, end)
            if nxt > i:
                out += data[i - base : nxt - base]
                i = nxt
                continue
            # one or more faults at byte i
            if self._next_insert == i:
                out += self.rng.randbytes(self.rng.randint(1, 4))
                self.inserted += 1
                self._mark(i - 1)
                self._mark(i)
                self._next_insert = i + 1 + self._gap(self.insert)
            b = data[i - base]
            while self._next_bit // 8 == i:
                b ^= 1 << (self._next_bit % 8)
                self.flipped += 1
                self._mark(i)
                self._next_bit += 1 + self._gap(self.ber)
            if self._next_drop == i:
                self.dropped += 1
                self._mark(i)
                self._next_drop = i + 1 + self._gap(self.drop)
            else:
                out.append(b)
            i += 1
        self.pos = end
        return bytes(out)

    def _mark(self, i: int) -> None:
        if self.record:
            self.damaged.add(i)


class PtyBridge:
    """Copy bytes between two file descriptors (pty masters) in a thread, with optional faults."""

    def __init__(self, fd_a: int, fd_b: int, a_to_b: LineFaults | None = None, b_to_a: LineFaults | None = None,
                 alive=None):
        self.fds = (fd_a, fd_b)
        self.faults = {fd_a: a_to_b, fd_b: b_to_a}
        self.alive = alive or (lambda: True)
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="pty-bridge", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        a, b = self.fds
        other = {a: b, b: a}
        while not self._stop and self.alive():
            try:
                ready, _, _ = select.select([a, b], [], [], 0.1)
            except (OSError, ValueError):
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""  # EIO: the other side of that pty is gone
                if not data:
                    time.sleep(0.01)
                    continue
                f = self.faults[fd]
                if f is not None:
                    data = f.apply(data)
                try:
                    os.write(other[fd], data)
                except OSError:
                    pass  # nobody attached on that side: the bytes are lost, like on a real line

    def stop(self) -> None:
        self._stop = True
        self.thread.join(2)
