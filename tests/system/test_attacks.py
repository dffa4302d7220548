"""System test: attacks on a real hub (issue 9, "must show"), with bounded counts.

Real processes: `hopseal hub` (python -m hopseal_host.cli hub), `hopseal node` relay owners,
`hopseal gateway` and `hopseal virtual-board`; the attackers, owners and clients are in-process
nodes (support.attack.Peer) and raw sockets. Each test asserts outcomes, not mechanisms:

- service kept: an echo through the hub answers within 1 s during and after the attack;
- memory bounded: the hub's RSS (/proc/PID/status) after the attack is back near its baseline,
  taken after a warm-up round of the same attack (CPython keeps freed arenas: a fresh process's
  RSS is not where it ever returns, but a leak would make every round end higher than the last);
- no file descriptor leaked: /proc/PID/fd back to its baseline count;
- the owner keeps its relay (who answers through it is checked: the owner's identity, or the
  name its `whoami` worker answers with), and nothing is dialled (a listening socket is watched).

The attacks, and what each test would catch if the protection went:
1. relay hijack: another identity, or plain TCP, asking for a live static name gets an `error:`
   reply and the relay still leads to its owner (services/relay.py: owner check, channel policy);
   the owner registering again from a new connection gets its name back at once; `--relay-policy
   open` takes plain-TCP names (Ockam-compatible) but still refuses a live name to another owner;
   a request with an empty return route creates no relay;
2. no dial-out: onward routes with a TCP address next, directly, through a relay, through channels
   and in return routes never make the hub (or the owner's node) connect (node.py: `Node.route`);
3. handshake flood: Noise XX first messages from many connections; a legitimate secure channel
   to the hub is still established and answers within 5 s, during and after, and memory stays
   flat (channel.py: pending bounds, the oldest gives way);
4. reclaim: connections with channels and relays closed abruptly give back descriptors and
   memory, and their relays go at once: the same owners fill their per-owner quota again, and
   the hub its `--max-relays`, with new names right away (relay.py: relays end with their carrier;
   channel.py: every channel over a closed connection ends, not only every other one);
5. malformed frames: garbage, bad version byte, oversize length, truncated or hostile CBOR close
   only that connection, with no traceback (connection.py, tcp_frame.py, cbor.py, message.py);
6. kill -9 of the hub, then of the gateway: the gateway reconnects and the board's relay comes
   back without restarting anything else (gateway.py, the board's relay keeping).

Heavy variants (thousands of connections or messages, repeated kill -9) are marked `soak` and run
only with HOPSEAL_SOAK=1 (`make soak`); each prints its figures.
"""
from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import struct
import time

import pytest
from support.attack import (
    HandshakeFlood,
    HubProcess,
    Peer,
    RawClient,
    Sampler,
    Tripwire,
    closed_within,
    echo_time,
    figures,
    quiet_runtime_log,
    soak,
    tracebacks,
)
from support.procs import hopseal
from support.scenarios import wait_line

from hopseal.secure.trust import TrustIdentifiers
from hopseal.wire import bare, cbor
from hopseal.wire.message import encode_message, route
from hopseal.wire.tcp_frame import encode_frame

MiB = 1024  # RSS figures are in KiB


@pytest.fixture(autouse=True)
def _quiet_peers():
    """The in-process peers log only warnings, kept aside (the hub's lines are its own)."""
    with quiet_runtime_log() as q:
        yield q


@pytest.fixture
def cleanup():
    """Whatever a test appends here is stopped at its end, last first."""
    things = []
    yield things
    for t in reversed(things):
        try:
            t.stop() if hasattr(t, "stop") else t.close()
        except Exception as e:  # noqa: BLE001 - keep stopping the others
            print("cleanup of %r: %s" % (t, e))


def hub_process(tmp_path, cleanup, *args, **kw) -> HubProcess:
    hub = HubProcess(tmp_path, *args, **kw)
    cleanup.append(hub)
    return hub


def peer(cleanup, name, identity=True) -> Peer:
    p = Peer(name, identity)
    cleanup.append(p)
    return p


def no_tracebacks(*procs) -> None:
    for p in procs:
        found = tracebacks(p.lines)
        assert not found, "%s printed a traceback:\n%s" % (p.name, p.log())


def served(hub: HubProcess) -> float:
    """Seconds for a new client's echo through the hub; asserts the 1 s bound."""
    t = echo_time(hub.port)
    assert t < 1, "echo took %.3f s" % t
    return t


def owner_node(tmp_path, cleanup, hub: HubProcess, name: str):
    """`hopseal node` with its own identity holding static relay forward_to_`name` at `hub`
    (registered through its secure channel to the hub); (process, its identifier)."""
    node = hopseal("owner-" + name, "node", "--listen", "127.0.0.1:0", "--name", "owner-" + name,
                   "--vault", str(tmp_path / ("owner-%s-identity" % name)), "--relay", name,
                   "--at", "127.0.0.1:%d" % hub.port)
    cleanup.append(node)
    ident = node.wait_for("identifier ", 30).split()[-1]
    node.wait_for("relay forward_to_%s registered" % name, 30)
    return node, ident


