"""`hopseal gateway`: serial boards (and Wi-Fi boards over TCP) reach the hub through this node.

The middle node of Ockam's two-hop example (`forward_to_bob`), with serial links on one side:

    board --serial link--> gateway worker `hub` --TCP--> hub node
    route from a board:  [<its link>, "hub", "echo"]    replies come back along the return route

Rules upheld here:
- `hub` forwards everything to the current hub connection. It is retargeted when that connection
  is re-established; while the hub is down, messages are dropped and counted (`hub_down`), never
  buffered. Messages that came from the hub itself are refused (no bouncing).
- Every serial port is served by its own task: it is opened (pyserial `serial_for_url`, so
  `socket://`, `rfc2217://` and `loop://` work), run as a `SerialConnection` on the host side of
  the link (silent until the board speaks), and re-opened with exponential backoff when it
  closes. One port failing never affects another.
- When the hub connection comes back, every serial link gets a fresh HELLO, which boards take as
  a restart of the path behind the link: they re-register their relays.
- Console text is split into lines, made safe to print (control characters escaped) and shown
  as `[NAME] line`; it is also logged at DEBUG on `hopseal.console`.
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from hopseal.apps.node import parse_hostport
from hopseal.node import Node
from hopseal.services.basic import Forwarder
from hopseal.wire.serial_frame import DEFAULT_MAX_BODY
from hopseal.transport.serial import SerialConnection
from hopseal.transport.tcp import TCPTransport

log = logging.getLogger("hopseal.gateway")
console_log = logging.getLogger("hopseal.console")


# -- configuration ------------------------------------------------------------------------------


@dataclass
class PortSpec:
    url: str
    name: str
    baud: int | None = None  # None: the gateway's --baud


@dataclass
class GatewayConfig:
    hub: tuple[str, int] | None = None
    serial: list[PortSpec] = field(default_factory=list)
    listen: tuple[str, int] | None = None
    name: str = "gateway"
    baud: int = 115200
    ping_interval: float = 2.0
    down_after: int = 3
    max_body: int = DEFAULT_MAX_BODY
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    capture: str | None = None


def default_port_name(url: str) -> str:
    u = url.split("?", 1)[0].rstrip("/")
    if "://" in u:
        u = u.split("://", 1)[1]
    return os.path.basename(u) or u or url


def parse_port(text: str) -> PortSpec:
    """`URL[=NAME]`. A URL whose query has its own `key=value` pairs takes `=NAME` after them."""
    url, name = text, ""
    if "=" in text:
        left, _, right = text.rpartition("=")
        q = left.partition("?")[2]
        # the last '=' names the port unless it is the query's own key=value
        if right and "/" not in right and ("?" not in left or q.count("=") >= q.count("&") + 1):
            url, name = left, right
    if not url:
        raise ValueError("empty serial URL in %r" % text)
    return PortSpec(url, name or default_port_name(url))


def load_toml(path: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with open(path, "rb") as f:
        return tomllib.load(f)


_KEYS = {"hub", "serial", "listen", "name", "baud", "ping_interval", "down_after", "max_body", "backoff_max",
         "backoff_initial", "capture"}


def config_from(toml: dict | None, args: argparse.Namespace | None = None) -> GatewayConfig:
    """TOML values first, then command-line flags that were given (flags win; --serial adds)."""
    cfg = GatewayConfig()
    t = toml or {}
    unknown = set(t) - _KEYS
    if unknown:
        raise ValueError("unknown key(s) in the config file: %s" % ", ".join(sorted(unknown)))
    if "hub" in t:
        cfg.hub = parse_hostport(t["hub"])
    if "listen" in t:
        cfg.listen = parse_hostport(t["listen"])
    if "capture" in t:
        cfg.capture = str(t["capture"])
    for k in ("name", "baud", "ping_interval", "down_after", "max_body", "backoff_max", "backoff_initial"):
        if k in t:
            setattr(cfg, k, type(getattr(cfg, k))(t[k]))
    for item in t.get("serial", []):
        if isinstance(item, str):
            cfg.serial.append(parse_port(item))
        elif isinstance(item, dict) and "url" in item:
            cfg.serial.append(PortSpec(item["url"], item.get("name") or default_port_name(item["url"]), item.get("baud")))
        else:
            raise ValueError("serial entries are \"URL[=NAME]\" strings or tables with url (and name, baud)")
    if args is not None:
        if args.hub is not None:
            cfg.hub = args.hub
        if args.listen is not None:
            cfg.listen = args.listen
        cfg.serial.extend(args.serial)
        for k in ("name", "baud", "ping_interval", "down_after", "max_body", "backoff_max", "capture"):
            v = getattr(args, k, None)
            if v is not None:
                setattr(cfg, k, v)
    if cfg.hub is None:
        raise ValueError("no hub: give --hub HOST:PORT or `hub = \"HOST:PORT\"` in the config file")
    if not cfg.serial and cfg.listen is None:
        raise ValueError("nothing to serve: give --serial URL and/or --listen HOST:PORT")
    names = [p.name for p in cfg.serial]
    if len(set(names)) != len(names):
        raise ValueError("two serial ports share a name: %s (use URL=NAME)" % ", ".join(names))
    if cfg.ping_interval <= 0 or cfg.down_after < 1:
        raise ValueError("--ping-interval must be > 0 and --down-after >= 1")
    return cfg


# -- a pyserial port as an asyncio byte stream ---------------------------------------------------


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


# -- console text -------------------------------------------------------------------------------


def safe_text(line: bytes) -> str:
    """A board's console line as printable text (it is untrusted: no terminal escapes)."""
    s = line.decode("utf-8", "replace")
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\t" or (o >= 32 and o != 127 and not 0x80 <= o < 0xA0):
            out.append(ch)
        else:
            out.append("\\x%02x" % o)
    return "".join(out)


