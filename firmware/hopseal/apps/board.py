"""A board's node: default services on one link to the gateway, configured by a board file.

firmware/main.py builds the hardware stream (board_io) and calls `run(cfg, stream)`. Board code
sees only a `BoardLink`: `route_to(*rest)` (the current route out over the link), `up`, and the
`on_link_up(link, restarted)` / `on_link_down(link, why)` hooks. Whether the link is a serial
connection or a TCP connection to the gateway's listener (Wi-Fi) makes no other difference: a hub
service is at `link.route_to("hub", SERVICE)` either way.

The board file's keys and the command line are apps/board_config.py.
"""
import asyncio

from ..compat import Backoff, clock_set, collect, get_logger, is_awaitable, say, ticks_diff, ticks_ms
from ..errors import HopsealError, TransportError
from ..node import Node
from ..services.basic import start_default_services
from ..wire import bare

log = get_logger("board")


def heap_text():
    """", heap used N free M" after a collection, where the port can tell ("" elsewhere)."""
    try:
        import gc

        gc.collect()
        return ", heap used %d free %d" % (gc.mem_alloc(), gc.mem_free())
    except (ImportError, AttributeError):
        return ""


class BoardLink:
    """The board's link to the gateway, whatever carries it."""

    def __init__(self):
        self.conn = None
        self.on_link_up = []
        self.on_link_down = []

    @property
    def up(self):
        c = self.conn
        if c is None or c.closed:
            return False
        return c.up if hasattr(c, "up") else True

    def route_to(self, *rest):
        """A route out over the link, then along `rest` (e.g. "hub", "echo")."""
        if self.conn is None or self.conn.closed:
            raise TransportError("no link")
        return self.conn.route_to(*rest)

    def _fire(self, hooks, arg):
        for cb in hooks:
            r = cb(self, arg)
            if is_awaitable(r):
                asyncio.create_task(r)


class SerialBoardLink(BoardLink):
    """A board on a serial byte stream. The connection (and its frame buffers) is made at once,
    while the heap is still in one piece; `run` starts it."""

    def __init__(self, node, stream, cfg):
        from ..transport.serial import SerialConnection

        BoardLink.__init__(self)
        kw = {}
        if cfg.get("ping_interval") is not None:
            kw["interval"] = cfg["ping_interval"]
        if cfg.get("down_after") is not None:
            kw["down_after"] = cfg["down_after"]
        kw["max_message"] = cfg.get("max_message") or None  # 0: the version-1 link (serial-link.md §8)
        if cfg.get("window"):
            kw["window"] = cfg["window"]
        conn = SerialConnection(node, stream, stream, "gateway", cfg["name"], cfg["max_body"], speak_first=True, **kw)
        conn.on_link_up.append(lambda c, restarted: self._fire(self.on_link_up, restarted))
        conn.on_link_down.append(lambda c, why: self._fire(self.on_link_down, why))
        conn.on_time = set_clock
        self.conn = conn
        # What the link needs at its first HELLO and TIME, imported now while the heap is in few
        # pieces: a module loaded later, into a heap the node has cut up, can fail to find room
        # (a deployed .mpy board at 320K failed every link up importing serial_arq)
        from . import board_clock  # noqa: F401
        if cfg.get("max_message"):
            from ..wire import serial_arq  # noqa: F401

    async def run(self):
        """Run until the stream ends (on a board: never; the virtual board: when unplugged)."""
        await self.conn.start()
        await self.conn.wait_closed()
        return self.conn.close_reason


def set_clock(conn, t):
    from .board_clock import set_clock

    set_clock(t)