def reaches_owner(client: Peer, hub: HubProcess, relay: str, owner_id: str, timeout: float = 10) -> None:
    """A secure channel through forward_to_`relay` to `api` is answered by the owner's identity
    (TrustIdentifiers refuses anyone else), and the owner's echo answers through it."""
    ch = client.channel([hub.route, "forward_to_" + relay, "api"], timeout, trust=TrustIdentifiers([owner_id]))
    try:
        r = client.ask([ch.encryptor_address, "echo"], b"still the owner's", 2)
        assert r is not None and r.payload == b"still the owner's"
    finally:
        client.call(ch.close())


def whoami(client: Peer, hub: HubProcess, relay: str, timeout: float = 2) -> str | None:
    """Who answers through forward_to_`relay` (a Peer's `whoami`), or None."""
    r = client.ask([hub.route, "forward_to_" + relay, "whoami"], b"?", timeout)
    return None if r is None else r.payload.decode()


def refused(reply: str, why: str) -> None:
    assert reply.startswith("error: ") and why in reply, reply


# == 1. relay hijack ===============================================================================
def test_relay_hijack_is_refused_and_the_owner_keeps_its_relay(tmp_path, cleanup):
    hub = hub_process(tmp_path, cleanup)  # the default relay policy: channel
    owner, owner_id = owner_node(tmp_path, cleanup, hub, "board1")
    client = peer(cleanup, "client")
    attacker = peer(cleanup, "attacker")
    reaches_owner(client, hub, "board1", owner_id)
    attempts = 0
    for i in range(3):
        conn = attacker.connect(hub.port)
        # through its own secure channel to the hub's api, with a fresh identity each time
        ch = attacker.channel([conn.address, "api"], vault=attacker.identity())
        refused(attacker.register([ch.encryptor_address], "board1"), "held by another owner")
        # over plain TCP, at both of the relay service's addresses
        refused(attacker.register([conn.address], "board1"), "only through a secure channel")
        r = attacker.ask([conn.address, "forwarding_service"], bare.encode_string("board1"), 5)
        refused(bare.decode_string(r.payload), "only through a secure channel")
        attempts += 3
        reaches_owner(client, hub, "board1", owner_id)
    served(hub)
    no_tracebacks(hub, owner)
    figures("relay hijack", attempts=attempts, refused=attempts)


def test_owner_gets_its_relay_back_at_once(tmp_path, cleanup):
    hub = hub_process(tmp_path, cleanup)
    owner = peer(cleanup, "owner")
    attacker = peer(cleanup, "attacker")
    client = peer(cleanup, "client", identity=False)
    c1 = owner.connect(hub.port)
    ch1 = owner.channel([c1.address, "api"])
    assert owner.register([ch1.encryptor_address], "board2") == "forward_to_board2"
    assert whoami(client, hub, "board2") == "owner"
    ca = attacker.connect(hub.port)
    refused(attacker.register([attacker.channel([ca.address, "api"]).encryptor_address], "board2"),
            "held by another owner")
    # the owner again, from a second connection while the first is still open (a board that
    # came back before the hub noticed it had gone): its relay is replaced at once
    c2 = owner.connect(hub.port)
    ch2 = owner.channel([c2.address, "api"])
    t0 = time.monotonic()
    assert owner.register([ch2.encryptor_address], "board2") == "forward_to_board2"
    again = time.monotonic() - t0
    owner.abort(c1)  # the old connection goes: the relay lives on the new one
    time.sleep(0.2)
    assert whoami(client, hub, "board2") == "owner"
    # after an abrupt close (a reset): a new connection and channel get the name on the first try
    owner.abort(c2)
    c3 = owner.connect(hub.port)
    ch3 = owner.channel([c3.address, "api"])
    t0 = time.monotonic()
    assert owner.register([ch3.encryptor_address], "board2") == "forward_to_board2"
    reconnect = time.monotonic() - t0
    assert whoami(client, hub, "board2") == "owner"
    refused(attacker.register([attacker.channel([ca.address, "api"]).encryptor_address], "board2"),
            "held by another owner")
    assert again < 1 and reconnect < 1, (again, reconnect)
    served(hub)
    no_tracebacks(hub)
    figures("owner re-registers", while_live_ms="%.1f" % (1000 * again), after_reset_ms="%.1f" % (1000 * reconnect))


