"""Board-side byte streams for the serial link, built from a board file's `link` section.

Every adapter gives what `SerialConnection` needs: `await read(n)` (at least one byte, or b"" at
the end), `write(data)`, `await drain()`, `close()`. Which one a board uses is data (boards/*.json);
the hardware object is built only when `open_stream()` is called from main.py, never at import
time, and each port's modules are imported inside the function that needs them.

    type "stdio"      MicroPython USB-CDC (or USB-UART) REPL port: sys.stdin.buffer/sys.stdout.buffer,
                      Ctrl-C disabled with micropython.kbd_intr(-1) while the link runs; console
                      text (print, tracebacks) shares the wire with the frames
    type "uart"       MicroPython machine.UART(id, baudrate, tx=Pin, rx=Pin, rxbuf=...): a second
                      channel, the console stays on USB
    type "usb_cdc"    CircuitPython usb_cdc.data (enable it in boot.py: usb_cdc.enable(data=True))
    type "busio_uart" CircuitPython busio.UART(board.TX, board.RX, ...)
    type "pty"        the unix port on a pseudo-terminal path (the virtual board's second mode)
TCP over Wi-Fi is not a byte stream here: see `hopseal.apps.board` and `wifi_connect` below.
"""
import asyncio

from ..errors import TransportError


class PolledStream:
    """A blocking, pollable stream pair (sys.stdin.buffer / a tty file) made asynchronous with
    MicroPython's asyncio (its StreamReader wraps any pollable stream).

    read() waits for the first byte through asyncio, then takes the bytes that are already there
    one at a time while select.poll says more are ready: a blocking read(n) would wait for all n.
    One small buffer is allocated up front.
    """

    def __init__(self, inp, out, chunk=256):
        import select

        self.inp = inp
        self.out = out
        self._reader = asyncio.StreamReader(inp)
        self._writer = asyncio.StreamWriter(out, {})
        self._poll = select.poll()
        self._poll.register(inp, select.POLLIN)
        self._pollin = select.POLLIN
        self._buf = bytearray(chunk)
        self._one = bytearray(1)
        self.closed = False

    async def read(self, n):
        first = await self._reader.read(1)
        if not first:
            return b""
        buf = self._buf
        buf[0] = first[0]
        k = 1
        lim = n if n < len(buf) else len(buf)
        one = self._one
        while k < lim:
            ready = self._poll.poll(0)
            if not ready or not (ready[0][1] & self._pollin):
                break
            if not self.inp.readinto(one):
                break
            buf[k] = one[0]
            k += 1
        return bytes(buf[:k])

    def write(self, data):
        self._writer.write(data)

    async def drain(self):
        await self._writer.drain()

    def close(self):
        self.closed = True


class StdioStream(PolledStream):
    """The REPL port (MicroPython): frames and console text share it; Ctrl-C is off while open."""

    def __init__(self, chunk=256):
        import sys

        PolledStream.__init__(self, sys.stdin.buffer, sys.stdout.buffer, chunk)
        try:
            import micropython

            micropython.kbd_intr(-1)  # 0x03 in a COBS frame must not interrupt us (serial-link.md §4)
        except (ImportError, AttributeError):
            pass

    def close(self):
        PolledStream.close(self)
        try:
            import micropython

            micropython.kbd_intr(3)
        except (ImportError, AttributeError):
            pass


class InWaitingStream:
    """A pyserial-like object with `in_waiting` and a non-blocking read (CircuitPython usb_cdc,
    busio.UART): polled every `poll_s` seconds, since CircuitPython cannot select on them."""

    def __init__(self, s, poll_s=0.005):
        self.s = s
        self.poll_s = poll_s
        self.closed = False

    async def read(self, n):
        while not self.closed:
            k = self.s.in_waiting
            if k:
                data = self.s.read(k if k < n else n)
                if data:
                    return data
            await asyncio.sleep(self.poll_s)
        return b""

    def write(self, data):
        self.s.write(data)

    async def drain(self):
        await asyncio.sleep(0)

    def close(self):
        self.closed = True


