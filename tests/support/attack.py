"""What the attack tests (tests/system/test_attacks.py) share.

    HubProcess   a real `hopseal hub` process: restart on the same port, kill -9, its /proc figures
                 (file descriptors, RSS) and whether it printed a traceback
    Peer         an in-process CPython node on its own event loop, for the legitimate clients,
                 relay owners and attackers: new connections, secure channels, relay requests,
                 abrupt closes; its `whoami` worker answers with the peer's name
    RawClient    a plain-socket client of a hub's echo (timed), for what a node would not send
    Tripwire     a TCP listener nobody may connect to (no dial-out)
    soak, SOAK   heavy variants: marked `soak`, run only with HOPSEAL_SOAK=1 (`make soak`)
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import threading
import time

import pytest

from hopseal.compat import wall_time
from hopseal.errors import ReceiveTimeout
from hopseal.node import Node
from hopseal.secure.channel import create_secure_channel
from hopseal.secure.vault import create_vault
from hopseal.services.basic import start_default_services
from hopseal.transport.tcp import TCPTransport
from hopseal.wire import bare
from hopseal.wire.message import decode_message, encode_message, route
from hopseal.wire.tcp_frame import TCPFrameDecoder, encode_frame
from hopseal_host.crypto_host import HostCrypto

from .procs import free_port, hopseal

SOAK = os.environ.get("HOPSEAL_SOAK") == "1"

# what a process prints when an exception escaped: none of these may appear in a survivor's output
TRACEBACK_MARKERS = ("Traceback", "Task exception was never retrieved", "Exception in callback",
                     "Unhandled exception")


def soak(test):
    """A heavy variant: marked `soak` (`pytest -m soak`), run only with HOPSEAL_SOAK=1."""
    test = pytest.mark.skipif(not SOAK, reason="soak variant: set HOPSEAL_SOAK=1 (make soak)")(test)
    return pytest.mark.soak(test)


class quiet_runtime_log:
    """While in effect, this process's runtime loggers (its peers') keep warnings and errors in
    `lines` instead of printing every connection and channel; the previous sink comes back after."""

    def __enter__(self):
        from hopseal import compat

        self.before = (compat._default_sink[0], compat._default_level[0])
        self.lines: list[str] = []
        compat.set_log_sink(lambda lvl, name, msg: self.lines.append("%s: %s" % (name, msg)), 30)
        return self

    def __exit__(self, *exc):
        from hopseal import compat

        compat.set_log_sink(*self.before)


def figures(what: str, **kw) -> None:
    """One line of figures (shown with `pytest -s`, as `make soak` runs)."""
    print("\n%s: %s" % (what, ", ".join("%s %s" % (k, v) for k, v in kw.items())), flush=True)


def tracebacks(lines: list[str]) -> list[str]:
    return [l for l in lines if any(m in l for m in TRACEBACK_MARKERS)]


def proc_fds(pid: int) -> int:
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


# -- the hub -------------------------------------------------------------------------------------
class HubProcess:
    """`hopseal hub ARGS` on 127.0.0.1:`port` with its identity in `tmp_path`. `start()` again
    (after `kill9()` or `stop()`) brings it back on the same port with the same identity."""

    def __init__(self, tmp_path, *args: str, port: int | None = None, name: str = "hub"):
        self.port = port or free_port()
        self.vault = str(tmp_path / ("%s-identity" % name))
        self.args = list(args)
        self.name = name
        self.children = []
        self.identifier = None
        self.start()

    def start(self) -> "HubProcess":
        c = self.spawn(["hub", "--listen", "127.0.0.1:%d" % self.port, "--vault", self.vault, *self.args])
        self.children.append(c)
        c.wait_for("hopseal hub", 30)
        self.identifier = c.wait_for("identifier ").split()[-1]
        return self

    def spawn(self, argv: list[str]):
        """The child process running `hopseal ARGV` (a subclass may launch it differently)."""
        return hopseal(self.name, *argv)

    @property
    def child(self):
        return self.children[-1]

    @property
    def pid(self) -> int:
        return self.child.p.pid

    @property
    def route(self) -> str:
        return "1#127.0.0.1:%d" % self.port

    @property
    def lines(self) -> list[str]:
        """Every line of every run of this hub."""
        out = []
        for c in self.children:
            out += c.lines
        return out

    def log(self, n: int = 60) -> str:
        return "\n".join("  [%s] %s" % (self.name, l) for l in self.lines[-n:])

    def kill9(self) -> None:
        p = self.child.p
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)

    def stop(self) -> None:
        for c in self.children:
            c.stop()

    def fds(self) -> int:
        return proc_fds(self.pid)

    def rss_kib(self) -> int:
        return proc_rss_kib(self.pid)

    def cpu_s(self) -> float:
        """User + system CPU seconds the hub has used (/proc/PID/stat)."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settled_fds(self, steady: float = 0.5, timeout: float = 10) -> int:
        """The fd count once it has not changed for `steady` s (a baseline: closes in flight done)."""
        deadline = time.monotonic() + timeout
        n, since = self.fds(), time.monotonic()
        while time.monotonic() - since < steady and time.monotonic() < deadline:
            time.sleep(0.05)
            m = self.fds()
            if m != n:
                n, since = m, time.monotonic()
        return n

    def wait_fds(self, at_most: int, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        n = self.fds()
        while n > at_most and time.monotonic() < deadline:
            time.sleep(0.1)
            n = self.fds()
        return n

    def wait_rss(self, at_most: int, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        n = self.rss_kib()
        while n > at_most and time.monotonic() < deadline:
            time.sleep(0.25)
            n = self.rss_kib()
        return n


class Sampler:
    """Samples a process's RSS and fd count on a thread; `peak()` -> (max RSS KiB, max fds)."""

    def __init__(self, pid: int, every: float = 0.05):
        self.pid = pid
        self.rss = 0
        self.fds = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._t.start()

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            try:
                self.rss = max(self.rss, proc_rss_kib(self.pid))
                self.fds = max(self.fds, proc_fds(self.pid))
            except (OSError, AssertionError):  # the process is gone (a zombie has no VmRSS)
                return
            self._stop.wait(every)

    def peak(self) -> tuple[int, int]:
        self._stop.set()
        self._t.join(2)
        return self.rss, self.fds


# -- in-process peers ----------------------------------------------------------------------------
class Whoami:
    """Answers anything with the name of the peer it runs on: who a relay really leads to."""

    def __init__(self, name: str):
        self.name = name.encode()

    async def handle_message(self, node, msg):
        await node.send(msg.return_, self.name, ["whoami"])


class Peer:
    """A CPython node on its own event loop (a thread), with its own identity (`vault`), echo,
    uppercase and `whoami`. Blocking methods; `call(coro)` runs anything else on its loop."""

    def __init__(self, name: str = "peer", identity: bool = True):
        self.name = name
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()
        self.crypto = HostCrypto()
        self.vault = create_vault(self.crypto, wall_time()) if identity else None
        self.node = self.call(self._start())

    async def _start(self) -> Node:
        n = Node(self.name, crypto=self.crypto)
        TCPTransport(n)
        start_default_services(n)
        n.start_worker("whoami", Whoami(self.name))
        return n

    def call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def identity(self):
        """A fresh identity (another owner, as far as the hub can tell)."""
        return create_vault(self.crypto, wall_time())

    def connect(self, port: int):
        """A new TCP connection to 127.0.0.1:`port` (never a reused one); its StreamConnection."""
        return self.call(self.node.tcp.connect("127.0.0.1", port))

    def channel(self, to, timeout: float = 10, trust=None, vault=None):
        """A secure channel along `to` (e.g. [conn.address, "api"]) with `vault` (default: this
        peer's identity)."""
        return self.call(create_secure_channel(self.node, vault or self.vault, to, trust=trust, timeout=timeout),
                         timeout + 5)

    def channel_within(self, to, budget: float = 5, per_try: float = 1, trust=None):
        """(channel, seconds, tries): what a client does that gives up on an unanswered handshake
        after `per_try` s and starts a fresh one, until `budget` s have passed (None: no channel)."""
        t0 = time.monotonic()
        tries = 0
        while True:
            tries += 1
            left = budget - (time.monotonic() - t0)
            if left <= 0:
                return None, time.monotonic() - t0, tries
            try:
                ch = self.channel(to, min(per_try, left), trust=trust)
                return ch, time.monotonic() - t0, tries
            except ReceiveTimeout:
                continue

    def ask(self, onward, payload: bytes, timeout: float = 2, return_extra=()):
        """Send `payload` along `onward` from a fresh mailbox (and `return_extra` after it in the
        return route); the reply Message, or None when nothing came within `timeout` s."""

        async def go():
            mb = self.node.mailbox()
            try:
                await self.node.send(onward, payload, [mb.address] + list(return_extra))
                return await mb.receive(timeout)
            except ReceiveTimeout:
                return None
            finally:
                mb.close()

        return self.call(go(), timeout + 10)

    def register(self, hub_route, name: str, timeout: float = 5) -> str:
        """Ask the relay service along `hub_route` for relay `name` ("register": a random one);
        the reply text: "forward_to_…" or "error: <reason>". Raises ReceiveTimeout without one."""
        service = "forwarding_service" if name == "register" else "static_forwarding_service"
        r = self.ask(list(hub_route) + [service], bare.encode_string(name), timeout)
        if r is None:
            raise ReceiveTimeout("no reply to the relay request for %r within %ss" % (name, timeout))
        return bare.decode_string(r.payload)

    def send(self, onward, payload: bytes, return_route=()) -> None:
        """Send without waiting for anything (any return route, even an empty one)."""
        self.call(self.node.send(onward, payload, list(return_route)))

    def abort(self, conn, rst: bool = True) -> None:
        """Close a connection abruptly: a TCP reset (`rst`), or a FIN without a goodbye."""

        async def go():
            if rst:
                s = conn.writer.get_extra_info("socket")
                if s is not None:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await conn.close("aborted by the test", True)

        self.call(go())

    def stop(self) -> None:
        try:
            self.call(self.node.stop(), 30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


# -- raw sockets ---------------------------------------------------------------------------------
def message_frame(onward, return_, payload: bytes) -> bytes:
    return encode_frame(encode_message(route(*onward), route(*return_), payload))


class RawClient:
    """A plain-socket client of the hub's echo: connects, greets, and times each echo."""

    def __init__(self, port: int, timeout: float = 5):
        self.s = socket.create_connection(("127.0.0.1", port), timeout)
        self.s.settimeout(timeout)
        self.s.sendall(b"\x01")
        self.d = TCPFrameDecoder()

    def echo(self, payload: bytes) -> float:
        """Seconds for one echo through the hub (raises on a wrong or missing reply)."""
        t0 = time.monotonic()
        self.s.sendall(message_frame(["echo"], ["me"], payload))
        while True:
            data = self.s.recv(65536)
            if not data:
                raise ConnectionError("the hub closed the connection")
            bodies = self.d.feed(data)
            if bodies:
                assert decode_message(bodies[0]).payload == payload
                return time.monotonic() - t0

    def close(self) -> None:
        self.s.close()


def echo_time(port: int) -> float:
    """Seconds for a new client to connect and get one echo."""
    t0 = time.monotonic()
    c = RawClient(port)
    try:
        c.echo(b"new client")
        return time.monotonic() - t0
    finally:
        c.close()


def closed_within(s: socket.socket, timeout: float) -> float | None:
    """Seconds until the peer closes `s` (what it sends is read and discarded), or None."""
    t0 = time.monotonic()
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                return None
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - t0
    except socket.timeout:
        return None


class Tripwire:
    """A listening socket nobody may connect to: every connection it accepts is recorded."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.hits: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    @property
    def address(self) -> str:
        return "1#127.0.0.1:%d" % self.port

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.hits.append(peer)
            c.close()

    def close(self) -> None:
        self._stop.set()
        self._t.join(2)
        self.sock.close()


class HandshakeFlood:
    """`conns` connections each sending `per_conn` Noise XX first messages (32 random bytes: an
    ephemeral key) to the hub's `api`, in `rounds` rounds `pause` s apart, on a thread; what the hub
    sends back is read and counted (frames) so that its writes never block."""

    def __init__(self, port: int, conns: int, per_conn: int, rounds: int = 10, pause: float = 0.1):
        from hopseal_host.limits import raise_fd_limit

        raise_fd_limit()
        self.port = port
        self.conns = conns
        self.per_conn = per_conn
        self.rounds = max(1, min(rounds, per_conn))
        self.pause = pause
        self.sent = 0
        self.replies = 0
        self.seconds = None
        self.error = None
        self.done = threading.Event()
        self._t = threading.Thread(target=self._run, name="flood", daemon=True)

    def start(self) -> "HandshakeFlood":
        self._t.start()
        return self

    def _msg1(self) -> bytes:
        return message_frame(["api"], [os.urandom(16).hex()], os.urandom(32))

    def _run(self) -> None:
        import selectors

        socks = []
        sel = selectors.DefaultSelector()
        decoders = {}
        t0 = time.monotonic()
        try:
            for _ in range(self.conns):
                s = socket.create_connection(("127.0.0.1", self.port), 10)
                s.sendall(b"\x01")
                s.setblocking(False)
                socks.append(s)
                decoders[s] = TCPFrameDecoder()
                sel.register(s, selectors.EVENT_READ)
            left = self.per_conn
            for r in range(self.rounds):
                n = left // (self.rounds - r)
                left -= n
                for s in socks:
                    data = b"".join(self._msg1() for _ in range(n))
                    s.setblocking(True)
                    s.sendall(data)
                    s.setblocking(False)
                    self.sent += n
                    self._drain(sel, decoders, 0)
                self._drain(sel, decoders, self.pause)
            # until the hub has answered all it will (0.5 s without a reply): closing with replies
            # unread would reset the connections and throw away what the hub has not read yet
            seen = -1
            while seen != self.replies:
                seen = self.replies
                self._drain(sel, decoders, 0.5)
            self.seconds = time.monotonic() - t0
        except OSError as e:
            self.error = e
        finally:
            sel.close()
            for s in socks:
                s.close()
            self.done.set()

    def _drain(self, sel, decoders, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            events = sel.select(max(0, deadline - time.monotonic()))
            for key, _ in events:
                try:
                    data = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                if data:
                    self.replies += len(decoders[key.fileobj].feed(data))
            if time.monotonic() >= deadline and not events:
                return
            if not events and wait == 0:
                return

    def running(self) -> bool:
        return not self.done.is_set()

    def wait(self, timeout: float = 300) -> "HandshakeFlood":
        self._t.join(timeout)
        if self.error is not None:
            raise self.error
        return self