def test_open_policy_takes_plain_tcp_names_but_not_a_live_one(tmp_path, cleanup):
    hub = hub_process(tmp_path, cleanup, "--relay-policy", "open")
    alice = peer(cleanup, "alice", identity=False)
    mallory = peer(cleanup, "mallory")
    client = peer(cleanup, "client", identity=False)
    ca = alice.connect(hub.port)
    # Ockam-compatible: a static name over plain TCP, and a random one
    assert alice.register([ca.address], "board1") == "forward_to_board1"
    rnd = alice.register([ca.address], "register")
    assert rnd.startswith("forward_to_") and len(rnd) == len("forward_to_") + 32
    cm = mallory.connect(hub.port)
    refused(mallory.register([cm.address], "board1"), "held by another owner")
    refused(mallory.register([mallory.channel([cm.address, "api"]).encryptor_address], "board1"),
            "held by another owner")
    assert whoami(client, hub, "board1") == "alice"
    assert alice.register([ca.address], "board1") == "forward_to_board1"  # its owner, again
    assert whoami(client, hub, "board1") == "alice"
    # the owner's connection goes: the name is free at once
    alice.abort(ca)
    t0 = time.monotonic()
    while True:
        reply = mallory.register([cm.address], "board1")
        if reply == "forward_to_board1" or time.monotonic() - t0 > 1:
            break
        time.sleep(0.02)
    assert reply == "forward_to_board1", reply
    assert whoami(client, hub, "board1") == "mallory"
    served(hub)
    no_tracebacks(hub)


def test_relay_request_with_an_empty_return_route_makes_no_relay(tmp_path, cleanup):
    """A relay whose forward route is empty would lead into the hub itself: the hub's own echo
    would answer through forward_to_<name>, and the name would be held by nobody reachable."""
    hub = hub_process(tmp_path, cleanup, "--relay-policy", "open", name="hub-open")
    hub2 = hub_process(tmp_path, cleanup, name="hub-channel")
    ghost = peer(cleanup, "ghost")
    other = peer(cleanup, "other")
    client = peer(cleanup, "client", identity=False)
    # plain TCP (open policy), and through a secure channel (channel policy): no return route
    conn = ghost.connect(hub.port)
    ghost.send([conn.address, "static_forwarding_service"], bare.encode_string("ghost"), [])
    conn2 = ghost.connect(hub2.port)
    ch = ghost.channel([conn2.address, "api"])
    ghost.send([ch.encryptor_address, "static_forwarding_service"], bare.encode_string("ghost"), [])
    time.sleep(0.3)
    for h in (hub, hub2):
        assert client.ask([h.route, "forward_to_ghost", "echo"], b"anyone?", 1) is None, h.name
    # and the name is free: someone else takes it at once
    assert other.register([other.connect(hub.port).address], "ghost") == "forward_to_ghost"
    c = other.connect(hub2.port)
    assert other.register([other.channel([c.address, "api"]).encryptor_address], "ghost") == "forward_to_ghost"
    assert whoami(client, hub, "ghost") == "other" and whoami(client, hub2, "ghost") == "other"
    no_tracebacks(hub, hub2)


# == 2. no dial-out ================================================================================
def test_network_messages_never_make_the_hub_dial_out(tmp_path, cleanup):
    hub = hub_process(tmp_path, cleanup)
    owner, owner_id = owner_node(tmp_path, cleanup, hub, "dst")
    trip = Tripwire()
    cleanup.append(trip)
    p = peer(cleanup, "prober")
    conn = p.connect(hub.port)
    hub_ch = p.channel([conn.address, "api"])
    owner_ch = p.channel([conn.address, "forward_to_dst", "api"], trust=TrustIdentifiers([owner_id]))
    # a relay registered through a channel with the tripwire in its return route: whatever is
    # sent to it comes out at the prober with the tripwire next (the prober must not dial either)
    assert p.register([hub_ch.encryptor_address], "trap") == "forward_to_trap"
    p.send([hub_ch.encryptor_address, "static_forwarding_service"], bare.encode_string("trap2"), [trip.address, "x"])
    sent = 0
    for t in (trip.address, "1#localhost:%d" % trip.port):
        for _ in range(3):
            tries = [
                ([conn.address, t, "echo"], []),  # directly: the hub's next hop
                ([conn.address, "forward_to_dst", t, "echo"], []),  # through a relay (to its owner)
                ([hub_ch.encryptor_address, t, "echo"], []),  # through a channel to the hub's api
                ([owner_ch.encryptor_address, t, "echo"], []),  # through a channel to the owner
                ([conn.address, "forward_to_trap2", "echo"], []),  # through the trap relay
                ([conn.address, "echo"], [t, "x"]),  # in the return route of the hub's echo
                ([conn.address, "forwarding_service"], [t, "x"]),  # in a relay request's return route
                ([hub_ch.encryptor_address, "echo"], [t, "x"]),  # in a return route, in a channel
            ]
            for onward, ret in tries:
                p.send(onward, b"dial out", ret)
                sent += 1
            # a first handshake message whose answer would go through the tripwire
            p.send([conn.address, "api"], os.urandom(32), [t])
            sent += 1
    time.sleep(2)
    assert trip.hits == [], "something connected to the tripwire: %r" % trip.hits
    served(hub)
    reaches_owner(p, hub, "dst", owner_id)
    r = p.ask([hub_ch.encryptor_address, "echo"], b"channel still up", 2)
    assert r is not None and r.payload == b"channel still up"
    no_tracebacks(hub, owner)
    figures("no dial-out", messages=sent, connections_to_tripwire=len(trip.hits))


