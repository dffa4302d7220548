"""`make demo`: the main job, end to end on this machine, narrated.

    hub (CPython)  <-TCP->  gateway (CPython)  <-serial (pty)->  virtual board (MicroPython)
        ^
        +-- client (this process): a secure channel to the board, through the board's relay

1. a hub starts with its own identity (relays, `api`, `readings`);
2. a virtual board starts: the real MicroPython interpreter running the firmware with an ESP32
   heap budget, on one end of a pseudo-terminal, with its own identity;
3. a gateway opens the board's serial port and connects it to the hub;
4. the board registers its relay `forward_to_board1` at the hub through the gateway, opens an
   end-to-end secure channel to the hub's `api` and sends readings to the hub's `readings`;
5. a CPython client opens a secure channel to the board's `api` through the board's relay and
   calls the board's `echo`, timing each round trip;
6. an HTTP client fetches the board's status page (issue 10) through a TCP inlet on the client's
   host (`hopseal tcp-inlet create`) -> hub -> relay -> gateway -> the board's outlet `status`,
   served in process on the board (no TCP port there), inside a secure channel to the board;
7. the wire captures of the hub and the gateway are searched for the plaintext (the client's
   messages, the readings, the page and its HTTP request): it is not there;
8. streams (issue 11): a second board sends its readings over a secure channel through a pair of
   streams at the hub to an application (`hopseal stream receive`); the application is stopped
   while the board goes on, comes back and reads every reading, once, in order; the hub's stream
   store (SQLite) is searched for the plaintext: only ciphertext is there.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time

from hopseal.compat import say, set_log_sink
from hopseal.node import Node
from hopseal.secure.channel import create_secure_channel
from hopseal.secure.trust import TrustIdentifiers
from hopseal.secure.vault import open_vault
from hopseal.transport.tcp import TCPTransport

from .crypto_host import HostCrypto
from .procs import ROOT, Child, free_port
from .procs import cli as hopseal

BOARD = os.path.join(ROOT, "boards", "esp32.json")
ECHO_ROUNDS = 20


async def client(hub_port: int, relay: str, board_id: str, home: str) -> list[float]:
    crypto = HostCrypto()
    node = Node("client", crypto=crypto)
    TCPTransport(node)
    vault = open_vault(crypto, os.path.join(home, "client"))
    say("   client identity %s" % vault.identifier_text())
    route = ["1#127.0.0.1:%d" % hub_port, relay, "api"]
    t0 = time.perf_counter()
    ch = await create_secure_channel(node, vault, route, trust=TrustIdentifiers([board_id]), timeout=30)
    say("   secure channel to the board up in %.0f ms (route: hub -> %s -> api; peer %s)"
        % ((time.perf_counter() - t0) * 1000, relay, ch.peer()[:18] + "..."))
    rtts = []
    for i in range(ECHO_ROUNDS):
        text = b"client secret %d for the board's echo" % i
        t0 = time.perf_counter()
        r = await node.send_and_receive([ch.encryptor_address, "echo"], text, 10)
        rtts.append((time.perf_counter() - t0) * 1000)
        if r.payload != text:
            raise RuntimeError("echo returned %r" % r.payload)
    await ch.close()
    await node.stop()
    return rtts


PAGE_MARKERS = [b"hopseal board status", b"HTTP/1.1 200 OK", b"GET / HTTP/1.1", b"last readings:"]


def status_page_step(tmp: str, home: str, hub_port: int, relay: str, board_id: str, procs: list[Child]) -> bool:
    """Step 6: the board's HTTP status page, fetched by urllib through an inlet here."""
    import urllib.request

    say("6. An HTTP client fetches the board's status page through a TCP inlet here -> hub -> %s -> gateway -> "
        "the board's outlet" % relay)
    port = free_port()
    to = "/ip4/127.0.0.1/tcp/%d/service/%s/secure/api/service/status" % (hub_port, relay)
    inlet = hopseal("inlet", "-q", "tcp-inlet", "create", "--from", "127.0.0.1:%d" % port, "--to", to,
                    "--vault", os.path.join(home, "inlet"), "--control", "", "--timeout", "30")
    procs.append(inlet)
    inlet.wait_for("tcp inlet listening", 30)
    say("   hopseal tcp-inlet create --from 127.0.0.1:%d --to %s" % (port, to))
    times = []
    body = b""
    for _ in range(2):
        t0 = time.perf_counter()
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=60) as r:
            head = "HTTP/1.1 %d %s, Content-Length %s" % (r.status, r.reason, r.headers["Content-Length"])
            body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
    say("   GET http://127.0.0.1:%d/ -> %s, in %.0f ms (first, with the secure channel to the board) and %.0f ms"
        % (port, head, times[0], times[1]))
    lines = body.decode("utf-8", "replace").splitlines()
    fields = dict(ln.split(": ", 1) for ln in lines if ": " in ln and not ln.startswith(" "))
    for ln in lines[:7] + [ln for ln in lines if ln.startswith("  reading ")][-1:]:
        say("   | " + ln)
    if fields.get("identifier") != board_id:
        say("   the page names %r, not the board's identifier %s" % (fields.get("identifier"), board_id))
        return False
    say("   the page's identifier is the board's; the hub and the gateway carried it sealed (audit below)")
    return True


