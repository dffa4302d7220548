"""Board files (boards/*.json), board configuration and the board-side stream adapters.

Runs under pytest and under `micropython tests/mp_run.py test_board_files`. Hardware adapters
are exercised with duck-typed fakes; the pty and stdio adapters run for real in the system
tests (tests/system/test_gateway.py), under the MicroPython interpreter.
"""
import asyncio
import os

from hopseal.apps import board, board_config, board_io
from hopseal.errors import ConfigError, TransportError
from rt import raises, run


def _repo():
    here = __file__
    for _ in range(3):
        i = here.rfind("/")
        here = here[:i] if i > 0 else "."
    return here


BOARDS = _repo() + "/boards"
LINK_KEYS = {
    "stdio": (),
    "uart": ("id", "baudrate"),
    "usb_cdc": (),
    "busio_uart": ("tx", "rx"),
    "pty": ("path",),
    "tcp": ("host", "port"),
}


def test_every_board_file_is_complete():
    names = [n for n in os.listdir(BOARDS) if n.endswith(".json")]
    names.sort()
    for want in ("unix.json", "esp32.json", "esp32s3.json", "rp2040-pico.json", "rp2040-pico-w.json",
                 "rp2350-pico2.json", "circuitpython-pico.json"):
        assert want in names, want
    for n in names:
        cfg = board_config.configure([BOARDS + "/" + n])
        link = cfg["link"]
        assert link["type"] in LINK_KEYS, n
        for k in LINK_KEYS[link["type"]]:
            assert k in link, (n, k)
        assert link["type"] == "tcp" or link["type"] in board_io.OPENERS, n
        assert 64 <= cfg["max_body"] <= 65535, n
        # absent: the link's own default (wire/serial_link.py)
        assert cfg["ping_interval"] is None or cfg["ping_interval"] > 0, n
        assert cfg["down_after"] is None or cfg["down_after"] >= 1, n
        assert cfg["heap"][-1] == "K" and int(cfg["heap"][:-1]) >= 64, n
        assert cfg["name"] and len(cfg["name"]) <= 32, n
        # deployments that fit the heap (tests/system/test_board_start.py starts each 20 times)
        assert cfg["deploy"] and all(m in ("romfs", "mpy", "source") for m in cfg["deploy"]), n
        for m in cfg.get("deploy_with_vault", ()):
            assert m in cfg["deploy"], n
        if cfg["port"] == "circuitpython":
            assert "romfs" not in cfg["deploy"], n  # CircuitPython has no ROMFS


def test_one_board_file_for_many_boards():
    """"{id}" in the name becomes the chip's unique id and "relay": true names the relay after the
    board, so boards flashed from one file differ (the unix port has no unique id: 000000)."""
    path = "/tmp/hopseal-board-file-test.json"
    with open(path, "w") as f:
        f.write('{"name": "esp32-{id}", "relay": true, "link": {"type": "stdio"}}')
    try:
        cfg = board_config.configure([path])
        assert cfg["name"] == "esp32-" + board_config.unique_id() and cfg["relay"] == cfg["name"], cfg
        assert len(board_config.unique_id()) == 6
        cfg = board_config.configure([path, "--name", "greenhouse"])
        assert cfg["name"] == "greenhouse" and cfg["relay"] == "greenhouse"
        cfg = board_config.configure([path, "--relay", "r1"])
        assert cfg["relay"] == "r1"
    finally:
        os.remove(path)


def test_command_line_overrides_the_board_file():
    cfg = board_config.configure([BOARDS + "/unix.json", "--name", "b7", "--link", "tcp:10.0.0.2:4100",
                               "--relay", "b7", "--probe", "0.5", "--ping-interval", "0.25", "--max-body", "512"])
    assert cfg["name"] == "b7" and cfg["relay"] == "b7" and cfg["probe"] == 0.5
    assert cfg["link"] == {"type": "tcp", "host": "10.0.0.2", "port": 4100}
    assert cfg["ping_interval"] == 0.25 and cfg["max_body"] == 512
    assert board_config.parse_link("pty:/dev/pts/3") == {"type": "pty", "path": "/dev/pts/3"}
    assert board_config.parse_link("stdio") == {"type": "stdio"}
    for bad in ("tcp:nohost", "pty:", "usb", "tcp::1"):
        raises(ConfigError, board_config.parse_link, bad)
    raises(ConfigError, board_config.configure, [BOARDS + "/unix.json", "--colour", "red"])
    raises(ConfigError, board_config.configure, [BOARDS + "/unix.json", "--name"])
    raises(TransportError, board_io.open_stream, {"type": "carrier-pigeon"})


class FakeCDC:
    """Like CircuitPython's usb_cdc.Serial: in_waiting, non-blocking read, write."""

    def __init__(self):
        self.rx = b""
        self.tx = bytearray()

    @property
    def in_waiting(self):
        return len(self.rx)

    def read(self, n):
        d = self.rx[:n]
        self.rx = self.rx[n:]
        return d

    def write(self, data):
        self.tx.extend(data)
        return len(data)


def test_in_waiting_stream():
    async def main():
        cdc = FakeCDC()
        s = board_io.InWaitingStream(cdc, poll_s=0.001)

        async def later():
            await asyncio.sleep(0.02)
            cdc.rx = b"\x00\xf8abc"

        t = asyncio.create_task(later())
        assert await s.read(4) == b"\x00\xf8ab"  # waited for data, took at most n
        assert await s.read(100) == b"c"
        s.write(b"frame")
        await s.drain()
        assert bytes(cdc.tx) == b"frame"
        s.close()
        assert await s.read(10) == b""  # closed: end of stream
        await t

    run(main())


def test_board_link_before_the_link_exists():
    link = board.BoardLink()
    assert not link.up
    raises(TransportError, link.route_to, "hub", "echo")
