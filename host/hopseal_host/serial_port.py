"""A pyserial port as the duck-typed byte stream a SerialConnection runs on (`read(n)`, `write(b)`,
`drain()`, `close()`), for the gateway and the serial-link benchmark; and `send_stop()`, which
ends a board's link and sends it back to its REPL (serial-link.md §2.1).

Rules upheld here: pyserial blocks, the event loop must not, so a reader thread hands bytes to the
loop and one writer thread writes them in order; any failure of the port ends the stream (b""
from read(), or OSError with the port's error), and close() never raises.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

log = logging.getLogger("hopseal.gateway")

# serial-link.md §2.1: the STOP frame the host sends, the same bytes every time. Its body (29 bytes)
# makes the COBS code byte 0x23 '#' and the last CRC byte 0x15 (Ctrl-U), and no byte of the frame
# is a control byte a REPL acts on (01-05, CR, LF, ESC, TAB): a board already at its REPL sees
# "#link stopped by the host #442-", a comment, which Ctrl-U then erases (tests/host/test_stop_frame.py).
STOP_BODY = b"link stopped by the host #442"


def stop_frame() -> bytes:
    """The STOP frame (type 0x06) as written on the wire, delimiters included."""
    from hopseal.wire.serial_frame import STOP, encode_frame

    return encode_frame(STOP, STOP_BODY)


def send_stop(port_or_fd, baud: int = 115200) -> int:
    """Write the STOP frame: the board ends its serial link and returns to its REPL.

    `port_or_fd` is an open file descriptor (int), an object with `write()` (a pyserial port, a
    binary file; flushed if it can be), or a pyserial URL/path that is opened, written and closed.
    The host may send it without having heard from the board: at a REPL the frame does nothing
    (see STOP_BODY). Returns the number of bytes written."""
    import os

    frame = stop_frame()
    if isinstance(port_or_fd, int):
        view = memoryview(frame)
        while view:
            view = view[os.write(port_or_fd, view):]
        return len(frame)
    if hasattr(port_or_fd, "write"):
        port_or_fd.write(frame)
        if hasattr(port_or_fd, "flush"):
            port_or_fd.flush()
        return len(frame)
    import serial

    with serial.serial_for_url(port_or_fd, baudrate=baud, timeout=1, write_timeout=5) as ser:
        ser.write(frame)
        ser.flush()
    return len(frame)


class SerialPortStream:
    """A pyserial port with the stream interface SerialConnection uses.

    A reader thread blocks in `read()` (with a short timeout so it can stop) and hands the bytes
    to the event loop; writes run on one writer thread, in order. Works for every pyserial URL.
    b"" from `read()` means the port is gone (unplugged, closed by the other side).
    """

    def __init__(self, ser, loop: asyncio.AbstractEventLoop, name: str):
        self.ser = ser
        self.loop = loop
        self.name = name
        self.error: Exception | None = None
        self._q: asyncio.Queue[bytes] = asyncio.Queue()
        self._stop = False
        self._pending: list[bytes] = []
        self._wexec = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="serial-tx-" + name)
        self._thread = threading.Thread(target=self._pump, name="serial-rx-" + name, daemon=True)
        self._thread.start()

    @classmethod
    async def open(cls, url: str, baud: int, name: str) -> "SerialPortStream":
        import serial

        def op():
            return serial.serial_for_url(url, baudrate=baud, timeout=0.1, write_timeout=5, exclusive=True)

        loop = asyncio.get_running_loop()
        ser = await loop.run_in_executor(None, op)
        return cls(ser, loop, name)

    def _pump(self) -> None:
        err: Exception | None = None
        try:
            while not self._stop:
                data = self.ser.read(self.ser.in_waiting or 1)
                if data:
                    self.loop.call_soon_threadsafe(self._q.put_nowait, data)
        except Exception as e:  # noqa: BLE001 - any failure of the port ends the stream; reported
            err = e
        if not self._stop:
            self.error = err
        try:
            self.loop.call_soon_threadsafe(self._q.put_nowait, b"")
        except RuntimeError:
            pass  # the loop is already closed

    async def read(self, n: int) -> bytes:
        data = await self._q.get()
        if not data:
            self._q.put_nowait(b"")  # stay at the end
            if self.error is not None:
                raise OSError(str(self.error))
        return data

    def write(self, data) -> None:
        self._pending.append(bytes(data))

    async def drain(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending = []
        try:
            await self.loop.run_in_executor(self._wexec, self._write_all, data)
        except Exception as e:  # noqa: BLE001 - pyserial raises SerialException(IOError) and others
            raise OSError("write to %s failed: %s" % (self.name, e)) from e

    def _write_all(self, data: bytes) -> None:
        self.ser.write(data)
        self.ser.flush()

    def close(self) -> None:
        if self._stop:
            return
        self._stop = True
        cancel = getattr(self.ser, "cancel_read", None)
        if cancel is not None:
            try:
                cancel()
            except Exception:  # noqa: BLE001 - best effort: the read timeout ends the thread anyway
                log.debug("cancel_read on %s failed", self.name, exc_info=True)
        self._thread.join(1)
        self._wexec.shutdown(wait=False)
        try:
            self.ser.close()
        except Exception:  # noqa: BLE001
            log.debug("closing %s failed", self.name, exc_info=True)
