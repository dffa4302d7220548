"""System tests of the serial gateway: real processes, real pseudo-terminals, real TCP.

    virtual board (MicroPython) <-pty-> hopseal gateway <-TCP-> hub (CPython: echo, relays)

Each board probes the hub's echo through the gateway (its message comes back: "[NAME] probe N ok"
on the gateway's console) and registers a relay, through which the hub reaches the board's echo.
Timeouts here are failure bounds only; nothing asserts how fast anything happened.
"""
import asyncio
import os
import time

import pytest
from support.procs import ROOT, free_port, hopseal, micropython
from support.scenarios import (
    Console,
    Hub,
    VirtualBoard,
    board_args,
    echo_via_relay,
    gateway,
    link_path,
    scenario_echo_both_ways,
    secure_echo_via_relay,
    wait_line,
)

from hopseal.node import Node
from hopseal.services.basic import start_default_services
from hopseal.transport.serial import SerialConnection
from hopseal_host.gateway import Gateway
from hopseal_host.gateway_config import GatewayConfig, PortSpec


@pytest.fixture
def hub():
    h = Hub()
    yield h
    h.stop()


@pytest.fixture
def boards(tmp_path):
    """Start virtual boards with `boards(name, **kw)`; all are unplugged at the end."""
    started = []

    def start(name, **kw):
        kw.setdefault("args", board_args(name))
        vb = VirtualBoard(name, link_path(tmp_path, name), **kw).start()
        started.append(vb)
        return vb

    yield start
    for vb in started:
        vb.stop()


@pytest.fixture
def procs():
    started = []
    yield started
    for p in started:
        p.stop()


def test_board_message_comes_back_through_the_gateway(hub, boards, procs, tmp_path):
    vb = boards("board1")
    # configured from a TOML file whose keys mirror the flags
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('hub = "127.0.0.1:%d"\nping_interval = 0.5\nbackoff_max = 1.0\nname = "gw-toml"\n'
                   '[[serial]]\nurl = "%s"\nname = "board1"\n' % (hub.port, vb.link))
    gw = hopseal("gw", "gateway", "--config", str(cfg))
    procs.append(gw)
    gw.wait_for("hopseal gateway gw-toml")
    scenario_echo_both_ways(hub, gw, "board1", "board1")
    # the board's own log lines came through the console path with its prefix, and the board
    # saw the gateway's name in the link HELLO
    wait_line(gw, "[board1] ", "link up (peer 'gw-toml'")
    assert hub.node.counters.get("echo", 0) >= 1


def test_wifi_board_through_the_gateway_tcp_listener(hub, procs):
    port = free_port()
    gw = gateway(hub.port, "--listen", "127.0.0.1:%d" % port)
    procs.append(gw)
    gw.wait_for("listening on 127.0.0.1:%d" % port)
    board = micropython("wifi1", "firmware/main.py", "boards/unix.json", "--link", "tcp:127.0.0.1:%d" % port,
                        "--name", "wifi1", *board_args("wifi1"), heapsize="256K")
    procs.append(board)
    board.wait_for("probe 1 ok", 30)
    board.wait_for("relay forward_to_wifi1 registered", 30)
    echo_via_relay(hub, "wifi1", "over wi-fi")
    gw.wait_for("Wi-Fi board connected from 127.0.0.1")


def test_unplugged_board_leaves_the_others_served_and_comes_back(hub, boards, procs, tmp_path):
    # board1 runs under the `hopseal virtual-board` command, board2 under the fixture's class
    link1 = link_path(tmp_path, "board1")
    vb1 = hopseal("vb1", "virtual-board", "--link", link1, "--name", "board1", *board_args("board1", 0.3))
    procs.append(vb1)
    vb1.wait_for("virtual board board1: %s -> /dev/pts/" % link1)
    vb2 = boards("board2", args=board_args("board2", 0.3))
    gw = gateway(hub.port, "--serial", link1 + "=board1", "--serial", vb2.link + "=board2")
    procs.append(gw)
    scenario_echo_both_ways(hub, gw, "board1", "board1")
    scenario_echo_both_ways(hub, gw, "board2", "board2")

    # unplug board1: its pty goes away, the gateway notices and keeps trying to reopen it
    vb1.stop()
    assert "unplugged" in "\n".join(vb1.lines)
    assert not os.path.lexists(link1)
    i = wait_line(gw, "board1: port closed")
    wait_line(gw, "board1: cannot open", start=i)
    # board2 is still served both ways
    j = wait_line(gw, "[board2] probe ", " ok in ", start=i + 1)
    echo_via_relay(hub, "board2", "still here")

    # board1 returns on the same link path: picked up again, probes, re-registers its relay
    vb1b = hopseal("vb1b", "virtual-board", "--link", link1, "--name", "board1", *board_args("board1", 0.3))
    procs.append(vb1b)
    vb1b.wait_for("virtual board board1")
    k = wait_line(gw, "board1: opened", start=j)
    scenario_echo_both_ways(hub, gw, "board1", "board1", start=k)
    wait_line(gw, "[board2] probe ", " ok in ", start=k)


def test_hub_restart_is_survived_and_relays_come_back(hub, boards, procs):
    vb = boards("board1")
    gw = gateway(hub.port, "--serial", vb.link + "=board1")
    procs.append(gw)
    scenario_echo_both_ways(hub, gw, "board1", "board1")
    port = hub.port
    hub.stop()
    i = wait_line(gw, "hub connection lost")
    hub2 = Hub(port)
    try:
        j = wait_line(gw, "connected again", start=i)
        # the gateway's fresh HELLO tells the board the path changed: it re-registers
        wait_line(gw, "[board1] ", "the peer restarted", start=j)
        scenario_echo_both_ways(hub2, gw, "board1", "board1", start=j)
    finally:
        hub2.stop()


