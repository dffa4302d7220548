"""A board's TCP inlet (issue 10, board file key `inlets`; real processes):

    a TCP client on the board's side (this test) -> the virtual ESP32 board's inlet (its unix
      port listens on 127.0.0.1) -> pty -> `hopseal gateway` -> `hopseal hub` (forward_to_web)
      -> `hopseal tcp-outlet create --relay web` -> a TCP server (this test, a thread)

The board opens a secure channel from its own identity to the outlet node's `api` through the
hub's relay, so gateway and hub carry only ciphertext (their --capture files are searched). Data
goes both ways intact (an echo and a download, by SHA-256); closing the client closes the
target's connection; a bad inlet in the configuration is one line and exit status 2.
"""
import hashlib
import json
import os
import subprocess
import time

from support.procs import ROOT, free_port, hopseal, micropython_path, mp_env
from support.scenarios import Console, VirtualBoard, gateway, link_path, wait_line
from test_portal_relay import Server, connect, pattern

ESP32 = os.path.join(ROOT, "boards", "esp32.json")
HEAP = os.environ.get("HOPSEAL_PORTAL_HEAP", "240K")
SECRET = b"board inlet secret, never in clear at the hub "


def test_board_inlet_through_gateway_and_hub_to_an_outlet(tmp_path):
    hub_port = free_port()
    hub_cap, gw_cap = str(tmp_path / "hub.cap"), str(tmp_path / "gw.cap")
    server = Server()
    hub = hopseal("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % hub_port, "--capture", hub_cap, "--control", "")
    procs = [hub]
    vb = None
    try:
        hub.wait_for("listening on")
        outlet = hopseal("outlet", "tcp-outlet", "create", "--to", "127.0.0.1:%d" % server.server_address[1],
                         "--relay", "web", "--hub", "127.0.0.1:%d" % hub_port, "--vault", str(tmp_path / "outlet-id"),
                         "--chunk", "512", "--control", "")  # a Payload the board's link takes
        procs.append(outlet)
        outlet.wait_for("relay forward_to_web registered")
        inlet_port = free_port()
        link = link_path(tmp_path, "esp32")
        vb = VirtualBoard("esp32", link, board=ESP32, open_path=True, romfs=True, flash=str(tmp_path / "flash"),
                          heapsize=HEAP, args=["--ping-interval", "0.5", "--readings", "0", "--relay-check", "600", "--portal-chunk", "512",
                                "--inlet", "127.0.0.1:%d=/service/hub/service/forward_to_web/secure/api/service/outlet"
                                % inlet_port]).start()
        console = Console(vb)
        procs.append(gateway(hub_port, "--serial", link + "=esp32", "--capture", gw_cap))
        wait_line(console, "tcp inlet listening on 127.0.0.1:%d" % inlet_port, timeout=60)
        wait_line(console, "relay forward_to_esp32 registered", timeout=120)

        def logs():
            return "\n".join(["  [esp32] " + ln for ln in console.lines[-60:] if "heap used" not in ln]
                             + [outlet.log(30), hub.log(20)])

        try:
            echo_and_download(inlet_port, server)
        except (OSError, AssertionError) as e:
            time.sleep(1)
            raise AssertionError("%r\n%s" % (e, logs()))
        assert vb.running
    finally:
        for p in reversed(procs):
            p.stop()
        if vb is not None:
            vb.stop()
        server.shutdown()
    for path in (hub_cap, gw_cap):
        data = open(path, "rb").read()
        assert len(data) > 20000, path
        assert SECRET not in data and SECRET[:20] not in data, path


def echo_and_download(inlet_port, server):
    # an echo: the board's side to the outlet's target and back
    s = connect(inlet_port, timeout=60)
    s.sendall(b"E")
    data = (SECRET * 400)[:16 * 1024]
    back = bytearray()
    for i in range(0, len(data), 2048):
        s.sendall(data[i:i + 2048])
        while len(back) < i + 2048:
            d = s.recv(65536)
            assert d, "closed after %d bytes" % len(back)
            back += d
    assert bytes(back) == data
    s.close()

    # a download: 128 KiB from the target to the board's side
    n = 128 * 1024
    s = connect(inlet_port, timeout=60)
    s.sendall(b"D" + n.to_bytes(8, "big"))
    got = hashlib.sha256()
    k = 0
    while k < n:
        d = s.recv(65536)
        if not d:
            break
        got.update(d)
        k += len(d)
    s.close()
    assert k == n and got.digest() == hashlib.sha256(pattern(n)).digest(), k
    for _ in range(200):  # closing the client closed the target's connection
        if server.active == 0:
            break
        time.sleep(0.05)
    assert server.active == 0


def test_a_bad_board_inlet_is_one_line():
    r = subprocess.run([micropython_path(), os.path.join(ROOT, "firmware", "main.py"), os.path.join(ROOT, "boards", "unix.json"),
                        "--inlet", "8080=/tcp/4000/service/outlet"], env=mp_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: bad inlet '8080=/tcp/4000/service/outlet'"), r.stderr
    assert len(r.stderr.strip().split("\n")) == 1 and "Traceback" not in r.stdout + r.stderr
