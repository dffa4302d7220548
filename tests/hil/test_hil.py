"""Hardware in the loop: the gateway scenarios against a real board, or the virtual board.

    pytest tests/hil                          # the virtual board only; hardware skipped
    pytest tests/hil --port /dev/ttyACM0      # also the board on that port (repeatable)

A real board must run firmware/main.py with a board file whose link is the given port (stdio on
its USB-CDC port, or a UART behind a USB adapter) and which registers a relay ("relay": NAME in
boards/*.json). The scenario is the same function for both: the gateway opens the port, the board
comes up, and the hub reaches the board's echo and uppercase through the board's relay; the
virtual board also probes the hub's echo. Set HOPSEAL_HIL_BAUD for a UART link (default 115200).
"""
import os

import pytest
from support.procs import hopseal
from support.scenarios import Hub, VirtualBoard, board_args, link_path, scenario_echo_both_ways, wait_line


def pytest_generate_tests(metafunc):
    if "board" in metafunc.fixturenames:
        ports = metafunc.config.getoption("--port")
        params = ["virtual"]
        if ports:
            params += ["port:" + p for p in ports]
        else:
            params.append(pytest.param("hardware", marks=pytest.mark.skip(reason="no --port given: no board attached")))
        metafunc.parametrize("board", params, indirect=True)


class Board:
    """What a scenario needs to know about the board under test."""

    def __init__(self, url, name, relay, probe, vb=None):
        self.url = url
        self.name = name
        self.relay = relay  # None: take the relay the board announces
        self.probe = probe
        self.vb = vb


@pytest.fixture
def board(request, tmp_path):
    if request.param == "virtual":
        vb = VirtualBoard("hil", link_path(tmp_path, "hil"), args=board_args("hil")).start()
        try:
            yield Board(vb.link, "hil", "hil", True, vb)
        finally:
            vb.stop()
    else:
        port = request.param.split(":", 1)[1]
        yield Board(port, "dut", None, False)


@pytest.fixture
def hub():
    h = Hub()
    yield h
    h.stop()


def start_gateway(hub, board):
    baud = os.environ.get("HOPSEAL_HIL_BAUD", "115200")
    gw = hopseal("gw", "gateway", "--hub", "127.0.0.1:%d" % hub.port, "--serial", "%s=%s" % (board.url, board.name),
                 "--baud", baud, "--ping-interval", "0.5", "--backoff-max", "1")
    gw.wait_for("hopseal gateway")
    return gw


def test_echo_both_ways(board, hub):
    gw = start_gateway(hub, board)
    try:
        scenario_echo_both_ways(hub, gw, board.name, board.relay, probe=board.probe, timeout=60)
    finally:
        gw.stop()


def test_gateway_restart_is_seen_by_the_board(board, hub):
    """The board takes the new gateway's HELLO as a restart and registers its relay again."""
    gw = start_gateway(hub, board)
    try:
        scenario_echo_both_ways(hub, gw, board.name, board.relay, probe=board.probe, timeout=60)
    finally:
        gw.stop()
    gw2 = start_gateway(hub, board)
    try:
        wait_line(gw2, "serial(%s via" % board.name, "link up", timeout=60)
        scenario_echo_both_ways(hub, gw2, board.name, board.relay, probe=False, timeout=60)
    finally:
        gw2.stop()