def test_pty_path_adapter_of_the_unix_port(hub, boards, procs):
    """The interpreter opens a pty path itself (board link type "pty"); its console stays apart."""
    vb = boards("pathy", open_path=True)
    gw = gateway(hub.port, "--serial", vb.link + "=pathy")
    procs.append(gw)
    wait_line(gw, "serial(pathy via", "link up (peer 'pathy'")
    scenario_echo_both_ways(hub, Console(vb), "pathy", "pathy", prefix="")
    # the console went to the interpreter's stdout, not over the link
    assert not any(l.startswith("[pathy] ") for l in gw.lines)


def test_noisy_line_still_carries_messages(hub, boards, procs):
    """The launcher's bridge injects bit errors, drops and garbage both ways at a low rate."""
    vb = boards("noisy", open_path=True, faults={"ber": 2e-5, "drop": 1e-5, "insert": 1e-5, "seed": 7})
    gw = gateway(hub.port, "--serial", vb.link + "=noisy")
    procs.append(gw)
    scenario_echo_both_ways(hub, Console(vb), "noisy", "noisy", prefix="", timeout=60)


# -- in process, over real sockets: a socket:// port, hub-down drops ---------------------------


async def _fake_board_server(port, node, conns):
    """A board that speaks the serial link over a TCP socket (what socket:// reaches, ser2net-style)."""

    async def accepted(reader, writer):
        c = SerialConnection(node, reader, writer, "gateway", "fake", interval=0.5)
        conns.append(c)
        await c.start()

    return await asyncio.start_server(accepted, "127.0.0.1", port)


async def _wait(cond, timeout=20, what="condition"):
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def test_socket_url_and_hub_down_drops_in_process():
    async def main():
        board = Node("fake")
        start_default_services(board)
        conns = []
        bport, hport = free_port(), free_port()
        server = await _fake_board_server(bport, board, conns)
        cfg = GatewayConfig(hub=("127.0.0.1", hport), serial=[PortSpec("socket://127.0.0.1:%d" % bport, "fake")],
                            ping_interval=0.5, backoff_max=0.5)
        gw = Gateway(cfg)
        await gw.start()
        await _wait(lambda: conns and conns[0].up and gw.ports["fake"].status == "up", what="link up")
        # no hub yet: the message is dropped and counted, nothing is buffered
        route = conns[0].route_to("hub", "echo")
        await board.send(route, b"nobody home")
        await _wait(lambda: gw.node.counters.get("hub_down") == 1, what="hub_down count")
        # the hub comes up; the gateway connects with backoff and messages flow
        hub = Node("hub")
        from hopseal.transport.tcp import TCPTransport

        ht = TCPTransport(hub)
        start_default_services(hub)
        await ht.listen("127.0.0.1", hport)
        await _wait(lambda: gw.hub_conn is not None and not gw.hub_conn.closed, what="hub connection")
        r = await board.send_and_receive(route, b"through the gateway", 10)
        assert r.payload == b"through the gateway"
        assert gw.hub.forwarded == 1 and hub.counters["echo"] == 1
        # the hub cannot bounce messages off the gateway's `hub` worker
        await hub.send([ht.connections[0].address, "hub", "echo"], b"bounce")
        await _wait(lambda: gw.node.counters.get("access_denied") == 1, what="access denied")
        await gw.stop()
        await hub.stop()
        for c in conns:
            await c.close()
        server.close()

    asyncio.run(main())


def test_gateway_cli_rejects_a_bad_setup():
    p = hopseal("gw", "gateway", "--serial", "/dev/null=x")
    assert p.p.wait(30) == 2
    p.stop()
    assert "no hub" in "\n".join(p.lines)


def test_virtual_board_unplug_hangs_up_the_port(tmp_path):
    """Closing the board (killing the interpreter) is seen by whoever has the port open."""
    import serial

    vb = VirtualBoard("hup", link_path(tmp_path, "hup"), args=["--ping-interval", "0.2"]).start()
    try:
        ser = serial.Serial(vb.link, 115200, timeout=5)
        assert ser.read(1)  # the board's boot line or HELLO
        vb.stop()
        with pytest.raises(serial.SerialException):
            for _ in range(100):
                ser.read(4096)
        ser.close()
        assert not os.path.lexists(vb.link)
    finally:
        vb.stop()


def test_board_on_an_esp32_heap_budget(hub, boards, procs):
    """The esp32 board file's heap budget on the virtual board, the runtime executed in place from
    ROMFS as a board does, with everything that board file turns on (identity, relay, readings)."""
    import json

    esp32 = os.path.join(ROOT, "boards", "esp32.json")
    vb = boards("esp32", board=esp32, romfs=True, args=["--ping-interval", "0.5", "--probe", "0.5"])
    assert "heapsize=%s" % json.load(open(esp32))["heap"] in " ".join(vb.command())
    gw = gateway(hub.port, "--serial", vb.link + "=esp32")
    procs.append(gw)
    wait_line(gw, "[esp32] probe ", " ok in ")
    wait_line(gw, "[esp32] relay forward_to_esp32 registered")  # the board file: relay named after the board
    # the board file gives it an identity: echo answers only through a secure channel
    secure_echo_via_relay(hub, "esp32", "hello esp32, end to end")
    wait_line(gw, "[esp32] probe 3 ok")  # still going after a few rounds
