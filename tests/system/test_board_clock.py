"""A clock on every board (issue 13): a board whose clock starts at 2000-01-01 (no RTC battery)
creates no identity until the gateway's TIME frame (serial-link.md §7.7) sets its clock, says why
in one console line meanwhile, and then creates its identity, registers its relay through its
secure channel and answers end to end. Real processes: MicroPython virtual board, gateway, hub.
"""
import os

import pytest
from support.procs import ROOT
from support.scenarios import Hub, VirtualBoard, board_args, gateway, link_path, secure_echo_via_relay, wait_line

Y2000 = 946684800  # 2000-01-01T00:00:00Z, where a board without an RTC battery starts


@pytest.fixture
def hub():
    h = Hub()
    yield h
    h.stop()


def test_board_waits_for_the_gateways_time_then_creates_its_identity(hub, tmp_path):
    flash = str(tmp_path / "flash")
    args = board_args("clk") + ["--vault", "ident", "--clock-start", str(Y2000)]
    # from source, with an identity, a relay and a client's channel as well as its own: 288K on
    # this 64-bit port since the reliable serial link (its code is compiled into the heap; at
    # unix.json's 256K the board's channel to the hub ran out of memory when the client's came)
    heap = "288K"
    # 1. A host that sends no time (a gateway before TIME frames): the link comes up, the board
    # says why it has no identity, once, and creates none; no traceback.
    vb = VirtualBoard("clk", link_path(tmp_path, "clk"), flash=flash, args=args, heapsize=heap).start()
    try:
        r = vb.wait_link_up(30)
        assert r["up"], r["lines"]
    finally:
        vb.stop()
    text = "\n".join(r["lines"] + vb.last_lines(50))
    waits = [ln for ln in r["lines"] if "clock not set" in ln]
    assert len(waits) == 1, r["lines"]
    assert "board time %d is before 2025" % Y2000 in waits[0]
    assert "waiting for the gateway's time" in waits[0]
    assert "identity " not in text and "Traceback" not in text
    assert not os.path.exists(os.path.join(flash, "ident")) or not os.listdir(os.path.join(flash, "ident"))

    # 2. The same board (same flash, clock at 2000 again) behind the gateway, which sends UTC.
    vb = VirtualBoard("clk", link_path(tmp_path, "clk"), flash=flash, args=args, heapsize=heap).start()
    gw = gateway(hub.port, "--serial", vb.link + "=clk")
    try:
        wait_line(gw, "[clk] clock set from the gateway")
        wait_line(gw, "[clk] identity ")
        wait_line(gw, "[clk] relay forward_to_clk registered")
        secure_echo_via_relay(hub, "clk", "hello clk, with a clock")  # the hub verified its attestation
        assert "Traceback" not in gw.log(400)
    finally:
        gw.stop()
        vb.stop()


def test_a_wifi_board_takes_the_gateways_time_from_its_time_service(hub, tmp_path):
    """A Wi-Fi board (TCP to the gateway's listener) has no TIME frames: at 2000-01-01 and without
    NTP (the unix port has no ntptime) it asks the gateway's `time` service, then creates its
    identity and registers its relay through its channel to the hub."""
    from support.procs import free_port, micropython

    port = free_port()
    gw = gateway(hub.port, "--listen", "127.0.0.1:%d" % port)
    board = micropython("wifi", os.path.join(ROOT, "firmware", "main.py"), os.path.join(ROOT, "boards", "unix.json"),
                        "--name", "wifi", "--link", "tcp:127.0.0.1:%d" % port, "--relay", "wifi",
                        "--vault", str(tmp_path / "ident"), "--clock-start", str(Y2000), heapsize="320K")
    try:
        board.wait_for("clock not set (board time %d" % Y2000, timeout=30)
        board.wait_for("clock set from the gateway", timeout=60)
        board.wait_for("identity I", timeout=60)
        board.wait_for("relay forward_to_wifi registered", timeout=60)
        secure_echo_via_relay(hub, "wifi", "hello wifi board")
        assert "Traceback" not in "\n".join(board.lines)
    finally:
        board.stop()
        gw.stop()
