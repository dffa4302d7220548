"""Helpers for the gateway's system tests and the hardware-in-the-loop tests: a hub node on its
own thread, virtual boards, a gateway process, and the scenario functions both run.

The hub is a CPython node (echo, uppercase, relay service) with its own event loop on a thread,
so a test can drive real processes with blocking waits and still talk to the hub
(`hub.send_and_receive(...)`).
"""
from __future__ import annotations

import asyncio
import os
import threading
import time

from hopseal.node import Node
from hopseal.services.basic import start_default_services
from hopseal.services.relay import OPEN, RelayPolicy, RelayService
from hopseal.transport.tcp import TCPTransport
from hopseal.wire import bare
from hopseal_host.virtual_board import VirtualBoard  # noqa: F401 - re-exported for tests

from .procs import Child, free_port, hopseal


class Hub:
    """A hub node on 127.0.0.1:`port` running in a thread."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="hub", daemon=True)
        self.thread.start()
        self.node: Node | None = None
        self.relays: RelayService | None = None
        self.call(self._start())

    async def _start(self) -> None:
        from hopseal.compat import wall_time
        from hopseal.secure.channel import SecureChannelListener
        from hopseal.secure.vault import create_vault
        from hopseal_host.crypto_host import HostCrypto

        n = Node("hub", crypto=HostCrypto())
        t = TCPTransport(n)
        start_default_services(n)
        # an identity and its api listener, for boards that register their relay through a
        # channel; "open" relay policy for the boards here that have no identity
        self.vault = create_vault(n.crypto, wall_time())
        SecureChannelListener(n, self.vault, "api")
        self.relays = RelayService(n, policy=RelayPolicy(OPEN))
        await t.listen("127.0.0.1", self.port)
        self.node = n

    def call(self, coro, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def send_and_receive(self, onward, payload: bytes, timeout: float = 5):
        return self.call(self.node.send_and_receive(onward, payload, timeout), timeout + 5)

    def relay_names(self) -> list[str]:
        return sorted(self.relays.relays) if self.relays else []

    def stop(self) -> None:
        if self.node is not None:
            self.call(self.node.stop())
            self.node = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def gateway(hub_port: int, *args: str, name: str = "gw") -> Child:
    """`hopseal gateway` with fast link timers; waits for its status line."""
    p = hopseal(name, "gateway", "--hub", "127.0.0.1:%d" % hub_port, "--ping-interval", "0.5",
                "--backoff-max", "1", *args)
    p.wait_for("hopseal gateway")
    return p


def board_args(name: str, probe: float = 0.5, relay: bool = True) -> list[str]:
    a = ["--ping-interval", "0.5", "--probe", str(probe)]
    if relay:
        a += ["--relay", name]
    return a


def link_path(tmp_path, name: str) -> str:
    return os.path.join(str(tmp_path), "hopseal-" + name)


def echo_via_relay(hub: Hub, relay: str, text: str, timeout: float = 10) -> None:
    """The hub reaches a board's echo and uppercase through the board's relay."""
    payload = bare.encode_string(text)
    r = hub.send_and_receive(["forward_to_" + relay, "echo"], payload, timeout)
    assert r.payload == payload
    r = hub.send_and_receive(["forward_to_" + relay, "uppercase"], payload, timeout)
    assert bare.decode_string(r.payload) == text.upper()


def secure_echo_via_relay(hub, relay: str, text: str, timeout: float = 20) -> str:
    """A client with its own identity opens a secure channel to the board's `api` through the
    board's relay at the hub (anything with a `port`), and the board's (channel-only) echo answers
    through it. Returns the board's identifier as the channel verified it."""
    from hopseal.secure.channel import create_secure_channel
    from hopseal.compat import wall_time
    from hopseal.secure.vault import create_vault
    from hopseal_host.crypto_host import HostCrypto

    async def go() -> bytes:
        crypto = HostCrypto()
        node = Node("client", crypto=crypto)
        TCPTransport(node)
        me = create_vault(crypto, wall_time())
        try:
            ch = await create_secure_channel(node, me, ["1#127.0.0.1:%d" % hub.port, "forward_to_" + relay, "api"],
                                             timeout=timeout)
            r = await node.send_and_receive([ch.encryptor_address, "echo"], text.encode(), timeout)
            return r.payload, ch.peer()
        finally:
            await node.stop()

    payload, peer = asyncio.run(go())
    assert payload == text.encode()
    return peer


class Console:
    """The console lines of a virtual board in open-path mode, for `wait_line`."""

    def __init__(self, vb: VirtualBoard):
        self.name = vb.name
        self.vb = vb

    @property
    def lines(self) -> list[str]:
        return self.vb.console

    def alive(self) -> bool:
        return self.vb.running

    def log(self) -> str:
        return "\n".join("  [%s] %s" % (self.name, l) for l in self.vb.console[-80:])


def wait_line(p, *parts: str, timeout: float = 30, start: int = 0) -> int:
    """Index of the first line (from `start`) of `p` (a Child or a Console) containing every part."""
    deadline = time.monotonic() + timeout
    while True:
        lines = p.lines
        for i in range(start, len(lines)):
            if all(x in lines[i] for x in parts):
                return i
        if time.monotonic() > deadline:
            raise RuntimeError("%s printed no line with %r within %ss:\n%s" % (p.name, parts, timeout, p.log()))
        if not (p.alive() if hasattr(p, "alive") else p.p.poll() is None):
            time.sleep(0.2)
            if not any(all(x in l for x in parts) for l in p.lines[start:]):
                raise RuntimeError("%s exited before printing %r:\n%s" % (p.name, parts, p.log()))
        time.sleep(0.02)


def scenario_echo_both_ways(hub: Hub, console, name: str, relay: str | None, probe: bool = True,
                            timeout: float = 30, start: int = 0, prefix: str | None = None) -> None:
    """The board's message comes back (its probe) and the hub reaches the board (its relay).

    `console` shows the board's console lines: the gateway (lines prefixed `[NAME] `) or a
    `Console` (prefix ""). `relay` None means: whatever relay the board registers (a real
    board with its own board file).
    """
    if prefix is None:
        prefix = "[%s] " % name
    if probe:
        wait_line(console, prefix + "probe ", " ok in ", timeout=timeout, start=start)
    if relay is None:
        i = wait_line(console, prefix + "relay forward_to_", " registered", timeout=timeout, start=start)
        relay = console.lines[i].split("forward_to_", 1)[1].split()[0]
    else:
        wait_line(console, prefix + "relay forward_to_%s registered" % relay, timeout=timeout, start=start)
    echo_via_relay(hub, relay, "hello from the hub to %s" % name)
