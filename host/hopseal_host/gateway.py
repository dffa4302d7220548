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
- SIGHUP (`systemctl reload`) reads the config file again and applies its serial ports: new ones
  are opened, removed ones closed, changed ones reopened, the others keep their links. Other
  settings need a restart; a warning says which changed.
- Console text is split into lines, made safe to print (control characters escaped) and shown
  as `[NAME] line`; it is also logged at DEBUG on `hopseal.console`.

Its parts: gateway_config.py (settings: flags and TOML), serial_port.py (a pyserial port as a
byte stream), console.py (console lines); this module is the gateway and its command.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time

from hopseal.apps.node import hostport_text
from hopseal.compat import Backoff
from hopseal.node import Node
from hopseal.services.basic import Forwarder
from hopseal.transport.serial import SerialConnection
from hopseal.transport.tcp import TCPTransport
from hopseal.wire.serial_frame import DEFAULT_MAX_BODY
from hopseal.wire.serial_link import DEFAULT_DOWN_AFTER, DEFAULT_INTERVAL

from .console import ConsoleLines
from .gateway_config import GatewayConfig, PortSpec, config_from, load_toml, port_arg
from .home import hostport, stop_on_signals, titled
from .logsetup import add_log_format_arg
from .serial_port import SerialPortStream

log = logging.getLogger("hopseal.gateway")


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


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


class PortState:
    """One serial port: its connection of the moment and what status shows about it.

    `identifier` and `relay` are what the board announces on its console ("identity I…", "relay
    forward_to_NAME registered"): its own claim, shown as such; the hub verifies identities."""

    def __init__(self, spec: PortSpec):
        self.spec = spec
        self.conn: SerialConnection | None = None
        self.console = ConsoleLines(spec.name, on_line=self._line)
        self.opens = 0
        self.status = "closed"  # the port: closed, absent (cannot open), open; up/down: its link
        self.identifier: str | None = None
        self.relay: str | None = None
        self.watchers: list = []  # console clients following this board (gateway --console)

    def _line(self, text: str) -> None:
        for w in list(self.watchers):
            w(text)
        if text.startswith("identity I") and len(text) == 9 + 65:
            ident = text[9:]
            if all(c in "0123456789abcdef" for c in ident[1:]):
                self.identifier = ident
        elif text.startswith("relay forward_to_") and text.endswith(" registered") and text.count(" ") == 2:
            self.relay = text.split()[1]

    def snapshot(self, now: int) -> dict:
        from hopseal.compat import ticks_diff

        conn = self.conn if self.conn is not None and not self.conn.closed else None
        link = conn.link if conn is not None else None
        heard = link.heard if link is not None else None
        return {"name": self.spec.name, "port": self.spec.url,
                "port_state": "open" if self.status in ("open", "up", "down") else self.status,
                "link": "up" if conn is not None and conn.up else "down",
                "last_seen_s": None if heard is None else round(ticks_diff(now, heard) / 1000, 1),
                "peer_name": _text(link.peer_name) if link is not None and link.peer_name else None,  # from its HELLO
                "identifier": self.identifier, "relay": self.relay, "opens": self.opens,
                "rtt_ms": link.rtt_ms if link is not None else None,
                "counters": conn.stats() if conn is not None else {}}


