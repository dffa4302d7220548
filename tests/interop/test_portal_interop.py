"""TCP portals against the real `ockam` crate (issue 10): the PortalMessage bytes, and inlets and
outlets of both implementations carrying real TCP connections through secure channels.

    portal_vectors   ockam_transport_tcp's own PortalMessage encode/decode, against
                     tests/vectors/portal.json
    portal_inlet     an Ockam TCP inlet (TcpTransport::create_inlet) at the end of a secure channel
    portal_outlet    an Ockam TCP outlet (TcpTransport::create_outlet) behind a secure channel
                     listener, reached over TCP or through a relay at a hub

Scenarios (every side a real process; the TCP client and server are this process):
- a Rust inlet reaches a hopseal outlet through a hopseal hub relay and a secure channel;
- a hopseal inlet reaches a Rust outlet, directly and through a hopseal hub relay;
- a Rust outlet that cannot reach its target sends nothing: the hopseal inlet closes its client
  when its Pong wait ends.
Each transfer is checked by SHA-256, both directions; hopseal sends its packet counter and the
Rust end checks it (a gap would end the connection), Ockam sends none.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from rust_programs import bin_dir, scenario
from support.procs import free_port, hopseal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "system"))
from test_portal_relay import MiB, Server, connect, download, echo_through, expected_download, wait_until  # noqa: E402

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "portal.json")
PORTAL_PROGRAMS = ("portal_vectors", "portal_inlet", "portal_outlet")

if any(not os.access(os.path.join(bin_dir(), p), os.X_OK) for p in PORTAL_PROGRAMS):
    pytest.skip("Rust portal programs not built in %s: run `make interop`" % bin_dir(), allow_module_level=True)


def addr(port: int) -> str:
    return "127.0.0.1:%d" % port


def rust_tool(*args: str) -> list[str]:
    out = subprocess.run([os.path.join(bin_dir(), "portal_vectors"), *args], capture_output=True, text=True,
                         timeout=30, check=True)
    return out.stdout.splitlines()


# -- the bytes --------------------------------------------------------------------------------------
@scenario("PortalMessage encodings = tests/vectors/portal.json", "codec")
def test_vectors_are_what_the_crate_encodes_and_decodes(row):
    v = json.load(open(VECTORS))
    ockam = dict(l.split(" ", 1) for l in rust_tool("encode"))
    checked = 0
    for e in v["encode"]:
        if "data_hex" not in e:
            assert ockam[e["name"]] == e["hex"], e
        else:
            # what Ockam's encoder makes of the same PortalMessage::Payload (it drops the counter)
            name = "payload_%s_counter_%s" % ({"68656c6c6f": "hello", "": "empty"}[e["data_hex"]],
                                              "none" if e.get("counter") is None else e["counter"])
            assert ockam[name] == e["ockam_hex"], (e, ockam[name])
        checked += 1
    assert ockam["payload_49152_head"] == v["payload_header_49152_hex"]
    assert ockam["payload_128_head"] == v["payload_header_128_hex"]
    # every decode vector, the invalid ones, and every hopseal encoding (with its counter)
    hexes = [d["hex"] for d in v["decode"]] + [d["hex"] for d in v["invalid"] if d["hex"]]
    hexes += [e["hex"] for e in v["encode"] if "data_hex" in e]
    got = {}
    for line in rust_tool("decode", *hexes):
        h, rest = line.split(" ", 1)
        got[h] = rest
    for d in v["decode"]:
        want = "kind=%d" % d["kind"]
        if d["kind"] == 3:
            want += " data=%s counter=%s" % (d["data_hex"], "none" if d["counter"] is None else d["counter"])
        assert got[d["hex"]] == want, d
        checked += 1
    for d in v["invalid"]:
        if d["hex"]:
            assert got[d["hex"]] == "invalid", d
            checked += 1
    for e in v["encode"]:
        if "data_hex" in e:
            want = "kind=3 data=%s counter=%s" % (e["data_hex"], "none" if e.get("counter") is None else e["counter"])
            assert got[e["hex"]] == want, e
    row["note"] = "%d vectors equal to ockam_transport_tcp's PortalMessage" % checked


# -- real portals -------------------------------------------------------------------------------------
def carry(port: int, row: dict, size: int = 8 * MiB) -> None:
    """A download and an echo of `size` bytes through the inlet at `port`, by SHA-256; then
    closing the client closes the server's side. Notes the rates in `row`."""
    t = time.monotonic()
    got, n = download(port, size)
    down = time.monotonic() - t
    assert n == size and got == expected_download(size)
    t = time.monotonic()
    sent, back, n = echo_through(port, size)
    echo = time.monotonic() - t
    assert n == size and sent == back
    row["note"] = "%d MiB download %.0f MB/s, echo %.0f MB/s, SHA-256 equal (the Rust side is a debug build)" % (
        size // MiB, size / down / 1e6, size / echo / 1e6)


def hopseal_hub(procs, tmp_path, port: int):
    p = procs.add(hopseal("hub", "hub", "--listen", addr(port), "--vault", str(tmp_path / "hub-identity"),
                          "--control", "", "--relay-policy", "open"))
    p.wait_for("listening on")
    return p


@scenario("Rust inlet -> hopseal hub relay -> hopseal outlet (secure channel)", "hub + outlet")
def test_rust_inlet_to_hopseal_outlet_through_hopseal_hub(procs, row, tmp_path):
    server = Server()
    try:
        hub_port = free_port()
        hopseal_hub(procs, tmp_path, hub_port)
        outlet = procs.add(hopseal("outlet", "tcp-outlet", "create", "--to", addr(server.server_address[1]),
                                   "--relay", "web", "--hub", addr(hub_port), "--vault", str(tmp_path / "outlet"),
                                   "--control", ""))
        outlet.wait_for("relay forward_to_web registered")
        inlet = procs.rust("portal_inlet", "--connect", addr(hub_port), "--hops", "forward_to_web,api",
                           "--from", "127.0.0.1:0")
        port = int(inlet.ready()["listen"].rsplit(":", 1)[1])
        carry(port, row)
        assert wait_until(lambda: server.active == 0)
        assert not any(w in l for l in outlet.lines for w in ("portal_rejected", "Traceback", "counter"))
    finally:
        server.shutdown()


@scenario("hopseal inlet -> Rust outlet (secure channel, TCP)", "inlet")
def test_hopseal_inlet_to_rust_outlet(procs, row, tmp_path):
    server = Server()
    try:
        outlet = procs.rust("portal_outlet", "--to", addr(server.server_address[1]), "--listen", "127.0.0.1:0")
        rust_port = int(outlet.ready()["listen"].rsplit(":", 1)[1])
        ip = free_port()
        procs.add(hopseal("inlet", "tcp-inlet", "create", "--from", addr(ip), "--to",
                          "/ip4/127.0.0.1/tcp/%d/secure/api/service/outlet" % rust_port,
                          "--vault", str(tmp_path / "inlet"), "--control", "")).wait_for("tcp inlet listening on")
        carry(ip, row)
        assert wait_until(lambda: server.active == 0)
    finally:
        server.shutdown()


@scenario("hopseal inlet -> hopseal hub relay -> Rust outlet (secure channel)", "inlet + hub")
def test_hopseal_inlet_to_rust_outlet_through_hopseal_hub(procs, row, tmp_path):
    server = Server()
    try:
        hub_port = free_port()
        hopseal_hub(procs, tmp_path, hub_port)
        outlet = procs.rust("portal_outlet", "--to", addr(server.server_address[1]), "--hub", addr(hub_port),
                            "--relay", "rustweb")
        outlet.ready()
        assert outlet.wait_for("interop: relay ").split()[-1] == "forward_to_rustweb"
        ip = free_port()
        procs.add(hopseal("inlet", "tcp-inlet", "create", "--from", addr(ip), "--to",
                          "/ip4/127.0.0.1/tcp/%d/service/forward_to_rustweb/secure/api/service/outlet" % hub_port,
                          "--vault", str(tmp_path / "inlet"), "--control", "")).wait_for("tcp inlet listening on")
        carry(ip, row)
        assert wait_until(lambda: server.active == 0)
    finally:
        server.shutdown()


@scenario("Rust outlet that cannot reach its target, hopseal inlet", "inlet")
def test_rust_outlet_that_cannot_connect_leaves_the_pong_wait_to_end(procs, row, tmp_path):
    dead = free_port()  # nothing listens there
    outlet = procs.rust("portal_outlet", "--to", addr(dead), "--listen", "127.0.0.1:0")
    rust_port = int(outlet.ready()["listen"].rsplit(":", 1)[1])
    ip = free_port()
    inlet = procs.add(hopseal("inlet", "tcp-inlet", "create", "--from", addr(ip), "--to",
                              "/ip4/127.0.0.1/tcp/%d/secure/api/service/outlet" % rust_port,
                              "--vault", str(tmp_path / "inlet"), "--control", ""))
    inlet.wait_for("tcp inlet listening on")
    s = connect(ip, timeout=60)
    t = time.monotonic()
    assert s.recv(1) == b""  # closed by the inlet
    s.close()
    inlet.wait_for("no Pong")
    row["note"] = "the Rust outlet sent nothing; client closed after %.1f s (the inlet's Pong wait)" % (
        time.monotonic() - t)