class ConsoleLines:
    """Splits a board's console text into lines and shows them as `[NAME] line`."""

    MAX_LINE = 1024

    def __init__(self, name: str, out=None):
        self.name = name
        self.out = out
        self.buf = b""
        self.since = 0.0
        self.lines = 0

    def feed(self, conn, data: bytes) -> None:
        if not self.buf:
            self.since = time.monotonic()
        self.buf += data
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                break
            self._emit(self.buf[:i])
            self.buf = self.buf[i + 1 :]
        if len(self.buf) > self.MAX_LINE:
            self._emit(self.buf)
            self.buf = b""

    def flush(self, older_than: float = 0.0) -> None:
        """Show a partial line (a prompt, a line cut by a reset) once it is `older_than` s old."""
        if self.buf and time.monotonic() - self.since >= older_than:
            self._emit(self.buf)
            self.buf = b""

    def _emit(self, line: bytes) -> None:
        text = safe_text(line.rstrip(b"\r"))
        self.lines += 1
        print("[%s] %s" % (self.name, text), file=self.out or sys.stdout, flush=True)
        console_log.debug("[%s] %s", self.name, text)


# -- the gateway --------------------------------------------------------------------------------


class HubWorker(Forwarder):
    """The `hub` worker: a Forwarder whose target is the hub connection of the moment."""

    def __init__(self, gateway: "Gateway"):
        Forwarder.__init__(self, "hub", [])
        self.gateway = gateway
        self.dropped = 0

    async def handle_message(self, node, msg):
        conn = self.gateway.hub_conn
        if conn is None or conn.closed:
            self.dropped += 1
            node.count("hub_down")
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("hub is down: dropped %d message(s) so far", self.dropped)
            return
        self.to = [conn.address]
        await Forwarder.handle_message(self, node, msg)


class PortState:
    def __init__(self, spec: PortSpec):
        self.spec = spec
        self.conn: SerialConnection | None = None
        self.console = ConsoleLines(spec.name)
        self.opens = 0
        self.status = "closed"