# == 3. handshake flood ============================================================================
def handshake_flood(tmp_path, cleanup, conns: int, per_conn: int, rounds: int, pause: float,
                    peak_cap_kib: int, slack_mib: int, per_try: float = 1) -> None:
    hub = hub_process(tmp_path, cleanup)
    legit = peer(cleanup, "legit")

    silent = [0]  # channels the initiator finished whose echo went unanswered (see below)

    def channel_and_echo():
        """(seconds to a working channel or None after 5 s, tries): a working channel is one whose
        handshake completed and through which an echo was answered. The initiator is done once it
        has sent message 3; if the hub gave the handshake up before that arrived (the oldest
        pending handshake gives way to a new one), only an unanswered message shows it: the client
        then starts again, as it does after an unanswered handshake."""
        t0 = time.monotonic()
        tries = 0
        while time.monotonic() - t0 < 5:
            tries += 1
            c = legit.connect(hub.port)
            try:
                left = 5 - (time.monotonic() - t0)
                ch, _, _ = legit.channel_within([c.address, "api"], min(per_try, left), per_try)
                if ch is not None:
                    r = legit.ask([ch.encryptor_address, "echo"], b"legit", per_try)
                    if r is not None and r.payload == b"legit":
                        return time.monotonic() - t0, tries
                    silent[0] += 1
            finally:
                legit.abort(c, rst=False)
        return None, tries

    # warm-up: the same flood once, so the baseline holds what such a flood leaves in the allocator
    assert channel_and_echo()[0] is not None
    HandshakeFlood(hub.port, conns, per_conn, rounds, pause).start().wait()
    time.sleep(1.5)
    fd0, rss0 = hub.settled_fds(), hub.rss_kib()
    bystander = RawClient(hub.port)
    sampler = Sampler(hub.pid)
    flood = HandshakeFlood(hub.port, conns, per_conn, rounds, pause).start()
    time.sleep(0.1)
    during, echoes = [], []
    while flood.running():
        during.append(channel_and_echo())
        echoes.append(bystander.echo(b"during"))
    flood.wait()
    after = channel_and_echo()
    echoes.append(bystander.echo(b"after"))
    bystander.close()
    rss_peak, fd_peak = sampler.peak()
    fd1 = hub.wait_fds(fd0)
    rss1 = hub.wait_rss(rss0 + slack_mib * MiB, 10)
    failed = sum(1 for secs, _ in during if secs is None)
    worst = max([secs for secs, _ in during if secs is not None] or [0])
    figures("handshake flood %d connections x %d first messages" % (conns, per_conn),
            sent=flood.sent, answered=flood.replies, flood_s="%.1f" % flood.seconds,
            channels_during=len(during), none_within_5s=failed, channel_during_max_s="%.3f" % worst,
            tries_max=max([t for _, t in during] + [after[1]]), silent_channels=silent[0],
            channel_after_s="%s" % ("none" if after[0] is None else "%.3f" % after[0]),
            echo_max_ms="%.1f" % (1000 * max(echoes)),
            rss_KiB="%d -> %d -> %d" % (rss0, rss_peak, rss1), fds="%d -> %d -> %d" % (fd0, fd_peak, fd1))
    assert during, "the flood ended before a channel was tried during it"
    assert not failed, "%d of %d clients got no working channel within 5 s during the flood" % (failed, len(during))
    assert after[0] is not None, "no working channel within 5 s after the flood"
    assert max(echoes) < 1, echoes
    assert fd1 <= fd0, (fd0, fd1)
    # the pending handshakes are bounded: a flood adds little over what its warm-up left
    assert rss_peak - rss0 <= peak_cap_kib, (rss0, rss_peak)
    assert rss1 <= rss0 + slack_mib * MiB, (rss0, rss_peak, rss1)
    no_tracebacks(hub)


def test_handshake_flood_keeps_the_api_open(tmp_path, cleanup):
    # normally the peak is 0.1 MB over the baseline; with no bound on pending handshakes, 3 MB
    handshake_flood(tmp_path, cleanup, conns=20, per_conn=50, rounds=10, pause=0.1, peak_cap_kib=1536, slack_mib=3)