class AsyncStream:
    """A stream asyncio can poll whose read(n) returns what is there (machine.UART with
    timeout=0): MicroPython's own StreamReader/StreamWriter, no copying."""

    def __init__(self, s):
        self.s = s
        self._reader = asyncio.StreamReader(s)
        self._writer = asyncio.StreamWriter(s, {})

    async def read(self, n):
        return await self._reader.read(n)

    def write(self, data):
        self._writer.write(data)

    async def drain(self):
        await self._writer.drain()

    def close(self):
        if hasattr(self.s, "deinit"):
            self.s.deinit()


def open_uart(cfg):
    """MicroPython machine.UART from {"id", "baudrate", "tx", "rx", "rxbuf", "txbuf", "flow"}."""
    import machine

    kw = {"baudrate": cfg.get("baudrate", 115200), "timeout": 0}
    for k in ("rxbuf", "txbuf", "timeout_char"):
        if k in cfg:
            kw[k] = cfg[k]
    for k in ("tx", "rx", "rts", "cts"):
        if k in cfg:
            kw[k] = machine.Pin(cfg[k])  # a GPIO number or a pin name
    if cfg.get("flow"):
        kw["flow"] = machine.UART.RTS | machine.UART.CTS
    return AsyncStream(machine.UART(cfg.get("id", 1), **kw))


def open_usb_cdc(cfg):
    """CircuitPython usb_cdc.data (None unless boot.py enabled it)."""
    import usb_cdc

    s = usb_cdc.data
    if s is None:
        raise TransportError("usb_cdc.data is disabled: put usb_cdc.enable(console=True, data=True) in boot.py")
    s.timeout = 0
    return InWaitingStream(s, cfg.get("poll", 0.005))


def open_busio_uart(cfg):
    """CircuitPython busio.UART(board.<tx>, board.<rx>, baudrate=..., timeout=0)."""
    import board
    import busio

    u = busio.UART(getattr(board, cfg.get("tx", "TX")), getattr(board, cfg.get("rx", "RX")),
                   baudrate=cfg.get("baudrate", 115200), timeout=0,
                   receiver_buffer_size=cfg.get("rxbuf", 512))
    return InWaitingStream(u, cfg.get("poll", 0.005))


def open_pty(cfg):
    """The unix port on a pseudo-terminal (or any tty) path, in raw mode."""
    import termios

    f = open(cfg["path"], "r+b")
    termios.setraw(f.fileno())
    return PolledStream(f, f, cfg.get("chunk", 256))


OPENERS = {
    "stdio": lambda cfg: StdioStream(cfg.get("chunk", 256)),
    "uart": open_uart,
    "usb_cdc": open_usb_cdc,
    "busio_uart": open_busio_uart,
    "pty": open_pty,
}


def open_stream(cfg):
    """The byte stream for a board file's `link` section (see the module docstring)."""
    kind = cfg.get("type")
    opener = OPENERS.get(kind)
    if opener is None:
        raise TransportError("unknown serial link type %r (one of %s)" % (kind, ", ".join(sorted(OPENERS))))
    return opener(cfg)


def wifi_connect(cfg, timeout_s=30):
    """Join Wi-Fi with MicroPython's network.WLAN; SSID and password come from `secrets.json`
    ({"ssid": ..., "password": ...}) or the board file's "wifi" section. No-op where there is no
    `network` module (the unix port). Returns the IP address or None."""
    try:
        import network
    except ImportError:
        return None
    import time

    wifi = cfg if isinstance(cfg, dict) else {}
    if "ssid" not in wifi:
        import json

        with open(wifi.get("secrets", "secrets.json")) as f:
            wifi = json.load(f)
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(wifi["ssid"], wifi.get("password", ""))
        t = 0
        while not wlan.isconnected():
            if t >= timeout_s * 10:
                raise TransportError("Wi-Fi %r: no connection within %d s" % (wifi["ssid"], timeout_s))
            time.sleep_ms(100)
            t += 1
    return wlan.ifconfig()[0]
