"""The gateway's parts, in process: its settings (flags and TOML), console lines, a pyserial
`loop://` port as a stream, and the virtual board's command line. The gateway itself, with real
processes, ptys and sockets, is tested in tests/system/test_gateway.py.
"""
import asyncio

import pytest

from hopseal.errors import ConfigError
from hopseal_host.cli import build_parser
from hopseal_host.console import ConsoleLines, safe_text
from hopseal_host.gateway_config import PortSpec, config_from, load_toml, parse_port
from hopseal_host.serial_port import SerialPortStream
from hopseal_host.virtual_board import VirtualBoard


def test_loop_url_stream():
    async def main():
        s = await SerialPortStream.open("loop://", 115200, "loop")
        s.write(b"abc")
        s.write(memoryview(b"\x00\xf8def"))
        await s.drain()
        got = b""
        while len(got) < 8:
            got += await asyncio.wait_for(s.read(100), 5)
        assert got == b"abc\x00\xf8def"
        s.close()

    asyncio.run(main())


def test_port_specs_and_config():
    assert parse_port("/dev/ttyACM0") == PortSpec("/dev/ttyACM0", "ttyACM0")
    assert parse_port("/dev/ttyACM0=pico") == PortSpec("/dev/ttyACM0", "pico")
    assert parse_port("socket://10.0.0.7:7000=esp") == PortSpec("socket://10.0.0.7:7000", "esp")
    assert parse_port("socket://10.0.0.7:7000").name == "10.0.0.7:7000"
    assert parse_port("spy:///dev/ttyUSB0?file=log.txt") == PortSpec("spy:///dev/ttyUSB0?file=log.txt", "ttyUSB0")
    assert parse_port("spy:///dev/ttyUSB0?file=log.txt=b") == PortSpec("spy:///dev/ttyUSB0?file=log.txt", "b")
    toml = {"hub": "127.0.0.1:4000", "serial": ["/dev/a=a", {"url": "/dev/b", "baud": 921600}], "ping_interval": 1}
    cfg = config_from(toml)
    assert cfg.hub == ("127.0.0.1", 4000) and cfg.ping_interval == 1.0
    assert cfg.serial == [PortSpec("/dev/a", "a"), PortSpec("/dev/b", "b", 921600)]
    for bad, why in (({"serial": ["/dev/a"]}, "no hub"), ({"hub": "h:1"}, "nothing to serve"),
                     ({"hub": "h:1", "serial": ["/dev/a", "/x/a"]}, "share a name"),
                     ({"hub": "h:1", "listen": "h:2", "colour": 1}, "unknown key")):
        with pytest.raises(ConfigError, match=why):
            config_from(bad)


def test_gateway_flags_override_the_config_file(tmp_path):
    cfg_file = tmp_path / "g.toml"
    cfg_file.write_text('hub = "10.0.0.1:4000"\nbaud = 9600\nserial = ["/dev/a=a"]\n')
    args = build_parser().parse_args(["gateway", "--config", str(cfg_file), "--hub", "127.0.0.1:5000",
                                      "--serial", "/dev/b=b", "--baud", "57600"])
    cfg = config_from(load_toml(args.config), args)
    assert cfg.hub == ("127.0.0.1", 5000) and cfg.baud == 57600
    assert [p.name for p in cfg.serial] == ["a", "b"]


def test_console_lines_are_split_prefixed_and_made_safe(capsys):
    c = ConsoleLines("b1")
    c.on_text(None, b"one\r\ntw")
    c.on_text(None, b"o\n\x1b[31mred\x1b[0m\n>>> ")
    c.flush()
    out = capsys.readouterr().out.splitlines()
    assert out == ["[b1] one", "[b1] two", "[b1] \\x1b[31mred\\x1b[0m", "[b1] >>> "]
    assert safe_text("caf\u00e9 \u2192 \x07\x9b".encode()) == "caf\u00e9 \u2192 \\x07\\x9b"
    assert safe_text(b"\xff\xfe") == "\ufffd\ufffd"


def test_virtual_board_heap_comes_from_the_board_file():
    vb = VirtualBoard("h", None)
    assert "heapsize=256K" in " ".join(vb.command())
    vb = VirtualBoard("h", None, heapsize="64K")
    assert "heapsize=64K" in " ".join(vb.command())