# Past a few hundred flooding connections the hub's CPU is the limit: each accepted first message
# costs ~1 ms of crypto (its message 2), and up to 4 per connection are accepted in each pass of
# the event loop, so with 1000 connections a pass takes seconds and every other connection waits
# for its turn (echo 1-4 s, ~1 client in 400 without a channel within 5 s). The pending bounds
# keep memory flat; they do not bound CPU. Kept as a non-strict xfail so its figures are printed.
CPU_BOUND = pytest.mark.xfail(strict=False, reason="1000 flooding connections saturate the hub's CPU "
                              "(~1 ms per accepted first message): echo and channels take seconds")


@soak
@pytest.mark.parametrize("conns,per_conn", [(200, 100), (500, 20), pytest.param(1000, 20, marks=CPU_BOUND)])
def test_handshake_flood_keeps_the_api_open_soak(tmp_path, cleanup, conns, per_conn):
    handshake_flood(tmp_path, cleanup, conns=conns, per_conn=per_conn, rounds=20, pause=0.05,
                    peak_cap_kib=16 * MiB, slack_mib=6)


# == 4. reclaim ====================================================================================
async def open_and_register(p: Peer, port: int, owners, per_owner: int, plain: int, extra_channels: int, tag: str):
    """Connections to the hub: one per owner identity, each with `extra_channels` secure channels
    and then the one through which it registers `per_owner` static relays (names with `tag`); and
    `plain` plain-TCP connections registering `per_owner` random relays each. Returns
    (connections, relays, channels); raises when the hub refuses anything."""
    from hopseal.secure.channel import create_secure_channel

    node = p.node
    gate = asyncio.Semaphore(32)
    # fewer handshakes in flight than the hub's listener keeps pending (16): past that the oldest
    # is given up, and its initiator, done once it sent message 3, holds a channel the hub has not
    handshakes = asyncio.Semaphore(8)

    async def channel(vault, to):
        async with handshakes:
            ch = await create_secure_channel(node, vault, to, timeout=20)
        counts["channels"] += 1
        return ch
    conns, counts = [], {"relays": 0, "channels": 0}

    async def ask(rt, name):
        service = "forwarding_service" if name == "register" else "static_forwarding_service"
        r = await node.send_and_receive(list(rt) + [service], bare.encode_string(name), 10)
        text = bare.decode_string(r.payload)
        if not text.startswith("forward_to_"):
            raise AssertionError("relay %s refused: %s" % (name, text))
        counts["relays"] += 1

    async def owner(i, vault):
        async with gate:
            c = await node.tcp.connect("127.0.0.1", port)
            conns.append(c)
            # the relays go through the last of the connection's channels: every channel over a
            # closed connection must go with it, not only the first
            for _ in range(extra_channels):
                await channel(p.vault, [c.address, "api"])
            ch = await channel(vault, [c.address, "api"])
            for j in range(per_owner):
                await ask([ch.encryptor_address], "o%d-r%d-%s" % (i, j, tag))

    async def anon(i):
        async with gate:
            c = await node.tcp.connect("127.0.0.1", port)
            conns.append(c)
            for _ in range(per_owner):
                await ask([c.address], "register")

    await asyncio.gather(*[owner(i, v) for i, v in enumerate(owners)], *[anon(i) for i in range(plain)])
    return conns, counts["relays"], counts["channels"]


def abort_all(p: Peer, conns) -> None:
    """Every other connection reset, the rest closed without a goodbye: all at once."""

    async def go():
        for i, c in enumerate(conns):
            if i % 2 == 0:
                s = c.writer.get_extra_info("socket")
                if s is not None:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await asyncio.gather(*[c.close("aborted by the test", True) for c in conns])

    p.call(go(), 120)


