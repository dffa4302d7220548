"""The interop matrix: hopseal against programs built from the real `ockam` crate (Cargo.lock
pins the version), every side a real process on loopback TCP, except the hopseal client, which
runs here in-process so its round trips can be timed.

    Rust programs (src/bin): responder, middle, initiator (seed 004), bob, alice (seeds 001/002),
    hub (the default services of an `ockam node create` node)
    hopseal: `hopseal node`, `hopseal hub`, `hopseal relay create`, `hopseal message send`, a
    virtual board (MicroPython) behind `hopseal gateway`, and the in-process client below

Run with `make interop` (it builds the Rust programs first). Timeouts are failure bounds only.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
from rust_programs import bin_dir, median, missing_programs, scenario
from support.procs import ROOT, free_port, hopseal, py_env
from support.scenarios import wait_line

from hopseal.compat import wall_time
from hopseal.node import Node
from hopseal.secure.channel import create_secure_channel
from hopseal.secure.trust import TrustIdentifiers
from hopseal.secure.vault import create_vault
from hopseal.transport.tcp import TCPTransport
from hopseal.wire import bare
from hopseal_host.crypto_host import HostCrypto

BOARD = os.path.join(ROOT, "boards", "esp32.json")

if missing_programs():
    pytest.skip("Rust interop programs not built in %s (missing: %s): run `make interop`"
                % (bin_dir(), ", ".join(missing_programs())), allow_module_level=True)


def addr(port: int) -> str:
    return "127.0.0.1:%d" % port


def hopseal_channel_echo(route: list, service: str, n: int = 5, peer: str | None = None,
                         timeout: float = 20) -> list[float]:
    """hopseal as the initiator: a secure channel along `route` (its last hop the listener),
    then `n` BARE strings to `service` through it, each checked; returns the round trips (ms).
    With `peer`, the channel is accepted only from that identifier."""

    async def go() -> list[float]:
        crypto = HostCrypto()
        node = Node("client", crypto=crypto)
        TCPTransport(node)
        me = create_vault(crypto, wall_time())
        try:
            ch = await create_secure_channel(node, me, route, timeout=timeout,
                                             trust=TrustIdentifiers([peer]) if peer else None)
            rtts = []
            for i in range(n):
                payload = bare.encode_string("hello from hopseal %d" % i)
                t0 = time.perf_counter()
                r = await node.send_and_receive([ch.encryptor_address, service], payload, timeout)
                rtts.append((time.perf_counter() - t0) * 1000)
                assert r.payload == payload
            await ch.close()
            return rtts
        finally:
            await node.stop()

    return asyncio.run(go())


def logs(procs) -> str:
    """The last lines of every process of the test, for a failure message."""
    return "\n".join(p.log(40) for p in procs)


def start_hopseal(procs, name: str, *args: str, ready: str = "listening on", timeout: float = 30):
    p = procs.add(hopseal(name, *args))
    p.wait_for(ready, timeout)
    return p


def rust_hub(procs, port: int, *extra: str) -> dict:
    return procs.rust("hub", "--listen", addr(port), *extra).ready()


def start_board(procs, tmp_path, hub_port: int):
    """A virtual ESP32 board with an identity (its board file and heap, the firmware as ROMFS, as
    `make demo` runs it) behind `hopseal gateway`, whose hub is at `hub_port`; returns (gateway,
    board identifier)."""
    link = str(tmp_path / "board1")
    start_hopseal(procs, "board1", "virtual-board", "--board", BOARD, "--romfs", "--name", "board1", "--link", link,
                  "--relay", "board1", "--vault", str(tmp_path / "board1-flash"), "--probe", "2",
                  "--ping-interval", "0.5", ready="virtual board board1", timeout=120)
    gw = procs.add(hopseal("gw", "gateway", "--hub", addr(hub_port), "--serial", link + "=board1",
                           "--ping-interval", "0.5", "--backoff-max", "1"))
    board_id = gw.wait_for("[board1] identity ", 60).split()[-1]
    return gw, board_id


# -- secure channels, two runtimes ------------------------------------------------------------

@scenario("secure channel + echo, direct TCP", "initiator")
def test_hopseal_initiator_to_rust_responder(procs, row):
    port = free_port()
    rust = procs.rust("responder", "--listen", addr(port)).ready()
    rtts = hopseal_channel_echo(["1#" + addr(port), "bob_listener"], "echoer", peer=rust["identifier"])
    row["rtt"] = median(rtts)


@scenario("secure channel + echo, `hopseal message send`", "initiator (CLI)")
def test_hopseal_message_send_to_rust_responder(procs, row, tmp_path):
    port = free_port()
    rust = procs.rust("responder", "--listen", addr(port)).ready()
    r = subprocess.run([sys.executable, "-m", "hopseal_host.cli", "message", "send", "Hello Ockam!", "--to",
                        "/ip4/127.0.0.1/tcp/%d/secure/bob_listener/service/echoer" % port,
                        "--authorized", rust["identifier"], "--vault", str(tmp_path / "cli-identity")],
                       env=py_env(), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "Hello Ockam!"
    row["note"] = "one command: identity, channel, one echo; no round trip timed"


@scenario("secure channel + echo, direct TCP", "responder (node api)")
def test_rust_initiator_to_hopseal_node(procs, row, tmp_path):
    port = free_port()
    start_hopseal(procs, "node", "node", "--listen", addr(port), "--vault", str(tmp_path / "node-identity"),
                  "--secure-only", "echo")
    rust = procs.rust("initiator", "--connect", addr(port), "--route", "api", "--service", "echo", "--count", "5")
    assert rust.finish() == 0, logs(procs)
    row["rtt"] = median(rust.rtts())


@scenario("Rust middle node (forward_to_bob)", "initiator + responder")
def test_rust_middle_between_hopseal_ends(procs, row, tmp_path):
    pb, pm = free_port(), free_port()
    node = start_hopseal(procs, "bob", "node", "--listen", addr(pb), "--vault", str(tmp_path / "bob-identity"),
                         "--secure-only", "echo")
    bob_id = node.wait_for("identifier ").split()[-1]
    procs.rust("middle", "--listen", addr(pm), "--to", addr(pb)).ready()
    rtts = hopseal_channel_echo(["1#" + addr(pm), "forward_to_bob", "api"], "echo", peer=bob_id)
    row["rtt"] = median(rtts)


@scenario("hopseal middle node (forward_to_bob)", "middle node")
def test_hopseal_middle_between_rust_ends(procs, row):
    pb, pm = free_port(), free_port()
    procs.rust("responder", "--listen", addr(pb)).ready()
    start_hopseal(procs, "middle", "node", "--listen", addr(pm), "--no-secure-channel",
                  "--forward", "forward_to_bob=" + addr(pb))
    rust = procs.rust("initiator", "--connect", addr(pm), "--route", "forward_to_bob,bob_listener", "--count", "5")
    assert rust.finish() == 0, logs(procs)
    row["rtt"] = median(rust.rtts())


# -- relays at a hopseal hub ------------------------------------------------------------------

def hopseal_hub(procs, tmp_path, port: int, *extra: str):
    return start_hopseal(procs, "hub", "hub", "--listen", addr(port), "--vault", str(tmp_path / "hub-identity"),
                         "--control", "", *extra)


@scenario("Rust Bob's static relay at a hopseal hub, hopseal client", "hub + initiator")
def test_rust_bob_static_relay_at_hopseal_hub(procs, row, tmp_path):
    port = free_port()
    hopseal_hub(procs, tmp_path, port, "--relay-policy", "open")
    bob = procs.rust("bob", "--hub", addr(port), "--name", "bob")
    bob_id = bob.ready()["identifier"]
    assert bob.wait_for("interop: relay ").split()[-1] == "forward_to_bob"
    rtts = hopseal_channel_echo(["1#" + addr(port), "forward_to_bob", "listener"], "echoer", peer=bob_id)
    row["rtt"] = median(rtts)


@scenario("Rust Bob's random relay at a hopseal hub, Rust Alice", "hub")
def test_rust_alice_to_rust_bob_through_hopseal_hub(procs, row, tmp_path):
    port = free_port()
    hopseal_hub(procs, tmp_path, port)  # default policy: random names need no channel
    bob = procs.rust("bob", "--hub", addr(port))
    bob.ready()
    relay = bob.wait_for("interop: relay ").split()[-1]
    assert relay.startswith("forward_to_")
    alice = procs.rust("alice", "--hub", addr(port), "--relay", relay, "--count", "5")
    assert alice.finish() == 0, logs(procs)
    row["rtt"] = median(alice.rtts())


@scenario("Rust initiator -> hopseal hub relay -> board api -> echo", "hub + board (gateway)")
def test_rust_initiator_to_board_through_hopseal_hub(procs, row, tmp_path):
    port = free_port()
    hopseal_hub(procs, tmp_path, port)  # default policy: the board registers through its channel
    gw, _ = start_board(procs, tmp_path, port)
    wait_line(gw, "[board1] relay forward_to_board1 registered", timeout=60)
    rust = procs.rust("initiator", "--connect", addr(port), "--route", "forward_to_board1,api", "--service", "echo",
                      "--count", "5")
    assert rust.finish() == 0, logs(procs)
    row["rtt"] = median(rust.rtts())


# -- a Rust hub -------------------------------------------------------------------------------

@scenario("`hopseal message send` to a Rust hub: uppercase, plain and via api", "client (CLI)")
def test_hopseal_message_send_to_rust_hub(procs, row, tmp_path):
    port = free_port()
    hub = rust_hub(procs, port)
    for route in ("/ip4/127.0.0.1/tcp/%d/service/uppercase" % port,
                  "/ip4/127.0.0.1/tcp/%d/secure/api/service/uppercase" % port):
        r = subprocess.run([sys.executable, "-m", "hopseal_host.cli", "message", "send", "Hello Ockam!", "--to", route,
                            "--authorized", hub["identifier"], "--vault", str(tmp_path / "cli-identity")],
                           env=py_env(), capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip() == "HELLO OCKAM!"
    row["note"] = "one command per route; no round trip timed"


@scenario("hopseal relay create at a Rust hub, Rust Alice", "relay node (Bob)")
def test_hopseal_relay_node_at_rust_hub_rust_alice(procs, row, tmp_path):
    port = free_port()
    rust_hub(procs, port)
    start_hopseal(procs, "bob", "relay", "create", "bob", "--at", addr(port), "--vault",
                  str(tmp_path / "bob-identity"), "--secure-only", "echo", ready="registered")
    alice = procs.rust("alice", "--hub", addr(port), "--relay", "forward_to_bob", "--listener", "api",
                       "--service", "echo", "--count", "5")
    assert alice.finish() == 0, logs(procs)
    row["rtt"] = median(alice.rtts())


@scenario("board behind a Rust hub: probe, relay, channel to hub api", "board (gateway)")
def test_board_behind_rust_hub(procs, row, tmp_path):
    port = free_port()
    hub = rust_hub(procs, port)
    gw, board_id = start_board(procs, tmp_path, port)
    wait_line(gw, "[board1] probe ", " ok in ", timeout=60)
    wait_line(gw, "[board1] secure channel to the hub up", "(hub %s)" % hub["identifier"], timeout=60)
    wait_line(gw, "[board1] relay forward_to_board1 registered", timeout=60)
    rtts = hopseal_channel_echo(["1#" + addr(port), "forward_to_board1", "api"], "echo", peer=board_id)
    row["rtt"] = median(rtts)


@scenario("Rust initiator -> Rust hub relay -> board api -> echo", "board (gateway)")
def test_rust_initiator_to_board_through_rust_hub(procs, row, tmp_path):
    port = free_port()
    rust_hub(procs, port)
    gw, _ = start_board(procs, tmp_path, port)
    wait_line(gw, "[board1] relay forward_to_board1 registered", timeout=60)
    rust = procs.rust("initiator", "--connect", addr(port), "--route", "forward_to_board1,api", "--service", "echo",
                      "--count", "5")
    assert rust.finish() == 0, logs(procs)
    row["rtt"] = median(rust.rtts())


@scenario("board behind a Rust hub after a gateway restart", "board (gateway)")
def test_board_reachable_again_after_gateway_restart(procs, row, tmp_path):
    port = free_port()
    rust_hub(procs, port)
    gw, board_id = start_board(procs, tmp_path, port)
    wait_line(gw, "[board1] relay forward_to_board1 registered", timeout=60)
    hopseal_channel_echo(["1#" + addr(port), "forward_to_board1", "api"], "echo", n=1, peer=board_id)
    # the gateway goes and comes back: a new TCP connection to the hub, the board re-registers
    gw.stop()
    procs.remove(gw)
    gw = procs.add(hopseal("gw2", "gateway", "--hub", addr(port), "--serial", str(tmp_path / "board1") + "=board1",
                           "--ping-interval", "0.5", "--backoff-max", "1"))
    wait_line(gw, "[board1] relay forward_to_board1 registered", timeout=60)
    rtts = hopseal_channel_echo(["1#" + addr(port), "forward_to_board1", "api"], "echo", peer=board_id)
    row["rtt"] = median(rtts)