def audit(path: str, markers: list[bytes]) -> tuple[int, list[bytes]]:
    data = open(path, "rb").read() if os.path.exists(path) else b""
    return len(data), [m for m in markers if m in data]


def recorded(db: str) -> list[int]:
    """The reading numbers the stream application recorded, in its order."""
    import re
    import sqlite3

    if not os.path.exists(db):
        return []
    c = sqlite3.connect(db)
    try:
        texts = [t for (t,) in c.execute("SELECT text FROM readings ORDER BY seq")]
    finally:
        c.close()
    return [int(m.group(1)) for m in (re.match(r"reading (\d+) from", t) for t in texts) if m]


def queued(gw: Child) -> int:
    import re

    n = 0
    for line in list(gw.lines):
        m = re.search(r"reading (\d+) queued for stream", line)
        if m:
            n = max(n, int(m.group(1)))
    return n


def wait(cond, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError("%s: not within %ss" % (what, timeout))
        time.sleep(0.1)


def streams_step(tmp: str, home: str, hub_port: int, board: dict, procs: list[Child]) -> bool:
    """Step 7: a board's readings through streams to an application that is offline for a while."""
    import signal
    import sqlite3

    db = os.path.join(tmp, "app.sqlite3")
    hub_arg = "127.0.0.1:%d" % hub_port

    def start_app() -> Child:
        a = hopseal("app", "-q", "stream", "receive", "--hub", hub_arg, "--from", "board2_to_app", "--to",
                    "app_to_board2", "--db", db, "--vault", os.path.join(tmp, "app-identity"))
        procs.append(a)
        a.wait_for("streams ready", 60)
        return a

    say("8. Streams: a second board sends readings to an application through the hub's store, over a secure channel")
    app = start_app()
    app_id = app.wait_for("identifier ").split()[-1]
    say("   application identity %s: reads stream board2_to_app, writes app_to_board2" % app_id)
    b2 = dict(board, stream_to="board2_to_app", stream_from="app_to_board2", stream_peer=app_id)
    b2_file = os.path.join(tmp, "board2.json")
    with open(b2_file, "w") as f:
        json.dump(b2, f)
    link = os.path.join(tmp, "board2")
    vb = hopseal("board2", "virtual-board", "--board", b2_file, "--name", "board2", "--link", link, "--romfs",
                 "--vault", os.path.join(tmp, "board2-flash"), "--readings", "0.5", "--ping-interval", "1")
    procs.append(vb)
    vb.wait_for("virtual board board2")
    gw = hopseal("gateway2", "-q", "gateway", "--hub", hub_arg, "--serial", link + "=board2", "--ping-interval", "1",
                 "--control", "")
    procs.append(gw)
    say("   board: " + gw.wait_for("up over streams", timeout=90).split("] ", 1)[1])
    for n in (1, 2, 3):
        say("   application: " + app.wait_for("reading %d:" % n, timeout=60))
    app.stop(sig=signal.SIGTERM)
    procs.remove(app)
    before = len(recorded(db))
    first = queued(gw) + 1
    say("   the application is stopped; the board goes on:")
    wait(lambda: queued(gw) >= first + 7, "the board queuing readings while the application is stopped")
    last = queued(gw)
    say("   board: readings %d..%d pushed into stream board2_to_app while nobody reads it" % (first, last))
    out = hopseal("list", "-q", "stream", "list")
    out.p.wait(30)
    for line in out.lines:
        say("   hub store: " + line)
    app = start_app()
    say("   the application is back: " + app.wait_for("channel(s) resumed").split("; ", 1)[1])
    wait(lambda: len(recorded(db)) >= last, "the application reading up to reading %d" % last)
    got = recorded(db)
    once = got == list(range(1, len(got) + 1))
    say("   application: recorded readings %d..%d after its restart; all %d readings so far %s"
        % (before + 1, got[-1] if got else 0, len(got), "once each, in order" if once else "NOT ONCE IN ORDER: %r" % got))
    c = sqlite3.connect(os.path.join(home, "streams.sqlite3"))
    try:
        rows = [bytes(d) for (d,) in c.execute("SELECT data FROM records")]
    finally:
        c.close()
    found = [m for m in (b"temperature=", b"from board2") if any(m in r for r in rows)]
    if found or not once:
        say("   PLAINTEXT FOUND in the hub's store: %r" % found if found else "   readings were lost or repeated")
        return False
    say("   the hub's store (%s) holds %d records, %d bytes: handshake messages and ciphertext, no reading in clear"
        % (os.path.join(home, "streams.sqlite3"), len(rows), sum(len(r) for r in rows)))
    return True


def main() -> int:
    set_log_sink(lambda *a: None, 40)
    board = json.load(open(BOARD))
    heap = board["heap"]
    tmp = tempfile.mkdtemp(prefix="hopseal-demo-")
    home = os.path.join(tmp, "home")
    os.environ["HOPSEAL_HOME"] = home
    hub_port = free_port()
    link = os.path.join(tmp, "board1")
    hub_cap, gw_cap = os.path.join(tmp, "hub.capture"), os.path.join(tmp, "gateway.capture")
    procs: list[Child] = []
    say("hopseal demo: a board reaches the hub through a serial gateway, with end-to-end secure channels")
    try:
        say("1. Starting the hub on 127.0.0.1:%d" % hub_port)
        hub = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % hub_port, "--capture", hub_cap)
        procs.append(hub)
        hub_id = hub.wait_for("identifier ").split()[-1]
        hub.wait_for("listening on")
        say("   hub identity %s" % hub_id)

        say("2. Starting a virtual board: MicroPython, %s heap (the %s budget), firmware in ROMFS, serial on a pseudo-terminal"
            % (heap, board["board"].upper()))
        vb = hopseal("board1", "virtual-board", "--board", BOARD, "--name", "board1", "--link", link, "--romfs",
                     "--heapsize", heap, "--relay", "board1", "--vault", os.path.join(tmp, "board1-flash"),
                     "--readings", "1", "--hub-identifier", hub_id, "--ping-interval", "1", "--status-page", "status")
        procs.append(vb)
        vb.wait_for("virtual board board1")
        say("   serial port %s" % link)

        say("3. Starting the gateway: serial port %s <-> hub 127.0.0.1:%d" % (link, hub_port))
        gw = hopseal("gateway", "-q", "gateway", "--hub", "127.0.0.1:%d" % hub_port, "--serial", link + "=board1",
                     "--capture", gw_cap, "--ping-interval", "1")
        procs.append(gw)
        board_id = gw.wait_for("[board1] identity ", timeout=60).split()[-1]
        impl = gw.wait_for("[board1] crypto: ", timeout=10).split("crypto: ")[1].strip()
        say("   the board's console, through the gateway: identity %s, crypto %s" % (board_id, impl))

        say("4. The board registers its relay and talks to the hub over an end-to-end secure channel")
        relay = gw.wait_for("relay forward_to_board1 registered", timeout=60).split("relay ")[1].split()[0]
        say("   relay %s registered at the hub" % relay)
        say("   " + gw.wait_for("secure channel to the hub up", timeout=60).split("] ", 1)[1])
        for n in (1, 2, 3):
            say("   board: " + gw.wait_for("reading %d acknowledged" % n, timeout=30).split("] ", 1)[1])
        say("   hub:   " + hub.wait_for("reading 3 from", timeout=10))

        say("5. A client opens a secure channel to the board through its relay and calls the board's echo")
        rtts = asyncio.run(client(hub_port, relay, board_id, home))
        rtts.sort()
        say("   %d echo round trips client -> hub -> gateway -> board and back: median %.1f ms, max %.1f ms"
            % (len(rtts), statistics.median(rtts), rtts[-1]))

        if not status_page_step(tmp, home, hub_port, relay, board_id, procs):
            return 1

        say("7. What the hub and the gateway carried")
        time.sleep(0.5)
        markers = [b"client secret", b"temperature="] + PAGE_MARKERS
        for who, path in (("hub", hub_cap), ("gateway", gw_cap)):
            n, found = audit(path, markers)
            if found:
                say("   %s: %d bytes on the wire, and PLAINTEXT FOUND: %r" % (who, n, found))
                return 1
            say("   %s: %d bytes on the wire; none of it contains the readings, the client's messages or the "
                "status page" % (who, n))
        say("   Both carried only ciphertext: the hub's relay and the gateway forwarded sealed messages.")
        if not streams_step(tmp, home, hub_port, board, procs):
            return 1
        say("Done.")
        return 0
    except RuntimeError as e:
        say("demo failed: %s" % e)
        for p in procs:
            say(p.log(30))
        return 1
    finally:
        for p in reversed(procs):
            p.stop()


if __name__ == "__main__":
    sys.exit(main())