def reclaim(tmp_path, cleanup, owners: int, per_owner: int, plain: int, extra_channels: int, rounds: int,
            slack_mib: int, free_within: float = 1) -> None:
    total = (owners + plain) * per_owner
    # the hub holds exactly what one round registers: the next round fits only if every relay of
    # the last one went with its connection (and every owner's quota was given back)
    hub = hub_process(tmp_path, cleanup, "--max-relays", str(total), "--relays-per-owner", str(per_owner))
    p = peer(cleanup, "owners")
    newcomer = peer(cleanup, "newcomer")
    vaults = [p.identity() for _ in range(owners)]
    served(hub)
    fd_start = hub.settled_fds()
    rows = []
    rss0 = None
    for k in range(rounds):
        sampler = Sampler(hub.pid)
        t0 = time.monotonic()
        conns, relays, channels = p.call(open_and_register(p, hub.port, vaults, per_owner, plain, extra_channels,
                                                           "k%d" % k), 600)
        opened_s = time.monotonic() - t0
        assert relays == total
        during = served(hub)
        abort_all(p, conns)
        # at once: a newcomer takes one of the names just freed (no wait, but the hub may not
        # have read every reset yet: at most `free_within` s)
        t0 = time.monotonic()
        c = newcomer.connect(hub.port)
        ch = newcomer.channel([c.address, "api"])
        while True:
            reply = newcomer.register([ch.encryptor_address], "o0-r0-k%d" % k)
            if reply.startswith("forward_to_") or time.monotonic() - t0 > free_within:
                break
            time.sleep(0.02)
        freed_s = time.monotonic() - t0
        assert reply == "forward_to_o0-r0-k%d" % k, reply
        newcomer.abort(c)
        fd1 = hub.wait_fds(fd_start)
        time.sleep(1.5)  # a sweep round: the transport collects what the closed connections left
        rss_peak, fd_peak = sampler.peak()
        rss1 = hub.rss_kib()
        rows.append((k, len(conns), channels, relays, opened_s, freed_s, rss_peak, rss1, fd_peak, fd1, during))
        if k == 0:  # the first round is the warm-up: the memory baseline is where it ended
            rss0 = rss1
    served(hub)
    rss_last = hub.wait_rss(rss0 + slack_mib * MiB, 10)
    for k, nc, nch, nr, opened_s, freed_s, rss_peak, rss1, fd_peak, fd1, during in rows:
        figures("reclaim round %d" % k, connections=nc, channels=nch, relays=nr, opened_s="%.1f" % opened_s,
                name_free_after_ms="%.0f" % (1000 * freed_s), echo_during_ms="%.1f" % (1000 * during),
                rss_KiB="peak %d after %d" % (rss_peak, rss1), fds="peak %d after %d" % (fd_peak, fd1))
    figures("reclaim", baseline_rss_KiB=rss0, last_rss_KiB=rss_last, baseline_fds=fd_start,
            fds_after=hub.settled_fds())
    assert all(r[9] <= fd_start for r in rows), [(r[0], r[9]) for r in rows]
    assert rss_last <= rss0 + slack_mib * MiB, (rss0, rss_last)
    no_tracebacks(hub)


def test_closed_connections_give_back_relays_channels_and_memory(tmp_path, cleanup):
    reclaim(tmp_path, cleanup, owners=8, per_owner=16, plain=8, extra_channels=3, rounds=3, slack_mib=3)


@soak
def test_closed_connections_give_back_relays_channels_and_memory_soak(tmp_path, cleanup):
    # 600 connections reset at once: the hub reads them all (and drops 9600 relays) in ~0.5-0.9 s
    reclaim(tmp_path, cleanup, owners=300, per_owner=16, plain=300, extra_channels=1, rounds=3, slack_mib=8,
            free_within=2)