class TimeService:
    """`time`: answers any message with this host's UTC, Unix seconds as u32 big-endian (the body of
    the serial link's TIME frame, serial-link.md §7.7), for Wi-Fi boards whose clock is not set
    (apps/board_clock.py asks it beside NTP). Boards on a serial port get TIME frames instead."""

    async def handle_message(self, node, msg) -> None:
        node.count("time")
        await node.send(msg.return_, int(time.time()).to_bytes(4, "big"), ["time"])


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
        self.node.start_worker("time", TimeService(), access=self._not_from_hub)  # Wi-Fi boards' clock
        self.ports = {p.name: PortState(p) for p in cfg.serial}
        self.listener = None
        self.tasks: list[asyncio.Task] = []
        self.port_tasks: dict[str, asyncio.Task] = {}
        self.failed: BaseException | None = None  # a task that ended with an error ends run()
        self.failure = asyncio.Event()
        self.hub_connects = 0

    def _not_from_hub(self, msg) -> bool:
        return msg.origin is None or msg.origin is not self.hub_conn

    # -- hub side --------------------------------------------------------------------------------
    async def _hub_loop(self) -> None:
        host, port = self.cfg.hub
        backoff = Backoff(self.cfg.backoff_initial, self.cfg.backoff_max)
        failing = False
        while True:
            try:
                conn = await self.tcp.connect(host, port)
            except Exception as e:  # noqa: BLE001 - TransportError, or anything the resolver raises
                if not failing:
                    log.warning("hub %s:%d unreachable: %s; retrying (backoff up to %.1f s)", host, port, e,
                                self.cfg.backoff_max)
                    failing = True
                await backoff.wait()
                continue
            failing = False
            backoff.reset()
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
            await asyncio.sleep(backoff.first)

    # -- serial side -----------------------------------------------------------------------------
    async def _port_loop(self, ps: PortState) -> None:
        spec = ps.spec
        baud = spec.baud or self.cfg.baud
        # not reset when the port opens: one that keeps closing right after opening backs off
        # like one that cannot open
        backoff = Backoff(self.cfg.backoff_initial, self.cfg.backoff_max)
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
                await backoff.wait()
                continue
            last_error = None
            ps.opens += 1
            ps.status = "open"
            log.info("%s: opened %s at %d baud", spec.name, spec.url, baud)
            opened = time.monotonic()
            conn = SerialConnection(self.node, stream, stream, spec.name, self.cfg.name, self.cfg.max_body,
                                    self.cfg.ping_interval, self.cfg.down_after, speak_first=False,
                                    wall_clock=time.time)  # boards set their clocks from it (link §7.7)
            conn.on_text = ps.console.on_text
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
            if time.monotonic() - opened > 10:
                backoff.reset()
            await backoff.wait()

    # the runtime logs link up/down (with the port's name); these keep the status
    def _link_up(self, ps: PortState, restarted: bool) -> None:
        ps.status = "up"

    def _link_down(self, ps: PortState, why: str) -> None:
        ps.status = "down"

    # -- lifecycle -------------------------------------------------------------------------------
    def _spawn(self, coro) -> asyncio.Task:
        t = asyncio.create_task(coro)
        self.tasks.append(t)
        t.add_done_callback(self._task_done)
        return t

    def _task_done(self, t: asyncio.Task) -> None:
        if t in self.tasks:
            self.tasks.remove(t)
        if not t.cancelled() and t.exception() is not None and self.failed is None:
            self.failed = t.exception()
            self.failure.set()

    def _start_port(self, ps: PortState) -> None:
        self.ports[ps.spec.name] = ps
        self.port_tasks[ps.spec.name] = self._spawn(self._port_loop(ps))

    async def _stop_port(self, name: str, why: str) -> None:
        ps = self.ports.pop(name)
        task = self.port_tasks.pop(name, None)
        if task is not None:
            task.cancel()
        if ps.conn is not None and not ps.conn.closed:
            await ps.conn.close(why)
            ps.conn.reader.close()

    async def reload(self, cfg: GatewayConfig) -> None:
        """Apply a new configuration's serial ports (SIGHUP): ports no longer listed are closed,
        new ones opened, changed ones (URL or baud) reopened; ports that did not change keep their
        links. Other settings need a restart: a warning names those that changed."""
        want = {p.name: p for p in cfg.serial}
        for name in [n for n, ps in self.ports.items() if want.get(n) != ps.spec]:
            log.info("%s: %s", name, "changed: reopening" if name in want else "no longer configured: closing")
            await self._stop_port(name, "removed by a reload")
        for name, spec in want.items():
            if name not in self.ports:
                self._start_port(PortState(spec))
        changed = [k for k in ("hub", "listen", "name", "baud", "ping_interval", "down_after", "max_body",
                               "backoff_initial", "backoff_max", "capture", "control")
                   if getattr(cfg, k) != getattr(self.cfg, k)]
        if changed:
            log.warning("reload: %s changed: restart the gateway to apply (kept as it runs)", ", ".join(changed))
        self.cfg.serial = list(cfg.serial)
        log.info("reloaded: serial %s", ", ".join("%s=%s" % (p.url, p.name) for p in cfg.serial) or "none")

    async def start(self) -> None:
        self._spawn(self._hub_loop())
        for ps in list(self.ports.values()):
            self._start_port(ps)
        where = ""
        if self.cfg.listen is not None:
            self.listener = await self.tcp.listen(*self.cfg.listen)
            self.tcp.on_connection.append(self._wifi_board)
            where = ", listening on %s" % hostport_text(self.cfg.listen[0], self.listener.port)
        if self.cfg.control != "":
            from .status import Control, default_control

            started = time.time()
            await Control(self.node, self.cfg.control or default_control("gateway", self.cfg.name), "gateway",
                          lambda: self.snapshot(started)).start()
        if self.cfg.console:
            from .status import default_control

            base = self.cfg.control or default_control("gateway", self.cfg.name)
            await self._serve_console(base[:-5] + "-console.sock" if base.endswith(".sock") else base + "-console")
        print("hopseal %s: hub %s, serial %s%s" % (
            titled("gateway", self.cfg.name), hostport_text(*self.cfg.hub),
            ", ".join("%s=%s" % (p.spec.url, p.spec.name) for p in self.ports.values()) or "none", where), flush=True)

    def snapshot(self, started: float) -> dict:
        """What `hopseal status gateway` shows (stable JSON field names)."""
        from hopseal.compat import ticks_ms

        from .status import connections

        now = ticks_ms()
        hub = self.hub_conn
        conns = connections(self.node, now)
        return {"kind": "gateway", "name": self.cfg.name, "uptime_s": round(time.time() - started, 1),
                "hub": {"address": hostport_text(*self.cfg.hub), "state": "up" if hub is not None and not hub.closed
                        else "down", "connects": self.hub_connects, "dropped": self.hub.dropped,
                        "forwarded": self.hub.forwarded},
                "boards": [ps.snapshot(now) for ps in self.ports.values()],
                "listen": hostport_text(self.cfg.listen[0], self.listener.port) if self.listener else None,
                "wifi_boards": [c for c in conns if c["incoming"]],
                "counters": dict(sorted(self.node.counters.items()))}

    async def _serve_console(self, path: str) -> None:
        """`--console`: a local Unix socket (0600) where `hopseal board console --port PORT` follows
        the console lines of the board on PORT while this gateway holds the port. A client sends the
        port (a path) and gets `ok NAME` and then the board's lines as they come, or `no` if this
        gateway does not serve that port. Read-only; a client that does not keep up is dropped
        (at most 64 KB waits for it)."""
        from .status import _alive

        if os.path.exists(path):
            if _alive(path):
                log.warning("console socket %s is in use by another gateway: no console here", path)
                return
            os.unlink(path)

        async def client(reader, writer):
            ps = None

            def send(text: str) -> None:
                if writer.transport.get_write_buffer_size() > 64 * 1024:
                    writer.transport.abort()  # it does not keep up: drop it, not the gateway's memory
                    return
                writer.write((text + "\n").encode())

            try:
                want = (await asyncio.wait_for(reader.readline(), 5)).decode("utf-8", "replace").strip()
                real = os.path.realpath(want)
                for p in self.ports.values():
                    if want in (p.spec.name, p.spec.url) or os.path.realpath(p.spec.url) == real:
                        ps = p
                        break
                if ps is None:
                    writer.write(b"no\n")
                    return
                writer.write(("ok %s\n" % ps.spec.name).encode())
                ps.watchers.append(send)
                await reader.read()  # until the client goes
            except (asyncio.TimeoutError, OSError, ValueError):
                pass
            finally:
                if ps is not None and send in ps.watchers:
                    ps.watchers.remove(send)
                writer.close()

        old = os.umask(0o077)
        try:
            self.console_server = await asyncio.start_unix_server(client, path)
        finally:
            os.umask(old)
        log.info("console of the boards served on %s (hopseal board console --port PORT)", path)

    def _wifi_board(self, conn) -> None:
        log.info("Wi-Fi board connected from %s", conn.peer)
        conn.on_close.append(lambda c: log.info("Wi-Fi board %s disconnected: %s", c.peer, c.close_reason))

    async def run(self, reload_config=None) -> None:
        """Run until stopped, or until a task fails (its error is raised). `reload_config`: a
        function that reads the configuration again, called on SIGHUP (then reload())."""
        await self.start()
        if reload_config is not None:
            import signal

            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, lambda: asyncio.ensure_future(self._sighup(reload_config)))
        try:
            await self.failure.wait()
            raise self.failed  # type: ignore[misc]
        finally:
            await self.stop()

    async def _sighup(self, reload_config) -> None:
        from hopseal.errors import ConfigError

        try:
            cfg = reload_config()
        except (ConfigError, OSError) as e:
            log.error("reload: %s; keeping the running settings", e)
            return
        await self.reload(cfg)

    async def stop(self) -> None:
        for t in list(self.tasks):
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