class Gateway:
    def __init__(self, cfg: GatewayConfig):
        self.cfg = cfg
        self.node = Node(cfg.name)
        if cfg.capture:
            from .capture import Capture

            self.node.wire_tap = Capture(cfg.capture)
        self.tcp = TCPTransport(self.node)
        self.hub_conn = None
        self.hub = HubWorker(self)
        self.node.start_worker("hub", self.hub, access=self._not_from_hub)
        self.ports = {p.name: PortState(p) for p in cfg.serial}
        self.listener = None
        self.tasks: list[asyncio.Task] = []
        self.hub_connects = 0

    def _not_from_hub(self, msg) -> bool:
        return msg.origin is None or msg.origin is not self.hub_conn

    # -- hub side --------------------------------------------------------------------------------
    async def _hub_loop(self) -> None:
        host, port = self.cfg.hub
        backoff = self.cfg.backoff_initial
        failing = False
        while True:
            try:
                conn = await self.tcp.connect(host, port)
            except Exception as e:  # noqa: BLE001 - TransportError, or anything the resolver raises
                if not failing:
                    log.warning("hub %s:%d unreachable: %s; retrying (backoff up to %.1f s)", host, port, e,
                                self.cfg.backoff_max)
                    failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.cfg.backoff_max)
                continue
            failing = False
            backoff = self.cfg.backoff_initial
            self.hub_conn = conn
            self.hub_connects += 1
            log.info("hub %s:%d connected%s", host, port, " again" if self.hub_connects > 1 else "")
            if self.hub_connects > 1:
                # the path behind every board's link changed: tell them (they re-register relays)
                for ps in self.ports.values():
                    if ps.conn is not None and not ps.conn.closed:
                        await ps.conn.restart_hello()
            await conn.wait_closed()
            log.warning("hub connection lost: %s; reconnecting", conn.close_reason)
            await asyncio.sleep(self.cfg.backoff_initial)

    # -- serial side -----------------------------------------------------------------------------
    async def _port_loop(self, ps: PortState) -> None:
        spec = ps.spec
        baud = spec.baud or self.cfg.baud
        backoff = self.cfg.backoff_initial
        last_error = None
        while True:
            try:
                stream = await SerialPortStream.open(spec.url, baud, spec.name)
            except Exception as e:  # noqa: BLE001 - SerialException, OSError, ValueError from pyserial
                if str(e) != last_error:
                    log.warning("%s: cannot open %s: %s; retrying (backoff up to %.1f s)", spec.name, spec.url, e,
                                self.cfg.backoff_max)
                    last_error = str(e)
                ps.status = "absent"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.cfg.backoff_max)
                continue
            last_error = None
            ps.opens += 1
            ps.status = "open"
            log.info("%s: opened %s at %d baud", spec.name, spec.url, baud)
            opened = time.monotonic()
            conn = SerialConnection(self.node, stream, stream, spec.name, self.cfg.name, self.cfg.max_body,
                                    self.cfg.ping_interval, self.cfg.down_after, speak_first=False)
            conn.on_text = ps.console.feed
            conn.on_link_up.append(lambda c, restarted, ps=ps: self._link_up(ps, restarted))
            conn.on_link_down.append(lambda c, why, ps=ps: self._link_down(ps, why))
            ps.conn = conn
            await conn.start()
            while not conn.closed:
                await asyncio.sleep(self.cfg.ping_interval / 2)
                ps.console.flush(self.cfg.ping_interval / 2)
            ps.console.flush()
            stream.close()
            ps.status = "closed"
            log.warning("%s: port closed (%s); reopening", spec.name, conn.close_reason)
            # a port that keeps closing right after opening backs off like one that cannot open
            backoff = self.cfg.backoff_initial if time.monotonic() - opened > 10 else min(backoff * 2, self.cfg.backoff_max)
            await asyncio.sleep(backoff)

    # the runtime logs link up/down (with the port's name); these keep the status
    def _link_up(self, ps: PortState, restarted: bool) -> None:
        ps.status = "up"

    def _link_down(self, ps: PortState, why: str) -> None:
        ps.status = "down"

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.tasks.append(asyncio.create_task(self._hub_loop()))
        for ps in self.ports.values():
            self.tasks.append(asyncio.create_task(self._port_loop(ps)))
        where = ""
        if self.cfg.listen is not None:
            self.listener = await self.tcp.listen(*self.cfg.listen)
            self.tcp.on_connection.append(self._wifi_board)
            where = ", listening on %s:%d" % (self.cfg.listen[0], self.listener.port)
        print("hopseal gateway %s: hub %s:%d, serial %s%s" % (
            self.cfg.name, self.cfg.hub[0], self.cfg.hub[1],
            ", ".join("%s=%s" % (p.spec.url, p.spec.name) for p in self.ports.values()) or "none", where), flush=True)

    def _wifi_board(self, conn) -> None:
        log.info("Wi-Fi board connected from %s", conn.peer)
        conn.on_close.append(lambda c: log.info("Wi-Fi board %s disconnected: %s", c.peer, c.close_reason))

    async def run(self) -> None:
        await self.start()
        try:
            await asyncio.gather(*self.tasks)
        finally:
            await self.stop()

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for ps in self.ports.values():
            if ps.conn is not None:
                await ps.conn.close("gateway stopping")
                ps.conn.reader.close()
        await self.node.stop()