# == 5. malformed frames ===========================================================================
def hostile_inputs(rng: random.Random, n_random: int) -> list[tuple[str, bytes]]:
    """(what, bytes from the first byte of a connection on): each must close its connection."""
    good = encode_message(route("echo"), route("me"), b"payload")
    v = b"\x01"
    cases = [
        ("bad version byte", b"\x07" + encode_frame(good)),
        ("version 0", b"\x00"),
        ("oversize length", v + b"\xff\xff\xff\xff"),
        ("just over the maximum frame", v + struct.pack(">I", 256 * 1024 + 1)),
        ("zero-length frame", v + b"\x00\x00\x00\x00"),
        ("frame of a CBOR map", v + encode_frame(cbor.encode({"onward": [], "payload": b"x"}))),
        ("frame of a short array", v + encode_frame(b"\x83\x81")),
        ("integer as a route", v + encode_frame(b"\x83\x01\x80\x40")),
        ("address of a wrong type", v + encode_frame(b"\x83\x81\x82\x00\x01\x80\x40")),
        ("text payload", v + encode_frame(b"\x83\x80\x80\x61a")),
        ("deeply nested arrays", v + encode_frame(b"\x81" * 100_000 + b"\x00")),
        ("deeply nested indefinite arrays", v + encode_frame(b"\x9f" * 100_000 + b"\xff" * 100_000)),
        ("deeply nested maps", v + encode_frame(b"\xa1\x00" * 50_000 + b"\x00")),
        ("tags around tags", v + encode_frame(b"\xc6" * 100_000 + b"\x00")),
        ("array of 2^64-1 items", v + encode_frame(b"\x83\x9b" + b"\xff" * 8)),
        ("byte string of 2^63 bytes", v + encode_frame(b"\x83\x80\x80\x5b\x7f" + b"\xff" * 7)),
        ("text of 4 GiB", v + encode_frame(b"\x83\x80\x80\x7a\xff\xff\xff\xff")),
        ("map of 2^32 pairs", v + encode_frame(b"\xba\xff\xff\xff\xff")),
        ("indefinite byte string of arrays", v + encode_frame(b"\x83\x80\x80\x5f\x81\x00\xff")),
        ("break outside anything", v + encode_frame(b"\xff")),
        ("reserved additional info", v + encode_frame(b"\x83\x1c\x80\x40")),
        ("too many hops", v + encode_frame(b"\x83\x98\x40" + b"\x82\x00\x41a" * 64 + b"\x80\x40")),
        ("address of 1000 bytes", v + encode_frame(b"\x83\x81\x82\x00\x59\x03\xe8" + b"a" * 1000 + b"\x80\x40")),
        ("invalid UTF-8 text", v + encode_frame(b"\x84\x80\x80\x40\x62\xff\xfe")),
        ("non-minimal huge uint", v + encode_frame(b"\x83\x81\x82\x1b" + b"\xff" * 8 + b"\x41a\x80\x40")),
        ("negative transport type", v + encode_frame(b"\x83\x81\x82\x20\x41a\x80\x40")),
        ("float in a route", v + encode_frame(b"\x83\x81\x82\xfb" + b"\x00" * 8 + b"\x41a\x80\x40")),
        ("half-precision NaN", v + encode_frame(b"\x83\xf9\x7e\x00\x80\x40")),
    ]
    for cut in (1, 2, len(good) // 2, len(good) - 1):
        cases.append(("CBOR truncated to %d bytes" % cut, v + encode_frame(good[:cut])))
    cases.append(("a good message, then garbage", v + encode_frame(good) + encode_frame(b"\xff\xfe\xfd")))
    for i in range(n_random):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
        if i % 3 == 2:  # no framing at all: random bytes, first of all the version byte
            cases.append(("random bytes %d" % i, bytes([rng.choice([b for b in range(256) if b != 1])]) + body))
        else:
            cases.append(("random frame %d" % i, v + encode_frame(body)))
    return cases


def attack_with(port: int, cases, parallel: int) -> list[tuple[str, float | None]]:
    """Each case on its own connection, `parallel` at a time; (what, seconds until the hub closed
    it, or None)."""
    out = []
    for i in range(0, len(cases), parallel):
        batch = []
        for what, data in cases[i:i + parallel]:
            s = socket.create_connection(("127.0.0.1", port), 5)
            s.sendall(data)
            batch.append((what, s))
        deadline = time.monotonic() + 5  # one bound for the batch, not 5 s for each socket
        for what, s in batch:
            out.append((what, closed_within(s, max(0.05, deadline - time.monotonic()))))
            s.close()
    return out


def malformed(tmp_path, cleanup, n_random: int, repeat: int, parallel: int) -> None:
    hub = hub_process(tmp_path, cleanup)
    rng = random.Random(9)
    attack_with(hub.port, hostile_inputs(rng, 10), parallel)  # warm-up
    time.sleep(1.5)
    fd0, rss0 = hub.settled_fds(), hub.rss_kib()
    bystander = RawClient(hub.port)
    bystander.echo(b"before")
    sampler = Sampler(hub.pid)
    results, echoes = [], []
    t0 = time.monotonic()
    for _ in range(repeat):
        results += attack_with(hub.port, hostile_inputs(rng, n_random), parallel)
        echoes.append(bystander.echo(b"meanwhile"))
        echoes.append(echo_time(hub.port))
    seconds = time.monotonic() - t0
    open_still = [w for w, t in results if t is None]
    bystander.echo(b"after")
    bystander.close()
    rss_peak, fd_peak = sampler.peak()
    fd1 = hub.wait_fds(fd0)
    rss1 = hub.wait_rss(rss0 + 3 * MiB, 10)
    figures("malformed input", connections=len(results), seconds="%.1f" % seconds,
            closed_max_ms="%.0f" % (1000 * max(t for _, t in results if t is not None)),
            echo_max_ms="%.1f" % (1000 * max(echoes)), rss_KiB="%d -> %d -> %d" % (rss0, rss_peak, rss1),
            fds="%d -> %d -> %d" % (fd0, fd_peak, fd1), hub_log_lines=len(hub.lines))
    assert not open_still, "connections the hub did not close: %s" % open_still
    assert max(echoes) < 1, echoes
    assert fd1 <= fd0, (fd0, fd1)
    assert rss1 <= rss0 + 3 * MiB, (rss0, rss_peak, rss1)
    no_tracebacks(hub)


def test_malformed_frames_close_only_their_connection(tmp_path, cleanup):
    malformed(tmp_path, cleanup, n_random=30, repeat=1, parallel=20)


@soak
def test_malformed_frames_close_only_their_connection_soak(tmp_path, cleanup):
    malformed(tmp_path, cleanup, n_random=300, repeat=10, parallel=100)


# == 6. kill -9 ====================================================================================
def relay_answers(client: Peer, hub: HubProcess, relay: str, timeout: float, owner_id: str | None = None) -> float:
    """Seconds until the board answers through forward_to_`relay` (its echo; through a secure
    channel to its `api` when it has an identity, `owner_id`)."""
    t0 = time.monotonic()
    while True:
        try:
            if owner_id is None:
                r = client.ask([hub.route, "forward_to_" + relay, "echo"], b"are you there", 1)
                if r is not None and r.payload == b"are you there":
                    return time.monotonic() - t0
            else:
                reaches_owner(client, hub, relay, owner_id, 1)  # tried again until `timeout`
                return time.monotonic() - t0
        except Exception:  # noqa: BLE001 - not yet: no relay, no channel
            pass
        if time.monotonic() - t0 > timeout:
            raise AssertionError("forward_to_%s did not answer within %s s:\n%s" % (relay, timeout, hub.log()))
        time.sleep(0.2)


def start_gateway(hub: HubProcess, link: str, name: str):
    gw = hopseal(name, "gateway", "--hub", "127.0.0.1:%d" % hub.port, "--serial", link + "=board1",
                 "--ping-interval", "0.5", "--backoff-max", "1")
    gw.wait_for("hopseal gateway", 30)
    return gw


def kill9(child) -> None:
    os.kill(child.p.pid, signal.SIGKILL)
    child.p.wait(10)


def kill9_cycles(tmp_path, cleanup, cycles: int, vault: bool) -> None:
    """Hub, gateway and a virtual board; then `cycles` times: kill -9 the hub and start it again
    on the same port, and kill -9 the gateway and start a new one. The board is never restarted."""
    link = str(tmp_path / "board1")
    if vault:  # an identity: the board registers through its channel to the hub (default policy)
        hub = hub_process(tmp_path, cleanup)
        extra = ["--board", "boards/esp32.json", "--romfs", "--vault", str(tmp_path / "board1-flash")]
    else:  # no identity: the hub takes its plain registration (as test_gateway's hub does)
        hub = hub_process(tmp_path, cleanup, "--relay-policy", "open")
        extra = []
    board = hopseal("board1", "virtual-board", "--link", link, "--name", "board1", "--relay", "board1",
                    "--ping-interval", "0.5", *extra)
    cleanup.append(board)
    board.wait_for("virtual board board1", 60)
    gateways = [start_gateway(hub, link, "gw0")]
    cleanup.append(gateways[0])
    client = peer(cleanup, "client")
    gw = gateways[0]
    board_id = gw.wait_for("[board1] identity ", 60).split()[-1] if vault else None
    wait_line(gw, "[board1] relay forward_to_board1 registered", timeout=60)
    first = relay_answers(client, hub, "board1", 30, board_id)
    hub_back, gw_back = [], []
    for k in range(cycles):
        # the hub dies without a word; a new one on the same port, same identity
        n = len(gw.lines)
        hub.kill9()
        wait_line(gw, "hub connection lost", timeout=30, start=n)
        t0 = time.monotonic()
        hub.start()
        i = wait_line(gw, "connected again", timeout=30, start=n)
        wait_line(gw, "[board1] relay forward_to_board1 registered", timeout=60, start=i)
        registered = time.monotonic() - t0
        relay_answers(client, hub, "board1", 60, board_id)
        hub_back.append((registered, time.monotonic() - t0))
        # the gateway dies without a word; a new one on the same serial port
        kill9(gw)
        t0 = time.monotonic()
        gw = start_gateway(hub, link, "gw%d" % (k + 1))
        gateways.append(gw)
        cleanup.append(gw)
        wait_line(gw, "[board1] relay forward_to_board1 registered", timeout=60)
        registered = time.monotonic() - t0
        relay_answers(client, hub, "board1", 60, board_id)
        gw_back.append((registered, time.monotonic() - t0))
        served(hub)
    # the same board process throughout, started once
    assert board.p.poll() is None, "the board stopped:\n" + board.log()
    assert sum(1 for l in board.lines if "virtual board board1" in l) == 1, board.log()
    figures("kill -9 %s board" % ("identity" if vault else "plain"), cycles=cycles,
            first_echo_s="%.2f" % first,
            after_hub_restart_s_registered_answered=" ".join("%.2f/%.2f" % t for t in hub_back),
            after_gateway_restart_s_registered_answered=" ".join("%.2f/%.2f" % t for t in gw_back))
    no_tracebacks(hub, board, *gateways)


def test_kill9_hub_then_gateway_the_board_relay_comes_back(tmp_path, cleanup):
    kill9_cycles(tmp_path, cleanup, cycles=1, vault=False)


@soak
def test_kill9_hub_then_gateway_the_board_relay_comes_back_soak(tmp_path, cleanup):
    kill9_cycles(tmp_path, cleanup, cycles=5, vault=True)