class TCPBoardLink(BoardLink):
    """A Wi-Fi board: a TCP connection to the gateway's listener, re-dialled with backoff."""

    def __init__(self, node, cfg):
        from ..transport.tcp import TCPTransport

        BoardLink.__init__(self)
        self.cfg = cfg
        self.tcp = TCPTransport(node, max_frame=cfg["max_body"])

    async def run(self):
        link = self.cfg["link"]
        tcp = self.tcp
        backoff = Backoff(0.5, link.get("backoff_max", 10))
        while True:
            try:
                conn = await tcp.connect(link["host"], link["port"])
            except TransportError as e:
                log.warning("gateway %s:%d: %s; retrying in %.1f s", link["host"], link["port"], e, backoff.delay)
                await backoff.wait()
                continue
            backoff.reset()
            self.conn = conn
            self._fire(self.on_link_up, False)
            await conn.wait_closed()
            self._fire(self.on_link_down, conn.close_reason)
            await asyncio.sleep(backoff.first)


class Board:
    """The node, its services, the link, and the optional relay, probe and readings.

    Start-up order matters on a small heap: every module the configuration needs is imported (a
    board running from .py source compiles each one, which wants tens of KB in one piece) and the
    link's buffers are allocated first; the identity, whose key generation leaves the heap in
    small pieces, comes last."""

    def __init__(self, cfg, stream=None):
        self.cfg = cfg
        self.node = Node(cfg["name"])
        start_default_services(self.node)
        if cfg["link"]["type"] == "tcp":
            self.link = TCPBoardLink(self.node, cfg)
        else:
            self.link = SerialBoardLink(self.node, stream, cfg)
        if cfg.get("relay"):
            from ..services import relay  # noqa: F401  (imported now, used at link up)
        self.streams = None
        if cfg.get("stream_to") and cfg.get("stream_from"):
            from .board_streams import BoardStreams  # imported now, while the heap is in one piece

            self.streams = BoardStreams(self)
        if cfg.get("outlets"):
            from .board_extras import start_outlets  # imported only when configured

            start_outlets(self, cfg)
        self.status_page = None
        if cfg.get("status_page"):
            from .board_http import start_status_page  # imported only when configured

            self.status_page = start_status_page(self, cfg)
        if cfg.get("inlets"):
            from ..services import portal  # noqa: F401  (imported now, the inlets start in main())
        self.ups = 0
        self.probes = 0
        self._relay_task = None
        self.vault = None
        self.cache = None
        self.channel = None
        self.channel_gen = -1
        self._hub_lock = asyncio.Lock()
        self.readings_sent = 0
        self.last_readings = []  # the status page's "last readings"
        if cfg.get("clock_start") is not None:
            from .board_clock import set_wall_time

            set_wall_time(cfg["clock_start"])
        if cfg.get("vault") is not None and clock_set():
            self._secure(cfg)  # otherwise main() waits for the clock
        self.link.on_link_up.append(self._link_up)  # the link logs up and down itself

    def _secure(self, cfg):
        """Identity, the `api` listener, and channel-only `echo` (imported only when configured)."""
        from ..compat import wall_time
        from ..crypto.soft import SoftCrypto
        from ..secure.channel import SecureChannelListener
        from ..secure.identity import VerifiedCache
        from ..secure.trust import TrustIdentifiers, channel_only
        from ..secure.vault import open_vault

        self.node.crypto = SoftCrypto()
        self.cache = VerifiedCache(4)
        auth = cfg.get("authorized")
        self.node.set_access("echo", channel_only(auth))
        collect()
        self.vault = open_vault(self.node.crypto, cfg["vault"], wall_time())  # last: see the class docstring
        collect()
        SecureChannelListener(self.node, self.vault, "api", trust=TrustIdentifiers(auth) if auth else None,
                              cache=self.cache, max_pending=4)
        say("identity %s" % self.vault.identifier_text())
        say("crypto: %s" % self.node.crypto.impl)  # viper: the native kernels; python: the reference code

    async def hub_channel(self, timeout=10):
        """The secure channel to the hub's `api` over the current link, opened when there is none
        (or its route went through a link that has restarted since). One handshake at a time: the
        relay and readings tasks both want the channel at link up, and two handshakes at once on
        a slow line with the pure-Python crypto each outlasted their timeout, again and again."""
        if self._channel_current():
            return self.channel
        async with self._hub_lock:
            return await self._open_hub_channel(timeout)

    def _channel_current(self):
        return self.channel is not None and not self.channel.closed and self.channel_gen == self.ups

    async def _open_hub_channel(self, timeout):
        if self._channel_current():
            return self.channel  # opened by the task that held the lock
        from ..secure.channel import create_secure_channel
        from ..secure.trust import TrustIdentifiers

        if self.channel is not None:
            self.channel.drop()
            self.channel = None
        hub_id = self.cfg.get("hub_identifier")
        gen = self.ups
        t0 = ticks_ms()
        ch = await create_secure_channel(self.node, self.vault, self.link.route_to("hub", "api"), cache=self.cache,
                                         timeout=timeout, trust=TrustIdentifiers([hub_id]) if hub_id else None)
        if self.channel is not None and not self.channel.closed and self.channel_gen == gen:
            ch.drop()  # another task opened one meanwhile: use that one
            return self.channel
        self.channel = ch
        self.channel_gen = gen
        say("secure channel to the hub up in %d ms (hub %s)" % (ticks_diff(ticks_ms(), t0), ch.peer()))
        return ch

    def _forget_hub_channel(self, ch):
        """`ch` failed: drop it, and open a new one next time if it was the current one (a task
        that used an older channel must not throw away the one that carries the relay now)."""
        if ch is None:
            return
        ch.drop()
        if self.channel is ch:
            self.channel = None

    async def reading(self, timeout=5):
        """Send one reading to the hub's `readings` through an end-to-end channel; True if acked.
        With streams (board_streams.py) it goes to the application's `readings` through a channel
        over them instead; True once queued."""
        ch = None
        if self.streams is not None:
            self.readings_sent += 1
            n = self.readings_sent
            try:
                await self.streams.send(n, "reading %d from %s: temperature=%.1fC" % (
                    n, self.cfg["name"], 20 + (ticks_ms() // 100) % 50 / 10))
                return True
            except HopsealError as e:
                self.readings_sent -= 1  # not sent: the next one takes its number
                say("reading failed: %s" % e)
                return False
        try:
            ch = await self.hub_channel(timeout * 2)
            self.readings_sent += 1
            n = self.readings_sent
            value = 20 + (ticks_ms() // 100) % 50 / 10  # a made-up temperature
            text = "reading %d from %s: temperature=%.1fC" % (n, self.cfg["name"], value)
            t0 = ticks_ms()
            r = await self.node.send_and_receive([ch.encryptor_address, "readings"], text.encode(), timeout)
            say("reading %d acknowledged (%s) in %d ms%s" % (n, r.payload.decode(), ticks_diff(ticks_ms(), t0), heap_text()))
            if self.status_page is not None:
                self.last_readings = self.last_readings[-2:] + [text]
            return True
        except (HopsealError, MemoryError) as e:
            say("reading failed: %s" % (e if isinstance(e, HopsealError) else "out of memory"))
            collect()
            self._forget_hub_channel(ch)
            return False

    async def _readings_loop(self, every):
        while True:
            await asyncio.sleep(every)
            # over streams a reading waits in the producer's queue while the link is down
            if (self.link.up or (self.streams is not None and self.streams.channel is not None)) and self.vault is not None:
                await self.reading()

    def _link_up(self, link, restarted):
        self.ups += 1
        if self.vault is not None:
            # boot text printed before the host opened the port is gone: say who we are again
            say("identity %s" % self.vault.identifier_text())
            say("crypto: %s" % self.node.crypto.impl)
        if self.cfg.get("relay"):
            if self._relay_task is not None:
                self._relay_task.cancel()
            self._relay_task = asyncio.create_task(self._keep_relay(self.ups))

    async def _keep_relay(self, generation):
        """Register the static relay at the hub, through the secure channel to the hub when the
        board has an identity (the relay is then bound to it: services/relay.py), and keep it:
        every `relay_check` seconds a ping goes through it and back; when that fails, register
        again (a new channel if need be). Ends when the link restarts (a new task takes over)."""
        from ..services.relay import RelayClient

        backoff = Backoff(1, 10)
        client = None
        ch = None
        every = self.cfg.get("relay_check") or 10
        while self.ups == generation:
            if not self.link.up or (self.vault is None and self.cfg.get("vault") is not None):
                await asyncio.sleep(0.5)  # down, or the identity waits for the clock
                continue
            try:
                if client is None or not await client.ping(5):
                    if client is not None:
                        say("relay %s lost; registering again" % client.relay_address.text())
                        self._forget_hub_channel(ch)
                    if self.vault:
                        ch = await self.hub_channel()
                        hub = [ch.encryptor_address]
                    else:
                        hub = self.link.route_to("hub")
                    plain = self.link.route_to("hub") if self.vault else None  # wire §6.1
                    client = RelayClient(self.node, hub, name=self.cfg["relay"], plain_route=plain)
                    say("relay %s registered" % await client.register(5))
                    backoff.reset()
                await asyncio.sleep(every)
            except (HopsealError, MemoryError) as e:  # out of memory: say so, collect, try again
                say("relay registration failed: %s" % (e if isinstance(e, HopsealError) else "out of memory"))
                collect()
                client = None
                self._forget_hub_channel(ch)
                ch = None
                await backoff.wait()

    async def probe(self, timeout=5):
        """Send one probe to the hub's echo; prints and returns True on a correct reply."""
        self.probes += 1
        n = self.probes
        text = "probe %d from %s" % (n, self.cfg["name"])
        t0 = ticks_ms()
        try:
            r = await self.node.send_and_receive(self.link.route_to("hub", "echo"), bare.encode_string(text), timeout)
            ok = bare.decode_string(r.payload) == text
        except HopsealError as e:
            say("probe %d failed: %s" % (n, e))
            return False
        say("probe %d %s in %d ms" % (n, "ok" if ok else "garbled", ticks_diff(ticks_ms(), t0)))
        return ok

    async def _probe_loop(self, every):
        seen = 0
        while True:
            if self.link.up and (self.ups != seen or every > 0):
                seen = self.ups
                await self.probe()
                if every > 0:
                    await asyncio.sleep(every)
                    continue
            await asyncio.sleep(0.1)

    async def _gateway_time(self):
        """The gateway's UTC from its `time` service (a Wi-Fi board has no TIME frames), or None."""
        if not self.link.up:
            return None
        try:
            r = await self.node.send_and_receive(self.link.route_to("time"), b"", 3)
        except HopsealError:
            return None
        return int.from_bytes(r.payload[:4], "big") if len(r.payload) >= 4 else None

    async def main(self):
        cfg = self.cfg
        say("hopseal board %s: link %s, max frame %d%s" % (cfg["name"], cfg["link"]["type"], cfg["max_body"],
                                                          heap_text()))
        if cfg.get("probe") is not None:
            asyncio.create_task(self._probe_loop(cfg["probe"]))
        if cfg.get("vault") is not None and self.vault is None:
            from .board_clock import wait_for_clock

            wifi = cfg["link"]["type"] == "tcp"
            asyncio.create_task(wait_for_clock(wifi, lambda: self._secure(cfg), self._gateway_time if wifi else None))
        if cfg.get("readings") and cfg.get("vault") is not None:
            asyncio.create_task(self._readings_loop(cfg["readings"]))
        if cfg.get("heap_report"):
            from .board_extras import heap_loop

            asyncio.create_task(heap_loop(self, cfg["heap_report"]))
        if self.status_page is not None:
            asyncio.create_task(self.status_page.keep_time())
        if cfg.get("inlets"):
            from .board_extras import start_inlets

            await start_inlets(self, cfg)
        why = await self.link.run()
        await self.node.stop()
        if why == "stopped by the host":  # transport/serial.py STOPPED_BY_HOST (serial-link.md §2.1)
            say("hopseal: link stopped by host")  # run() returns; main.py ends, at the REPL
        else:
            say("link closed: %s" % why)
        return why


def run(cfg, stream=None):
    """Run the board until its link ends (see firmware/main.py): unplugged, out of memory, or a STOP
    frame from the host, after which main.py ends and the board is at its REPL. Returns why."""
    return asyncio.run(Board(cfg, stream).main())