# -- CLI ----------------------------------------------------------------------------------------

DESCRIPTION = """\
Route between boards on serial ports (and Wi-Fi boards over TCP) and a hub node over TCP.

Each board reaches the hub's services through this gateway's `hub` worker, along the route
[<its link>, "hub", "<service>"]; replies travel back along the return route. Ports are opened
with pyserial (paths, /dev/serial/by-id links, socket://, rfc2217://, loop://), re-opened with
backoff when a board is unplugged, and each board's console text is shown as `[NAME] line`.
The hub connection is re-established with backoff too; while it is down, messages are dropped."""

EPILOG = """\
examples:
  hopseal gateway --hub 127.0.0.1:4000 --serial /dev/ttyACM0=pico
  hopseal gateway --hub hub.lan:4000 --serial /tmp/hopseal-board1=board1 --serial socket://10.0.0.7:7000=esp
  hopseal gateway --hub 127.0.0.1:4000 --listen 0.0.0.0:4100          # Wi-Fi boards only
  hopseal gateway --config gateway.toml

gateway.toml (keys mirror the flags):
  hub = "127.0.0.1:4000"
  listen = "0.0.0.0:4100"
  baud = 115200
  ping_interval = 2.0
  serial = ["/dev/ttyACM0=pico"]          # or tables:
  [[serial]]
  url = "/dev/serial/by-id/usb-MicroPython_Board_in_FS_mode_e6614c-if00"
  name = "pico2"
  baud = 921600"""


def _hostport(s: str) -> tuple[str, int]:
    try:
        return parse_hostport(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def _port(s: str) -> PortSpec:
    try:
        return parse_port(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def add_parser(sub) -> argparse.ArgumentParser:
    g = sub.add_parser("gateway", help="route between serial (and Wi-Fi) boards and a hub",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("--hub", type=_hostport, metavar="HOST:PORT", help="the hub node's TCP listener")
    g.add_argument("--serial", type=_port, action="append", default=[], metavar="URL[=NAME]",
                   help="a board's serial port (repeatable); NAME prefixes its console lines "
                   "(default: the port's file name)")
    g.add_argument("--listen", type=_hostport, metavar="HOST:PORT",
                   help="also accept Wi-Fi boards over TCP here (port 0 picks a free one)")
    g.add_argument("--config", metavar="FILE", help="read settings from a TOML file; flags override it")
    g.add_argument("--name", help="this node's name, sent to boards in the link HELLO (default: gateway)")
    g.add_argument("--baud", type=int, help="baud rate for ports without their own (default 115200)")
    g.add_argument("--ping-interval", type=float, metavar="S",
                   help="seconds between link PINGs (default 2); a board silent for --down-after "
                   "intervals is link down")
    g.add_argument("--down-after", type=int, metavar="N", help="silent intervals before link down (default 3)")
    g.add_argument("--max-body", type=int, metavar="BYTES",
                   help="largest serial frame body (default %d; boards announce theirs)" % DEFAULT_MAX_BODY)
    g.add_argument("--capture", metavar="FILE",
                   help="append every byte sent or received on any port or connection to FILE (an audit "
                   "that the gateway carries only ciphertext)")
    g.add_argument("--backoff-max", type=float, metavar="S",
                   help="longest wait between reconnection attempts (default 5)")
    g.set_defaults(func=cmd_gateway)
    return g


def cmd_gateway(args: argparse.Namespace) -> int:
    try:
        cfg = config_from(load_toml(args.config) if args.config else None, args)
    except (ValueError, OSError) as e:
        print("hopseal gateway: %s" % e, file=sys.stderr)
        return 2
    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # stop cleanly on Ctrl-C and on SIGTERM (systemd), even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    gw = Gateway(cfg)
    asyncio.run(gw.run())
    return 0