gateway.toml (keys mirror the flags; a complete file):
  hub = "127.0.0.1:4000"
  listen = "0.0.0.0:4100"
  baud = 115200
  ping_interval = %g
  # ports: either a list, serial = ["/dev/ttyACM0=pico"], or [[serial]] tables (not both)
  [[serial]]
  url = "/dev/ttyACM0"
  name = "pico"
  [[serial]]
  url = "/dev/serial/by-id/usb-MicroPython_Board_in_FS_mode_e6614c-if00"
  name = "pico2"
  baud = 921600""" % DEFAULT_INTERVAL


def add_parser(sub) -> argparse.ArgumentParser:
    g = sub.add_parser("gateway", help="route between serial (and Wi-Fi) boards and a hub",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("--hub", type=hostport, metavar="HOST:PORT", help="the hub node's TCP listener")
    g.add_argument("--serial", type=port_arg, action="append", default=[], metavar="URL[=NAME]",
                   help="a board's serial port (repeatable); NAME prefixes its console lines "
                   "(default: the port's file name)")
    g.add_argument("--listen", type=hostport, metavar="HOST:PORT",
                   help="also accept Wi-Fi boards over TCP here (port 0 picks a free one)")
    g.add_argument("--config", metavar="FILE", help="read settings from a TOML file; flags override it")
    g.add_argument("--name", help="this node's name, sent to boards in the link HELLO (default: gateway)")
    g.add_argument("--baud", type=int, help="baud rate for ports without their own (default 115200)")
    g.add_argument("--ping-interval", type=float, metavar="S",
                   help="seconds between link PINGs (default %g); a board silent for --down-after "
                   "intervals is link down" % DEFAULT_INTERVAL)
    g.add_argument("--down-after", type=int, metavar="N",
                   help="silent intervals before link down (default %d)" % DEFAULT_DOWN_AFTER)
    g.add_argument("--max-body", type=int, metavar="BYTES",
                   help="largest serial frame body (default %d; boards announce theirs)" % DEFAULT_MAX_BODY)
    g.add_argument("--capture", metavar="FILE",
                   help="append every byte sent or received on any port or connection to FILE (an audit "
                   "that the gateway carries only ciphertext)")
    g.add_argument("--backoff-max", type=float, metavar="S",
                   help="longest wait between reconnection attempts (default 5)")
    g.add_argument("--console", action="store_true", default=None,
                   help="let `hopseal board console --port PORT` show the console of a board this gateway "
                   "serves (its lines, read-only), through a local socket beside the control socket")
    g.add_argument("--control", metavar="PATH",
                   help="the local control socket `hopseal status gateway` reads (default "
                   "$HOPSEAL_HOME/gateway.sock, gateway-NAME.sock with --name; \"\" for none)")
    g.set_defaults(func=cmd_gateway)
    add_log_format_arg(g)
    return g


def cmd_gateway(args: argparse.Namespace) -> int:
    def read():
        return config_from(load_toml(args.config) if args.config else None, args)  # ConfigError: status 2

    cfg = read()
    stop_on_signals(sigint=True)  # close the ports cleanly, even if started with SIGINT ignored

    async def go():
        gw = Gateway(cfg)
        await gw.run(read)

    asyncio.run(go())
    return 0
